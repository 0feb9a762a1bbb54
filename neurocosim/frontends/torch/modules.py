"""``torch.nn`` (and SpikingJelly ``layer.*``) modules → IR nodes.

Only exact types are taken (a subclass may change ``forward``): ``Conv2d`` (zero padding),
``Linear``, ``BatchNorm1d``/``BatchNorm2d`` (eval: running statistics; folded into the
synaptic layer before it when the network is loaded), ``MaxPool2d``, ``AvgPool2d``
(``count_include_pad``, no ``ceil_mode``), ``AdaptiveAvgPool2d`` (output dividing the
input), ``Flatten``, ``Identity`` and ``Dropout`` (identity at inference), and SpikingJelly's
``layer.*`` wrappers of these, which apply them to each step of a ``(T, B, ...)`` sequence
in ``step_mode='m'``.
"""

from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir import nodes as N
from .layout import TV, Builder

__all__ = ["convert_module", "SJ_LAYERS", "hint"]

SJ_LAYERS = ("Conv2d", "Linear", "BatchNorm1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d",
             "AdaptiveAvgPool2d", "Flatten", "Dropout")
_PASS = ("Identity", "Dropout", "Dropout2d")

#: nearest supported alternative per unsupported module or op
_HINTS = {
    "ReLU": "a spiking neuron (SpikingJelly IFNode, snnTorch Leaky)",
    "Conv1d": "Conv2d with a 1-wide kernel", "Conv3d": "Conv2d",
    "MaxPool1d": "MaxPool2d", "AvgPool1d": "AvgPool2d",
    "LayerNorm": "BatchNorm1d/BatchNorm2d (folded into the layer before it)",
    "GroupNorm": "BatchNorm2d (folded into the layer before it)",
    "AdaptiveAvgPool2d": "AvgPool2d with a kernel that divides the input",
    "ConvTranspose2d": "Conv2d", "Upsample": "a strided Conv2d in reverse is not available; "
    "restructure without upsampling",
}


def hint(kind: str) -> str:
    """The nearest supported alternative to module or op ``kind``."""
    return _HINTS.get(kind, "the supported modules (README: Bring your PyTorch model)")


def _np(t) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _sj(m) -> bool:
    return type(m).__module__.startswith("spikingjelly.activation_based.layer")


def convert_module(b: Builder, m, tv: TV, name: str, where: str) -> TV:
    """The IR for module ``m`` applied to ``tv``."""
    import torch.nn as nn

    kind = type(m).__name__
    exact = type(m) in (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d,
                        nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity,
                        nn.Dropout, nn.Dropout2d)
    if _sj(m) and kind in SJ_LAYERS:
        if tv.lead == "m" and getattr(m, "step_mode", "s") != "m":
            raise ModelError(f"{where}: {kind} in step_mode 's' receives a (T, B, ...) "
                             "sequence; set step_mode='m' (functional.set_step_mode)")
        if tv.lead == "m":  # applied to every step: the per-step rule, same IR
            tv = TV(tv.name, tv.shape, "f")
            return _with_lead(_convert(b, m, kind, tv, name, where), "m")
        return _convert(b, m, kind, tv, name, where)
    if not exact:
        raise ModelError(f"{where}: module {kind} ({type(m).__module__}) is not supported; "
                         f"nearest supported: {hint(kind)}")
    return _convert(b, m, kind, tv, name, where)


def _with_lead(tv: TV, lead: str) -> TV:
    return TV(tv.name, tv.shape, lead)


