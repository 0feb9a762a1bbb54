"""The cycle-level engine's kernels over the records of :mod:`neurocosim.hwsim.tables`.

Layers 2 and 3 of DESIGN §4.4 (layer 1 is :func:`neurocosim.hwsim.simulate`): the driver
parallel over samples (:func:`run_batch`) and serial ``@njit`` kernels, one per node kind
— :func:`syn_eval` (crossbar op), :func:`neuron_eval` (neuron layer), :func:`csr_eval`
(digital op) — walked by :func:`run_sample`, which also counts packets and hops. A
kernel takes the typed records it needs (``NamedTuple``\\ s of arrays and scalars), so
a new node kind adds its kernel and its record without changing the other kernels'
signatures. Every sample has its own buffers (:class:`Work`) and random stream: results
do not depend on the number of threads.

Per step, for each node in network order: gather the node's input (sum of its sources,
the previous step's values along back edges), then

* synaptic op: for each tile block and each of its reads, drive the rows whose input is
  non-zero (event driven: a read with no active row costs nothing), accumulate column
  currents, add the aggregated read noise (one normal per column), convert (ADC with
  clipping counted), decode to weight units and add the partial sums digitally;
* neuron layer: integrate, test, reset (the float semantics of the reference);
* digital node (pooling, scale, flatten): a sparse matrix product.

Multi-level inputs (integer spikes of an ILIF layer, pooled spike counts) drive a
non-ideal crossbar as a thermometer code: level ``k`` is one binary read of the rows
whose value is at least ``k``. Analog inputs go through the macro's DAC
(``dac_bits`` ≥ 2, values in [0, 1]); anything else stops the sample with an error code.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..jit import njit, pjit, prange
from .rng import normal_pair

# node kinds
K_INPUT, K_SYN, K_NEURON, K_DIGITAL, K_COPY = 0, 1, 2, 3, 4
# neuron types
T_IF, T_LIF, T_CUBALIF, T_LI, T_CUBALI, T_ILIF = 0, 1, 2, 3, 4, 5
# block counters
C_ROWS, C_CELLS, C_CONV, C_CYCLES, C_CLIP, C_ACC, C_READS, C_INPUTS = 0, 1, 2, 3, 4, 5, 6, 7
N_BLOCK_COUNTERS = 8
# layer counters
L_UPDATES, L_SPIKES, L_PACKETS, L_HOPS = 0, 1, 2, 3
N_LAYER_COUNTERS = 4
# error codes
E_OK, E_DAC = 0, 1


class Work(NamedTuple):
    """One sample's scratch buffers for the synaptic kernels (sized by :func:`work_for`)."""

    act_i: np.ndarray  # (max rows,) int64: active rows of a read
    act_v: np.ndarray  # (max rows,) their drive
    lvl_i: np.ndarray  # (max rows,) int64: rows of one thermometer level
    lvl_v: np.ndarray  # (max rows,)
    curr: np.ndarray  # (max columns,) column currents, then ADC output
    var: np.ndarray  # (max columns,) read-noise variance per column
    outl: np.ndarray  # (max outputs,) decoded partial sums of one block


@njit
def work_for(syn):
    """Scratch buffers large enough for every block of ``syn``."""
    max_rows = 1
    max_cols = 1
    max_outs = 1
    for b in range(syn.rows.shape[0]):
        max_rows = max(max_rows, syn.rows[b])
        max_cols = max(max_cols, syn.cols[b])
        max_outs = max(max_outs, syn.outs[b], syn.ch_outs[b])
    return Work(np.zeros(max_rows, np.int64), np.zeros(max_rows),
                np.zeros(max_rows, np.int64), np.zeros(max_rows),
                np.zeros(max_cols), np.zeros(max_cols), np.zeros(max_outs))


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


