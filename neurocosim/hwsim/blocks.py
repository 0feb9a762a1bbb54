"""Tile blocks as the engine runs them: their order, their reads, and their records.

:func:`block_reads` gives, in the engine's order, what each tile block of a programmed
chip reads (the input element of every row of every read, rows RESET by prune-on-chip
left undriven), its columns and ADC cycles: the engine program
(:mod:`neurocosim.hwsim.tables`) and the expected counts
(:func:`~neurocosim.hwsim.expected_counts`) both start from it. :class:`BlockTable`
builds the engine's per-block records at the chip's operating point: conductances
(drifted to the read time, stored as the cells' currents at the read voltage; a block
with read noise also has its cells' read-noise variances, float32), decode terms (drift compensation
included) and ADC settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..devices.crossbar import compensation_scale, drifted
from ..devices.layout import ColumnLayout
from ..devices.noise import READ_NOISE
from ..devices.program import ProgrammedChip, block_weights
from ..errors import SimulationError
from ..mapping.lowering import GATHER_PAD

__all__ = ["BlockReads", "block_order", "block_reads", "BlockTable"]

#: the integer per-block columns :meth:`BlockTable.build` fills (named as the fields of the
#: engine's ``Synapses`` and ``Readout`` records, :mod:`neurocosim.hwsim.tables`)
_INT_FIELDS = ("same", "ch_outs", "rows", "cols", "outs", "reads", "gat_off", "sca_off", "g_off",
               "s_off", "adc_bits", "cycles", "tile", "ideal")


@dataclass(frozen=True, kw_only=True, eq=False)
class BlockReads:
    """One tile block as the engine reads it.

    ``gather[r, i]``: the op input that drives row ``i`` on read ``r`` (mapping's
    markers; a row whose every cell was RESET is :data:`~neurocosim.mapping.GATHER_PAD`,
    never driven); ``scatter[r, o]``: the op output that output ``o`` of read ``r`` adds
    to; ``cols``: columns read (an ideal block: one per output); ``adc_cycles``:
    conversion cycles per read (0: no ADC); ``chunk``: the row chunk (blocks of one chunk
    share their rows and reads).
    """

    index: int
    op: str
    tile: int
    rows: int
    cols: int
    outs: int
    gather: np.ndarray
    scatter: np.ndarray
    adc_cycles: int
    chunk: tuple


def block_order(mapped: Any) -> list[int]:
    """Blocks op by op; the blocks of one row chunk (same rows and reads) next to each
    other, so the engine finds a read's active rows once for all of them."""
    blocks = mapped.blocks
    order: list[int] = []
    for name in mapped.ops:
        order.extend(sorted((i for i, b in enumerate(blocks) if b.op == name),
                            key=lambda i: (blocks[i].group, blocks[i].region, blocks[i].row_lo,
                                           blocks[i].out_lo)))
    return order