def _convert(b: Builder, m, kind: str, tv: TV, name: str, where: str) -> TV:
    if kind in _PASS:
        return tv
    if kind == "Flatten":
        nd = tv.nlead + len(tv.shape)
        s, e = m.start_dim % nd, m.end_dim % nd
        if s < tv.nlead:
            raise ModelError(f"{where}: Flatten(start_dim={m.start_dim}) merges the batch "
                             "axis; use start_dim=1 (2 for a (T, B, ...) sequence)")
        out = b.lead_sizes(tv.lead) + tv.shape[:s - tv.nlead] + (
            int(np.prod(tv.shape[s - tv.nlead:e - tv.nlead + 1])),) + tv.shape[e - tv.nlead + 1:]
        return b.reshape(tv, out, name, where)
    if tv.lead == "m" and kind != "Linear":
        raise ModelError(f"{where}: {kind} receives a (T, B, ...) sequence, which torch.nn "
                         "reads as a batch of other shape; flatten time into the batch "
                         "(x.flatten(0, 1)) or use SpikingJelly's layer.{kind}")
    if kind == "Conv2d":
        return _conv(b, m, tv, name, where)
    if kind == "Linear":
        if len(tv.shape) != 1:
            raise ModelError(f"{where}: Linear on a per-sample input of shape {tv.shape}; "
                             "only flat (N,) inputs are supported (flatten first, or a 1×1 "
                             "Conv2d for per-position layers)")
        w = _np(m.weight)
        node = N.Affine(weight=w, bias=_np(m.bias)) if m.bias is not None else N.Linear(weight=w)
        return TV(b.add(name, node, tv), (w.shape[0],), tv.lead)
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        return _batchnorm(b, m, kind, tv, name, where)
    if kind in ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"):
        return _pool(b, m, kind, tv, name, where)
    raise ModelError(f"{where}: module {kind} is not supported; nearest supported: "
                     f"{hint(kind)}")


def _conv(b: Builder, m, tv: TV, name: str, where: str) -> TV:
    if len(tv.shape) != 3:
        raise ModelError(f"{where}: Conv2d needs a (C, H, W) sample, receives {tv.shape}")
    if m.padding_mode != "zeros":
        raise ModelError(f"{where}: Conv2d padding_mode={m.padding_mode!r}; only 'zeros' "
                         "is supported")
    w = _np(m.weight)
    bias = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    pad = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    node = N.Conv2d(weight=w, bias=bias, stride=tuple(m.stride), padding=pad,
                    dilation=tuple(m.dilation), groups=m.groups, input_shape=tv.shape[1:])
    from ...ir.shapes import conv2d_output_hw

    hw = conv2d_output_hw(node, *tv.shape[1:])
    return TV(b.add(name, node, tv), (w.shape[0], *hw), tv.lead)


def _batchnorm(b: Builder, m, kind: str, tv: TV, name: str, where: str) -> TV:
    want = 3 if kind == "BatchNorm2d" else 1
    if len(tv.shape) != want:
        raise ModelError(f"{where}: {kind} on a per-sample input of shape {tv.shape}; "
                         f"supported: {'(C, H, W)' if want == 3 else '(C,)'}")
    if m.training or m.running_mean is None:
        raise ModelError(f"{where}: {kind} needs running statistics in eval mode "
                         "(track_running_stats=True; model.eval())")
    c = m.num_features
    gamma = _np(m.weight) if m.weight is not None else np.ones(c)
    beta = _np(m.bias) if m.bias is not None else np.zeros(c)
    node = N.BatchNorm(gamma=gamma, beta=beta, running_mean=_np(m.running_mean),
                       running_var=_np(m.running_var), eps=float(m.eps))
    return TV(b.add(name, node, tv), tv.shape, tv.lead)


def _pool(b: Builder, m, kind: str, tv: TV, name: str, where: str) -> TV:
    if len(tv.shape) != 3:
        raise ModelError(f"{where}: {kind} needs a (C, H, W) sample, receives {tv.shape}")
    c, h, w = tv.shape
    if kind == "AdaptiveAvgPool2d":
        oh, ow = (m.output_size,) * 2 if isinstance(m.output_size, int) else m.output_size
        oh, ow = oh or h, ow or w
        if h % oh or w % ow:
            raise ModelError(f"{where}: AdaptiveAvgPool2d to {(oh, ow)} of a {h}×{w} map "
                             f"(windows of unequal size); nearest supported: {hint(kind)}")
        node = N.AvgPool2d(kernel_size=(h // oh, w // ow))
    else:
        if m.ceil_mode:
            raise ModelError(f"{where}: {kind}(ceil_mode=True) is not supported; use "
                             "ceil_mode=False (pad the input instead)")
        if kind == "MaxPool2d":
            if m.return_indices:
                raise ModelError(f"{where}: MaxPool2d(return_indices=True) is not supported")
            node = N.MaxPool2d(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding,
                               dilation=m.dilation)
        else:
            if not m.count_include_pad or m.divisor_override is not None:
                raise ModelError(f"{where}: AvgPool2d counts padding as zeros here; use "
                                 "count_include_pad=True and no divisor_override")
            node = N.AvgPool2d(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding)
    from ...ir.shapes import pool2d_output_hw

    return TV(b.add(name, node, tv), (c, *pool2d_output_hw(node, h, w)), tv.lead)
