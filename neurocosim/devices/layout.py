"""Column layout of a weight block on a crossbar tile: which columns hold each output.

One place says where :func:`~neurocosim.devices.crossbar.encode_weights` puts the cells
of output ``o`` of an ``n_out``-output block (columns numbered from the block's first):

* ``differential`` — one pair per output: ``(2o, 2o + 1)`` = (G⁺, G⁻);
* ``offset`` — one column per output, ``o``, read against the block's one shared
  reference column ``n_out`` (the pair is ``(o, n_out)``);
* ``bit_sliced`` with ``k`` slices — ``k`` pairs per output, least significant first:
  slice ``s`` is ``(2ko + 2s, 2ko + 2s + 1)``.

Every pair ``(plus, minus)`` is read as ``I[plus] − I[minus]``, scaled by the block's
decode coefficient of ``plus`` (``EncodedTile.col_weights[plus, o]``). The mapper sizes
blocks with :meth:`ColumnLayout.block_columns` and :meth:`ColumnLayout.outputs_per_tile`,
the simulator builds its decode terms with :meth:`ColumnLayout.pairs`, and prune-on-chip
RESETs the cells :meth:`ColumnLayout.pair_columns` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, short

if TYPE_CHECKING:
    from .schema import MacroCard

__all__ = ["ColumnLayout"]

_MAPPINGS = ("differential", "offset", "bit_sliced")


@dataclass(frozen=True)
class ColumnLayout:
    """Where the cells of each output of a block sit among the block's columns.

    ``mapping`` is the macro's ``weight_mapping``; ``slices`` the pairs per output (the
    macro's ``slices`` for bit slicing, else 1). Build it with :meth:`of`.
    """

    mapping: str
    slices: int = 1

    def __post_init__(self) -> None:
        if self.mapping not in _MAPPINGS:
            raise ConfigError(f"macro.weight_mapping: unknown mapping {short(self.mapping)} "
                              f"(mappings: {', '.join(_MAPPINGS)})")
        if self.slices < 1 or (self.mapping != "bit_sliced" and self.slices != 1):
            raise ConfigError(f"column layout: {self.mapping} has 1 pair per output "
                              f"(bit slicing: >= 1 slices), got {short(self.slices)}")

    @classmethod
    def of(cls, macro: MacroCard) -> ColumnLayout:
        """The layout of ``macro`` (its ``weight_mapping`` and, for bit slicing, ``slices``)."""
        mapping = macro.weight_mapping
        return cls(mapping, macro.slices if mapping == "bit_sliced" else 1)

    @property
    def per_output(self) -> int:
        """Columns of one output (the offset mapping's reference column is not counted)."""
        return 1 if self.mapping == "offset" else 2 * self.slices

    @property
    def shared(self) -> int:
        """Columns a block holds besides its outputs' own: the offset reference column."""
        return 1 if self.mapping == "offset" else 0

    def block_columns(self, n_out: int) -> int:
        """Columns of a block of ``n_out`` outputs."""
        return n_out * self.per_output + self.shared

    def outputs_per_tile(self, cols: int) -> int:
        """Most outputs one block on a tile of ``cols`` columns holds."""
        return (cols - self.shared) // self.per_output

    def ref_col(self, n_out: int) -> int:
        """The shared reference column of an ``n_out``-output block, or ``-1``."""
        return n_out if self.shared else -1

    def pairs(self, o: int, n_out: int) -> list[tuple[int, int]]:
        """``(plus, minus)`` columns read for output ``o`` (least significant slice first);
        ``minus`` is the reference column for the offset mapping."""
        if self.mapping == "offset":
            return [(o, n_out)]
        k = self.slices
        return [(2 * k * o + 2 * s, 2 * k * o + 2 * s + 1) for s in range(k)]

    def pair_columns(self, outs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``(plus, minus)`` cell columns of outputs ``outs`` as two ``(len(outs),
        slices)`` arrays; only for the paired mappings (the offset mapping's reference
        column is shared by every output, so it has no pair of its own)."""
        if self.shared:
            raise ConfigError("the offset mapping stores each weight in one column against a "
                              "shared reference column: it has no cell pairs per output")
        first = 2 * self.slices * np.asarray(outs, np.int64)[:, None] \
            + 2 * np.arange(self.slices, dtype=np.int64)[None, :]
        return first, first + 1
