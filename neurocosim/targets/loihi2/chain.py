"""The synaptic stages of a network deployed on Loihi 2, with linear pooling folded away.

Loihi 2 (and Lava) has no pooling process: a spike goes from a LIF through one synaptic
process (``Dense``/``Sparse`` or ``Conv``) into the next LIF. A chain

    Input → [Pool|Flatten]* → (Conv2d|Affine|Linear) → (IF|LIF|CubaLIF) → [Pool|Flatten]* → …

is therefore deployed as one synaptic layer per neuron layer: every ``SumPool2d`` /
``AvgPool2d`` (linear: a sum, or a sum times ``1 / (k_h·k_w)``, zero padding counted as
PyTorch does) is **folded into the weights of the next synaptic layer**. In float the
folding is exact (``W · pool(x) = W_fold · x``); the folded weights are what the quantiser
then rounds to Loihi's 8 bits.

* Into a dense layer (after ``Flatten``): ``W_fold[o, c, h, w] = Σ coef · W[o, c, i, j]``
  over the pooling windows ``(i, j)`` that hold pixel ``(h, w)``; its fan-in becomes the
  unpooled map (``C·H·W``).
* Into a convolution of kernel ``k``, stride ``s``, padding ``p``, dilation ``d`` after a
  pool of window ``k_p``, stride ``s_p``, padding ``p_p`` (per axis): one convolution of
  kernel ``(k − 1)·d·s_p + k_p``, stride ``s·s_p``, padding ``p·s_p + p_p``, dilation 1,
  whose taps are the sums of ``coef · w[m]`` at ``m·d·s_p + a``. Its output size is always
  the original's. It is exact when ``p = 0``; with ``p > 0`` the convolution's zero padding
  of the pooled map must not read real pixels, which holds when ``k_p ≤ s_p + p_p`` and
  ``H_p·s_p − p_p ≥ H``; otherwise the network is refused (pool without overlap, or
  pad the convolution by 0).

A pool with no synaptic layer after it (before the Output) cannot be folded and is refused
with the fix. ``padding='same'`` becomes explicit symmetric padding (an even
``d·(k − 1)`` would need asymmetric padding, which Lava's ``Conv`` lacks: refused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ...ir import nodes as N
from ...ir.graph import Network
from ...ir.ternary import TernaryLIF
from .network import ConvSpec

__all__ = ["Stage", "stages", "fold_pool_dense", "fold_pool_conv", "folded_network",
           "conv_regions"]

_PASS = (N.SumPool2d, N.AvgPool2d, N.Flatten)
_NEURONS = (N.IF, N.LIF, N.CubaLIF)
_SUPPORTED = ("supported: Conv2d or Affine/Linear followed by IF, LIF or CubaLIF, with "
              "SumPool2d, AvgPool2d or Flatten between layers")


@dataclass(frozen=True)
class Stage:
    """One synaptic layer and its neurons after folding: ``weight`` ``(n_out, n_in)``
    (dense) or ``(C_out, C_in/groups, k_h, k_w)`` (``conv`` set), float; ``bias``
    ``(n_out,)`` dense or ``(C_out,)`` conv; ``pools``: the pooling nodes folded in."""

    syn: str
    neuron: str
    weight: np.ndarray
    bias: np.ndarray
    conv: ConvSpec | None
    pools: tuple[str, ...] = ()

    @property
    def rows(self) -> np.ndarray:
        """The weights as rows: one per output neuron (dense) or channel (conv)."""
        return self.weight.reshape(self.weight.shape[0], -1)


def _successor(net: Network, node: str) -> str:
    succ = [b for a, b in net.edges if a == node]
    if len(succ) != 1:
        raise ModelError(f"Loihi 2 deployment needs a chain; node '{node}' has {len(succ)} "
                         "successors")
    return succ[0]


def stages(net: Network) -> list[Stage]:
    """The network's stages (see the module docstring), or a ModelError naming the node."""
    if net.back_edges:
        raise ModelError("Loihi 2 deployment supports feed-forward chains only (no recurrence)")
    out, node = [], net.input_name
    while True:
        between, nxt = [], _successor(net, node)
        while isinstance(net.nodes[nxt], _PASS):
            between.append(nxt)
            nxt = _successor(net, nxt)
        pools = [b for b in between if isinstance(net.nodes[b], (N.SumPool2d, N.AvgPool2d))]
        if isinstance(net.nodes[nxt], N.Output):
            if pools:
                raise ModelError(
                    f"Loihi 2 deployment: pooling layer '{pools[-1]}' is not followed by a "
                    "synaptic layer, so it cannot be folded into one (Loihi 2 has no pooling "
                    "process): remove it, or add a dense layer with neurons after it")
            break
        syn = net.nodes[nxt]
        if not isinstance(syn, (N.Affine, N.Linear, N.Conv2d)):
            raise ModelError(f"Loihi 2 deployment: node '{nxt}' is {type(syn).__name__}; "
                             f"{_SUPPORTED}")
        neu = [b for a, b in net.edges if a == nxt]
        if len(neu) != 1 or not isinstance(net.nodes[neu[0]], _NEURONS) \
                or isinstance(net.nodes[neu[0]], TernaryLIF):  # signed spikes: no Loihi 2 LIF
            raise ModelError(f"Loihi 2 deployment: '{nxt}' must feed one IF, LIF or CubaLIF "
                             "layer")
        out.append(_stage(net, nxt, neu[0], pools))
        node = neu[0]
    if not out:
        raise ModelError("Loihi 2 deployment: the network has no layer")
    return out


