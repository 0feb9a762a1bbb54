"""The crossbar kernel: one synaptic op on one step (DESIGN §4.4, layer 3).

:func:`syn_events` takes the op's active inputs as an index list (ascending, with their
values), finds the rows each read drives from the op's inverse gather
(:mod:`neurocosim.hwsim.paths`; never by scanning a read's rows), then, for each read with
an active row:

* ideal block: the float weights of the whole row chunk as one matrix, added straight
  into the op's outputs when the chunk's outputs are consecutive (``P_CSR``: only the
  non-zero weights);
* programmed block: column currents and the aggregated read noise (one normal per column
  per read, from the per-column variance accumulated in the same pass over each row's
  currents and its cells' variances, :mod:`.columns`), the ADC with clipping
  counted, the decode terms to weight units, the partial sums added digitally.

Multi-level inputs (integer spikes of an ILIF layer, pooled spike counts) drive a
non-ideal crossbar as a thermometer code: level ``k`` is one binary read of the rows
whose value is at least ``k``. Signed integer inputs (the −1/+1 spikes of a ternary
layer, :mod:`neurocosim.ir.ternary`) are two such codes: the positive levels read the
rows driven +1 (at or above ``k``), then the negative levels the rows driven −1 (at or
below ``−k``), each a binary read with its own read noise and ADC conversion, the
negative reads' decoded partial sums subtracted; a ±1 input is two binary reads (one
when only one sign is present), counted as such (rows, cells, conversions, cycles, tile
time). An ideal block adds the signed rows exactly, in one pass counted as the rows
driven. Analog inputs (values in [0, s], ``s`` the block's input
full scale ``rdo.dac_fs``, 1 unless calibrated) enter as ``x / s`` through the macro's DAC
(``dac_bits`` ≥ 2) or, on a bit-serial macro (``input: bit_serial:B``), are read bit by
bit with the ADC outputs shifted and added; the decoded partial sums are multiplied by
``s``; anything else returns :data:`~.codes.E_DAC`.

Values (inputs, weights, currents, outputs) have the records' precision (float32 or
float64, one compiled kernel each); counters are float64. The records' tables are read
through the column codes of :mod:`.codes` (``syn.blk[b, B_COLS]``: block ``b``'s columns).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..jit import njit, njit_inner
from .codes import (
    B_ADC_BITS,
    B_CH_OUTS,
    B_COLS,
    B_CYCLES,
    B_DIRECT,
    B_G,
    B_IDEAL,
    B_ONE,
    B_OUTS,
    B_ROWS,
    B_S2,
    B_SAME,
    B_SCA,
    B_TERM,
    B_TILE,
    C_ACC,
    C_CELLS,
    C_CLIP,
    C_CONV,
    C_CYCLES,
    C_INPUTS,
    C_READS,
    C_ROWS,
    D_NEG,
    D_OUT,
    D_POS,
    E_DAC,
    E_OK,
    I_ROW,
    I_SLOT,
    O_BIAS,
    O_CSR,
    O_DENSE,
    O_IN,
    O_INV,
    O_PATH,
    O_SLOT,
    P_CSR,
    P_DENSE,
    P_SORT,
    R_G,
    R_N,
    R_OUT,
    R_SLOT,
    S_BLK,
    S_READ,
    SERIAL,
)
from .columns import adc_convert, read_columns

__all__ = ["Work", "Tally", "work_for", "syn_eval", "syn_events", "active_inputs"]


class Work(NamedTuple):
    """Scratch buffers of the synaptic kernels (sized by :func:`work_for`), shared by the
    samples one thread runs (used by one op of one sample at a time)."""

    ev_i: np.ndarray  # (max inputs + 1,) int64: active inputs of the op, ascending
    ev_v: np.ndarray  # their values
    lvl_i: np.ndarray  # (max rows,) int64: rows of one thermometer level
    lvl_v: np.ndarray
    slot_n: np.ndarray  # (max slots + 1,) int64: active rows per slot, then list offsets
    slot_max: np.ndarray  # (max slots,) largest value; -1: a non-integer one; 0: none > 0
    slot_neg: np.ndarray  # (max slots,) largest magnitude of a negative integer value (0: none)
    sl_i: np.ndarray  # (max inverse entries,) int64: active rows, slot after slot
    sl_v: np.ndarray
    curr: np.ndarray  # (max columns,) column currents, then ADC output
    var: np.ndarray  # (max columns,) read-noise variance per column
    outl: np.ndarray  # (max outputs,) decoded partial sums of one block


class Tally(NamedTuple):
    """What one sample's reads change: its random stream, its block counters and the busy
    time of every tile this step."""

    rstate: np.ndarray  # (4,) uint64
    cnt: np.ndarray  # (blocks, N_BLOCK_COUNTERS)
    tile_time: np.ndarray  # (tiles,) s


@njit
def work_for(syn):
    """Scratch buffers large enough for every op and block of ``syn``."""
    dt = syn.g.dtype
    blk, op = syn.blk, syn.op
    max_rows = max_cols = max_outs = max_in = max_slots = max_inv = 1
    for b in range(blk.shape[0] - 1):
        max_rows = max(max_rows, blk[b, B_ROWS])
        max_cols = max(max_cols, blk[b, B_COLS])
        max_outs = max(max_outs, blk[b, B_OUTS], blk[b, B_CH_OUTS])
    for k in range(op.shape[0] - 1):
        max_in = max(max_in, op[k, O_IN] + 1)
        max_slots = max(max_slots, op[k + 1, O_SLOT] - op[k, O_SLOT])
        p0 = op[k, O_INV]
        max_inv = max(max_inv, syn.inv_ptr[p0 + op[k, O_IN] + 1] - syn.inv_ptr[p0])
    return Work(np.zeros(max_in, np.int64), np.zeros(max_in, dt),
                np.zeros(max_rows, np.int64), np.zeros(max_rows, dt),
                np.zeros(max_slots + 1, np.int64), np.zeros(max_slots, dt),
                np.zeros(max_slots, dt),
                np.zeros(max_inv, np.int64), np.zeros(max_inv, dt),
                np.zeros(max_cols, dt), np.zeros(max_cols, dt), np.zeros(max_outs, dt))


@njit
def active_inputs(x, ev_i, ev_v):
    """The non-zero elements of ``x`` into the index list ``ev_i`` / ``ev_v`` (ascending);
    returns their number."""
    n = 0
    for i in range(x.shape[0]):
        if x[i] != 0.0:
            ev_i[n] = i
            ev_v[n] = x[i]
            n += 1
    return n


@njit
def syn_eval(k, x, y, syn, rdo, timing, rstate, cnt, tile_time, work):
    """Evaluate synaptic op ``k`` on the dense input ``x`` into ``y``; returns an error
    code (see :func:`syn_events`)."""
    n = active_inputs(x, work.ev_i, work.ev_v)
    return syn_events(k, work.ev_i, work.ev_v, n, y, syn, rdo, timing,
                      Tally(rstate, cnt, tile_time), work)


@njit_inner
def syn_events(k, ev_i, ev_v, nev, y, syn, rdo, timing, tally, work):
    """Evaluate synaptic op ``k`` on its active inputs ``ev_i[:nev]`` (ascending) with
    values ``ev_v`` into ``y``, counting into ``tally`` (:class:`Tally`); returns an
    error code."""
    op = syn.op
    bias = syn.bias[op[k, O_BIAS]:op[k, O_BIAS] + y.shape[0]]
    for j in range(y.shape[0]):
        y[j] = bias[j]
    path = op[k, O_PATH]
    if path == P_DENSE:
        return _dense_op(k, ev_i, ev_v, nev, y, syn, timing, tally, work)
    _slot_lists(k, ev_i, ev_v, nev, syn, work, path)
    if path == P_CSR:
        _csr_op(k, ev_i, ev_v, nev, y, syn)
    s0 = op[k, O_SLOT]
    slot_n, slot_max = work.slot_n, work.slot_max
    t_read = timing.row_drive + timing.array_read
    for q in range(op[k + 1, O_SLOT] - s0):
        a0 = slot_n[q]
        nact = slot_n[q + 1] - a0
        if nact == 0:
            continue
        b0, r = syn.slot[s0 + q, S_BLK], syn.slot[s0 + q, S_READ]
        if path == P_CSR:
            _ideal_counts(syn.blk, b0, nact, t_read, tally)
            continue
        code = _read(b0, r, work.sl_i[a0:a0 + nact], work.sl_v[a0:a0 + nact], slot_max[q],
                     work.slot_neg[q], y, syn, rdo, timing, tally, work)
        if code != E_OK:
            return code
    return E_OK


@njit_inner
def _slot_lists(k, ev_i, ev_v, nev, syn, work, path):
    """The active rows of every slot of op ``k`` from its active inputs and the inverse
    gather (the constant-one input of the bias rows last): counts into ``work.slot_n``
    turned into list offsets (``slot_n[q]`` .. ``slot_n[q + 1]``); unless the op takes the
    CSR path, the rows and values into ``work.sl_i`` / ``work.sl_v`` (rows ascending in
    each slot: they arrive so, or ``P_SORT`` sorts them), each slot's largest value
    into ``work.slot_max`` (-1 if one is fractional) and the largest magnitude of its
    negative integers into ``work.slot_neg``."""
    slot_n, slot_max, sl_i, sl_v = work.slot_n, work.slot_max, work.sl_i, work.sl_v
    slot_neg = work.slot_neg
    inv_ptr, inv = syn.inv_ptr, syn.inv
    s0, ns = syn.op[k, O_SLOT], syn.op[k + 1, O_SLOT] - syn.op[k, O_SLOT]
    p0, one = syn.op[k, O_INV], syn.op[k, O_IN]
    n_in = nev + (1 if inv_ptr[p0 + one + 1] > inv_ptr[p0 + one] else 0)
    for q in range(ns + 1):
        slot_n[q] = 0
    for a in range(n_in):
        i = ev_i[a] if a < nev else one
        for e in range(inv_ptr[p0 + i], inv_ptr[p0 + i + 1]):
            slot_n[inv[e, I_SLOT] - s0 + 1] += 1
    for q in range(ns):
        slot_n[q + 1] += slot_n[q]
    if path == P_CSR:
        return
    for q in range(ns):
        slot_max[q] = 0.0
        slot_neg[q] = 0.0
    for a in range(n_in):
        i, v = (ev_i[a], ev_v[a]) if a < nev else (one, 1.0)
        frac = v != np.floor(v)
        for e in range(inv_ptr[p0 + i], inv_ptr[p0 + i + 1]):
            q = inv[e, I_SLOT] - s0
            m = slot_n[q]  # the slot's next free place (shifted back below)
            sl_i[m] = inv[e, I_ROW]
            sl_v[m] = v
            slot_n[q] = m + 1
            if frac:
                slot_max[q] = -1.0
            elif v < 0.0:
                if -v > slot_neg[q]:
                    slot_neg[q] = -v
            elif slot_max[q] >= 0.0 and v > slot_max[q]:
                slot_max[q] = v
    for q in range(ns, 0, -1):
        slot_n[q] = slot_n[q - 1]
    slot_n[0] = 0
    if path == P_SORT:
        for q in range(ns):
            _sort_rows(sl_i, sl_v, slot_n[q], slot_n[q + 1])


@njit_inner
def _dense_op(k, ev_i, ev_v, nev, y, syn, timing, tally, work):
    """An op on the ``P_DENSE`` path (:func:`~neurocosim.hwsim.synapses._dense`): each
    active input's row (found in ``syn.dense``) added straight into the outputs of its
    chunk, in input order; then the counters of every chunk read."""
    op, g = syn.op, syn.g
    rows = syn.dense[op[k, O_DENSE]:op[k, O_DENSE] + op[k, O_IN] + 1]
    s0, ns, one = op[k, O_SLOT], op[k + 1, O_SLOT] - op[k, O_SLOT], op[k, O_IN]
    slot_n = work.slot_n
    for q in range(ns):
        slot_n[q] = 0
    n_in = nev + (1 if rows[one, R_G] >= 0 else 0)
    for a in range(n_in):
        i, v = (ev_i[a], ev_v[a]) if a < nev else (one, 1.0)
        base = rows[i, R_G]
        if base < 0:
            continue  # an input no row reads (a pruned row)
        outs, o0 = rows[i, R_N], rows[i, R_OUT]
        row, yo = g[base:base + outs], y[o0:o0 + outs]
        if v == 1.0:
            for j in range(outs):
                yo[j] += row[j]
        else:
            for j in range(outs):
                yo[j] += v * row[j]
        slot_n[rows[i, R_SLOT] - s0] += 1
    t_read = timing.row_drive + timing.array_read
    for q in range(ns):
        if slot_n[q]:
            _ideal_counts(syn.blk, syn.slot[s0 + q, S_BLK], slot_n[q], t_read, tally)
    return E_OK


@njit_inner
def _sort_rows(rows, vals, lo, hi):
    """Insertion sort of ``rows[lo:hi]`` (distinct), ``vals`` alongside."""
    for a in range(lo + 1, hi):
        r, v = rows[a], vals[a]
        b = a - 1
        while b >= lo and rows[b] > r:
            rows[b + 1] = rows[b]
            vals[b + 1] = vals[b]
            b -= 1
        rows[b + 1] = r
        vals[b + 1] = v


@njit_inner
def _csr_op(k, ev_i, ev_v, nev, y, syn):
    """An ideal op's active inputs times their non-zero weights, into its outputs."""
    c0, one = syn.op[k, O_CSR], syn.op[k, O_IN]
    ptr, col, w = syn.csr_ptr, syn.csr_col, syn.csr_w
    for a in range(nev):
        i, v = ev_i[a], ev_v[a]
        for e in range(ptr[c0 + i], ptr[c0 + i + 1]):
            y[col[e]] += v * w[e]
    for e in range(ptr[c0 + one], ptr[c0 + one + 1]):
        y[col[e]] += w[e]