def block_reads(programmed: ProgrammedChip) -> tuple[BlockReads, ...]:
    """Every block of ``programmed`` in the engine's order (see the module docstring)."""
    mapped = programmed.mapped
    macro = mapped.chip.macro
    out = []
    for bi in block_order(mapped):
        b = mapped.blocks[bi]
        grp = mapped.ops[b.op].groups[b.group]
        reads = np.flatnonzero(grp.region == b.region)
        gi = grp.gather[np.ix_(reads, np.arange(b.row_lo, b.row_hi))]
        tile = programmed.tiles[bi]
        if tile is not None and tile.pruned is not None:
            dead = tile.pruned.all(axis=1)  # never driven again
            if dead.any():
                gi = np.where(dead[None, :], GATHER_PAD, gi)
        outs = b.out_hi - b.out_lo
        cols = outs if tile is None else int(tile.g.shape[1])
        adc = tile is not None and macro.adc_bits is not None
        out.append(BlockReads(
            index=bi, op=b.op, tile=b.tile, rows=b.rows, cols=cols, outs=outs, gather=gi,
            scatter=grp.scatter[np.ix_(reads, np.arange(b.out_lo, b.out_hi))],
            adc_cycles=-(-cols // macro.adcs_per_tile) if adc else 0,
            chunk=(b.op, b.group, b.region, b.row_lo, b.row_hi)))
    return tuple(out)


class BlockTable:
    """The engine's per-block records of a programmed chip at its operating point."""

    def __init__(self, programmed: ProgrammedChip, blocks: tuple[BlockReads, ...]):
        self.programmed = programmed
        self.blocks = blocks
        self.macro = programmed.mapped.chip.macro
        self.point = programmed.operating_point
        self.read_model = READ_NOISE[self.macro.read_noise.model]
        self.read_params = self.macro.resolved("read")
        nb = len(blocks)
        self.fields = {k: np.zeros(nb, np.int64) for k in _INT_FIELDS}
        self.adc_fs = np.zeros(nb)
        self.dac_fs = np.ones(nb)
        self.term_ptr = [0]
        self.terms: dict[str, list] = {"t_out": [], "t_pos": [], "t_neg": [], "t_coef": []}
        self.parts: dict[str, list] = {"gat": [], "sca": [], "g": [], "s2": []}
        self.size = {"gat": 0, "sca": 0, "g": 0, "s2": 0}

    def _put(self, key: str, arr: np.ndarray) -> None:
        self.parts[key].append(arr)
        self.size[key] += arr.size

    def build(self) -> dict[str, Any]:
        """The per-block columns, by the name of their field in the engine's records."""
        for j, br in enumerate(self.blocks):
            f = self.fields
            f["rows"][j], f["outs"][j], f["ch_outs"][j] = br.rows, br.outs, br.outs
            f["reads"][j], f["tile"][j] = br.gather.shape[0], br.tile
            f["gat_off"][j], f["sca_off"][j] = self.size["gat"], self.size["sca"]
            f["g_off"][j] = self.size["g"]
            if j > 0:  # same rows, reads and driven rows as the previous block: share its reads
                prev = self.blocks[j - 1]
                f["same"][j] = int(prev.chunk == br.chunk
                                   and np.array_equal(br.gather, prev.gather))
            self._put("gat", br.gather.ravel().astype(np.int64))
            tile = self.programmed.tiles[br.index]
            if tile is None:
                self._ideal(j, br)
            else:
                self._programmed(j, br, tile)
        return self._arrays()

    def _ideal(self, j: int, br: BlockReads) -> None:
        """An ideal macro's block: the float weights themselves; the whole row chunk as
        one matrix (rows × all its outputs) and one scatter, on its first block."""
        f = self.fields
        f["cols"][j], f["ideal"][j], f["s_off"][j] = br.outs, 1, -1
        self.term_ptr.append(self.term_ptr[-1])
        if f["same"][j]:
            return  # computed with its row chunk's first block
        span = [br]
        for nxt in self.blocks[j + 1:]:
            if nxt.chunk != br.chunk:
                break
            span.append(nxt)
        w = np.hstack([block_weights(self.programmed.mapped, s.index) for s in span])
        sc = np.hstack([s.scatter for s in span])
        f["ch_outs"][j] = w.shape[1]
        self._put("g", np.ascontiguousarray(w).ravel())
        self._put("sca", sc.ravel().astype(np.int64))

    def _programmed(self, j: int, br: BlockReads, tile) -> None:
        """A programmed block: conductances at the read time, read-noise variances,
        decode terms and ADC settings."""
        f, macro, point = self.fields, self.macro, self.point
        self._put("sca", br.scatter.ravel().astype(np.int64))
        g = drifted(tile, point.read_time)
        f["cols"][j] = g.shape[1]
        volt = macro.read_voltage
        s2 = (self.read_model.sigma(g, self.read_params) ** 2).astype(np.float32) \
            if self.read_model.name != "none" else None
        if s2 is not None and s2.any():
            # the cells' read-noise variances at the read voltage (A², float32: a quarter
            # less memory traffic than float64 for the noisy float64 engine; none per read
            # when the card draws its read noise once per inference)
            f["s_off"][j] = self.size["s2"]
            self._put("s2", (volt * volt * s2.astype(np.float64)).astype(np.float32).ravel())
        else:
            f["s_off"][j] = -1
        self._put("g", (volt * np.ascontiguousarray(g)).ravel())
        comp = (compensation_scale(tile, point.read_time)
                if point.drift_compensation and point.read_time > 0 else 1.0)
        self._terms(br, tile, comp)
        if point.dac_full_scale is not None:
            self.dac_fs[j] = float(point.dac_full_scale[br.index])
        if macro.adc_bits is not None:
            f["adc_bits"][j], f["cycles"][j] = macro.adc_bits, br.adc_cycles
            if point.adc_full_scale is not None:
                self.adc_fs[j] = float(point.adc_full_scale[br.index])
            else:
                self.adc_fs[j] = float((macro.read_voltage * g).sum(axis=0).max())
            if not self.adc_fs[j] > 0:
                raise SimulationError(f"block {br.index} of '{br.op}': ADC full scale must "
                                      "be > 0")

    def _terms(self, br: BlockReads, tile, comp: float) -> None:
        """(output, plus column, minus column, coefficient) of every decode term."""
        volt, cw, t = self.macro.read_voltage, tile.encoded.col_weights, self.terms
        layout = ColumnLayout.of(self.macro)
        for o in range(br.outs):
            for pos, neg in layout.pairs(o, tile.encoded.n_out):
                t["t_out"].append(o)
                t["t_pos"].append(pos)
                t["t_neg"].append(neg)
                t["t_coef"].append(cw[pos, o] / volt * comp)
        self.term_ptr.append(len(t["t_out"]))

    def _arrays(self) -> dict[str, Any]:
        p, t = self.parts, self.terms
        return {**self.fields, "adc_fs": self.adc_fs, "dac_fs": self.dac_fs,
                "term_ptr": np.array(self.term_ptr, np.int64),
                "gat": np.concatenate(p["gat"]) if p["gat"] else np.zeros(1, np.int64),
                "sca": np.concatenate(p["sca"]) if p["sca"] else np.zeros(1, np.int64),
                "g": np.concatenate(p["g"]) if p["g"] else np.zeros(1),
                "s2": np.concatenate(p["s2"]) if p["s2"] else np.zeros(1, np.float32),
                "t_out": np.array(t["t_out"] or [0], np.int64),
                "t_pos": np.array(t["t_pos"] or [0], np.int64),
                "t_neg": np.array(t["t_neg"] or [0], np.int64),
                "t_coef": np.array(t["t_coef"] or [0.0])}
