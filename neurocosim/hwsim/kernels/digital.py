"""The digital-op kernels: pooling, scaling and BatchNorm as a sparse matrix product, max
pooling as the maximum over each CSR row, the rearrangements (Add's copy of its summed
input, Reshape, Transpose, Concat) as a permutation, IAnd as ``(1 − a)·b`` and Mul as
``a·b`` (ReduceSum is a sum over a 0/1 matrix); and the stacked input of a node with
ordered inputs (IAnd, Concat, Mul, MatMul). MatMul has its own kernel
(:mod:`.spikeops`)."""

from __future__ import annotations

from ..jit import njit
from .codes import DG_AFFINE, DG_IAND, DG_MAX, DG_MUL, DG_PERM

__all__ = ["csr_eval", "stack_inputs"]


@njit
def csr_eval(dig, k, x, y):
    """Digital node ``k`` of ``dig`` (a CSR block, one row per element of ``y``), by its
    ``mode``: ``DG_SUM`` y = (A @ x) / div; ``DG_MAX`` y[r] = the largest ``x`` of row
    ``r``'s columns (a max pool's window; padding holds no column); ``DG_AFFINE`` y =
    A @ x + bias (a BatchNorm's diagonal scale and per-element shift); ``DG_PERM``
    y[r] = x[row r's one column] (no arithmetic); ``DG_IAND`` y[r] = (1 − x[c0])·x[c1]
    with ``c0``, ``c1`` row ``r``'s columns in order (``a`` and ``b`` of the stacked
    ``[a; b]``); ``DG_MUL`` y[r] = x[c0]·x[c1] (a Mul: ``c0`` the element of ``a``, ``c1``
    that of ``b`` its broadcast reads).

    ``div`` is the window size of an average pool (1 otherwise): dividing the sum, as the
    reference does, keeps the two bit-identical."""
    indptr, indices, data = dig.indptr, dig.indices, dig.data
    ip0 = dig.iptr_off[k]
    nz0 = dig.nnz_off[k]
    mode = dig.mode[k]
    if mode == DG_PERM or mode == DG_IAND or mode == DG_MUL:
        for r in range(y.shape[0]):
            j0 = nz0 + indptr[ip0 + r]
            if mode == DG_PERM:
                y[r] = x[indices[j0]]
            elif mode == DG_MUL:
                y[r] = x[indices[j0]] * x[indices[j0 + 1]]
            else:
                y[r] = (1.0 - x[indices[j0]]) * x[indices[j0 + 1]]
        return
    if mode == DG_MAX:
        for r in range(y.shape[0]):
            j0, j1 = indptr[ip0 + r], indptr[ip0 + r + 1]
            best = x[indices[nz0 + j0]]
            for j in range(j0 + 1, j1):
                v = x[indices[nz0 + j]]
                if v > best:
                    best = v
            y[r] = best
        return
    div = dig.div[k]
    bias = dig.bias[dig.row_off[k]:]
    for r in range(y.shape[0]):
        acc = 0.0
        for j in range(indptr[ip0 + r], indptr[ip0 + r + 1]):
            acc += data[nz0 + j] * x[indices[nz0 + j]]
        if mode == DG_AFFINE:
            y[r] = acc + bias[r]
        else:
            y[r] = acc / div if div != 1.0 else acc


@njit
def stack_inputs(topo, n, val, prev, x):
    """The input of node ``n`` with ordered inputs: its sources' values one after another
    in edge order (the tables list its edges in its ``operands`` order; the previous
    step's value along a back edge), written into ``x`` and returned as its first
    elements."""
    m = 0
    for e in range(topo.e_ptr[n], topo.e_ptr[n + 1]):
        s = topo.e_src[e]
        so = topo.off[s]
        src = prev if topo.e_back[e] else val
        for j in range(topo.size[s]):
            x[m + j] = src[so + j]
        m += topo.size[s]
    return x[:m]
