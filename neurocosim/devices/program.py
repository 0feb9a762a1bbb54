"""Program a mapped network onto a chip: every tile block's conductances, drawn once.

``program_chip(mapped, rng)`` encodes each block of each op (its own weight scale, kept
with the block), programs it with the macro's noise, faults and drift exponents, and
draws the analog neuron mismatch of every layer. Independent random streams are spawned
per block and per layer, so adding a layer does not change the others' draws.

A programmed chip is read at an :class:`OperatingPoint` (time after programming, ADC
ranges, drift compensation); :meth:`ProgrammedChip.at` gives the same programmed state
at another one.

This module reads the mapped network by its attributes only (``blocks``, ``ops``,
``chip``, ``network``), keeping devices below mapping in the import order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .crossbar import ProgrammedTile, at_inference, encode_weights, program_tile
from .neuron import NeuronMismatch, draw_mismatch

__all__ = ["OperatingPoint", "ProgrammedChip", "program_chip", "block_weights"]

_KEEP: Any = object()  # "leave this setting as it is" in ProgrammedChip.at


def block_weights(mapped: Any, index: int) -> np.ndarray:
    """The ``(rows, outputs)`` weight block stored by block ``index``."""
    b = mapped.blocks[index]
    grp = mapped.ops[b.op].groups[b.group]
    return grp.weight[b.row_lo:b.row_hi, b.out_lo:b.out_hi]


@dataclass(frozen=True, kw_only=True, eq=False)
class OperatingPoint:
    """How a programmed chip is read.

    ``read_time``: seconds after programming at which the array is read (drift);
    ``adc_full_scale``: per-block ADC range in amperes, indexed like the mapped network's
    blocks (e.g. from :func:`~neurocosim.calibration.calibrate_adc_ranges`; None: each
    block's largest possible column current, so nothing clips);
    ``dac_full_scale``: per-block input full scale of analog (fractional) inputs, a power
    of two ≥ 1 (None: 1 for every block): the digital input value ``x`` enters the DAC (or
    the bit-serial drive) as ``x / s`` and the block's decoded partial sums are multiplied
    by ``s`` — a shift, as a chip scales a digital value into its DAC's range
    (:func:`~neurocosim.calibration.calibrate_adc_ranges` sets it from the largest input of
    the op on the calibration data; e.g. a Linear head after a token mean of multi-level
    spikes);
    ``drift_compensation``: global drift compensation, one scale per tile (the card's
    ``macro.drift.compensation`` unless changed); ``inference``: which draw of read noise
    that is drawn once per inference (``read_noise.redraw: per_inference``) the tiles hold.
    """

    read_time: float = 0.0
    adc_full_scale: np.ndarray | None = None
    dac_full_scale: np.ndarray | None = None
    drift_compensation: bool = False
    inference: int = 0


@dataclass(frozen=True, kw_only=True, eq=False)
class ProgrammedChip:
    """A mapped network with its programmed state and the operating point it is read at.

    ``tiles[i]`` holds block ``i``'s programmed cells (``None`` on an ideal macro, whose
    blocks store the float weights exactly); ``mismatch[layer]`` the neuron factors —
    threshold re-balancing (:func:`~neurocosim.calibration.rebalance_thresholds`) is
    stored there too, as the layers' threshold factors. ``operating_point`` defaults to
    reading at programming time with full-range ADCs and the card's drift compensation.
    """

    mapped: Any
    tiles: tuple[ProgrammedTile | None, ...]
    mismatch: Mapping[str, NeuronMismatch]
    operating_point: OperatingPoint | None = None

    def __post_init__(self) -> None:
        if self.operating_point is None:
            comp = bool(self.mapped.chip.macro.drift.compensation)
            object.__setattr__(self, "operating_point", OperatingPoint(drift_compensation=comp))

    @property
    def chip(self):
        return self.mapped.chip

    @property
    def ideal(self) -> bool:
        return self.mapped.chip.macro.technology == "ideal"

    def at(self, *, read_time: float = _KEEP, adc_full_scale: np.ndarray | None = _KEEP,
           drift_compensation: bool = _KEEP, inference: int = _KEEP,
           dac_full_scale: np.ndarray | None = _KEEP) -> ProgrammedChip:
        """The same programmed chip read at another operating point (settings not given
        stay as they are). With read noise drawn per inference, a new read time or
        ``inference`` index redraws it (a new inference) in every tile."""
        given = {"read_time": read_time, "adc_full_scale": adc_full_scale,
                 "drift_compensation": drift_compensation, "inference": inference,
                 "dac_full_scale": dac_full_scale}
        changes = {k: v for k, v in given.items() if v is not _KEEP}
        if "read_time" in changes:
            changes["read_time"] = float(changes["read_time"])
        if "inference" in changes:
            changes["inference"] = int(changes["inference"])
        old = self.operating_point
        point = dataclasses.replace(old, **changes)
        tiles = self.tiles
        if (point.read_time, point.inference) != (old.read_time, old.inference):
            macro = self.mapped.chip.macro
            tiles = tuple(None if t is None else
                          at_inference(t, macro, point.read_time, point.inference)
                          for t in tiles)
        return dataclasses.replace(self, tiles=tiles, operating_point=point)


def program_chip(mapped: Any, rng: np.random.Generator) -> ProgrammedChip:
    """Program every block of ``mapped`` (see the module docstring)."""
    macro = mapped.chip.macro
    n = len(mapped.blocks)
    streams = rng.spawn(n + 1)
    tiles: list[ProgrammedTile | None] = []
    for i in range(n):
        if macro.technology == "ideal":
            tiles.append(None)
            continue
        w = block_weights(mapped, i)  # (rows, outputs)
        tile = program_tile(encode_weights(w.T, macro), macro, streams[i])
        tiles.append(at_inference(tile, macro, 0.0))  # the first inference's read noise
    layer_streams = streams[n].spawn(max(1, len(mapped.network.layers())))
    mismatch = {}
    for k, layer in enumerate(mapped.network.layers()):
        mismatch[layer] = draw_mismatch(tuple(mapped.network.out_shapes[layer]),
                                        mapped.chip.neuron, layer_streams[k])
    point = OperatingPoint(drift_compensation=bool(macro.drift.compensation))
    return ProgrammedChip(mapped=mapped, tiles=tuple(tiles), mismatch=mismatch,
                          operating_point=point)
