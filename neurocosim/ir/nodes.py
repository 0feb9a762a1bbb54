"""Network IR node types, named and parameterised as NIR names them.

Every node is a frozen, keyword-only dataclass; array parameters are stored as read-only
``float64`` copies. Neuron parameters are continuous-time (as in NIR); the discrete-time
semantics (DESIGN §3.1–3.2) come from :func:`neurocosim.ir.discretise`.

Shapes follow NIR: no batch dimension; dense weights are ``(n_out, n_in)``, convolution
weights ``(C_out, C_in / groups, k_h, k_w)``, spatial tensors ``(C, H, W)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ModelError

__all__ = [
    "Node",
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "Neuron",
    "IF",
    "LIF",
    "CubaLIF",
    "LI",
    "CubaLI",
    "ILIF",
    "NODE_TYPES",
    "NEURON_TYPES",
    "SYNAPTIC_TYPES",
    "RESET_MODES",
    "COMPARISONS",
]

RESET_MODES = ("zero", "subtract")
COMPARISONS = (">", ">=")


def _frozen_array(value: Any, name: str, owner: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{owner}: parameter '{name}' is not numeric ({exc})") from None
    arr.setflags(write=False)
    return arr


def _pair(value: Any, name: str, owner: str) -> tuple[int, int]:
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size == 2:
        return int(arr[0]), int(arr[1])
    raise ModelError(f"{owner}: '{name}' must be an int or a pair, got {value!r}")


@dataclass(frozen=True, kw_only=True, eq=False)
class Node:
    """Base of every IR node. Subclasses list their array fields in ``_arrays``."""

    _arrays: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._arrays:
            val = getattr(self, name)
            if val is not None:
                object.__setattr__(self, name, _frozen_array(val, name, type(self).__name__))

    # -- data round trip ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (arrays as NumPy arrays) with a ``type`` key."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = np.array(v) if isinstance(v, np.ndarray) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        """Inverse of :meth:`to_dict`; dispatches on ``data["type"]``."""
        kind = data.get("type")
        if kind not in NODE_TYPES:
            raise ModelError(
                f"unsupported node type {kind!r}; supported: {', '.join(sorted(NODE_TYPES))}"
            )
        klass = NODE_TYPES[kind]
        names = {f.name for f in dataclasses.fields(klass)}
        unknown = set(data) - names - {"type"}
        if unknown:
            raise ModelError(f"{kind}: unknown field(s) {sorted(unknown)}")
        return klass(**{k: v for k, v in data.items() if k != "type"})

    def arrays(self) -> dict[str, np.ndarray]:
        """The node's array parameters by name (for validation and statistics)."""
        return {n: getattr(self, n) for n in self._arrays if getattr(self, n) is not None}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


# -- graph boundary ------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Input(Node):
    """Network input of shape ``shape`` (no batch dimension)."""

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in np.atleast_1d(self.shape)))


@dataclass(frozen=True, kw_only=True, eq=False)
class Output(Node):
    """Network output; ``shape`` is checked against what feeds it (empty: inferred)."""

    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in np.atleast_1d(self.shape)))


# -- synapses ------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Affine(Node):
    r"""Dense synapses with bias, :math:`y = W x + b`; ``weight`` is ``(n_out, n_in)``."""

    _arrays: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Linear(Node):
    r"""Dense synapses without bias, :math:`y = W x`; ``weight`` is ``(n_out, n_in)``."""

    _arrays: ClassVar[tuple[str, ...]] = ("weight",)
    weight: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Scale(Node):
    r"""Element-wise gain, :math:`y = s \odot x`."""

    _arrays: ClassVar[tuple[str, ...]] = ("scale",)
    scale: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Conv2d(Node):
    """2-D convolution (cross-correlation, as PyTorch), input ``(C_in, H, W)``.

    ``weight`` is ``(C_out, C_in / groups, k_h, k_w)``; ``padding`` is a pair of ints or
    ``"same"`` / ``"valid"``; ``input_shape`` is the spatial ``(H, W)`` when known.
    """

    _arrays: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] | str = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    input_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        own = "Conv2d"
        object.__setattr__(self, "stride", _pair(self.stride, "stride", own))
        object.__setattr__(self, "dilation", _pair(self.dilation, "dilation", own))
        if isinstance(self.padding, (str, bytes)):
            pad = self.padding.decode() if isinstance(self.padding, bytes) else self.padding
            if pad not in ("same", "valid"):
                raise ModelError(f"Conv2d: padding must be 'same', 'valid' or ints, got {pad!r}")
            object.__setattr__(self, "padding", pad)
        else:
            object.__setattr__(self, "padding", _pair(self.padding, "padding", own))
        object.__setattr__(self, "groups", int(np.asarray(self.groups).item()))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", _pair(self.input_shape, "input_shape", own))


@dataclass(frozen=True, kw_only=True, eq=False)
class _Pool2d(Node):
    kernel_size: tuple[int, int]
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        own = type(self).__name__
        k = _pair(self.kernel_size, "kernel_size", own)
        object.__setattr__(self, "kernel_size", k)
        s = k if self.stride is None else _pair(self.stride, "stride", own)
        object.__setattr__(self, "stride", s)
        object.__setattr__(self, "padding", _pair(self.padding, "padding", own))


