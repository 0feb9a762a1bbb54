"""The engine's :class:`Digital` record: the digital nodes of the receiving cores (sum,
average and max pooling, Scale, a BatchNorm not folded into a synaptic layer, Add, IAnd,
Concat, Reshape, Transpose, the spike-spike primitives Mul (and Gate), ReduceSum,
MatMul, and the one-step Delay: the identity on its back edge's value) as
CSR blocks with a mode (a MatMul: its sizes and scale, for its own kernel), and their
digital operations per step (the digital counters).

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
from ..ir.delay import Delay
from ..ir.tensors import binary_output
from ..mapping.lowering import DIGITAL, dependency
from .kernels import codes as C

__all__ = ["Digital", "digital_table", "digital_nodes", "digital_ops", "digital_counts", "spike_ops"]

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
    # Concat, Mul, MatMul; :func:`~.kernels.digital.stack_inputs`), 0: summed (the others)
    mm: np.ndarray  # (digital nodes, 4) (L, M, K, N) of a MatMul (DG_MATMUL), else 0
    scale: np.ndarray  # (digital nodes,) float64: a MatMul's scale, else 1


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
    if isinstance(node, Delay):  # the identity on its input of the previous step
        return sp.identity(n, format="csr"), 1.0, C.DG_PERM, np.zeros(n)
    if isinstance(node, T.MatMul):  # no matrix: its own kernel (kernels.spikeops)
        n_in = int(np.prod(net.in_shapes[name]))
        return sp.csr_matrix((n, n_in)), 1.0, C.DG_MATMUL, np.zeros(n)
    mat = dependency(net, name)
    if isinstance(node, T.Mul):  # row r: the element of a, then that of b, it multiplies
        return mat, 1.0, C.DG_MUL, np.zeros(n)
    if isinstance(node, N.MaxPool2d):
        return mat, 1.0, C.DG_MAX, np.zeros(n)
    if isinstance(node, T.IAnd):  # row r: a[r], then b[r] of the stacked [a; b]
        return mat, 1.0, C.DG_IAND, np.zeros(n)
    if isinstance(node, _MOVES):  # a permutation (Add: the identity on its summed input)
        return mat, 1.0, C.DG_PERM, np.zeros(n)
    d = float(np.prod(node.kernel_size)) if isinstance(node, N.AvgPool2d) else 1.0
    return mat, d, C.DG_SUM, np.zeros(n)  # also a ReduceSum: a 0/1 matrix of its members


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
                   stack=np.array(stack or [0], np.int64), **_matmuls(net, digital))


def _matmuls(net, digital: list[str]) -> dict[str, np.ndarray]:
    """``mm`` (L, M, K, N) and ``scale`` of every MatMul among ``digital``."""
    mm = np.zeros((max(len(digital), 1), 4), np.int64)
    scale = np.ones(max(len(digital), 1))
    for i, name in enumerate(digital):
        node = net.nodes[name]
        if isinstance(node, T.MatMul):
            mm[i] = node.dims(*(net.out_shapes[s] for s in node.operands))
            scale[i] = node.scale
    return {"mm": mm, "scale": scale}


def digital_nodes(mapped) -> list[str]:
    """The digital nodes of ``mapped`` in network order (not the input, not a synaptic op,
    not a neuron layer): the engine's tables and the analytical counts list them so."""
    net = mapped.network
    return [name for name in net.order if name not in mapped.ops
            and not isinstance(net.nodes[name], (N.Input, N.Neuron))
            and isinstance(net.nodes[name], (*DIGITAL, Delay))]


