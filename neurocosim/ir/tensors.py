"""IR nodes that combine or rearrange activation tensors (residual blocks, token layouts).

* :class:`Add` — element-wise sum of two or more inputs of one shape (SEW-ResNet's ADD);
* :class:`IAnd` — ``(1 − a)·b`` of two ordered inputs (SEW-ResNet's IAND);
* :class:`Concat` — its ordered inputs joined along an axis;
* :class:`Reshape` — the same elements in another shape (C order);
* :class:`Transpose` — an axes permutation (PyTorch's ``permute``), e.g. ``(C, N)`` →
  ``(N, C)`` between ``(C, H, W)`` maps and ``(N, D)`` tokens;
* :class:`Mul`, :class:`ReduceSum`, :class:`MatMul` — the spike-spike primitives of
  spiking attention (both operands are activations, never weights): element-wise
  product (an AND over spikes), a sum over one axis (a popcount over spikes), a batched
  matrix product. They run on the digital spike units, never on crossbar tiles
  (:mod:`neurocosim.ir.blocks` composes them into SDSA, SSA and QKTA);
* :class:`Gate` — a Mul whose first operand is an enable signal, a spiking layer's
  spikes (SEMM's router): counted as expert activations and skipped ones.

A node whose inputs are *ordered* (:data:`ORDERED`: IAnd, Concat, Mul, MatMul) names them in
``operands``, a tuple of source node names; the network checks that they are exactly
the node's incoming edges (each once, none recurrent) and evaluates the node on its
inputs one by one, in that order (every other node sums its inputs). Rearrangements
(Concat, Reshape, Transpose) move elements and compute nothing: :meth:`Transpose.
permutation` and :meth:`Concat.permutation` give the flat source index of every output
element, which is how the engine evaluates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from . import nodes as N
from .checks import MAX_DIMS, _int, _ints, _numeric, _shape, describe
from .delay import Delay
from .ternary import TernaryLIF

#: spiking layers whose spikes are not 0/1: ILIF's integer levels, TernaryLIF's signs
_NOT_BINARY = (N.ILIF, TernaryLIF)

__all__ = ["Add", "IAnd", "Concat", "Reshape", "Transpose", "Mul", "Gate", "ReduceSum",
           "MatMul", "ORDERED", "SPIKE_OPS", "TENSOR_TYPES", "check_operands", "binary_output",
           "enable_layer"]


def _operands(value, owner: str, count: int | None) -> tuple[str, ...]:
    """``value`` as a tuple of distinct source names (``count`` of them, else 2 or more)."""
    items = None
    if not isinstance(value, (str, bytes, dict)):
        try:
            items = [v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
                     for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
        except TypeError:
            items = None
    if items is not None:
        items = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in items]
    what = f"exactly {count}" if count else "2 or more"
    if items is None or not all(isinstance(v, str) and v for v in items) \
            or len(items) < (count or 2) or (count and len(items) != count):
        raise ModelError(f"{owner}: 'operands' must be a list of {what} source node names "
                         f"(the order of the inputs), got {describe(value)}")
    if len(set(items)) != len(items):
        raise ModelError(f"{owner}: 'operands' must name each source once, got "
                         f"{describe(items)}")
    return tuple(items)


@dataclass(frozen=True, kw_only=True, eq=False)
class Add(N.Node):
    """Element-wise sum of its two or more inputs, all of one shape (SEW-ResNet's ADD).

    Binary spikes add to integer levels (0/1/2 for two inputs). Every IR node sums its
    incoming edges; an Add makes the sum a node of its own (an output other nodes can
    read, and one digital add per element per extra input per step in the engine). A
    neuron with several incoming edges (the membrane shortcut) needs no Add."""


@dataclass(frozen=True, kw_only=True, eq=False)
class IAnd(N.Node):
    r"""SEW-ResNet's IAND of two ordered inputs of one shape:
    :math:`y = (1 - a)\,b` with ``a`` the source named first in ``operands`` (the residual
    branch) and ``b`` the second (the shortcut). On binary spikes it is ``(NOT a) AND b``;
    on other values it is that formula as written (no rounding, no clipping)."""

    operands: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _operands(self.operands, "IAnd", 2))


@dataclass(frozen=True, kw_only=True, eq=False)
class Concat(N.Node):
    """Its inputs joined along ``axis`` (negative: counted from the end) in the order of
    ``operands`` (two or more source names); the other dimensions must agree."""

    operands: tuple[str, ...]
    axis: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _operands(self.operands, "Concat", None))
        object.__setattr__(self, "axis", _int(self.axis, "axis", "Concat",
                                              lo=-MAX_DIMS))

    def norm_axis(self, ndim: int) -> int | None:
        """``axis`` as a non-negative axis of an ``ndim``-dimensional input (None: out of range)."""
        return self.axis % ndim if -ndim <= self.axis < ndim else None

    def permutation(self, shapes: list[tuple[int, ...]]) -> np.ndarray:
        """Flat index, into the inputs stacked flat in operand order, of every element of
        the (flat, C-order) output."""
        parts, off = [], 0
        for s in shapes:
            n = math.prod(s)
            parts.append(np.arange(off, off + n, dtype=np.int64).reshape(s))
            off += n
        return np.concatenate(parts, axis=self.norm_axis(len(shapes[0]))).reshape(-1)


@dataclass(frozen=True, kw_only=True, eq=False)
class Reshape(N.Node):
    """The input's elements in C order, in ``shape`` (the same number of elements)."""

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape(self.shape, "shape", "Reshape",
                                                 allow_empty=False))


