"""The :class:`Conv1d` node (PyTorch's ``nn.Conv1d``, NIR's ``Conv1d``) and its exact
form as a :class:`~neurocosim.ir.nodes.Conv2d` on a height-1 map.

A Conv1d on ``(C_in, L)`` is the Conv2d with kernel ``(1, k)``, stride ``(1, s)``,
padding ``(0, p)`` and dilation ``(1, d)`` on ``(C_in, 1, L)``: the same products summed
in the same order. :func:`~neurocosim.ir.transforms.conv1d_as_conv2d` rewrites a network
that way at load time (a Reshape to ``(C_in, 1, L)``, the Conv2d, a Reshape back), so
mapping, lowering and the engines only ever see Conv2d.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ModelError
from . import nodes as N
from .checks import _int, _mode

__all__ = ["Conv1d"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Conv1d(N.Node):
    """1-D convolution (cross-correlation, as PyTorch) of a ``(C_in, L)`` input:
    ``weight`` ``(C_out, C_in / groups, k)``, ``bias`` ``(C_out,)`` or a scalar,
    ``stride``, ``dilation`` (ints ≥ 1), ``padding`` (an int ≥ 0 of zeros each side, or
    ``"same"`` (stride 1) / ``"valid"``), ``groups``. Output length
    ``(L + 2p − d(k − 1) − 1) // s + 1``."""

    _arrays: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    padding: int | str = 0
    dilation: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        w = self.weight
        if w.ndim != 3 or 0 in w.shape:
            raise ModelError(f"Conv1d: 'weight' must be a 3-D (C_out, C_in/groups, k) array "
                             f"with no empty dimension, got shape {w.shape}")
        if self.bias.shape not in ((), (w.shape[0],)):
            raise ModelError(f"Conv1d: 'bias' must be a scalar or of shape ({w.shape[0]},), "
                             f"got shape {self.bias.shape}")
        for f in ("stride", "dilation", "groups"):
            object.__setattr__(self, f, _int(getattr(self, f), f, "Conv1d", lo=1))
        pad = self.padding
        if isinstance(pad, np.ndarray) and pad.shape == () and pad.dtype.kind in "US":
            pad = pad.item()
        if isinstance(pad, (str, bytes)):
            pad = _mode(pad, "padding", "Conv1d", ("same", "valid"))
            if pad == "same" and self.stride != 1:
                raise ModelError(f"Conv1d: padding='same' needs stride 1 (as PyTorch), got "
                                 f"stride {self.stride}")
        else:
            pad = _int(pad, "padding", "Conv1d", lo=0)
        object.__setattr__(self, "padding", pad)
        if w.shape[0] % self.groups:
            raise ModelError(f"Conv1d: 'groups' = {self.groups} does not divide the "
                             f"{w.shape[0]} output channels of weight {w.shape}")

    def as_conv2d(self, length: int | None = None) -> N.Conv2d:
        """The equal :class:`~neurocosim.ir.nodes.Conv2d` on ``(C_in, 1, L)`` (``length``:
        ``L`` when known)."""
        pad = self.padding if isinstance(self.padding, str) else (0, self.padding)
        return N.Conv2d(weight=self.weight[:, :, None, :], bias=self.bias,
                        stride=(1, self.stride), padding=pad, dilation=(1, self.dilation),
                        groups=self.groups, input_shape=None if length is None else (1, length))


N.NODE_TYPES["Conv1d"] = Conv1d