@njit_inner
def _chunk_end(blk, b0):
    """One past the last block of the row chunk that starts at block ``b0``."""
    b1 = b0 + 1
    while blk[b1, B_SAME]:  # the closing row is never "same"
        b1 += 1
    return b1


@njit_inner
def _ideal_counts(blk, b0, nact, t_read, tally):
    """Counters of one read of an ideal row chunk with ``nact`` active rows."""
    cnt, tile_time = tally.cnt, tally.tile_time
    for b in range(b0, _chunk_end(blk, b0)):
        cnt[b, C_ROWS] += nact
        cnt[b, C_INPUTS] += nact
        cnt[b, C_CELLS] += nact * blk[b, B_COLS]
        cnt[b, C_ACC] += blk[b, B_OUTS]
        cnt[b, C_READS] += 1
        tile_time[blk[b, B_TILE]] += t_read


@njit_inner
def _read(b0, r, act_i, act_v, top, neg, y, syn, rdo, timing, tally, work):
    """Read ``r`` of the row chunk starting at block ``b0`` with active rows ``act_i``
    (ascending) driven by ``act_v`` (``top``: the largest value, -1 if one is fractional;
    ``neg``: the largest magnitude of a negative integer one, 0 if none), every block of
    the chunk, into ``y``."""
    blk, nact = syn.blk, act_i.shape[0]
    if blk[b0, B_DIRECT] >= 0:  # an ideal chunk onto consecutive outputs: add in place
        _add_rows(syn.g, blk[b0, B_G], blk[b0, B_CH_OUTS], act_i, act_v, nact,
                  y[blk[b0, B_DIRECT]:])
        _ideal_counts(blk, b0, nact, timing.row_drive + timing.array_read, tally)
        return E_OK
    if blk[b0, B_IDEAL]:
        outs, outl, g, sca = blk[b0, B_CH_OUTS], work.outl, syn.g, syn.sca
        so = blk[b0, B_SCA] + r * outs
        for j in range(outs):
            outl[j] = 0.0
        for a in range(nact):
            xv = act_v[a]
            base = blk[b0, B_G] + act_i[a] * outs
            row = g[base:base + outs]  # a slice: its index is known >= 0, so it vectorises
            for j in range(outs):
                outl[j] += xv * row[j]
        for j in range(outs):
            y[sca[so + j]] += outl[j]
        _ideal_counts(blk, b0, nact, timing.row_drive + timing.array_read, tally)
        return E_OK
    if top < 0.0:  # analog values in [0, s]: bit-serial, or through the DAC, as x / s
        s = rdo.dac_fs[b0]
        if rdo.serial_bits > 0:
            lv = (1 << rdo.serial_bits) - 1
            for a in range(nact):
                if act_v[a] < 0.0 or act_v[a] > s:
                    return E_DAC
                act_v[a] = np.rint(act_v[a] / s * lv)  # the B-bit code, read bit by bit
            top = SERIAL
        else:
            if rdo.dac_bits < 2:
                return E_DAC
            lv = (1 << rdo.dac_bits) - 1
            for a in range(nact):
                if act_v[a] < 0.0 or act_v[a] > s:
                    return E_DAC
                act_v[a] = np.rint(act_v[a] / s * lv) / lv
    for b in range(b0, _chunk_end(blk, b0)):
        _read_block(b, r, act_i, act_v, top, neg, y, syn, rdo, timing, tally, work)
    return E_OK