@njit
def neuron_eval(neu, k, v, cur, x, y):
    """One step of neuron layer ``k`` of ``neu`` (state ``v``/``cur`` in place, indexed
    from the layer's first neuron); input ``x``, output into ``y`` (one per neuron).

    Returns the number of spikes (sum of integer levels for ILIF)."""
    ntype, reset_sub, ge = neu.type[k], neu.reset[k], neu.ge[k]
    maxlvl, off = neu.maxlvl[k], neu.off[k]
    alpha, gain, asyn, win = neu.alpha, neu.gain, neu.asyn, neu.win
    vleak, vth, vreset = neu.vleak, neu.vth, neu.vreset
    spikes = 0.0
    for i in range(y.shape[0]):
        j = off + i
        drive = x[i]
        if ntype == T_CUBALIF or ntype == T_CUBALI:
            cur[j] += asyn[j] * (win[j] * drive - cur[j])
            drive = cur[j]
        if ntype == T_IF:
            v[j] += gain[j] * drive
        else:
            v[j] += alpha[j] * (vleak[j] - v[j]) + gain[j] * drive
        if ntype == T_LI or ntype == T_CUBALI:
            y[i] = v[j]
        elif ntype == T_ILIF:
            q = v[j] / vth[j]
            if q < 0.0:
                q = 0.0
            elif q > maxlvl:
                q = maxlvl
            s = np.rint(q)
            v[j] -= s * vth[j]
            y[i] = s
            spikes += s
        else:
            fire = v[j] >= vth[j] if ge else v[j] > vth[j]
            if fire:
                if reset_sub:
                    v[j] -= vth[j]
                else:
                    v[j] = vreset[j]
                y[i] = 1.0
                spikes += 1.0
            else:
                y[i] = 0.0
    return spikes


@njit
def _read_columns(g, s2, goff, soff, cols, act_i, act_v, nact, volt, rstate, curr, var):
    """Column currents ``curr`` of one read of a block (conductances ``g`` from ``goff``,
    read-noise variances ``s2`` from ``soff``, -1: no noise; rows ``act_i`` driven at
    ``volt * act_v``), with the aggregated read noise.

    Rows outer, columns inner (contiguous in the row-major conductance block); current
    and noise variance accumulate in one pass; normals are drawn in pairs."""
    for c in range(cols):
        curr[c] = 0.0
    if soff >= 0:
        for c in range(cols):
            var[c] = 0.0
        for a in range(nact):
            dv = volt * act_v[a]
            dv2 = dv * dv
            base = goff + act_i[a] * cols
            sbase = soff + act_i[a] * cols
            for c in range(cols):
                curr[c] += dv * g[base + c]
                var[c] += dv2 * s2[sbase + c]
        c = 0
        while c < cols:
            z0, z1 = normal_pair(rstate)
            curr[c] += math.sqrt(var[c]) * z0
            if c + 1 < cols:
                curr[c + 1] += math.sqrt(var[c + 1]) * z1
            c += 2
    else:
        for a in range(nact):
            dv = volt * act_v[a]
            base = goff + act_i[a] * cols
            for c in range(cols):
                curr[c] += dv * g[base + c]


@njit
def _convert(curr, cols, adc_bits, adc_fs):
    """The ADC (``adc_bits`` > 0, full scale ``adc_fs``) on the column currents ``curr``
    in place; returns the number of clipped conversions."""
    clipped = 0
    top = float((1 << adc_bits) - 1)
    lsb = adc_fs / top
    inv = 1.0 / lsb
    for c in range(cols):
        code = np.rint(curr[c] * inv)
        if code > top:
            code = top
            clipped += 1
        elif code < 0.0:
            code = 0.0
            clipped += 1
        curr[c] = code * lsb
    return clipped


