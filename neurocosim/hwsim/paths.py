"""How each synaptic op finds the rows it drives: the event lists of Engine v2.

Spikes travel between layers as index lists, and the engine never scans a read's rows:
an *inverse gather* lists, for every input element, the (read slot, row) pairs it
drives, so a step's active rows come from the active inputs alone. When every read of an
op drives its rows in the order of their inputs (dense layers, and convolutions on CHW
inputs: the rows of a read are a window of increasing input indices, the bias row last)
the rows arrive sorted (:data:`~.kernels.codes.P_EVENT`); otherwise the engine sorts
each read's few active rows (:data:`~.kernels.codes.P_SORT`), so that a column current
always sums its rows in row order. An op of an ideal macro whose row chunks are read
once per step and whose weights are sparse keeps, per input, its non-zero weights and
the outputs they add to (:data:`~.kernels.codes.P_CSR`: the plain CSR kernel). The paths
give the same counters.

A *slot* is one read of one row chunk (its first block ``b0``, read ``r``): the unit
whose active rows the engine collects. The constant-one input of the bias rows counts as
input ``in_size`` of its op, active at every step.
"""

from __future__ import annotations

import numpy as np

from ..mapping.lowering import GATHER_ONE, GATHER_PAD
from .kernels.codes import P_CSR, P_EVENT, P_SORT

__all__ = ["op_paths", "PATH_FIELDS"]

#: the fields :func:`op_paths` adds to the engine's ``Synapses`` record
PATH_FIELDS = ("path", "in_size", "slot_ptr", "slot_blk", "slot_read", "inv_off",
               "inv_ptr", "inv_slot", "inv_row", "csr_off", "csr_ptr", "csr_col", "csr_w")

#: an ideal op takes the CSR path when its non-zero weights (with their output index)
#: take less memory than its dense row chunks
_CSR_FILL = 0.5


def _groups(f: dict, k: int) -> list[int]:
    """The first block of every row chunk of op ``k``."""
    return [b for b in range(int(f["blk_ptr"][k]), int(f["blk_ptr"][k + 1])) if not f["same"][b]]


def _chunk_inputs(f: dict, b0: int, in_size: int) -> np.ndarray:
    """``(reads, rows)``: the input driving each row of each read of the row chunk that
    starts at block ``b0`` (the bias row: ``in_size``; an undriven row: -1)."""
    rows, reads = int(f["rows"][b0]), int(f["reads"][b0])
    lo = int(f["gat_off"][b0])
    g = f["gat"][lo:lo + reads * rows].reshape(reads, rows)
    return np.where(g == GATHER_ONE, in_size, np.where(g == GATHER_PAD, -1, g))


def _ordered(f: dict, k: int, in_size: int) -> bool:
    """Whether every read of op ``k`` drives its rows in increasing input order."""
    for b0 in _groups(f, k):
        g = _chunk_inputs(f, b0, in_size)
        last = np.full(g.shape[0], -1)
        for i in range(g.shape[1]):  # rows: a running maximum per read
            col = g[:, i]
            used = col >= 0
            if np.any(col[used] <= last[used]):
                return False
            last = np.where(used, col, last)
    return True


def _inverse(f: dict, k: int, in_size: int, slot0: int):
    """(slot, row) pairs of every input of op ``k`` (inputs ascending, then slots, then
    rows), and the slots' first block and read."""
    s_blk, s_read, inp, slot, row = [], [], [], [], []
    for b0 in _groups(f, k):
        g = _chunk_inputs(f, b0, in_size)
        reads, rows = g.shape
        first = slot0 + len(s_blk)
        rr, cc = np.nonzero(g >= 0)
        inp.append(g[rr, cc])
        slot.append(first + rr)
        row.append(cc)
        s_blk += [b0] * reads
        s_read += list(range(reads))
    if inp:
        inp, slot, row = np.concatenate(inp), np.concatenate(slot), np.concatenate(row)
    else:
        inp = slot = row = np.zeros(0, np.int64)
    order = np.lexsort((row, slot, inp))
    ptr = np.searchsorted(inp[order], np.arange(in_size + 2)).astype(np.int64)
    return s_blk, s_read, ptr, slot[order], row[order]


