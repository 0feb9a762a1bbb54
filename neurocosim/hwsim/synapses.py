"""The synaptic records of the engine's tables: :class:`Synapses` (ops, tile blocks, their
reads, cell currents, decode terms, event-list paths) and :class:`Readout` (ADC ranges,
read voltage, DAC), built by :func:`synapses`.

The per-op, per-block, per-slot, per-term and per-pair integers are 2-D tables read
through the column codes of :mod:`neurocosim.hwsim.kernels.codes` (``blk[b, B_COLS]``):
a few wide arrays instead of forty narrow ones keep the records that every crossbar
kernel takes small, which is most of the engine's compile time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .kernels import codes as C
from .paths import op_paths

__all__ = ["Synapses", "Readout", "synapses"]


class Synapses(NamedTuple):
    """Synaptic ops and their tile blocks (op by op, the blocks of one row chunk next to
    each other); see :class:`~neurocosim.hwsim.blocks.BlockTable` and
    :mod:`~neurocosim.hwsim.paths`."""

    op: np.ndarray  # (ops + 1, N_OP) int64: O_BIAS offset in ``bias``, O_BLK first block,
    #   O_PREV offset in the delay buffer, O_PATH (P_EVENT, P_SORT, P_CSR, P_DENSE), O_IN input
    #   elements (input O_IN: the bias rows' constant 1), O_SLOT first slot, O_INV offset
    #   of its O_IN + 2 entries in ``inv_ptr``, O_CSR the same in ``csr_ptr``, O_DENSE
    #   its first row of ``dense``
    blk: np.ndarray  # (blocks + 1, N_BLK) int64: B_SAME (same rows and reads as the
    #   previous block), B_CH_OUTS (outputs of the row chunk: an ideal chunk's matrix),
    #   B_ROWS, B_COLS (columns read), B_OUTS (outputs decoded), B_READS (per step),
    #   B_TILE, B_IDEAL (float weights, no device), B_GAT / B_SCA / B_G offsets in
    #   ``gat`` / ``sca`` / ``g``, B_TERM first decode term, B_S2 offset in ``s2`` (−1: no
    #   read noise per read),
    #   B_ADC_BITS (0: no ADC), B_CYCLES (conversion cycles per read), B_DIRECT (an
    #   ideal chunk read once whose outputs are the op outputs B_DIRECT, B_DIRECT + 1, ...:
    #   its rows add straight into them; else −1), B_ONE (a programmed block whose decode
    #   terms are one per output, in output order)
    slot: np.ndarray  # (slots, 2) int64: S_BLK first block of the row chunk, S_READ
    term: np.ndarray  # (terms, 3) int64 decode term: output D_OUT += t_coef ·
    #   (curr[D_POS] − curr[D_NEG]) (D_NEG −1: no minus column)
    t_coef: np.ndarray
    bias: np.ndarray
    gat: np.ndarray  # reads × rows per block: the op input driving each row
    sca: np.ndarray  # reads × outs per block: the op output of each output
    g: np.ndarray  # cell currents at the read voltage (A; conductance × read voltage at the
    #   read time), rows × cols (an ideal block: the weights, rows × chunk outputs)
    s2: np.ndarray  # float32 read-noise variance of each cell's current (A²), rows × cols
    inv_ptr: np.ndarray  # pairs of input i of op k: inv_ptr[op[k, O_INV] + i] .. (+ i + 1)
    inv: np.ndarray  # (pairs, 2) int64: I_SLOT driven, I_ROW (inputs ascending, slots, rows)
    csr_ptr: np.ndarray  # non-zero weights of input i (P_CSR): csr_ptr[op[k, O_CSR] + i] ..
    csr_col: np.ndarray  # int32 op output
    csr_w: np.ndarray  # weight
    dense: np.ndarray  # (inputs of P_DENSE ops, 4) int64 from op[k, O_DENSE]: R_G offset of
    #   input i's row in ``g`` (−1: none), R_OUT first output of its chunk, R_N the chunk's
    #   outputs, R_SLOT its slot (the bias rows' constant input last)
    prev_size: int  # size of the delay buffer
    delay: bool  # every synapse delays by one step


class Readout(NamedTuple):
    """How the columns are converted and driven."""

    adc_fs: np.ndarray  # (blocks,) ADC full scale (A)
    dac_fs: np.ndarray  # (blocks,) input full scale of analog inputs (1: [0, 1])
    volt: float  # read voltage (V)
    dac_bits: int  # input DAC resolution (analog inputs)
    serial_bits: int  # bits of a bit-serial input drive (0: the DAC)


#: BlockTable's per-block columns in ``blk`` order
_BLK_COLS = ("same", "ch_outs", "rows", "cols", "outs", "reads", "tile", "ideal", "gat_off",
             "sca_off", "g_off", "term_ptr", "s_off", "adc_bits", "cycles")


def synapses(mapped, block_ops: list[str], cols: dict[str, Any], dt) -> tuple[Synapses, Readout]:
    """The records of ``mapped``'s synaptic ops (``block_ops``: the op of each block in the
    engine's order, op by op; ``cols``: the blocks' columns from
    :meth:`~neurocosim.hwsim.blocks.BlockTable.build`), values in dtype ``dt``."""
    names = list(mapped.ops)
    nb = len(block_ops)
    bias = [mapped.ops[n].bias for n in names]
    in_sizes = [mapped.ops[n].in_size for n in names]
    blk_ptr = np.concatenate([[0], np.cumsum([block_ops.count(n) for n in names])]).astype(np.int64)
    f = {"blk_ptr": blk_ptr, **cols, "g": cols["g"].astype(dt)}
    paths = op_paths(f, in_sizes, dt)
    op = np.zeros((len(names) + 1, C.N_OP), np.int64)
    op[:-1, C.O_BIAS] = np.cumsum([0] + [b.size for b in bias])[:-1]
    op[:, C.O_BLK] = blk_ptr
    op[:-1, C.O_PREV] = np.cumsum([0] + in_sizes)[:-1]
    op[:-1, C.O_PATH], op[:-1, C.O_IN] = paths["path"], in_sizes
    op[:, C.O_SLOT] = paths["slot_ptr"]
    op[:-1, C.O_INV], op[:-1, C.O_CSR] = paths["inv_off"], paths["csr_off"]
    blk = np.zeros((nb + 1, C.N_BLK), np.int64)
    for j, name in enumerate(_BLK_COLS):
        col = np.asarray(cols[name], np.int64)
        blk[:, j] = col if col.size == nb + 1 else np.append(col[:nb], 0)
    blk[:, C.B_DIRECT] = _direct(blk, cols["sca"])
    blk[:, C.B_ONE] = _one_term(blk, cols["t_out"])
    dense = [np.zeros((1, 4), np.int64)]
    n_dense = 0
    for k in range(len(names)):
        op[k, C.O_DENSE] = n_dense
        if op[k, C.O_PATH] == C.P_EVENT and _dense(op, blk, paths, k):
            op[k, C.O_PATH] = C.P_DENSE
            dense.append(_dense_rows(op, blk, paths, k))
            n_dense += dense[-1].shape[0]
    syn = Synapses(
        op=op, blk=blk,
        slot=np.stack([paths["slot_blk"], paths["slot_read"]], axis=1),
        term=np.stack([cols["t_out"], cols["t_pos"], cols["t_neg"]], axis=1).astype(np.int64),
        t_coef=cols["t_coef"].astype(dt),
        bias=(np.concatenate(bias) if bias else np.zeros(1)).astype(dt),
        gat=cols["gat"], sca=cols["sca"], g=f["g"], s2=cols["s2"], inv_ptr=paths["inv_ptr"],
        inv=np.stack([paths["inv_slot"], paths["inv_row"]], axis=1),
        csr_ptr=paths["csr_ptr"], csr_col=paths["csr_col"], csr_w=paths["csr_w"],
        dense=np.concatenate(dense[1:]) if n_dense else dense[0],
        prev_size=int(max(sum(in_sizes), 1)), delay=bool(mapped.network.synaptic_delay))
    return syn, Readout(adc_fs=cols["adc_fs"], dac_fs=cols["dac_fs"], volt=float(mapped.chip.macro.read_voltage),
                        dac_bits=int(mapped.chip.macro.dac_bits),
                        serial_bits=int(mapped.chip.macro.serial_bits))


def _direct(blk: np.ndarray, sca: np.ndarray) -> np.ndarray:
    """B_DIRECT of every block (see :class:`Synapses`)."""
    out = np.full(blk.shape[0], -1, np.int64)
    for b in range(blk.shape[0] - 1):
        if blk[b, C.B_IDEAL] and not blk[b, C.B_SAME] and blk[b, C.B_READS] == 1:
            lo, n = blk[b, C.B_SCA], blk[b, C.B_CH_OUTS]
            o = sca[lo:lo + n]
            if n and np.array_equal(o, np.arange(o[0], o[0] + n)):
                out[b] = o[0]
    return out


def _dense(op: np.ndarray, blk: np.ndarray, paths: dict, k: int) -> bool:
    """Whether op ``k`` can take ``P_DENSE``: an ideal op whose row chunks all add
    straight into consecutive outputs (B_DIRECT), each input drives at most one row, and
    the inputs in ascending order visit the chunks in order — so adding each active
    input's row as it comes sums every output in the same order as ``P_EVENT``."""
    firsts = [b for b in range(op[k, C.O_BLK], op[k + 1, C.O_BLK]) if not blk[b, C.B_SAME]]
    if not firsts or any(blk[b, C.B_DIRECT] < 0 for b in firsts):
        return False
    lo = op[k, C.O_INV]
    ptr = paths["inv_ptr"][lo:lo + op[k, C.O_IN] + 2]
    slots = paths["inv_slot"][ptr[0]:ptr[-1]]
    return bool(np.all(np.diff(ptr) <= 1) and np.all(np.diff(slots) >= 0))


