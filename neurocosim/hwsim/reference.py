"""Float reference simulator in plain NumPy: the executable statement of DESIGN §3.1–3.2.

Slow and obvious on purpose: every other engine (the Numba cycle-level engine, the Lava
backend in its float mode) is tested against it.

Per step ``t`` and for each node in the network's order:

* a node's input is the sum over its incoming edges of the source's output at ``t``
  (or at ``t-1`` along a recurrent back edge; zero at ``t = 0``), except for a node with
  ordered inputs (IAnd, Concat, Mul, MatMul), which takes its sources one by one in its
  ``operands`` order (:func:`ordered_forward`);
* a synaptic node (Affine/Linear/Conv2d) computes ``W·s_in + b`` on its input of step
  ``t`` (``synaptic_delay = 0``) or ``t-1`` (``synaptic_delay = 1``, the Lava convention);
* a neuron integrates it, tests its threshold and resets (see :func:`neuron_step`);
* a Delay of ``d`` steps outputs its input of step ``t − d`` (zero before): every edge
  into it is a back edge (its input of ``t − 1``), held ``d − 1`` more steps.

Neuron state starts at zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from ..budget import check_simulation
from ..errors import SimulationError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.conv1d import Conv1d
from ..ir.delay import Delay
from ..ir.graph import Discretised, Network
from ..ir.tensors import ORDERED
from ..ir.ternary import TernaryLIF
from .encoders import Encoder

__all__ = ["simulate", "ReferenceResult", "neuron_step", "node_forward", "conv2d", "pool2d",
           "maxpool2d", "batchnorm", "ordered_forward"]


@dataclass(frozen=True, kw_only=True)
class ReferenceResult:
    """Outcome of a reference run.

    Attributes
    ----------
    output
        ``(n_samples, *output_shape)``: the Output node's value summed over the steps —
        spike counts for a spiking output layer, summed membrane for an LI readout.
    steps
        Number of steps simulated.
    probes
        ``"node"`` → ``(n_samples, steps, *shape)`` output of that node (spikes of a
        spiking layer); ``"node.v"`` → its membrane, ``"node.i"`` its synaptic current.
        Only what was asked for.
    """

    output: np.ndarray
    steps: int
    probes: Mapping[str, np.ndarray] = field(default_factory=dict)

    def predictions(self) -> np.ndarray:
        """Class per sample: argmax of the summed output (ties → lowest index)."""
        return metrics.predictions(self.output)

    def accuracy(self, labels: np.ndarray) -> float:
        return metrics.accuracy(self.output, labels)


# -- operators -------------------------------------------------------------------------
def conv2d(x: np.ndarray, node: N.Conv2d) -> np.ndarray:
    """Batched 2-D cross-correlation ``(B, C_in, H, W)`` → ``(B, C_out, H', W')``."""
    w = node.weight
    cout, cin_g, kh, kw = w.shape
    g = node.groups
    dh, dw = node.dilation
    sh, sw = node.stride
    if node.padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pads = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
    elif node.padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        pads = ((node.padding[0],) * 2, (node.padding[1],) * 2)
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1),
                                                   axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo = win.shape[:4]
    win = win.reshape(b, g, cin_g, ho, wo, kh, kw)
    wg = w.reshape(g, cout // g, cin_g, kh, kw)
    out = np.einsum("bgchwij,gocij->bgohw", win, wg, optimize=True).reshape(b, cout, ho, wo)
    return out + node.bias[None, :, None, None]


def pool2d(x: np.ndarray, node: N.SumPool2d | N.AvgPool2d) -> np.ndarray:
    """Batched sum/average pooling ``(B, C, H, W)`` → ``(B, C, H', W')`` (zero padding)."""
    (kh, kw), (sh, sw), (ph, pw) = node.kernel_size, node.stride, node.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    out = win.sum(axis=(-1, -2))
    return out / (kh * kw) if isinstance(node, N.AvgPool2d) else out


def maxpool2d(x: np.ndarray, node: N.MaxPool2d) -> np.ndarray:
    """Batched max pooling ``(B, C, H, W)`` → ``(B, C, H', W')``; padding is −inf (as
    PyTorch), so it never wins."""
    (kh, kw), (sh, sw), (ph, pw) = node.kernel_size, node.stride, node.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.max(axis=(-1, -2))


def batchnorm(x: np.ndarray, node: N.BatchNorm) -> np.ndarray:
    """Batched BatchNorm over axis 1 (the channels of ``(B, C, ...)``):
    ``γ(x − μ)/√(σ² + ε) + β`` evaluated as ``s·x + b`` (:meth:`~.nodes.BatchNorm.scale_shift`)."""
    s, b = node.scale_shift()
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * s.reshape(shape) + b.reshape(shape)


def node_forward(node: N.Node, x: np.ndarray, in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> np.ndarray:
    """Stateless node on a batch ``(B, *in_shape)``."""
    if isinstance(node, N.Affine):
        return x @ node.weight.T + node.bias
    if isinstance(node, N.Linear):
        return x @ node.weight.T
    if isinstance(node, N.Scale):
        return x * node.scale
    if isinstance(node, N.Conv2d):
        return conv2d(x, node)
    if isinstance(node, Conv1d):  # the equal Conv2d on (B, C, 1, L)
        return conv2d(x[:, :, None, :], node.as_conv2d())[:, :, 0, :]
    if isinstance(node, (N.SumPool2d, N.AvgPool2d)):
        return pool2d(x, node)
    if isinstance(node, N.MaxPool2d):
        return maxpool2d(x, node)
    if isinstance(node, N.BatchNorm):
        return batchnorm(x, node)
    if isinstance(node, (N.Flatten, N.Output, T.Reshape)):
        return x.reshape((x.shape[0], *out_shape))
    if isinstance(node, T.Add):  # the sum of its inputs, which the caller made
        return x
    if isinstance(node, T.Transpose):
        return x.transpose((0, *(a + 1 for a in node.axes)))
    if isinstance(node, T.ReduceSum):
        return x.sum(axis=node.norm_axis(x.ndim - 1) + 1, keepdims=node.keepdim)
    raise SimulationError(f"no forward rule for {type(node).__name__}")


def ordered_forward(node: N.Node, xs: list[np.ndarray]) -> np.ndarray:
    """A node with ordered inputs on its batches ``xs`` (``(B, *shape)`` each, in the
    order of its ``operands``): IAnd ``(1 − a)·b``; Concat joined along its axis; Mul
    ``a·b`` (broadcast as NumPy does, the batch axis kept apart); MatMul
    ``scale·(a @ b)`` over the last two axes."""
    if isinstance(node, T.IAnd):
        a, b = xs
        return (1.0 - a) * b
    if isinstance(node, T.Mul):
        nd = max(x.ndim for x in xs)
        a, b = (x.reshape(x.shape[:1] + (1,) * (nd - x.ndim) + x.shape[1:]) for x in xs)
        return a * b
    if isinstance(node, T.MatMul):
        return np.matmul(xs[0], xs[1]) * node.scale
    if isinstance(node, T.Concat):
        return np.concatenate(xs, axis=node.norm_axis(xs[0].ndim - 1) + 1)
    raise SimulationError(f"no forward rule for {type(node).__name__}")


def neuron_step(node: N.Neuron, d: Discretised, state: dict[str, np.ndarray],
                current: np.ndarray) -> np.ndarray:
    """Advance one neuron layer by one step in place; return its output.

    .. math::
        i &\\leftarrow i + \\alpha_{syn}(w_{in} I - i) \\quad \\text{(Cuba types)} \\\\
        v &\\leftarrow v + \\alpha (v_{leak} - v) + \\alpha r I \\quad (v \\leftarrow v + rI \\text{ for IF})

    then the spike test (``>`` or ``>=``) and reset (``zero``: :math:`v_{reset}`;
    ``subtract``: :math:`v - v_{th}`). ILIF emits
    :math:`s = \\mathrm{round}(\\mathrm{clip}(v/\\theta, 0, D))` and subtracts
    :math:`s\\theta`. A TernaryLIF (:mod:`neurocosim.ir.ternary`) emits +1 above
    :math:`\\theta^+`, −1 below :math:`-\\theta^-` (``>=``: at or beyond them) and resets
    where it fired (``subtract``: :math:`v - s\\theta^{\\pm}`). LI/CubaLI output their
    membrane.
    """
    drive = current
    if d.alpha_syn is not None:
        i = state["i"]
        i += d.alpha_syn * (node.w_in * current - i)
        drive = i
    v = state["v"]
    if isinstance(node, N.IF):
        v += d.gain * drive
    else:
        v += d.alpha * (node.v_leak - v) + d.gain * drive
    if not node.spiking:
        return v.copy()
    if isinstance(node, N.ILIF):
        s = np.round(np.clip(v / node.v_threshold, 0.0, node.max_level))
        v -= s * node.v_threshold
        return s
    if isinstance(node, TernaryLIF):
        return _ternary_fire(node, v)
    s = (v >= node.v_threshold) if node.compare == ">=" else (v > node.v_threshold)
    if node.reset == "zero":
        v[s] = np.broadcast_to(node.v_reset, v.shape)[s]
    else:
        v -= s * node.v_threshold
    return s.astype(np.float64)


def _ternary_fire(node: TernaryLIF, v: np.ndarray) -> np.ndarray:
    """The spikes of a TernaryLIF on membrane ``v`` (reset in place)."""
    hi, lo = node.v_threshold, node.v_threshold_neg
    if node.compare == ">=":
        pos, neg = v >= hi, v <= -lo
    else:
        pos, neg = v > hi, v < -lo
    if node.reset == "zero":
        fired = pos | neg
        v[fired] = np.broadcast_to(node.v_reset, v.shape)[fired]
    else:
        v -= pos * hi
        v += neg * lo
    return pos.astype(np.float64) - neg.astype(np.float64)


def parse_probe(net: Network, probe: str) -> tuple[str, str]:
    """``"node"``, ``"neuron.v"`` or ``"cuba.i"`` → ``(node, "" | "v" | "i")``, checked."""
    node, _, what = probe.partition(".")
    if node not in net.nodes:
        raise SimulationError(f"probe {probe!r}: no node named {node!r} (nodes: {list(net.nodes)})")
    nd = net.nodes[node]
    ok = what == "" or (what == "v" and isinstance(nd, N.Neuron)) or (
        what == "i" and isinstance(nd, (N.CubaLIF, N.CubaLI)))
    if not ok:
        raise SimulationError(
            f"probe {probe!r}: use 'NODE' for its output, 'NEURON.v' for a membrane or "
            "'CUBA.i' for a current-based neuron's synaptic current"
        )
    return node, what


def simulate(
    net: Network,
    encoder: Encoder,
    steps: int,
    *,
    probes: Sequence[str] = (),
    batch_size: int = 256,
    progress: bool = False,
    synapses: Callable[[str, np.ndarray], np.ndarray] | None = None,
) -> ReferenceResult:
    """Run ``net`` for ``steps`` steps on every sample of ``encoder``.

    Parameters
    ----------
    net
        A validated network.
    encoder
        Input per step (:func:`~neurocosim.hwsim.encoders.make_encoder`).
    steps
        Number of steps, ≥ 1.
    probes
        Node names whose output to record, ``"name.v"`` for a neuron's membrane and
        ``"name.i"`` for a current-based neuron's synaptic current.
    batch_size
        Samples simulated together (memory bound: probes are kept for all samples).
    progress
        Show a progress bar over batches.
    synapses
        Optional ``f(node_name, x) -> y`` evaluating synaptic nodes another way (e.g.
        :meth:`MappedNetwork.op_forward <neurocosim.mapping.MappedNetwork.op_forward>`,
        tile by tile); the neuron semantics stay those of this module.
    """
    if int(steps) < 1:
        raise SimulationError(f"steps must be >= 1, got {steps}")
    steps = int(steps)
    wanted = {p: parse_probe(net, p)[1] for p in probes}
    n = encoder.n_samples
    check_simulation(engine="reference engine", n_samples=n, steps=steps, batch=batch_size,
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synaptic_ops(),
                     recorded=sum(int(np.prod(net.out_shapes[p.partition(".")[0]]))
                                  for p in wanted),
                     per_sample=int(np.prod(net.output_shape)))
    outs, rec = [], {p: [] for p in wanted}
    chunks = range(0, n, max(1, int(batch_size)))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="reference", unit="batch")
    disc = {name: net.discretised(name) for name in net.layers()}
    for lo in chunks:
        hi = min(n, lo + batch_size)
        out, pr = _run_block(net, disc, encoder.block(lo, hi, steps), wanted, synapses)
        outs.append(out)
        for p in wanted:
            rec[p].append(pr[p])
    return ReferenceResult(
        output=np.concatenate(outs),
        steps=steps,
        probes={p: np.concatenate(v) for p, v in rec.items()},
    )


def _run_block(net: Network, disc, frames: np.ndarray, wanted: dict[str, str], synapses=None):
    b, steps = frames.shape[:2]
    shp = net.out_shapes
    state = {name: {"v": np.zeros((b, *shp[name])), "i": np.zeros((b, *shp[name]))}
             for name in net.layers()}
    prev = {name: np.zeros((b, *shp[name])) for name in net.order}
    held = {name: [np.zeros((b, *shp[name]))] * (net.nodes[name].steps - 1)
            for name in net.order if isinstance(net.nodes[name], Delay)}
    syn_prev = {name: np.zeros((b, *net.in_shapes[name])) for name in net.order
                if isinstance(net.nodes[name], tuple(N.SYNAPTIC_TYPES.values()))}
    preds = {name: net.predecessors(name) for name in net.order}
    out_name = net.output_name
    total = np.zeros((b, *shp[out_name]))
    rec = {p: np.zeros((b, steps, *shp[p.partition(".")[0]])) for p in wanted}
    for t in range(steps):
        cur: dict[str, np.ndarray] = {}
        for name in net.order:
            node = net.nodes[name]
            if isinstance(node, N.Input):
                cur[name] = frames[:, t]
                continue
            if isinstance(node, ORDERED):  # its inputs one by one, in operand order
                cur[name] = ordered_forward(node, [cur[src] for src, _ in preds[name]])
                continue
            x = np.zeros((b, *net.in_shapes[name]))
            for src, is_back in preds[name]:
                x = x + (prev[src] if is_back else cur[src])
            if name in syn_prev and net.synaptic_delay == 1:
                x, syn_prev[name] = syn_prev[name], x
            if name in held:  # x: its input of t − 1; out: of t − steps
                held[name].append(x)
                cur[name] = held[name].pop(0)
            elif isinstance(node, N.Neuron):
                cur[name] = neuron_step(node, disc[name], state[name], x)
            elif synapses is not None and name in syn_prev:
                cur[name] = synapses(name, x)
            else:
                cur[name] = node_forward(node, x, net.in_shapes[name], shp[name])
        total += cur[out_name]
        for p, what in wanted.items():
            node = p.partition(".")[0]
            rec[p][:, t] = state[node][what] if what else cur[node]
        prev = cur
    return total, rec