def _stage(net: Network, syn_name: str, neu_name: str, pools: list[str]) -> Stage:
    """The stage of ``syn_name`` with ``pools`` (in network order) folded into it."""
    syn = net.nodes[syn_name]
    w = np.asarray(syn.weight, float)
    if isinstance(syn, N.Conv2d):
        b = np.broadcast_to(np.asarray(syn.bias, float), (w.shape[0],)).copy()
        spec = _conv_spec(syn, syn_name, net.in_shapes[syn_name], net.out_shapes[syn_name])
        for p in reversed(pools):
            w, spec = fold_pool_conv(w, spec, net.nodes[p], net.in_shapes[p], p, syn_name)
        return Stage(syn_name, neu_name, w, b, spec, tuple(pools))
    b = (np.broadcast_to(np.asarray(syn.bias, float), (w.shape[0],)).copy()
         if isinstance(syn, N.Affine) else np.zeros(w.shape[0]))
    for p in reversed(pools):
        w = fold_pool_dense(w, net.nodes[p], net.in_shapes[p], net.out_shapes[p])
    return Stage(syn_name, neu_name, w, b, None, tuple(pools))


def _conv_spec(node: N.Conv2d, name: str, in_shape, out_shape) -> ConvSpec:
    """Explicit symmetric geometry of ``node`` (``'same'``/``'valid'`` resolved)."""
    kh, kw = node.weight.shape[2:]
    (dh, dw) = node.dilation
    if node.padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        if th % 2 or tw % 2:
            raise ModelError(f"Loihi 2 deployment: conv '{name}' has padding='same' with an "
                             "even kernel, which pads asymmetrically; Lava's Conv pads both "
                             "sides equally: use an odd kernel or explicit padding")
        pad = (th // 2, tw // 2)
    elif node.padding == "valid":
        pad = (0, 0)
    else:
        pad = tuple(int(p) for p in node.padding)
    return ConvSpec(in_shape=tuple(int(v) for v in in_shape),
                    out_shape=tuple(int(v) for v in out_shape),
                    stride=tuple(int(v) for v in node.stride), padding=pad,
                    dilation=(int(dh), int(dw)), groups=int(node.groups))


def _coef(pool) -> float:
    kh, kw = pool.kernel_size
    return 1.0 / (kh * kw) if isinstance(pool, N.AvgPool2d) else 1.0


def fold_pool_dense(w: np.ndarray, pool, in_shape, out_shape) -> np.ndarray:
    """Dense weights over the pooled map ``(n_out, C·H_p·W_p)`` → over the pool's input
    ``(n_out, C·H·W)`` (both in the IR's ``(C, H, W)`` order)."""
    c, h, wd = in_shape
    _, hp, wp = out_shape
    (kh, kw), (sh, sw), (ph, pw) = pool.kernel_size, pool.stride, pool.padding
    src = w.reshape(w.shape[0], c, hp, wp) * _coef(pool)
    full = np.zeros((w.shape[0], c, h + 2 * ph, wd + 2 * pw))
    for a in range(kh):
        for b in range(kw):
            full[:, :, a:a + (hp - 1) * sh + 1:sh, b:b + (wp - 1) * sw + 1:sw] += src
    return full[:, :, ph:ph + h, pw:pw + wd].reshape(w.shape[0], -1)


def fold_pool_conv(w: np.ndarray, spec: ConvSpec, pool, pool_in, pool_name: str,
                   conv_name: str) -> tuple[np.ndarray, ConvSpec]:
    """A convolution after a pool → one convolution on the pool's input (module docstring)."""
    kp, sp, pp = pool.kernel_size, pool.stride, pool.padding
    size = pool_in[1:]
    pooled = spec.in_shape[1:]
    for ax in (0, 1):
        if spec.padding[ax] and (kp[ax] > sp[ax] + pp[ax]
                                 or pooled[ax] * sp[ax] - pp[ax] < size[ax]):
            raise ModelError(
                f"Loihi 2 deployment: pooling layer '{pool_name}' cannot be folded exactly "
                f"into conv '{conv_name}': the convolution's zero padding would read pixels "
                "the pool drops or overlaps; use padding 0 on the convolution, or a pool "
                "whose windows tile its input without overlap")
    k = w.shape[2:]
    step = tuple(spec.dilation[ax] * sp[ax] for ax in (0, 1))
    kc = tuple((k[ax] - 1) * step[ax] + kp[ax] for ax in (0, 1))
    out = np.zeros((*w.shape[:2], *kc))
    src = w * _coef(pool)
    for a in range(kp[0]):
        for b in range(kp[1]):
            out[:, :, a:a + (k[0] - 1) * step[0] + 1:step[0],
                b:b + (k[1] - 1) * step[1] + 1:step[1]] += src
    new = ConvSpec(in_shape=tuple(int(v) for v in pool_in), out_shape=spec.out_shape,
                   stride=tuple(spec.stride[ax] * sp[ax] for ax in (0, 1)),
                   padding=tuple(spec.padding[ax] * sp[ax] + pp[ax] for ax in (0, 1)),
                   dilation=(1, 1), groups=spec.groups)
    return out, new


def folded_network(net: Network) -> Network:
    """The float network as deployed: the same neurons, every pool folded into the next
    synaptic layer (:func:`stages`), a ``Flatten`` before a dense layer after a spatial
    map. Its core assignment is what Loihi 2 has to hold (the folded fan-in)."""
    nodes: dict = {net.input_name: net.nodes[net.input_name]}
    prev = net.input_name
    for st in stages(net):
        if st.conv is None and len(net.out_shapes[prev]) > 1:
            nodes[f"{st.syn}_flatten"] = N.Flatten()
        if st.conv is None:
            nodes[st.syn] = N.Affine(weight=st.weight, bias=st.bias)
        else:
            c = st.conv
            nodes[st.syn] = N.Conv2d(weight=st.weight, bias=st.bias, stride=c.stride,
                                     padding=c.padding, dilation=c.dilation, groups=c.groups)
        nodes[st.neuron] = net.nodes[st.neuron]
        prev = st.neuron
    out = next(k for k, v in net.nodes.items() if isinstance(v, N.Output))
    if len(net.in_shapes[out]) != len(net.out_shapes[prev]):
        nodes[f"{out}_flatten"] = N.Flatten()
    nodes[out] = net.nodes[out]
    names = list(nodes)
    return Network(nodes=nodes, edges=tuple(zip(names[:-1], names[1:], strict=True)),
                   dt=net.dt, synaptic_delay=net.synaptic_delay, name=net.name)


def conv_regions(net: Network, neurons_per_core: int) -> int:
    """The fewest spatial bands per convolution (the mapping's ``conv_regions``) that put
    each band's output neurons on one core: Lava's compiler splits a large convolution
    across cores, each with its own copy of the kernel. A layer whose single output row
    exceeds a core is left to the mapping's ``neurons_per_core`` rule to refuse."""
    regions = 1
    for name in net.order:
        if isinstance(net.nodes[name], N.Conv2d):
            cout, ho, wo = net.out_shapes[name]
            rows = max(1, neurons_per_core // max(1, cout * wo))
            regions = max(regions, min(ho, -(-ho // rows)))
    return regions