def _dense_rows(op: np.ndarray, blk: np.ndarray, paths: dict, k: int) -> np.ndarray:
    """``dense``'s rows of P_DENSE op ``k``: one per input and one for the bias rows'
    constant input (where each one's row lies, its chunk's outputs, its slot)."""
    n_in = op[k, C.O_IN] + 1
    out = np.full((n_in, 4), -1, np.int64)
    lo = op[k, C.O_INV]
    ptr = paths["inv_ptr"][lo:lo + n_in + 1]
    for i in np.flatnonzero(np.diff(ptr)):
        e = ptr[i]
        q = paths["inv_slot"][e]
        b0 = paths["slot_blk"][q]
        outs = blk[b0, C.B_CH_OUTS]
        out[i] = (blk[b0, C.B_G] + paths["inv_row"][e] * outs, blk[b0, C.B_DIRECT], outs, q)
    return out


def _one_term(blk: np.ndarray, t_out: np.ndarray) -> np.ndarray:
    """B_ONE of every block (see :class:`Synapses`)."""
    out = np.zeros(blk.shape[0], np.int64)
    for b in range(blk.shape[0] - 1):
        t0, t1 = blk[b, C.B_TERM], blk[b + 1, C.B_TERM]
        n = blk[b, C.B_OUTS]
        if not blk[b, C.B_IDEAL] and t1 - t0 == n and np.array_equal(t_out[t0:t1], np.arange(n)):
            out[b] = 1
    return out