@njit_inner
def _add_rows(g, g0, outs, act_i, act_v, nact, yo):
    """``yo[:outs] += act_v[a] · row act_i[a]`` of the ``outs``-wide matrix at ``g[g0:]``,
    rows in order (a binary drive adds the row as it is)."""
    for a in range(nact):
        xv = act_v[a]
        base = g0 + act_i[a] * outs
        row = g[base:base + outs]
        if xv == 1.0:
            for j in range(outs):
                yo[j] += row[j]
        else:
            for j in range(outs):
                yo[j] += xv * row[j]


@njit_inner
def _level_rows(act_i, act_v, lvl, mode, work):
    """The rows of one binary read of a multi-level drive, into ``work.lvl_i`` (driven at
    1, ``work.lvl_v``): ``mode`` 0: bit ``lvl − 1`` of the codes set; 1: value ≥ ``lvl``
    (a thermometer level); −1: value ≤ −``lvl`` (a negative level). Returns their
    number."""
    m = 0
    for a in range(act_i.shape[0]):
        v = act_v[a]
        if mode == 0:
            on = ((int(v) >> (lvl - 1)) & 1) != 0
        elif mode > 0:
            on = v >= lvl
        else:
            on = v <= -lvl
        if on:
            work.lvl_i[m] = act_i[a]
            work.lvl_v[m] = 1.0
            m += 1
    return m