@dataclass(frozen=True, kw_only=True, eq=False)
class Transpose(N.Node):
    """Axes permutation (NumPy's ``transpose``, PyTorch's ``permute``): output axis ``i``
    is input axis ``axes[i]``; e.g. ``axes=(1, 0)`` turns ``(D, N)`` into ``(N, D)``
    tokens."""

    axes: tuple[int, ...]

    def __post_init__(self) -> None:
        axes = _ints(self.axes, "axes", "Transpose", lo=0, sizes=tuple(range(1, MAX_DIMS + 1)),
                     what="a list of axes (a permutation of 0..ndim-1)")
        if sorted(axes) != list(range(len(axes))):
            raise ModelError(f"Transpose: 'axes' must be a permutation of 0..{len(axes) - 1}, "
                             f"got {describe(self.axes)}")
        object.__setattr__(self, "axes", axes)

    def permutation(self, in_shape: tuple[int, ...]) -> np.ndarray:
        """Flat input index of every element of the (flat, C-order) output."""
        n = math.prod(in_shape)
        return np.arange(n, dtype=np.int64).reshape(in_shape).transpose(self.axes).reshape(-1)


@dataclass(frozen=True, kw_only=True, eq=False)
class Mul(N.Node):
    r"""Element-wise product :math:`y = a \odot b` of two ordered activations ``a``, ``b``
    (``operands``: their source names, in that order), with NumPy broadcasting either
    way: the shapes are aligned on their last axes and each pair of dimensions must be
    equal or one of them 1; the output has the broadcast shape (e.g. SDSA's
    ``(h, N, d) ⊙ (h, 1, d)`` → ``(h, N, d)``, QKTA's ``(h, 1, N) ⊙ (h, d, N)``). Over
    binary spikes it is their AND."""

    operands: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _operands(self.operands, "Mul", 2))

    @staticmethod
    def reads(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices into ``a`` and into ``b`` of the two factors of every (flat,
        C-order) output element (shapes ``a``, ``b`` broadcast as NumPy does)."""
        out = np.broadcast_shapes(a, b)
        ia = np.broadcast_to(np.arange(math.prod(a), dtype=np.int64).reshape(a), out)
        ib = np.broadcast_to(np.arange(math.prod(b), dtype=np.int64).reshape(b), out)
        return ia.reshape(-1), ib.reshape(-1)


@dataclass(frozen=True, kw_only=True, eq=False)
class Gate(Mul):
    r"""An enable gate :math:`y = r \odot x`: a :class:`Mul` (same broadcasting, same
    evaluation) whose first operand ``r`` is an enable signal, the spikes of a spiking
    neuron layer (IF, LIF, CubaLIF; not ILIF or TernaryLIF) reached through rearrangements only
    (Reshape, Transpose, Flatten) — SEMM's router output ``r[t, n, e]`` (Zhou et al.,
    NeurIPS 2024), broadcast over its expert's channels. A zero enable means the gated
    value is not needed: the engine counts, per gate, ``expert_active`` = Σ r (enables
    set) and ``expert_skipped`` = (elements of r) × steps − Σ r."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _operands(self.operands, "Gate", 2))


