"""IR nodes that combine or rearrange activation tensors (residual blocks, token layouts).

* :class:`Add` — element-wise sum of two or more inputs of one shape (SEW-ResNet's ADD);
* :class:`IAnd` — ``(1 − a)·b`` of two ordered inputs (SEW-ResNet's IAND);
* :class:`Concat` — its ordered inputs joined along an axis;
* :class:`Reshape` — the same elements in another shape (C order);
* :class:`Transpose` — an axes permutation (PyTorch's ``permute``), e.g. ``(C, N)`` →
  ``(N, C)`` between ``(C, H, W)`` maps and ``(N, D)`` tokens.

A node whose inputs are *ordered* (:data:`ORDERED`: IAnd, Concat) names them in
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
from .checks import MAX_DIMS, _int, _ints, _shape, describe

__all__ = ["Add", "IAnd", "Concat", "Reshape", "Transpose", "ORDERED", "TENSOR_TYPES",
           "check_operands"]


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


#: nodes whose inputs are taken one by one, in the order of their ``operands``
ORDERED = (IAnd, Concat)
TENSOR_TYPES: dict[str, type[N.Node]] = {
    c.__name__: c for c in (Add, IAnd, Concat, Reshape, Transpose)}
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
