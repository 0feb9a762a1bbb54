"""The digital-op kernel: pooling and scaling as a sparse matrix product."""

from __future__ import annotations

from ..jit import njit

__all__ = ["csr_eval"]


@njit
def csr_eval(dig, k, x, y):
    """y = (A @ x) / div for digital node ``k`` (a CSR block of ``dig``, one row per
    element of ``y``).

    ``div`` is the window size of an average pool (1 otherwise): dividing the sum, as the
    reference does, keeps the two bit-identical."""
    indptr, indices, data = dig.indptr, dig.indices, dig.data
    ip0 = dig.iptr_off[k]
    nz0 = dig.nnz_off[k]
    div = dig.div[k]
    for r in range(y.shape[0]):
        acc = 0.0
        for j in range(indptr[ip0 + r], indptr[ip0 + r + 1]):
            acc += data[nz0 + j] * x[indices[nz0 + j]]
        y[r] = acc / div if div != 1.0 else acc
