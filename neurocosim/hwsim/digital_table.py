"""The engine's :class:`Digital` record: the digital nodes of the receiving cores (sum,
average and max pooling, Scale, a BatchNorm not folded into a synaptic layer, Add, IAnd,
Concat, Reshape, Transpose) as CSR blocks with a mode, and their digital operations per
step (the digital counters).

Part of :mod:`neurocosim.hwsim.tables` (kept apart for its size). Every digital node's
operations are the same at every step, whatever its input (a max pool compares every
window element, a BatchNorm scales and shifts every element), so its counters are its
operations per step times the steps a sample ran (:func:`digital_counts`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..ir import nodes as N
from ..ir import tensors as T
from ..mapping.lowering import dependency
from .kernels import codes as C

__all__ = ["Digital", "digital_table", "digital_ops", "digital_counts"]

#: nodes that only move elements (Add: its sources are summed on the way in)
_MOVES = (T.Add, T.Concat, T.Reshape, T.Transpose)


class Digital(NamedTuple):
    """Digital nodes (pooling, scale, BatchNorm, Add, IAnd, rearrangements) as CSR blocks,
    one per node."""

    iptr_off: np.ndarray  # (digital nodes,) first indptr entry of each block
    nnz_off: np.ndarray  # (digital nodes,) first non-zero of each block
    indptr: np.ndarray  # int64, blocks one after another
    indices: np.ndarray  # int64
    data: np.ndarray  # float64
    div: np.ndarray  # (digital nodes,) window size of an average pool, else 1
    mode: np.ndarray  # (digital nodes,) DG_SUM, DG_MAX or DG_AFFINE
    row_off: np.ndarray  # (digital nodes,) first row of each node in ``bias``
    bias: np.ndarray  # (rows of all nodes,) per-element shift of a DG_AFFINE node, else 0
    stack: np.ndarray  # (digital nodes,) 1: its sources stacked in operand order (IAnd,
    # Concat; :func:`~.kernels.digital.stack_inputs`), 0: summed (every other node)


def _block(net, name: str):
    """CSR matrix, divisor, mode and per-row bias of digital node ``name``."""
    node = net.nodes[name]
    n = int(np.prod(net.out_shapes[name]))
    if isinstance(node, N.Scale):
        return sp.csr_matrix(sp.diags(node.scale.reshape(-1))), 1.0, C.DG_SUM, np.zeros(n)
    if isinstance(node, N.BatchNorm):
        s, b = node.scale_shift()
        per = n // s.shape[0]  # elements per channel: channels are the leading axis
        mat = sp.csr_matrix((np.repeat(s, per), np.arange(n), np.arange(n + 1)), shape=(n, n))
        return mat, 1.0, C.DG_AFFINE, np.repeat(b, per)
    mat = dependency(net, name)
    if isinstance(node, N.MaxPool2d):
        return mat, 1.0, C.DG_MAX, np.zeros(n)
    if isinstance(node, T.IAnd):  # row r: a[r], then b[r] of the stacked [a; b]
        return mat, 1.0, C.DG_IAND, np.zeros(n)
    if isinstance(node, _MOVES):  # a permutation (Add: the identity on its summed input)
        return mat, 1.0, C.DG_PERM, np.zeros(n)
    d = float(np.prod(node.kernel_size)) if isinstance(node, N.AvgPool2d) else 1.0
    return mat, d, C.DG_SUM, np.zeros(n)


def digital_table(net, digital: list[str], dt) -> Digital:
    """The digital nodes ``digital`` of ``net`` as CSR blocks (values in ``dt``)."""
    ip_off, nz_off, row_off, indptr, indices, data, div, mode, bias = ([] for _ in range(9))
    stack = [1 if isinstance(net.nodes[name], T.ORDERED) else 0 for name in digital]
    nnz = nip = rows = 0
    for name in digital:
        mat, d, m, b = _block(net, name)
        mat.sort_indices()
        ip_off.append(nip)
        nz_off.append(nnz)
        row_off.append(rows)
        indptr.append(mat.indptr.astype(np.int64))
        indices.append(mat.indices.astype(np.int64))
        data.append(mat.data.astype(np.float64))
        div.append(d)
        mode.append(m)
        bias.append(b)
        nip += len(mat.indptr)
        nnz += mat.nnz
        rows += mat.shape[0]

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(1, dtype)

    return Digital(iptr_off=np.array(ip_off or [0], np.int64),
                   nnz_off=np.array(nz_off or [0], np.int64),
                   indptr=cat(indptr, np.int64), indices=cat(indices, np.int64),
                   data=cat(data, dt), div=np.array(div or [1.0]),
                   mode=np.array(mode or [C.DG_SUM], np.int64),
                   row_off=np.array(row_off or [0], np.int64), bias=cat(bias, dt),
                   stack=np.array(stack or [0], np.int64))


def digital_ops(net, digital: list[str]) -> np.ndarray:
    """Digital operations per step of each node, ``(nodes, N_DIGITAL_COUNTERS)``.

    A max pool compares each window element beyond the first with the running maximum
    (padding, −inf, is never compared): ``Σ_windows (elements − 1)``, i.e. windows ×
    (k_h·k_w − 1) without padding. A BatchNorm makes one multiply-add per element. An
    Add of ``m`` inputs makes ``m − 1`` adds per element, an IAnd one ``(1 − a)·b`` per
    element. Concat, Reshape and Transpose only move elements (in hardware: where a
    core writes or reads them), so they count nothing and cost nothing. Sum/average
    pooling and Scale are not counted (as before this counter existed)."""
    ops = np.zeros((len(digital), C.N_DIGITAL_COUNTERS))
    for i, name in enumerate(digital):
        node = net.nodes[name]
        if isinstance(node, N.MaxPool2d):
            mat = dependency(net, name)
            ops[i, C.DC_CMP] = float(mat.nnz - mat.shape[0])
        elif isinstance(node, N.BatchNorm):
            ops[i, C.DC_MAC] = float(np.prod(net.out_shapes[name]))
        elif isinstance(node, T.Add):
            extra = len(net.predecessors(name)) - 1
            ops[i, C.DC_ADD] = float(np.prod(net.out_shapes[name])) * extra
        elif isinstance(node, T.IAnd):
            ops[i, C.DC_IAND] = float(np.prod(net.out_shapes[name]))
    return ops


def digital_counts(ops: np.ndarray, steps_used: np.ndarray) -> np.ndarray:
    """Digital counters ``(samples, nodes, N_DIGITAL_COUNTERS)`` of samples that ran
    ``steps_used`` steps, from :func:`digital_ops`."""
    steps = np.asarray(steps_used, np.float64).reshape(-1, 1, 1)
    return steps * np.asarray(ops, np.float64)[None, :, :]
