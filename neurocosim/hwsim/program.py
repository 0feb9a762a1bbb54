"""Flatten a programmed chip into the typed arrays the engine kernels run on.

Layer 2 of DESIGN §4.4 is :mod:`neurocosim.hwsim.simulator`; this module shapes its data:
nodes in network order with their value offsets, incoming edges (back edges flagged),
neuron parameters per neuron (discretised at the network's ``dt``, with the chip's
analog mismatch), synaptic ops as tile blocks with their reads (gather/scatter), their
conductances at the read time, read-noise variances, ADC settings and decode terms, and
per-neuron routing costs (remote cores and mesh hops) from the placement.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..devices.crossbar import compensation_scale, drifted
from ..devices.noise import READ_NOISE
from ..devices.program import ProgrammedChip, block_weights
from ..errors import SimulationError
from ..ir import nodes as N
from ..mapping.lowering import GATHER_PAD, dependency
from ..mapping.routing import mesh_position, neuron_routing
from .kernels import engine as K

__all__ = ["EngineProgram", "build_program", "mesh_position", "BLOCK_COUNTERS",
           "LAYER_COUNTERS"]

BLOCK_COUNTERS = ("rows_driven", "cell_reads", "conversions", "conversion_cycles",
                  "clipped_conversions", "accumulates", "reads", "active_inputs")
LAYER_COUNTERS = ("neuron_updates", "spikes", "packets", "packet_hops")

_NTYPE = {N.IF: K.T_IF, N.LIF: K.T_LIF, N.CubaLIF: K.T_CUBALIF, N.LI: K.T_LI,
          N.CubaLI: K.T_CUBALI, N.ILIF: K.T_ILIF}

#: Names of the program arrays, in the order the batch driver takes them.
_PARAMS = [p for p in inspect.signature(K.run_batch.py_func).parameters][2:]
_OUTPUTS = ("rstates", "out_sum", "steps_used", "latency", "blk_cnt", "lay_cnt", "in_cnt",
            "probes", "err")
_PROGRAM_ARGS = [p for p in _PARAMS if p not in _OUTPUTS and p not in
                 ("policy", "theta", "temp", "margin", "min_steps", "p_node", "p_mode", "p_off",
                  "p_size")]


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineProgram:
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


def build_program(prog: ProgrammedChip, *, read_time: float = 0.0,
                  adc_full_scale: np.ndarray | None = None) -> EngineProgram:
    """Flatten ``prog`` (see the module docstring).

    ``read_time`` is the time after programming (seconds) at which the conductances are
    read (drift); ``adc_full_scale`` the per-block ADC range in amperes (default: the
    largest column current the block can carry, so nothing clips).
    """
    mapped = prog.mapped
    net = mapped.network
    chip = mapped.chip
    macro = chip.macro
    order = list(net.order)
    index = {n: i for i, n in enumerate(order)}
    a: dict[str, Any] = {}
    n_nodes = len(order)
    n_kind = np.zeros(n_nodes, np.int64)
    n_size = np.zeros(n_nodes, np.int64)
    n_off = np.zeros(n_nodes, np.int64)
    n_ref = np.zeros(n_nodes, np.int64)
    off = 0
    layers = net.layers()
    ops = list(mapped.ops)
    digital: list[str] = []
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
    a.update(n_kind=n_kind, n_size=n_size, n_off=n_off, n_ref=n_ref, val_size=int(off))
    e_ptr, e_src, e_back = [0], [], []
    for name in order:
        for src, back in net.predecessors(name):
            e_src.append(index[src])
            e_back.append(1 if back else 0)
        e_ptr.append(len(e_src))
    a.update(e_ptr=np.array(e_ptr, np.int64), e_src=np.array(e_src or [0], np.int64),
             e_back=np.array(e_back or [0], np.int64), has_back=bool(net.back_edges))
    a["in_node"] = index[net.input_name]
    a["out_node"] = index[net.output_name]
    out_src = [s for s, _ in net.predecessors(net.output_name)]
    a["evid_mean"] = not all(isinstance(net.nodes[s], N.Neuron) and net.nodes[s].spiking
                             for s in out_src)
    # digital nodes as CSR blocks
    ip_off, nz_off, indptr, indices, data, div = [], [], [], [], [], []
    nnz = 0
    nip = 0
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
    a.update(d_iptr_off=np.array(ip_off or [0], np.int64), d_nnz_off=np.array(nz_off or [0], np.int64),
             d_indptr=np.concatenate(indptr) if indptr else np.zeros(1, np.int64),
             d_indices=np.concatenate(indices) if indices else np.zeros(1, np.int64),
             d_data=np.concatenate(data) if data else np.zeros(1),
             d_div=np.array(div or [1.0]))
    # neurons
    l_type, l_off, l_reset, l_ge, l_maxlvl = [], [], [], [], []
    cols = {k: [] for k in ("p_alpha", "p_gain", "p_asyn", "p_win", "p_vleak", "p_vth", "p_vreset")}
    noff = 0
    for name in layers:
        node = net.nodes[name]
        d = net.discretised(name)
        mm = prog.mismatch[name]
        n = int(np.prod(net.out_shapes[name]))
        l_type.append(_NTYPE[type(node)])
        l_off.append(noff)
        noff += n
        l_reset.append(1 if getattr(node, "reset", "zero") == "subtract" else 0)
        l_ge.append(1 if getattr(node, "compare", ">") == ">=" else 0)
        l_maxlvl.append(float(getattr(node, "max_level", 0)))
        alpha = d.alpha.reshape(-1) * mm.leak.reshape(-1)
        cols["p_alpha"].append(alpha)
        cols["p_gain"].append(d.gain.reshape(-1))
        cols["p_asyn"].append((d.alpha_syn if d.alpha_syn is not None else np.zeros(n)).reshape(-1))
        cols["p_win"].append(node.w_in.reshape(-1) if hasattr(node, "w_in") else np.ones(n))
        cols["p_vleak"].append(node.v_leak.reshape(-1) if hasattr(node, "v_leak") else np.zeros(n))
        th = getattr(node, "v_threshold", None)
        th = np.ones(n) if th is None else th.reshape(-1) * mm.threshold.reshape(-1)
        cols["p_vth"].append(th)
        vr = getattr(node, "v_reset", None)
        cols["p_vreset"].append(np.zeros(n) if vr is None else vr.reshape(-1))
    a.update(l_type=np.array(l_type, np.int64), l_off=np.array(l_off, np.int64),
             l_reset=np.array(l_reset, np.int64), l_ge=np.array(l_ge, np.int64),
             l_maxlvl=np.array(l_maxlvl), n_neurons=int(noff))
    for k, v in cols.items():
        a[k] = np.concatenate(v) if v else np.zeros(1)
    # routing per neuron (spiking layers) and per input element
    routes = neuron_routing(mapped)
    for key, attr in (("r_packets", "packets"), ("r_hops", "hops"), ("r_maxhop", "max_hop")):
        a[key] = (np.concatenate([getattr(routes[n], attr) for n in layers]) if layers
                  else np.zeros(1))
    a.update(in_packets=routes[net.input_name].packets, in_hops=routes[net.input_name].hops)
    # synaptic ops and their blocks
    blocks = list(mapped.blocks)
    s_bias_off, bias, s_blk_ptr, s_prev_off = [], [], [0], []
    order_blocks: list[int] = []
    boff = 0
    poff = 0
    for name in ops:
        sop = mapped.ops[name]
        s_bias_off.append(boff)
        bias.append(sop.bias)
        boff += sop.out_size
        s_prev_off.append(poff)
        poff += sop.in_size
        # blocks of one row chunk (same rows and reads) next to each other: the engine
        # finds a read's active rows once for all of them
        mine = sorted((i for i, b in enumerate(blocks) if b.op == name),
                      key=lambda i: (blocks[i].group, blocks[i].region, blocks[i].row_lo,
                                     blocks[i].out_lo))
        order_blocks.extend(mine)
        s_blk_ptr.append(len(order_blocks))
    a.update(s_bias_off=np.array(s_bias_off or [0], np.int64),
             bias=np.concatenate(bias) if bias else np.zeros(1),
             s_blk_ptr=np.array(s_blk_ptr, np.int64), s_prev_off=np.array(s_prev_off or [0], np.int64),
             prev_size=int(max(poff, 1)), delay=bool(net.synaptic_delay))
    nb = len(order_blocks)
    fields = {k: np.zeros(nb, np.int64) for k in ("b_same", "b_ch_outs", "b_rows", "b_cols", "b_outs", "b_reads",
                                                  "b_gat_off", "b_sca_off", "b_g_off", "b_s_off",
                                                  "b_adc_bits", "b_cycles", "b_tile", "b_ideal")}
    b_adc_fs = np.zeros(nb)
    term_ptr = [0]
    t_out, t_pos, t_neg, t_coef = [], [], [], []
    gat, sca, gs, s2s = [], [], [], []
    ngat = nsca = ng = ns = 0
    pruned_rows = 0
    prev_gi = None
    read_model = READ_NOISE[macro.read_noise.model]
    read_params = macro.resolved("read")
    volt = macro.read_voltage
    for j, bi in enumerate(order_blocks):
        b = blocks[bi]
        grp = mapped.ops[b.op].groups[b.group]
        reads = np.flatnonzero(grp.region == b.region)
        gi = grp.gather[np.ix_(reads, np.arange(b.row_lo, b.row_hi))]
        si = grp.scatter[np.ix_(reads, np.arange(b.out_lo, b.out_hi))]
        outs = b.out_hi - b.out_lo
        tile = prog.tiles[bi]
        fields["b_rows"][j] = b.rows
        fields["b_outs"][j] = outs
        fields["b_ch_outs"][j] = outs
        fields["b_reads"][j] = len(reads)
        fields["b_gat_off"][j] = ngat
        fields["b_sca_off"][j] = nsca
        fields["b_g_off"][j] = ng
        fields["b_tile"][j] = b.tile
        if tile is not None and tile.pruned is not None:
            # a row whose every cell was RESET by prune-on-chip is never driven
            dead = tile.pruned.all(axis=1)
            if dead.any():
                gi = np.where(dead[None, :], GATHER_PAD, gi)
                pruned_rows += int(dead.sum())
        if j > 0:  # same rows, reads and driven rows as the previous block: share its reads
            p = blocks[order_blocks[j - 1]]
            fields["b_same"][j] = int((p.op, p.group, p.region, p.row_lo, p.row_hi)
                                      == (b.op, b.group, b.region, b.row_lo, b.row_hi)
                                      and np.array_equal(gi, prev_gi))
        prev_gi = gi
        gat.append(gi.ravel().astype(np.int64))
        ngat += gi.size
        if tile is None:  # ideal macro: the float weights themselves
            fields["b_cols"][j] = outs
            fields["b_ideal"][j] = 1
            fields["b_s_off"][j] = -1
            term_ptr.append(term_ptr[-1])
            if fields["b_same"][j]:
                continue  # computed with its row chunk's first block
            # the whole row chunk as one matrix (rows x all its outputs) and one scatter
            span = [bi]
            for nxt in order_blocks[j + 1:]:
                q = blocks[nxt]
                if (q.op, q.group, q.region, q.row_lo, q.row_hi) != \
                        (b.op, b.group, b.region, b.row_lo, b.row_hi):
                    break
                span.append(nxt)
            w = np.hstack([block_weights(mapped, i) for i in span])
            sc = np.hstack([grp.scatter[np.ix_(reads, np.arange(blocks[i].out_lo,
                                                                  blocks[i].out_hi))]
                            for i in span])
            fields["b_ch_outs"][j] = w.shape[1]
            gs.append(np.ascontiguousarray(w).ravel())
            ng += w.size
            sca.append(sc.ravel().astype(np.int64))
            nsca += sc.size
            continue
        sca.append(si.ravel().astype(np.int64))
        nsca += si.size
        g = drifted(tile, read_time)
        ncols = g.shape[1]
        fields["b_cols"][j] = ncols
        gs.append(np.ascontiguousarray(g).ravel())
        ng += g.size
        if read_model.name != "none":
            fields["b_s_off"][j] = ns
            s2 = read_model.sigma(g, read_params) ** 2
            s2s.append(s2.ravel())
            ns += s2.size
        else:
            fields["b_s_off"][j] = -1
        comp = (compensation_scale(tile, read_time)
                if macro.drift.compensation and read_time > 0 else 1.0)
        cw = tile.encoded.col_weights
        for o in range(outs):
            for pos, neg in _pairs(macro, tile.encoded, o):
                t_out.append(o)
                t_pos.append(pos)
                t_neg.append(neg)
                t_coef.append(cw[pos, o] / volt * comp)
        term_ptr.append(len(t_out))
        if macro.adc_bits is not None:
            fields["b_adc_bits"][j] = macro.adc_bits
            fields["b_cycles"][j] = -(-ncols // macro.adcs_per_tile)
            if adc_full_scale is not None:
                b_adc_fs[j] = float(adc_full_scale[bi])
            else:
                b_adc_fs[j] = float((volt * g).sum(axis=0).max())
            if not b_adc_fs[j] > 0:
                raise SimulationError(f"block {bi} of '{b.op}': ADC full scale must be > 0")
    a.update({k: v for k, v in fields.items()})
    a.update(b_adc_fs=b_adc_fs, b_term_ptr=np.array(term_ptr, np.int64),
             gat=np.concatenate(gat) if gat else np.zeros(1, np.int64),
             sca=np.concatenate(sca) if sca else np.zeros(1, np.int64),
             g=np.concatenate(gs) if gs else np.zeros(1),
             s2=(np.concatenate(s2s) if s2s else np.zeros(1)).astype(np.float32),
             t_out=np.array(t_out or [0], np.int64), t_pos=np.array(t_pos or [0], np.int64),
             t_neg=np.array(t_neg or [0], np.int64), t_coef=np.array(t_coef or [0.0]),
             volt=float(volt), dac_bits=int(macro.dac_bits), n_tiles=int(mapped.n_tiles))
    lat = macro.latency
    a["times"] = np.array([lat.row_drive.value, lat.array_read.value, lat.adc_conversion.value,
                           lat.accumulate.value, chip.neuron.update_latency.value,
                           chip.noc.hop_latency.value])
    fs = np.zeros(len(blocks))
    for j, bi in enumerate(order_blocks):
        fs[bi] = b_adc_fs[j]
    return EngineProgram(
        arrays=a, node_names=tuple(order), layer_names=tuple(layers),
        block_op=tuple(blocks[bi].op for bi in order_blocks),
        block_tile=fields["b_tile"], block_outs=fields["b_outs"], n_tiles=int(mapped.n_tiles),
        adc_full_scale=fs,
        read_time=float(read_time), extras={"block_order": np.array(order_blocks, np.int64),
                                            "pruned_rows": pruned_rows},
    )


def _pairs(macro, encoded, o: int):
    """(plus column, minus or reference column) pairs that decode output ``o``."""
    from ..devices.layout import ColumnLayout

    return ColumnLayout.of(macro).pairs(o, encoded.n_out)