def digital_ops(net, digital: list[str]) -> np.ndarray:
    """Digital operations per step of each node, ``(nodes, N_DIGITAL_COUNTERS)``.

    A max pool compares each window element beyond the first with the running maximum
    (padding, −inf, is never compared): ``Σ_windows (elements − 1)``, i.e. windows ×
    (k_h·k_w − 1) without padding. A BatchNorm makes one multiply-add per element. An
    Add of ``m`` inputs makes ``m − 1`` adds per element, an IAnd one ``(1 − a)·b`` per
    element. Concat, Reshape and Transpose only move elements (in hardware: where a
    core writes or reads them), so they count nothing and cost nothing. Sum/average
    pooling and Scale are not counted (as before this counter existed). The spike-spike
    primitives count as :func:`spike_ops` says. A one-step Delay writes its input to its
    buffer and reads the value it held, every element, every step:
    ``digital_buffer_write_bits`` and ``digital_buffer_read_bits`` of 1 bit per element
    when its input is binary, else 8 (a Delay of d steps is d such stages:
    :func:`~neurocosim.ir.transforms.expand_delays`)."""
    ops = np.zeros((len(digital), C.N_DIGITAL_COUNTERS))
    for i, name in enumerate(digital):
        node = net.nodes[name]
        if isinstance(node, T.SPIKE_OPS):
            ops[i] = spike_ops(net, name)
        elif isinstance(node, N.MaxPool2d):
            mat = dependency(net, name)
            ops[i, C.DC_CMP] = float(mat.nnz - mat.shape[0])
        elif isinstance(node, N.BatchNorm):
            ops[i, C.DC_MAC] = float(np.prod(net.out_shapes[name]))
        elif isinstance(node, T.Add):
            extra = len(net.predecessors(name)) - 1
            ops[i, C.DC_ADD] = float(np.prod(net.out_shapes[name])) * extra
        elif isinstance(node, T.IAnd):
            ops[i, C.DC_IAND] = float(np.prod(net.out_shapes[name]))
        elif isinstance(node, Delay):  # its input written, its held value read
            bits = float(np.prod(net.out_shapes[name])) * (1 if binary_output(net, name) else 8)
            ops[i, C.DC_READ_BITS] = ops[i, C.DC_WRITE_BITS] = bits
    return ops


def spike_ops(net, name: str) -> np.ndarray:
    """Digital operations per step of a Mul, ReduceSum or MatMul ``name`` (one row of
    :func:`digital_ops`). Whether a value is binary is decided from the graph
    (:func:`~neurocosim.ir.tensors.binary_output`: spiking layers other than ILIF, and
    rearrangements and products of their spikes).

    * Mul: one AND (``digital_ands``, a 1-bit gate) per output element when both operands
      are binary, else one multiply (``digital_macs``);
    * ReduceSum: each output sums ``n`` values with ``n − 1`` adds; over binary spikes the
      ``k``-th add (``k = 1 … n − 1``) adds a spike to the running sum of ``k`` spikes,
      held in ``ceil(log2(k + 1))`` bits, and is that wide; over other values every add
      is 8 bits wide. ``digital_add_bits`` is the sum of the widths (an 8-bit add costs
      the card's ``digital.add``, a w-bit one w/8 of it);
    * MatMul: ``L·M·K·N`` multiply-accumulates (``digital_macs``);
    * each: ``digital_buffer_read_bits``, every element of every operand (input) read
      once per step from the unit's buffer at 1 bit if binary, else 8 bits (reuse inside
      the unit is in registers), and ``digital_buffer_write_bits``, every output element
      written once at 1 bit if binary, else 8."""
    node = net.nodes[name]
    row = np.zeros(C.N_DIGITAL_COUNTERS)
    n_out = float(np.prod(net.out_shapes[name]))
    srcs = list(node.operands) if isinstance(node, T.ORDERED) else \
        [s for s, _ in net.predecessors(name)]
    binary = [binary_output(net, s) for s in srcs]
    if isinstance(node, T.ReduceSum):  # several edges are summed first: not binary
        binary = [len(srcs) == 1 and binary[0]]
        srcs = srcs[:1]
    row[C.DC_READ_BITS] = sum(float(np.prod(net.out_shapes[s])) * (1 if b else 8)
                              for s, b in zip(srcs, binary, strict=True))
    row[C.DC_WRITE_BITS] = n_out * (1 if binary_output(net, name) else 8)
    if isinstance(node, T.Mul):
        row[C.DC_AND if all(binary) else C.DC_MAC] = n_out
    elif isinstance(node, T.MatMul):
        row[C.DC_MAC] = float(np.prod(node.dims(*(net.out_shapes[s] for s in srcs))))
    else:
        n = net.in_shapes[name][node.norm_axis(len(net.in_shapes[name]))]
        width = sum(k.bit_length() for k in range(1, n)) if binary[0] else 8 * (n - 1)
        row[C.DC_ADD_BITS] = n_out * width
    return row


def digital_counts(ops: np.ndarray, steps_used: np.ndarray) -> np.ndarray:
    """Digital counters ``(samples, nodes, N_DIGITAL_COUNTERS)`` of samples that ran
    ``steps_used`` steps, from :func:`digital_ops`."""
    steps = np.asarray(steps_used, np.float64).reshape(-1, 1, 1)
    return steps * np.asarray(ops, np.float64)[None, :, :]
