"""Tiling: split each op matrix into crossbar blocks, then pack small blocks into shared tiles.

A group matrix ``(K, C)`` (× physical columns per output, as the devices' column layout
says: 2 for differential pairs, ``2·slices`` for bit slicing, 1 plus one reference
column per block for the offset mapping) is cut into row chunks of at most ``rows``
and output chunks of at most ``outputs_per_tile``. The blocks of one output chunk (its
*column group*) are read together and their partial sums are added digitally before the
neurons, so a column group lives on one core.

Small blocks on the same core share a tile (``tile_sharing``): blocks placed
diagonally — disjoint rows and disjoint columns — so that reading one drives none of
the other's cells. Packing happens per core after placement (first-fit decreasing), so
it never ties column groups of distant layers together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..devices.layout import ColumnLayout
from ..devices.schema import ChipCard, MacroCard
from .lowering import SynOp

__all__ = ["Block", "ColumnGroup", "TilePacker", "columns_per_output", "outputs_per_tile",
           "pack_cores", "tile_ops"]


@dataclass(frozen=True, kw_only=True)
class Block:
    """One rectangle of an op group's matrix on a physical tile."""

    op: str
    group: int
    region: int
    row_lo: int
    row_hi: int
    out_lo: int
    out_hi: int
    colgroup: int
    tile: int = -1
    row0: int = 0
    col0: int = 0
    cols: int = 0

    @property
    def rows(self) -> int:
        return self.row_hi - self.row_lo

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class ColumnGroup:
    """The blocks producing one chunk of outputs of one op group and spatial region."""

    id: int
    op: str
    group: int
    region: int
    out_lo: int
    out_hi: int
    neurons: int  # outputs produced = chunk size x positions served (0: a partial segment)
    synapses: int  # stored weights (non-bias rows)
    row_lo: int = 0  # the crossbar rows (of the op group's matrix) this group holds
    row_hi: int = -1  # -1: to the last row
    home: int = -1  # a partial segment: the group holding its neurons, which adds its
    # partial sums (sent over the network); -1: the group holds its own neurons

    def to_dict(self) -> dict:
        return asdict(self)


def columns_per_output(macro: MacroCard) -> int:
    """Columns of one output (devices' :class:`~neurocosim.devices.layout.ColumnLayout`)."""
    return ColumnLayout.of(macro).per_output


def outputs_per_tile(macro: MacroCard) -> int:
    """Outputs one tile holds (the offset mapping keeps one reference column)."""
    return ColumnLayout.of(macro).outputs_per_tile(macro.cols)