@njit
def _active_rows(syn, b0, r, x, work):
    """The rows of read ``r`` of block ``b0`` with a non-zero input (into ``work.act_i``
    / ``work.act_v``); returns (count, all of them non-negative integers, largest)."""
    act_i, act_v, gat = work.act_i, work.act_v, syn.gat
    rows = syn.rows[b0]
    nact = 0
    integer = True
    maxlvl = 0.0
    gbase = syn.gat_off[b0] + r * rows
    for i in range(rows):
        gi = gat[gbase + i]
        if gi == -1:
            continue
        xv = 1.0 if gi == -2 else x[gi]
        if xv != 0.0:
            act_i[nact] = i
            act_v[nact] = xv
            nact += 1
            if xv < 0.0 or xv != np.floor(xv):
                integer = False
            elif xv > maxlvl:
                maxlvl = xv
    return nact, integer, maxlvl


@njit
def syn_eval(k, x, y, syn, rdo, timing, rstate, cnt, tile_time, work):
    """Evaluate synaptic op ``k`` on input ``x`` into ``y``; returns an error code.

    ``cnt``: the sample's block counters; ``tile_time``: busy time of every tile this
    step. Blocks flagged ``same`` share the previous block's rows and reads (the column
    chunks of one row chunk): the active rows of a read are found once for all of them.
    An ideal block reads the float weights of its whole row chunk as one matrix; a
    programmed block reads its columns once per thermometer level of an integer input,
    or once through the DAC, then decodes its terms."""
    act_i, act_v, lvl_i, lvl_v = work.act_i, work.act_v, work.lvl_i, work.lvl_v
    curr, var, outl = work.curr, work.var, work.outl
    g, sca, b_cols, b_outs, b_tile = syn.g, syn.sca, syn.cols, syn.outs, syn.tile
    t_out, t_pos, t_neg, t_coef, term_ptr = syn.t_out, syn.t_pos, syn.t_neg, syn.t_coef, syn.term_ptr
    s2, s_off, volt, dac_bits = rdo.s2, rdo.s_off, rdo.volt, rdo.dac_bits
    adc_bits, adc_fs, cycles = rdo.adc_bits, rdo.adc_fs, rdo.cycles
    t_read = timing.row_drive + timing.array_read
    n_out = y.shape[0]
    bo = syn.bias_off[k]
    for j in range(n_out):
        y[j] = syn.bias[bo + j]
    end = syn.blk_ptr[k + 1]
    b0 = syn.blk_ptr[k]
    while b0 < end:
        b1 = b0 + 1
        while b1 < end and syn.same[b1]:
            b1 += 1
        for r in range(syn.reads[b0]):
            nact, integer, maxlvl = _active_rows(syn, b0, r, x, work)
            if nact == 0:
                continue  # event driven: no spike on this read's rows, nothing is read
            if syn.ideal[b0]:
                outs = syn.ch_outs[b0]
                so = syn.sca_off[b0] + r * outs
                for j in range(outs):
                    outl[j] = 0.0
                for a in range(nact):
                    xv = act_v[a]
                    base = syn.g_off[b0] + act_i[a] * outs
                    for j in range(outs):
                        outl[j] += xv * g[base + j]
                for j in range(outs):
                    y[sca[so + j]] += outl[j]
                for b in range(b0, b1):
                    cnt[b, C_ROWS] += nact
                    cnt[b, C_INPUTS] += nact
                    cnt[b, C_CELLS] += nact * b_cols[b]
                    cnt[b, C_ACC] += b_outs[b]
                    cnt[b, C_READS] += 1
                    tile_time[b_tile[b]] += t_read
                continue
            if integer:
                n_sub = int(maxlvl)
            else:
                # analog drive through the DAC: values in [0, 1], 2^dac_bits - 1 levels
                if dac_bits < 2:
                    return E_DAC
                lv = (1 << dac_bits) - 1
                for a in range(nact):
                    if act_v[a] < 0.0 or act_v[a] > 1.0:
                        return E_DAC
                    act_v[a] = np.rint(act_v[a] * lv) / lv
                n_sub = 1
            for b in range(b0, b1):
                cols = b_cols[b]
                outs = b_outs[b]
                so = syn.sca_off[b] + r * outs
                for j in range(outs):
                    outl[j] = 0.0
                cnt[b, C_INPUTS] += nact
                for lvl in range(1, n_sub + 1):
                    if integer:
                        m = 0
                        for a in range(nact):
                            if act_v[a] >= lvl:
                                lvl_i[m] = act_i[a]
                                lvl_v[m] = 1.0
                                m += 1
                        _read_columns(g, s2, syn.g_off[b], s_off[b], cols, lvl_i, lvl_v, m, volt,
                                      rstate, curr, var)
                    else:
                        m = nact
                        _read_columns(g, s2, syn.g_off[b], s_off[b], cols, act_i, act_v, nact,
                                      volt, rstate, curr, var)
                    clipped = _convert(curr, cols, adc_bits[b], adc_fs[b]) if adc_bits[b] > 0 else 0
                    for t in range(term_ptr[b], term_ptr[b + 1]):
                        dif = curr[t_pos[t]]
                        if t_neg[t] >= 0:
                            dif -= curr[t_neg[t]]
                        outl[t_out[t]] += t_coef[t] * dif
                    cnt[b, C_ROWS] += m
                    cnt[b, C_CELLS] += m * cols
                    cnt[b, C_READS] += 1
                    tile_time[b_tile[b]] += t_read
                    if adc_bits[b] > 0:
                        cnt[b, C_CONV] += cols
                        cnt[b, C_CYCLES] += cycles[b]
                        cnt[b, C_CLIP] += clipped
                        tile_time[b_tile[b]] += cycles[b] * timing.adc
                for j in range(outs):
                    y[sca[so + j]] += outl[j]
                cnt[b, C_ACC] += outs
        b0 = b1
    return E_OK