def _csr(f: dict, k: int, in_size: int, dtype) -> tuple | None:
    """Per input of an ideal op read once per step: its non-zero weights and outputs;
    None when the op is not such an op or its weights are dense."""
    groups = _groups(f, k)
    if not groups or not all(f["ideal"][b] and f["reads"][b] == 1 for b in groups):
        return None
    inp, col, w = [], [], []
    dense = 0
    for b0 in groups:
        rows, outs = int(f["rows"][b0]), int(f["ch_outs"][b0])
        mat = f["g"][int(f["g_off"][b0]):int(f["g_off"][b0]) + rows * outs].reshape(rows, outs)
        sca = f["sca"][int(f["sca_off"][b0]):int(f["sca_off"][b0]) + outs]
        g = _chunk_inputs(f, b0, in_size)[0]
        dense += rows * outs
        rr, cc = np.nonzero(mat)
        keep = g[rr] >= 0
        inp.append(g[rr][keep])
        col.append(sca[cc][keep])
        w.append(mat[rr, cc][keep])
    inp, col, w = np.concatenate(inp), np.concatenate(col), np.concatenate(w)
    if inp.size * (np.dtype(dtype).itemsize + 4) > _CSR_FILL * 2 * dense * np.dtype(dtype).itemsize:
        return None
    order = np.lexsort((col, inp))  # inputs ascending, then outputs
    ptr = np.searchsorted(inp[order], np.arange(in_size + 2)).astype(np.int64)
    return ptr, col[order].astype(np.int32), w[order].astype(dtype)


def op_paths(f: dict, in_sizes: list[int], dtype) -> dict[str, np.ndarray]:
    """The path of every op and the arrays its kernel needs (``f``: the ``Synapses``
    record's fields as built; ``in_sizes``: each op's input elements)."""
    path, slot_ptr, slot_blk, slot_read = [], [0], [], []
    inv_off, inv_ptr, inv_slot, inv_row = [], [], [], []
    csr_off, csr_ptr, csr_col, csr_w = [], [], [], []
    n_inv = n_ptr = n_csr = n_cptr = 0
    for k, in_size in enumerate(in_sizes):
        kind = P_EVENT if _ordered(f, k, in_size) else P_SORT
        sb, sr, ptr, islot, irow = _inverse(f, k, in_size, slot_ptr[-1])
        slot_blk += sb
        slot_read += sr
        slot_ptr.append(slot_ptr[-1] + len(sb))
        inv_off.append(n_ptr)
        inv_ptr.append(ptr + n_inv)
        inv_slot.append(islot)
        inv_row.append(irow)
        n_ptr += ptr.size
        n_inv += islot.size
        csr = _csr(f, k, in_size, dtype) if kind == P_EVENT else None
        csr_off.append(n_cptr)
        if csr is not None:
            kind = P_CSR
            csr_ptr.append(csr[0] + n_csr)
            csr_col.append(csr[1])
            csr_w.append(csr[2])
            n_cptr += csr[0].size
            n_csr += csr[1].size
        path.append(kind)

    def cat(parts, dt):
        return np.concatenate(parts).astype(dt) if parts else np.zeros(1, dt)

    return {"path": np.array(path, np.int64), "in_size": np.array(in_sizes, np.int64),
            "slot_ptr": np.array(slot_ptr, np.int64),
            "slot_blk": np.array(slot_blk or [0], np.int64),
            "slot_read": np.array(slot_read or [0], np.int64),
            "inv_off": np.array(inv_off or [0], np.int64), "inv_ptr": cat(inv_ptr, np.int64),
            "inv_slot": cat(inv_slot, np.int64), "inv_row": cat(inv_row, np.int64),
            "csr_off": np.array(csr_off or [0], np.int64), "csr_ptr": cat(csr_ptr, np.int64),
            "csr_col": cat(csr_col, np.int32), "csr_w": cat(csr_w, dtype)}
