"""Network IR node types, named and parameterised as NIR names them.

Every node is a frozen, keyword-only dataclass; array parameters are stored as read-only
``float64`` copies. Neuron parameters are continuous-time (as in NIR); the discrete-time
semantics (DESIGN §3.1–3.2) come from :func:`neurocosim.ir.discretise`.

Shapes follow NIR: no batch dimension; dense weights are ``(n_out, n_in)``, convolution
weights ``(C_out, C_in / groups, k_h, k_w)``, spatial tensors ``(C, H, W)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import ModelError, short
from .checks import MAX_DIMS as MAX_DIMS
from .checks import _frozen_array, _int, _mode, _numeric, _pair, _shape, describe

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
    "MaxPool2d",
    "BatchNorm",
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


@dataclass(frozen=True, kw_only=True, eq=False)
class Node:
    """Base of every IR node. Subclasses list their array fields in ``_arrays``."""

    _arrays: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        own = type(self).__name__
        optional = {f.name for f in dataclasses.fields(self)
                    if f.default is None and f.default_factory is dataclasses.MISSING}
        for name in self._arrays:
            val = getattr(self, name)
            if val is None and name in optional:
                continue
            object.__setattr__(self, name, _frozen_array(val, name, own))

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
        if not isinstance(data, dict):
            raise ModelError(f"a node must be a mapping with a 'type', got {describe(data)}")
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in NODE_TYPES:
            raise ModelError(
                f"unsupported node type {describe(kind)}; supported: {', '.join(sorted(NODE_TYPES))}"
            )
        klass = NODE_TYPES[kind]
        fields = {f.name: f for f in dataclasses.fields(klass) if f.init}
        unknown = sorted(str(k) for k in set(data) - set(fields) - {"type"})
        if unknown:
            raise ModelError(f"{kind}: unknown field(s) {short(unknown)}")
        missing = [n for n, f in fields.items() if n not in data
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ModelError(f"{kind}: missing field(s) {short(missing)}")
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
        object.__setattr__(self, "shape", _shape(self.shape, "shape", "Input",
                                                 allow_empty=False))


@dataclass(frozen=True, kw_only=True, eq=False)
class Output(Node):
    """Network output; ``shape`` is checked against what feeds it (empty: inferred)."""

    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _shape(self.shape, "shape", "Output",
                                                 allow_empty=True))


# -- synapses ------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Affine(Node):
    r"""Dense synapses with bias, :math:`y = W x + b`; ``weight`` is ``(n_out, n_in)``."""

    _arrays: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dense(self)
        if self.bias.shape not in ((), (self.weight.shape[0],)):
            raise ModelError(f"Affine: 'bias' must be a scalar or of shape "
                             f"({self.weight.shape[0]},), got shape {self.bias.shape}")


@dataclass(frozen=True, kw_only=True, eq=False)
class Linear(Node):
    r"""Dense synapses without bias, :math:`y = W x`; ``weight`` is ``(n_out, n_in)``."""

    _arrays: ClassVar[tuple[str, ...]] = ("weight",)
    weight: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_dense(self)


def _check_dense(node: Node) -> None:
    w = node.weight
    if w.ndim != 2 or 0 in w.shape:
        raise ModelError(f"{type(node).__name__}: 'weight' must be a 2-D (n_out, n_in) "
                         f"array with no empty dimension, got shape {w.shape}")


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
        w = self.weight
        if w.ndim != 4 or 0 in w.shape:
            raise ModelError(f"Conv2d: 'weight' must be a 4-D (C_out, C_in/groups, k_h, k_w) "
                             f"array with no empty dimension, got shape {w.shape}")
        if self.bias.shape not in ((), (w.shape[0],)):
            raise ModelError(f"Conv2d: 'bias' must be a scalar or of shape ({w.shape[0]},), "
                             f"got shape {self.bias.shape}")
        object.__setattr__(self, "stride", _pair(self.stride, "stride", own))
        object.__setattr__(self, "dilation", _pair(self.dilation, "dilation", own))
        pad = self.padding
        if isinstance(pad, np.ndarray) and pad.shape == () and pad.dtype.kind in "US":
            pad = pad.item()
        if isinstance(pad, (str, bytes)):
            pad = _mode(pad, "padding", own, ("same", "valid"))
            if pad == "same" and self.stride != (1, 1):
                raise ModelError(f"Conv2d: padding='same' needs stride 1 (as PyTorch), got "
                                 f"stride {self.stride}")
            object.__setattr__(self, "padding", pad)
        else:
            object.__setattr__(self, "padding", _pair(pad, "padding", own, lo=0))
        groups = _int(self.groups, "groups", own, lo=1)
        if w.shape[0] % groups:
            raise ModelError(f"Conv2d: 'groups' = {groups} does not divide the {w.shape[0]} "
                             f"output channels of weight {w.shape}")
        object.__setattr__(self, "groups", groups)
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
        p = _pair(self.padding, "padding", own, lo=0)
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise ModelError(f"{own}: 'padding' {p} must be at most half of kernel_size {k} "
                             "(as PyTorch)")
        object.__setattr__(self, "padding", p)


@dataclass(frozen=True, kw_only=True, eq=False)
class SumPool2d(_Pool2d):
    """Sum over ``kernel_size`` windows of a ``(C, H, W)`` input (zero padding)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class AvgPool2d(_Pool2d):
    """Mean over ``kernel_size`` windows (padding counted as zeros, as PyTorch)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class MaxPool2d(_Pool2d):
    """Maximum over ``kernel_size`` windows of a ``(C, H, W)`` input; padding counts as
    −inf (as PyTorch), so a window's maximum is that of its elements inside the input.
    Over binary spikes it is their OR. Only ``dilation`` 1 is supported."""

    dilation: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        d = _pair(self.dilation, "dilation", "MaxPool2d")
        if d != (1, 1):
            raise ModelError(f"MaxPool2d: 'dilation' must be 1 (dilated max pooling is not "
                             f"supported), got {describe(self.dilation)}")
        object.__setattr__(self, "dilation", d)


@dataclass(frozen=True, kw_only=True, eq=False)
class BatchNorm(Node):
    r"""Batch normalisation over axis 0 (the channels of a ``(C, H, W)`` or ``(C,)``
    input) with running statistics, as PyTorch's ``eval()`` mode:

    .. math:: y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta
              = s\,x + b, \quad s = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}},
              \quad b = \beta - \mu s

    ``gamma``, ``beta``, ``running_mean`` and ``running_var`` are ``(C,)``.
    :func:`neurocosim.ir.fold_batchnorm` folds one that follows a synaptic layer into it.
    """

    _arrays: ClassVar[tuple[str, ...]] = ("gamma", "beta", "running_mean", "running_var")
    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        c = self.gamma.shape
        for name in self._arrays:
            shape = getattr(self, name).shape
            if len(shape) != 1 or shape[0] == 0 or shape != c:
                raise ModelError(f"BatchNorm: '{name}' must be a 1-D (C,) array of one value "
                                 f"per channel like 'gamma' {c}, got shape {shape}")
        if np.any(self.running_var < 0):
            raise ModelError(f"BatchNorm: 'running_var' must be >= 0, got min "
                             f"{float(self.running_var.min()):g}")
        eps = _numeric(self.eps, "eps", "BatchNorm", bools=False)
        val = float(eps.reshape(-1)[0]) if eps.size == 1 else float("nan")
        if eps.size != 1 or not (math.isfinite(val) and val > 0):
            raise ModelError(f"BatchNorm: 'eps' must be one finite number > 0, got "
                             f"{describe(self.eps)}")
        object.__setattr__(self, "eps", val)
        with np.errstate(all="ignore"):  # finite parameters must fold to finite numbers
            if all(np.isfinite(getattr(self, a)).all() for a in self._arrays) and not all(
                    np.isfinite(a).all() for a in self.scale_shift()):
                raise ModelError("BatchNorm: gamma/sqrt(running_var + eps) or the shift overflows; check 'gamma', 'running_var' and 'eps'")  # noqa: E501

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel ``(s, b)`` with ``y = s·x + b`` (see the class docstring); every
        engine computes the node this way, so their results agree bit for bit."""
        s = self.gamma / np.sqrt(self.running_var + self.eps)
        return s, self.beta - self.running_mean * s