def tile_ops(ops: dict[str, SynOp], chip: ChipCard, *, outputs: dict[str, int] | None = None,
             segment_blocks: int | None = None):
    """Cut every op into blocks (not yet on tiles). Returns ``(blocks, colgroups)``.

    ``outputs`` (the mapper's per-layer split) caps an op's outputs per column group below
    a tile's, in equal chunks; ``segment_blocks`` cuts a column group of more row blocks
    into segments of at most that many (one core's tiles): the first segment holds the
    neurons, every other one sends its partial sums to it (``ColumnGroup.home``)."""
    macro = chip.macro
    layout = ColumnLayout.of(macro)
    R, opt = macro.rows, layout.outputs_per_tile(macro.cols)
    blocks: list[Block] = []
    groups: list[ColumnGroup] = []
    for op in ops.values():
        for gi, grp in enumerate(op.groups):
            K, C = grp.weight.shape
            n_syn_rows = K - (1 if op.bias_row else 0)
            per = opt
            if outputs and op.name in outputs:  # equal chunks of at most outputs[op]
                per = min(opt, outputs[op.name])
                per = -(-C // -(-C // per))
            seg = (segment_blocks or -(-K // R)) * R
            counts = np.bincount(grp.region, minlength=op.regions)
            for reg in range(op.regions):
                positions = int(counts[reg])
                if positions == 0:
                    continue
                for o0 in range(0, C, per):
                    o1 = min(C, o0 + per)
                    first = len(groups)
                    for s0 in range(0, K, seg):
                        s1 = min(K, s0 + seg)
                        cg = len(groups)
                        groups.append(ColumnGroup(
                            id=cg, op=op.name, group=gi, region=reg, out_lo=o0, out_hi=o1,
                            neurons=(o1 - o0) * positions if s0 == 0 else 0,
                            synapses=(o1 - o0) * (min(s1, n_syn_rows) - min(s0, n_syn_rows)),
                            row_lo=s0, row_hi=s1, home=-1 if s0 == 0 else first))
                        for r0 in range(s0, s1, R):
                            blocks.append(Block(op=op.name, group=gi, region=reg, row_lo=r0,
                                                row_hi=min(s1, r0 + R), out_lo=o0, out_hi=o1,
                                                colgroup=cg,
                                                cols=layout.block_columns(o1 - o0)))
    return blocks, groups


class TilePacker:
    """Blocks of one core packed into its tiles (diagonal: disjoint rows and columns).

    First fit: a block goes to the first open tile with room in both dimensions, else a
    new tile. With ``share=False`` every block gets a tile of its own.
    """

    def __init__(self, rows: int, cols: int, share: bool = True):
        self.R, self.C, self.share = rows, cols, share
        self.used: list[list[int]] = []  # [rows used, cols used] per tile

    @property
    def n_tiles(self) -> int:
        return len(self.used)

    def fits(self, blocks: list[Block], limit: int) -> bool:
        """Whether adding ``blocks`` keeps this core at most ``limit`` tiles (no change)."""
        trial = TilePacker(self.R, self.C, self.share)
        trial.used = [list(u) for u in self.used]
        trial.add(blocks)
        return trial.n_tiles <= limit

    def add(self, blocks: list[Block]) -> list[tuple[int, int, int]]:
        """Place ``blocks``; return ``(tile, row0, col0)`` for each."""
        out = []
        for b in blocks:
            slot = -1
            if self.share:
                for t, (r, c) in enumerate(self.used):
                    if r + b.rows <= self.R and c + b.cols <= self.C:
                        slot = t
                        break
            if slot < 0:
                self.used.append([0, 0])
                slot = len(self.used) - 1
            r, c = self.used[slot]
            out.append((slot, r, c))
            self.used[slot] = [r + b.rows, c + b.cols]
        return out


def pack_cores(blocks: list[Block], core_of_group: np.ndarray, rows: int, cols: int,
               share: bool) -> tuple[list[Block], np.ndarray]:
    """Pack every core's blocks (largest first) into tiles numbered core by core.

    Returns the blocks with their tile, row and column offsets, and the tiles per core.
    """
    n_cores = int(core_of_group.max(initial=-1)) + 1
    by_core: list[list[int]] = [[] for _ in range(n_cores)]
    for i, b in enumerate(blocks):
        by_core[core_of_group[b.colgroup]].append(i)
    out = list(blocks)
    per_core = np.zeros(n_cores, np.int64)
    base = 0
    for c, idx in enumerate(by_core):
        idx.sort(key=lambda i: (-max(blocks[i].rows / rows, blocks[i].cols / cols), i))
        packer = TilePacker(rows, cols, share)
        for i, (t, r0, c0) in zip(idx, packer.add([blocks[i] for i in idx]), strict=True):
            out[i] = _with(blocks[i], tile=base + t, row0=r0, col0=c0)
        per_core[c] = packer.n_tiles
        base += packer.n_tiles
    return out, per_core


def _with(b: Block, *, tile: int, row0: int, col0: int) -> Block:
    return Block(op=b.op, group=b.group, region=b.region, row_lo=b.row_lo, row_hi=b.row_hi,
                 out_lo=b.out_lo, out_hi=b.out_hi, colgroup=b.colgroup, tile=tile, row0=row0,
                 col0=col0, cols=b.cols)