@njit
def _record(pr, topo, neu, s, t, val, v, cur, out):
    """The probed values of step ``t`` (node outputs, membranes, synaptic currents)."""
    probes = out.probes
    for p in range(pr.node.shape[0]):
        pn = pr.node[p]
        if pr.mode[p] == 0:
            for j in range(pr.size[p]):
                probes[s, t, pr.off[p] + j] = val[topo.off[pn] + j]
        else:
            buf = v if pr.mode[p] == 1 else cur
            lo = neu.off[topo.ref[pn]]
            for j in range(pr.size[p]):
                probes[s, t, pr.off[p] + j] = buf[lo + j]


@njit
def _stop(pol, evid_mean, cum, t):
    """Whether the early-stop policy ``pol`` ends the sample after step ``t``."""
    if pol.code == 0 or t + 1 < pol.min_steps:
        return False
    n_out = cum.shape[0]
    scale = 1.0 / (t + 1) if evid_mean else 1.0
    top1 = -np.inf
    top2 = -np.inf
    for j in range(n_out):
        e = cum[j] * scale
        if e > top1:
            top2 = top1
            top1 = e
        elif e > top2:
            top2 = e
    if pol.code == 1:
        z = 0.0
        for j in range(n_out):
            z += math.exp((cum[j] * scale - top1) / pol.temp)
        return 1.0 / z > pol.theta
    if pol.code == 2:
        return top1 - top2 >= pol.margin
    return False


@njit
def _input(rt, s, frame, y, out):
    """The input node's value ``y`` of one step (``frame``), its host packets and hops."""
    in_cnt = out.in_cnt
    for j in range(y.shape[0]):
        xv = frame[j]
        y[j] = xv
        if xv != 0.0:
            in_cnt[s, 0] += rt.in_packets[j]
            in_cnt[s, 1] += rt.in_hops[j]


