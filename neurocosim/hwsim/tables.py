"""The engine's tables: a programmed chip flattened into the typed arrays the kernels run
on ("tables", so that "program" keeps one meaning: the chip after programming).

Part of layer 1 of DESIGN §4.4 (the public side that validates and shapes; the parallel
driver ``run_batch`` is layer 2 and the serial kernels layer 3, both in
:mod:`neurocosim.hwsim.kernels.engine`). One builder per record: nodes in network order with their value offsets
(:func:`_nodes`), incoming edges with back edges flagged (:func:`_edges`), digital nodes
as sparse matrices (:func:`_digital`), neuron parameters per neuron, discretised at the
network's ``dt``, with the chip's analog mismatch (:func:`_neurons`), per-neuron routing
costs (remote cores and mesh hops) from the placement (:func:`_routing`), synaptic ops
(:func:`_synaptic_ops`) and their tile blocks with reads (gather/scatter), conductances
at the chip's read time, read-noise variances, ADC settings and decode terms
(:class:`~neurocosim.hwsim.blocks.BlockTable`), and the latency constants
(:class:`~neurocosim.hwsim.latency.LatencyModel`). Everything the chip's operating point
sets is read from ``programmed.operating_point``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..devices.program import ProgrammedChip
from ..ir import nodes as N
from ..mapping.lowering import dependency
from ..mapping.routing import mesh_position, neuron_routing
from .blocks import BlockTable, block_reads
from .kernels import engine as K
from .latency import LatencyModel

__all__ = ["EngineTables", "build_tables", "mesh_position"]

_NTYPE = {N.IF: K.T_IF, N.LIF: K.T_LIF, N.CubaLIF: K.T_CUBALIF, N.LI: K.T_LI,
          N.CubaLI: K.T_CUBALI, N.ILIF: K.T_ILIF}

#: Names of the table arrays, in the order the batch driver takes them.
_PARAMS = [p for p in inspect.signature(K.run_batch.py_func).parameters][2:]
_OUTPUTS = ("rstates", "out_sum", "steps_used", "latency", "blk_cnt", "lay_cnt", "in_cnt",
            "probes", "err")
_PROGRAM_ARGS = [p for p in _PARAMS if p not in _OUTPUTS and p not in
                 ("policy", "theta", "temp", "margin", "min_steps", "p_node", "p_mode", "p_off",
                  "p_size")]


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineTables:
    """Arrays of one programmed chip, ready for :func:`~.kernels.engine.run_batch`."""

    arrays: dict[str, Any]
    node_names: tuple[str, ...]
    layer_names: tuple[str, ...]
    block_op: tuple[str, ...]
    block_tile: np.ndarray
    block_outs: np.ndarray
    n_tiles: int
    adc_full_scale: np.ndarray
    read_time: float
    extras: dict[str, Any] = field(default_factory=dict)

    def args(self) -> list[Any]:
        return [self.arrays[name] for name in _PROGRAM_ARGS]


def build_tables(prog: ProgrammedChip) -> EngineTables:
    """Flatten ``prog`` at its operating point (see the module docstring).

    The operating point's ``read_time`` is the time after programming (seconds) at which
    the conductances are read (drift); its ``adc_full_scale`` the per-block ADC range in
    amperes (None: the largest column current the block can carry, so nothing clips).
    """
    mapped = prog.mapped
    net = mapped.network
    a, digital = _nodes(mapped)
    a.update(_edges(net))
    a.update(_digital(net, digital))
    a.update(_neurons(net, prog.mismatch))
    a.update(_routing(mapped))
    blocks = block_reads(prog)
    a.update(_synaptic_ops(mapped, [b.op for b in blocks]))
    a.update(BlockTable(prog, blocks).build())
    macro = mapped.chip.macro
    a.update(volt=float(macro.read_voltage), dac_bits=int(macro.dac_bits),
             n_tiles=int(mapped.n_tiles), times=LatencyModel.of(mapped.chip).kernel_times())
    fs = np.zeros(len(mapped.blocks))
    for j, b in enumerate(blocks):
        fs[b.index] = a["b_adc_fs"][j]
    pruned = sum(int(t.pruned.all(axis=1).sum()) for t in prog.tiles
                 if t is not None and t.pruned is not None)
    return EngineTables(
        arrays=a, node_names=tuple(net.order), layer_names=tuple(net.layers()),
        block_op=tuple(b.op for b in blocks), block_tile=a["b_tile"], block_outs=a["b_outs"],
        n_tiles=int(mapped.n_tiles), adc_full_scale=fs,
        read_time=float(prog.operating_point.read_time),
        extras={"block_order": np.array([b.index for b in blocks], np.int64),
                "pruned_rows": pruned},
    )


def _nodes(mapped) -> tuple[dict[str, Any], list[str]]:
    """Kind, size, value offset and reference (op, layer or digital index) of each node;
    the digital nodes in order."""
    net = mapped.network
    order, layers, ops = list(net.order), net.layers(), list(mapped.ops)
    n_kind, n_size, n_off, n_ref = (np.zeros(len(order), np.int64) for _ in range(4))
    digital: list[str] = []
    off = 0
    for i, name in enumerate(order):
        node = net.nodes[name]
        n_size[i] = int(np.prod(net.out_shapes[name]))
        n_off[i] = off
        off += n_size[i]
        if isinstance(node, N.Input):
            n_kind[i] = K.K_INPUT
        elif name in mapped.ops:
            n_kind[i], n_ref[i] = K.K_SYN, ops.index(name)
        elif isinstance(node, N.Neuron):
            n_kind[i], n_ref[i] = K.K_NEURON, layers.index(name)
        elif isinstance(node, (N.SumPool2d, N.AvgPool2d, N.Scale)):
            n_kind[i], n_ref[i] = K.K_DIGITAL, len(digital)
            digital.append(name)
        else:
            n_kind[i] = K.K_COPY
    a = {"n_kind": n_kind, "n_size": n_size, "n_off": n_off, "n_ref": n_ref,
         "val_size": int(off)}
    return a, digital


def _edges(net) -> dict[str, Any]:
    """Incoming edges of every node (CSR), back edges flagged; input, output, evidence."""
    index = {n: i for i, n in enumerate(net.order)}
    e_ptr, e_src, e_back = [0], [], []
    for name in net.order:
        for src, back in net.predecessors(name):
            e_src.append(index[src])
            e_back.append(1 if back else 0)
        e_ptr.append(len(e_src))
    out_src = [s for s, _ in net.predecessors(net.output_name)]
    return {"e_ptr": np.array(e_ptr, np.int64), "e_src": np.array(e_src or [0], np.int64),
            "e_back": np.array(e_back or [0], np.int64), "has_back": bool(net.back_edges),
            "in_node": index[net.input_name], "out_node": index[net.output_name],
            "evid_mean": not all(isinstance(net.nodes[s], N.Neuron) and net.nodes[s].spiking
                                 for s in out_src)}


def _digital(net, digital: list[str]) -> dict[str, Any]:
    """Digital nodes (pooling, scale) as CSR blocks with their divisors."""
    ip_off, nz_off, indptr, indices, data, div = [], [], [], [], [], []
    nnz = nip = 0
    for name in digital:
        node = net.nodes[name]
        if isinstance(node, N.Scale):
            mat = sp.csr_matrix(sp.diags(node.scale.reshape(-1)))
            d = 1.0
        else:
            mat = dependency(net, name)
            d = float(np.prod(node.kernel_size)) if isinstance(node, N.AvgPool2d) else 1.0
        mat.sort_indices()
        ip_off.append(nip)
        nz_off.append(nnz)
        indptr.append(mat.indptr.astype(np.int64))
        indices.append(mat.indices.astype(np.int64))
        data.append(mat.data.astype(np.float64))
        div.append(d)
        nip += len(mat.indptr)
        nnz += mat.nnz
    return {"d_iptr_off": np.array(ip_off or [0], np.int64),
            "d_nnz_off": np.array(nz_off or [0], np.int64),
            "d_indptr": np.concatenate(indptr) if indptr else np.zeros(1, np.int64),
            "d_indices": np.concatenate(indices) if indices else np.zeros(1, np.int64),
            "d_data": np.concatenate(data) if data else np.zeros(1),
            "d_div": np.array(div or [1.0])}


def _neurons(net, mismatch) -> dict[str, Any]:
    """Per-layer neuron type and options; per-neuron parameters with the chip's mismatch
    (and threshold re-balancing, stored as threshold factors)."""
    l_type, l_off, l_reset, l_ge, l_maxlvl = [], [], [], [], []
    cols: dict[str, list] = {k: [] for k in ("p_alpha", "p_gain", "p_asyn", "p_win", "p_vleak",
                                             "p_vth", "p_vreset")}
    noff = 0
    for name in net.layers():
        node = net.nodes[name]
        d = net.discretised(name)
        mm = mismatch[name]
        n = int(np.prod(net.out_shapes[name]))
        l_type.append(_NTYPE[type(node)])
        l_off.append(noff)
        noff += n
        l_reset.append(1 if getattr(node, "reset", "zero") == "subtract" else 0)
        l_ge.append(1 if getattr(node, "compare", ">") == ">=" else 0)
        l_maxlvl.append(float(getattr(node, "max_level", 0)))
        cols["p_alpha"].append(d.alpha.reshape(-1) * mm.leak.reshape(-1))
        cols["p_gain"].append(d.gain.reshape(-1))
        cols["p_asyn"].append((d.alpha_syn if d.alpha_syn is not None else np.zeros(n)).reshape(-1))
        cols["p_win"].append(node.w_in.reshape(-1) if hasattr(node, "w_in") else np.ones(n))
        cols["p_vleak"].append(node.v_leak.reshape(-1) if hasattr(node, "v_leak") else np.zeros(n))
        th = getattr(node, "v_threshold", None)
        cols["p_vth"].append(np.ones(n) if th is None else th.reshape(-1) * mm.threshold.reshape(-1))
        vr = getattr(node, "v_reset", None)
        cols["p_vreset"].append(np.zeros(n) if vr is None else vr.reshape(-1))
    a = {"l_type": np.array(l_type, np.int64), "l_off": np.array(l_off, np.int64),
         "l_reset": np.array(l_reset, np.int64), "l_ge": np.array(l_ge, np.int64),
         "l_maxlvl": np.array(l_maxlvl), "n_neurons": int(noff)}
    a.update({k: np.concatenate(v) if v else np.zeros(1) for k, v in cols.items()})
    return a


def _routing(mapped) -> dict[str, Any]:
    """Packets, hops and longest route per neuron (spiking layers) and input element."""
    net = mapped.network
    layers = net.layers()
    routes = neuron_routing(mapped)
    a = {key: (np.concatenate([getattr(routes[n], attr) for n in layers]) if layers
               else np.zeros(1))
         for key, attr in (("r_packets", "packets"), ("r_hops", "hops"), ("r_maxhop", "max_hop"))}
    a.update(in_packets=routes[net.input_name].packets, in_hops=routes[net.input_name].hops)
    return a


def _synaptic_ops(mapped, block_ops: list[str]) -> dict[str, Any]:
    """Bias and input offsets of every synaptic op and its range of blocks (``block_ops``:
    the op of each block in the engine's order, op by op)."""
    net = mapped.network
    s_bias_off, bias, s_blk_ptr, s_prev_off = [], [], [0], []
    boff = poff = 0
    for name in mapped.ops:
        sop = mapped.ops[name]
        s_bias_off.append(boff)
        bias.append(sop.bias)
        boff += sop.out_size
        s_prev_off.append(poff)
        poff += sop.in_size
        s_blk_ptr.append(s_blk_ptr[-1] + block_ops.count(name))
    return {"s_bias_off": np.array(s_bias_off or [0], np.int64),
            "bias": np.concatenate(bias) if bias else np.zeros(1),
            "s_blk_ptr": np.array(s_blk_ptr, np.int64),
            "s_prev_off": np.array(s_prev_off or [0], np.int64),
            "prev_size": int(max(poff, 1)), "delay": bool(net.synaptic_delay)}