@njit_inner
def _read_block(b, r, act_i, act_v, top, neg, y, syn, rdo, timing, tally, work):
    """One programmed block on one read: once per thermometer level of an integer input
    (``top`` ≥ 1), then once per negative level of a signed one (``neg`` ≥ 1: the rows at
    or below −level, the decoded partial sums subtracted), once per bit of a bit-serial
    input (``top`` = :data:`SERIAL`: ``act_v`` holds the B-bit codes; bit k's decoded
    partial sums are weighted 2^k / (2^B − 1), the shift-and-add of the ADC outputs), or
    once through the DAC (``top`` < 0). A block whose layout decodes each output from
    one term (B_ONE) adds a single-level read's terms straight into the op's outputs
    (the same sums: a partial sum of one term is that term)."""
    curr, outl, nact = work.curr, work.outl, act_i.shape[0]
    cnt, tile_time, blk, term, coef = tally.cnt, tally.tile_time, syn.blk, syn.term, syn.t_coef
    cols, outs, adc_bits, tile = blk[b, B_COLS], blk[b, B_OUTS], blk[b, B_ADC_BITS], blk[b, B_TILE]
    soff, goff, t0, t1 = blk[b, B_S2], blk[b, B_G], blk[b, B_TERM], blk[b + 1, B_TERM]
    t_read = timing.row_drive + timing.array_read
    so = blk[b, B_SCA] + r * outs
    sca = syn.sca[so:so + outs]
    serial = top == SERIAL
    n_pos = rdo.serial_bits if serial else (1 if top < 0.0 else int(top))
    n_sub = n_pos + int(neg)
    lv = float((1 << rdo.serial_bits) - 1)
    insc = rdo.dac_fs[b] if serial or top < 0.0 else 1.0  # analog inputs entered as x / s
    direct = blk[b, B_ONE] and n_sub == 1 and n_pos == 1 and not serial
    if not direct:
        for j in range(outs):
            outl[j] = 0.0
    cnt[b, C_INPUTS] += nact
    for lvl in range(1, n_sub + 1):
        w = insc
        if serial:  # bit lvl - 1 of the codes: the rows whose bit is set
            w = (1 << (lvl - 1)) / lv * insc
            m = _level_rows(act_i, act_v, lvl, 0, work)
        elif lvl > n_pos:  # a negative level: the rows at −(lvl − n_pos) or below
            w = -insc
            m = _level_rows(act_i, act_v, lvl - n_pos, -1, work)
        elif n_sub > 1:  # level lvl of a thermometer code: the rows at lvl or above
            m = _level_rows(act_i, act_v, lvl, 1, work)
        else:  # binary spikes, or analog values through the DAC
            m = -1
        if m < 0:
            m = nact
            read_columns(syn.g, goff, syn.s2, soff, cols, act_i, act_v, nact, tally.rstate, curr,
                         work.var)
        else:
            read_columns(syn.g, goff, syn.s2, soff, cols, work.lvl_i, work.lvl_v, m, tally.rstate,
                         curr, work.var)
        clipped = adc_convert(curr, cols, adc_bits, rdo.adc_fs[b]) if adc_bits > 0 else 0
        if direct:
            for t in range(t0, t1):
                dif = curr[term[t, D_POS]]
                if term[t, D_NEG] >= 0:
                    dif -= curr[term[t, D_NEG]]
                y[sca[t - t0]] += w * (coef[t] * dif)
        else:
            for t in range(t0, t1):
                dif = curr[term[t, D_POS]]
                if term[t, D_NEG] >= 0:
                    dif -= curr[term[t, D_NEG]]
                outl[term[t, D_OUT]] += w * (coef[t] * dif)
        cnt[b, C_ROWS] += m
        cnt[b, C_CELLS] += m * cols
        cnt[b, C_READS] += 1
        tile_time[tile] += t_read
        if adc_bits > 0:
            cnt[b, C_CONV] += cols
            cnt[b, C_CYCLES] += blk[b, B_CYCLES]
            cnt[b, C_CLIP] += clipped
            tile_time[tile] += blk[b, B_CYCLES] * timing.adc
    if not direct:
        for j in range(outs):
            y[sca[j]] += outl[j]
    cnt[b, C_ACC] += outs