@dataclass(frozen=True, kw_only=True, eq=False)
class ReduceSum(N.Node):
    """Sum of its input over ``axis`` (negative: counted from the end); ``keepdim`` keeps
    the axis with size 1 (PyTorch's ``sum(dim, keepdim=True)``), else drops it (a 1-D
    input must keep it). Over binary spikes it is a popcount. Several incoming edges
    are summed first, as for every node without ordered inputs."""

    axis: int
    keepdim: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", _int(self.axis, "axis", "ReduceSum", lo=-MAX_DIMS))
        keep = self.keepdim.item() if isinstance(self.keepdim, np.ndarray) \
            and self.keepdim.shape == () and self.keepdim.dtype == bool else self.keepdim
        if not isinstance(keep, (bool, np.bool_)):
            raise ModelError(f"ReduceSum: 'keepdim' must be true or false, got "
                             f"{describe(self.keepdim)}")
        object.__setattr__(self, "keepdim", bool(keep))

    def norm_axis(self, ndim: int) -> int | None:
        """``axis`` of an ``ndim``-dimensional input, non-negative (None: out of range)."""
        return self.axis % ndim if -ndim <= self.axis < ndim else None

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        ax = self.norm_axis(len(shape))
        return shape[:ax] + ((1,) if self.keepdim else ()) + shape[ax + 1:]

    def members(self, shape: tuple[int, ...]) -> np.ndarray:
        """``(outputs, n)``: the flat input indices each (flat, C-order) output sums, in
        increasing order along the axis."""
        ax = self.norm_axis(len(shape))
        idx = np.moveaxis(np.arange(math.prod(shape), dtype=np.int64).reshape(shape), ax, -1)
        return idx.reshape(-1, shape[ax])


@dataclass(frozen=True, kw_only=True, eq=False)
class MatMul(N.Node):
    r"""Batched matrix product of two ordered activations, times a constant:
    :math:`y = \mathrm{scale}\,(a\,b)` over the last two axes, ``a`` ``(…, M, K)`` and
    ``b`` ``(…, K, N)`` with equal leading axes (no broadcasting) → ``(…, M, N)``;
    ``operands`` names ``a`` then ``b``. ``scale`` is one finite number (Spikformer's
    0.125); each output is :math:`\mathrm{scale} \cdot \sum_k a_{mk} b_{kn}`, summed in
    increasing ``k``. Both operands are activations: the product runs on the digital
    spike units, never on crossbar tiles (a design rule of the mapping)."""

    operands: tuple[str, ...]
    scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _operands(self.operands, "MatMul", 2))
        arr = _numeric(self.scale, "scale", "MatMul", bools=False)
        val = float(arr.reshape(-1)[0]) if arr.size == 1 else float("nan")
        if not math.isfinite(val):
            raise ModelError(f"MatMul: 'scale' must be one finite number, got "
                             f"{describe(self.scale)}")
        object.__setattr__(self, "scale", val)

    @staticmethod
    def dims(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int, int, int]:
        """``(L, M, K, N)``: the product's batch (leading elements) and matrix sizes."""
        return math.prod(a[:-2]), a[-2], a[-1], b[-1]


