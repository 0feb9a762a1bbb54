"""Program a mapped network onto a chip: every tile block's conductances, drawn once.

``program_chip(mapped, rng)`` encodes each block of each op (its own weight scale, kept
with the block), programs it with the macro's noise, faults and drift exponents, and
draws the analog neuron mismatch of every layer. Independent random streams are spawned
per block and per layer, so adding a layer does not change the others' draws.

This module reads the mapped network by its attributes only (``blocks``, ``ops``,
``chip``, ``network``), keeping devices below mapping in the import order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .crossbar import ProgrammedTile, encode_weights, program_tile
from .neuron import NeuronMismatch, draw_mismatch

__all__ = ["ProgrammedChip", "program_chip", "block_weights"]


def block_weights(mapped: Any, index: int) -> np.ndarray:
    """The ``(rows, outputs)`` weight block stored by block ``index``."""
    b = mapped.blocks[index]
    grp = mapped.ops[b.op].groups[b.group]
    return grp.weight[b.row_lo:b.row_hi, b.out_lo:b.out_hi]


@dataclass(frozen=True, kw_only=True, eq=False)
class ProgrammedChip:
    """A mapped network with its programmed state.

    ``tiles[i]`` holds block ``i``'s programmed cells (``None`` on an ideal macro, whose
    blocks store the float weights exactly); ``mismatch[layer]`` the neuron factors.
    """

    mapped: Any
    tiles: tuple[ProgrammedTile | None, ...]
    mismatch: Mapping[str, NeuronMismatch]

    @property
    def chip(self):
        return self.mapped.chip

    @property
    def ideal(self) -> bool:
        return self.mapped.chip.macro.technology == "ideal"


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
        tiles.append(program_tile(encode_weights(w.T, macro), macro, streams[i]))
    layer_streams = streams[n].spawn(max(1, len(mapped.network.layers())))
    mismatch = {}
    for k, layer in enumerate(mapped.network.layers()):
        mismatch[layer] = draw_mismatch(tuple(mapped.network.out_shapes[layer]),
                                        mapped.chip.neuron, layer_streams[k])
    return ProgrammedChip(mapped=mapped, tiles=tuple(tiles), mismatch=mismatch)
