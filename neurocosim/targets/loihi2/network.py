"""A Loihi 2 network in the chip's integers: the format the quantiser writes and the
simulator, the Lava graph and the netx file read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LoihiLayer", "LoihiNetwork", "ConvSpec", "sign_mode"]


def sign_mode(w: np.ndarray) -> str:
    """Lava's rule: all ≥ 0 excitatory, all ≤ 0 inhibitory, else mixed."""
    if np.min(w) >= 0:
        return "excitatory"
    if np.max(w) <= 0:
        return "inhibitory"
    return "mixed"


@dataclass(frozen=True)
class ConvSpec:
    """The geometry of a convolutional layer, in the IR's ``(C, H, W)`` order: input and
    output shapes and symmetric ``(h, w)`` stride, padding and dilation (Lava's ``Conv``
    takes the same numbers in ``(x, y) = (w, h)`` order, :mod:`.conv`)."""

    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


@dataclass(frozen=True, kw_only=True, eq=False)
class LoihiLayer:
    """One Dense → LIF or Conv → LIF stage in Loihi 2 integers.

    ``weight`` ``(n_out, n_in)`` int (clipped and truncated), or for a convolution
    (``conv`` set) ``(C_out, C_in / groups, k_h, k_w)`` (cross-correlation, the IR's
    orientation); ``weight_exp``, ``du``/``dv`` (12-bit), ``vth`` (17-bit), ``bias_mant``
    ``(n_out,)`` (13-bit signed, per neuron in ``(C, H, W)`` order), ``bias_exp`` (3-bit),
    and ``scale``: integer membrane units per float membrane unit (reporting).
    """

    name: str
    weight: np.ndarray
    weight_exp: int
    num_weight_bits: int
    sign_mode: str
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: int
    scale: float = 1.0
    conv: ConvSpec | None = None

    @property
    def n_out(self) -> int:
        if self.conv is not None:
            return int(np.prod(self.conv.out_shape))
        return int(self.weight.shape[0])

    @property
    def n_in(self) -> int:
        if self.conv is not None:
            return int(np.prod(self.conv.in_shape))
        return int(self.weight.shape[1])


@dataclass(frozen=True, kw_only=True, eq=False)
class LoihiNetwork:
    """A feed-forward chain of :class:`LoihiLayer`. Its input is binary spikes
    (``num_message_bits = 0``) or graded spikes: ``num_message_bits`` B > 0 bit unsigned
    payloads into the first layer, one payload unit being ``input_max / (2^B − 1)`` of the
    float network's input (:mod:`neurocosim.targets.loihi2.graded`)."""

    name: str
    layers: tuple[LoihiLayer, ...]
    report: dict = field(default_factory=dict)
    num_message_bits: int = 0
    input_max: float = 1.0

    @property
    def graded(self) -> bool:
        return self.num_message_bits > 0

    @property
    def has_conv(self) -> bool:
        return any(L.conv is not None for L in self.layers)

    @property
    def input_size(self) -> int:
        return self.layers[0].n_in

    @property
    def output_size(self) -> int:
        return self.layers[-1].n_out