#: nodes whose inputs are taken one by one, in the order of their ``operands``
ORDERED = (IAnd, Concat, Mul, MatMul)
#: the spike-spike primitives (products of two activations, popcounts): digital units only
SPIKE_OPS = (Mul, ReduceSum, MatMul)
TENSOR_TYPES: dict[str, type[N.Node]] = {
    c.__name__: c for c in (Add, IAnd, Concat, Reshape, Transpose, Mul, Gate, ReduceSum,
                            MatMul)}
N.NODE_TYPES.update(TENSOR_TYPES)


def check_operands(name: str, node: N.Node, sources: list[tuple[str, bool]]) -> None:
    """Refuse (ModelError naming the node and the field) an ordered node whose
    ``operands`` are not exactly its ``sources`` (``(source, is_back_edge)`` of every
    incoming edge), an ordered input along a recurrent edge, and an Add of fewer than
    two inputs."""
    here = f"node {describe(name)} ({type(node).__name__})"
    if isinstance(node, Add) and len(sources) < 2:
        raise ModelError(f"{here}: an Add sums 2 or more inputs, it has {len(sources)} "
                         "incoming edge(s); remove it or add the missing edge")
    if not isinstance(node, ORDERED):
        return
    names = [s for s, _ in sources]
    if sorted(names) != sorted(node.operands):
        raise ModelError(f"{here}: 'operands' {describe(list(node.operands))} must name "
                         f"exactly its sources {describe(names)}, each once")
    back = [s for s, is_back in sources if is_back]
    if back:
        raise ModelError(f"{here}: 'operands' {describe(back)} reach it along a recurrent "
                         "edge, which ordered inputs do not support; put a neuron layer "
                         "between")


#: nodes whose output is binary when their inputs are
_BINARY_PASS = (Reshape, Transpose, Concat, Mul, IAnd, N.Flatten, N.MaxPool2d, Delay)


def enable_layer(net, name: str) -> str | None:
    """The spiking layer whose spikes are the enable operand of Gate ``name`` (followed
    back through single-input Reshape, Transpose and Flatten nodes), or None when the
    operand is not such spikes."""
    src = net.nodes[name].operands[0]
    while isinstance(net.nodes[src], (Reshape, Transpose, N.Flatten)):
        preds = net.predecessors(src)
        if len(preds) != 1 or preds[0][1]:
            return None
        src = preds[0][0]
    node = net.nodes[src]
    ok = isinstance(node, N.Neuron) and node.spiking and not isinstance(node, _NOT_BINARY)
    return src if ok else None


def binary_output(net, name: str) -> bool:
    """Whether node ``name`` of ``net`` outputs binary spikes (0/1), decided statically
    from the graph: a spiking neuron layer does (IF, LIF, CubaLIF), except an ILIF (its
    integer multi-level spikes) and a TernaryLIF (its signed spikes); a Reshape, Transpose, Flatten, Concat, MaxPool2d, Mul or
    IAnd does when every input is binary and reaches it alone (one edge, or ordered
    operands: several edges into another node are summed, which is not binary); every
    other node (the Input, synaptic layers, sums, averages, products) does not. A Delay
    does when its input does (on a cycle through Delays only, the cycle's own values
    start at zero and stay binary)."""
    return _binary(net, name, set())


def _binary(net, name: str, seen: set[str]) -> bool:
    node = net.nodes[name]
    if isinstance(node, N.Neuron):
        return bool(node.spiking) and not isinstance(node, _NOT_BINARY)
    if not isinstance(node, _BINARY_PASS):
        return False
    if name in seen:  # a cycle through pass-through nodes and Delays: zeros at first
        return True
    seen.add(name)
    srcs = [s for s, _ in net.predecessors(name)]
    if not isinstance(node, ORDERED) and len(srcs) != 1:
        return False
    return all(_binary(net, s, seen) for s in srcs)