@dataclass(frozen=True, kw_only=True, eq=False)
class SumPool2d(_Pool2d):
    """Sum over ``kernel_size`` windows of a ``(C, H, W)`` input (zero padding)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class AvgPool2d(_Pool2d):
    """Mean over ``kernel_size`` windows (padding counted as zeros, as PyTorch)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Flatten(Node):
    """Merge dimensions ``start_dim..end_dim`` of the (unbatched) input, as NIR."""

    start_dim: int = 0
    end_dim: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_dim", int(np.asarray(self.start_dim).item()))
        object.__setattr__(self, "end_dim", int(np.asarray(self.end_dim).item()))


# -- neurons -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Neuron(Node):
    """Base of neuron nodes. Parameters have the layer's shape (scalars are broadcast
    when the network is built). Spiking types carry ``reset`` and ``compare``."""

    spiking: ClassVar[bool] = True

    def size_shape(self) -> tuple[int, ...]:
        """Shape of the layer as given by its parameters (``()`` if all scalar)."""
        shapes = {a.shape for a in self.arrays().values() if a.ndim > 0}
        return max(shapes, key=len) if shapes else ()

    def _check_modes(self) -> None:
        reset = getattr(self, "reset", None)
        if reset is not None and reset not in RESET_MODES:
            raise ModelError(
                f"{type(self).__name__}: reset must be one of {RESET_MODES}, got {reset!r}"
            )
        cmp_ = getattr(self, "compare", None)
        if cmp_ is not None and cmp_ not in COMPARISONS:
            raise ModelError(
                f"{type(self).__name__}: compare must be one of {COMPARISONS}, got {cmp_!r}"
            )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_modes()

    def broadcast(self, shape: tuple[int, ...]) -> Neuron:
        """A copy with every parameter broadcast to ``shape`` (scalars expanded)."""
        new = {}
        for name, arr in self.arrays().items():
            try:
                new[name] = np.broadcast_to(arr, shape).copy()
            except ValueError:
                raise ModelError(
                    f"{type(self).__name__}: parameter '{name}' of shape {arr.shape} does not "
                    f"fit the layer shape {shape}"
                ) from None
        return dataclasses.replace(self, **new)


@dataclass(frozen=True, kw_only=True, eq=False)
class IF(Neuron):
    r"""Integrate-and-fire: :math:`v \leftarrow v + r I`; spike if :math:`v > v_{th}`."""

    _arrays: ClassVar[tuple[str, ...]] = ("r", "v_threshold", "v_reset")
    r: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray = 0.0
    reset: str = "zero"
    compare: str = ">"


@dataclass(frozen=True, kw_only=True, eq=False)
class LIF(Neuron):
    r"""Leaky integrate-and-fire, forward Euler with :math:`\alpha = dt/\tau`:

    .. math:: v \leftarrow v + \alpha (v_{leak} - v) + \alpha r I
    """

    _arrays: ClassVar[tuple[str, ...]] = ("tau", "r", "v_leak", "v_threshold", "v_reset")
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray = 0.0
    reset: str = "zero"
    compare: str = ">"


@dataclass(frozen=True, kw_only=True, eq=False)
class CubaLIF(Neuron):
    r"""Current-based LIF: :math:`i \leftarrow i + \alpha_{syn}(w_{in} I - i)`, then the
    LIF update driven by :math:`i` (:math:`\alpha_{syn} = dt/\tau_{syn}`)."""

    _arrays: ClassVar[tuple[str, ...]] = (
        "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in",
    )
    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray = 0.0
    w_in: np.ndarray = 1.0
    reset: str = "zero"
    compare: str = ">"


@dataclass(frozen=True, kw_only=True, eq=False)
class LI(Neuron):
    r"""Leaky integrator (non-spiking readout); its output is the membrane :math:`v`."""

    spiking: ClassVar[bool] = False
    _arrays: ClassVar[tuple[str, ...]] = ("tau", "r", "v_leak")
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class CubaLI(Neuron):
    r"""Current-based leaky integrator (non-spiking readout); output is :math:`v`."""

    spiking: ClassVar[bool] = False
    _arrays: ClassVar[tuple[str, ...]] = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")
    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    w_in: np.ndarray = 1.0


@dataclass(frozen=True, kw_only=True, eq=False)
class ILIF(Neuron):
    r"""Integer-spike LIF (SpikeYOLO's I-LIF) with ``max_level`` :math:`D`.

    LIF membrane dynamics, then, with :math:`\theta` = ``v_threshold`` (1 in SpikeYOLO):

    .. math::
        s = \mathrm{round}(\mathrm{clip}(v/\theta, 0, D)), \qquad v \leftarrow v - s\,\theta

    ``round`` is half-to-even (``numpy.round``, as ``torch.round``). The output is the
    integer ``s``; hardware expands it into ``D`` binary virtual steps (thermometer code).
    """

    _arrays: ClassVar[tuple[str, ...]] = ("tau", "r", "v_leak", "v_threshold")
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray = 1.0
    max_level: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        lvl = int(np.asarray(self.max_level).item())
        if lvl < 1:
            raise ModelError(f"ILIF: max_level must be >= 1, got {lvl}")
        object.__setattr__(self, "max_level", lvl)


NEURON_TYPES: dict[str, type[Neuron]] = {
    c.__name__: c for c in (IF, LIF, CubaLIF, LI, CubaLI, ILIF)
}
SYNAPTIC_TYPES: dict[str, type[Node]] = {c.__name__: c for c in (Affine, Linear, Conv2d)}
NODE_TYPES: dict[str, type[Node]] = {
    c.__name__: c
    for c in (Input, Output, Affine, Linear, Scale, Conv2d, SumPool2d, AvgPool2d, Flatten)
} | NEURON_TYPES