@dataclass(frozen=True, kw_only=True, eq=False)
class Flatten(Node):
    """Merge dimensions ``start_dim..end_dim`` of the (unbatched) input, as NIR."""

    start_dim: int = 0
    end_dim: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_dim", _int(self.start_dim, "start_dim", "Flatten"))
        object.__setattr__(self, "end_dim", _int(self.end_dim, "end_dim", "Flatten"))


# -- neurons -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class Neuron(Node):
    """Base of neuron nodes. Parameters have the layer's shape (scalars are broadcast
    when the network is built). Spiking types carry ``reset`` and ``compare``.

    The input current is the sum of every incoming edge: a *membrane shortcut*
    (MS-ResNet, Spike-driven Transformer: the pre-activations of the residual branch and
    of the shortcut, identity or 1×1 convolution, added before the next neuron) is a
    neuron with one edge from each, all of the layer's shape; no Add node is needed."""

    spiking: ClassVar[bool] = True

    def size_shape(self) -> tuple[int, ...]:
        """Shape of the layer as given by its parameters (``()`` if all scalar)."""
        shapes = {a.shape for a in self.arrays().values() if a.ndim > 0}
        return max(shapes, key=len) if shapes else ()

    def _check_modes(self) -> None:
        own = type(self).__name__
        if hasattr(self, "reset"):
            object.__setattr__(self, "reset", _mode(self.reset, "reset", own, RESET_MODES))
        if hasattr(self, "compare"):
            object.__setattr__(self, "compare", _mode(self.compare, "compare", own, COMPARISONS))

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_modes()

    def broadcast(self, shape: tuple[int, ...]) -> Neuron:
        """A copy with every parameter broadcast to ``shape`` (scalars expanded)."""
        new = {}
        for name, arr in self.arrays().items():
            if arr.shape == tuple(shape):
                continue
            try:
                new[name] = np.broadcast_to(arr, shape).copy()
            except ValueError:
                raise ModelError(
                    f"{type(self).__name__}: parameter '{name}' of shape {arr.shape} does not "
                    f"fit the layer shape {shape}"
                ) from None
        return dataclasses.replace(self, **new) if new else self


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
        lvl = _int(self.max_level, "max_level", "ILIF", lo=1)
        if lvl > 2**31 - 1:
            raise ModelError(f"ILIF: 'max_level' must be < 2^31, got {lvl}")
        object.__setattr__(self, "max_level", lvl)


NEURON_TYPES: dict[str, type[Neuron]] = {
    c.__name__: c for c in (IF, LIF, CubaLIF, LI, CubaLI, ILIF)
}
SYNAPTIC_TYPES: dict[str, type[Node]] = {c.__name__: c for c in (Affine, Linear, Conv2d)}
NODE_TYPES: dict[str, type[Node]] = {
    c.__name__: c
    for c in (Input, Output, Affine, Linear, Scale, Conv2d, SumPool2d, AvgPool2d, MaxPool2d,
              BatchNorm, Flatten)
} | NEURON_TYPES

# Add, IAnd, Concat, Reshape and Transpose (neurocosim.ir.tensors) join NODE_TYPES there
from . import tensors as _tensors  # noqa: E402,F401