@njit
def run_sample(s, frames, topo, dig, neu, rt, syn, rdo, timing, pol, pr, out):
    """Simulate sample ``s`` (``frames``: its input per step; its own buffers and random
    stream ``out.state[s]``) into the outputs and counters ``out``."""
    n_kind, n_size, n_off, n_ref = topo.kind, topo.size, topo.off, topo.ref
    e_ptr, e_src, e_back = topo.e_ptr, topo.e_src, topo.e_back
    rstate, blk_cnt, lay_cnt = out.state[s], out.blk_cnt[s], out.lay_cnt[s]
    packets, hops, max_hop = rt.packets, rt.hops, rt.max_hop
    val = np.zeros(topo.val_size)
    prev = np.zeros(topo.val_size)
    v = np.zeros(neu.count)
    cur = np.zeros(neu.count)
    synprev = np.zeros(syn.prev_size)
    max_in = 1
    for n in range(n_kind.shape[0]):
        if n_size[n] > max_in:
            max_in = n_size[n]
    x = np.zeros(max_in + 1)
    work = work_for(syn)
    tile_time = np.zeros(max(timing.n_tiles, 1))
    n_out = n_size[topo.out_node]
    cum = np.zeros(n_out)
    for t in range(pol.steps):
        for q in range(tile_time.shape[0]):
            tile_time[q] = 0.0
        maxhop = 0.0
        for n in range(n_kind.shape[0]):
            kind = n_kind[n]
            y = val[n_off[n]:n_off[n] + n_size[n]]
            if kind == K_INPUT:
                _input(rt, s, frames[t], y, out)
                continue
            # input of the node: sum of its sources (previous step along back edges)
            in_size = n_size[e_src[e_ptr[n]]]
            for j in range(in_size):
                x[j] = 0.0
            for e in range(e_ptr[n], e_ptr[n + 1]):
                so = n_off[e_src[e]]
                if e_back[e]:
                    for j in range(in_size):
                        x[j] = x[j] + prev[so + j]
                else:
                    for j in range(in_size):
                        x[j] = x[j] + val[so + j]
            k = n_ref[n]
            if kind == K_SYN:
                xin = x[:in_size]
                if syn.delay:
                    po = syn.prev_off[k]
                    tmp = np.empty(in_size)
                    for j in range(in_size):
                        tmp[j] = synprev[po + j]
                        synprev[po + j] = x[j]
                    xin = tmp
                code = syn_eval(k, xin, y, syn, rdo, timing, rstate, blk_cnt, tile_time, work)
                if code != E_OK:
                    out.err[s, 0] = code
                    out.err[s, 1] = n
                    out.steps_used[s] = t + 1
                    return
            elif kind == K_NEURON:
                spikes = neuron_eval(neu, k, v, cur, x, y)
                lay_cnt[k, L_UPDATES] += n_size[n]
                lay_cnt[k, L_SPIKES] += spikes
                if spikes > 0.0:
                    lo = neu.off[k]
                    for i in range(n_size[n]):  # packets and hops of its spikes
                        if y[i] != 0.0:
                            lay_cnt[k, L_PACKETS] += y[i] * packets[lo + i]
                            lay_cnt[k, L_HOPS] += y[i] * hops[lo + i]
                            if max_hop[lo + i] > maxhop:
                                maxhop = max_hop[lo + i]
            elif kind == K_DIGITAL:
                csr_eval(dig, k, x, y)
            else:  # K_COPY: Output, Flatten
                for j in range(n_size[n]):
                    y[j] = x[j]
        # step latency: slowest tile, then accumulate, neuron update and routing
        slow = 0.0
        for q in range(tile_time.shape[0]):
            if tile_time[q] > slow:
                slow = tile_time[q]
        out.latency[s] += slow + timing.accumulate + timing.neuron + maxhop * timing.hop
        oo = n_off[topo.out_node]
        for j in range(n_out):
            cum[j] += val[oo + j]
            out.out_sum[s, j] = cum[j]
        _record(pr, topo, neu, s, t, val, v, cur, out)
        if topo.has_back:
            for j in range(topo.val_size):
                prev[j] = val[j]
        out.steps_used[s] = t + 1
        if _stop(pol, topo.evid_mean, cum, t):
            return


@pjit
def run_batch(frames, topo, dig, neu, rt, syn, rdo, timing, pol, pr, out):
    """Every sample of the batch, in parallel (each with its own state and stream)."""
    for s in prange(frames.shape[0]):
        run_sample(s, frames[s], topo, dig, neu, rt, syn, rdo, timing, pol, pr, out)
