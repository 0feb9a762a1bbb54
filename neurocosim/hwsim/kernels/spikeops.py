"""The MatMul kernel: the batched product of two activations on the digital spike units.

A MatMul is not a sparse matrix of one input (its "weights" are the other operand, new
at every step), so it has a kernel of its own over the node's stacked input ``[a; b]``
(:func:`~.digital.stack_inputs`) and the sizes ``(L, M, K, N)`` the ``Digital`` record
keeps for it (``mm``), with its ``scale``. Its NumPy twin is
:func:`~.oracle.matmul_step`.
"""

from __future__ import annotations

from ..jit import njit

__all__ = ["matmul_eval"]


@njit
def matmul_eval(dig, k, x, y):
    """Digital node ``k`` of ``dig``, a MatMul: ``x`` is ``a`` ``(L, M, K)`` then ``b``
    ``(L, K, N)``, flat in C order; ``y`` ``(L, M, N)`` flat gets
    ``scale · Σ_q a[l, i, q] · b[l, q, j]``, the terms added in increasing ``q`` from 0
    (a zero ``a[l, i, q]``, a silent spike, adds nothing and is skipped: event driven),
    then multiplied by ``scale`` (in float64)."""
    lead, m, kk, n = dig.mm[k, 0], dig.mm[k, 1], dig.mm[k, 2], dig.mm[k, 3]
    scale = dig.scale[k]
    a = x[:lead * m * kk]
    b = x[lead * m * kk:lead * m * kk + lead * kk * n]
    for el in range(lead):
        al = a[el * m * kk:(el + 1) * m * kk]
        bl = b[el * kk * n:(el + 1) * kk * n]
        yl = y[el * m * n:(el + 1) * m * n]
        for i in range(m):
            ar = al[i * kk:(i + 1) * kk]
            yr = yl[i * n:(i + 1) * n]
            for j in range(n):
                yr[j] = 0.0
            for q in range(kk):
                aq = ar[q]
                if aq == 0.0:
                    continue
                bq = bl[q * n:(q + 1) * n]
                for j in range(n):
                    yr[j] += aq * bq[j]
            for j in range(n):
                yr[j] = yr[j] * scale
