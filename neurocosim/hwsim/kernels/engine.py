"""The cycle-level engine's kernels over the tables of :mod:`neurocosim.hwsim.tables`.

Layers 2 and 3 of DESIGN §4.4: the driver parallel over samples (:func:`run_batch`,
layer 2) and small serial ``@njit`` kernels (:func:`syn_eval`, :func:`neuron_eval`,
:func:`csr_eval`, :func:`run_sample`, layer 3); layer 1 is
:func:`neurocosim.hwsim.simulate` with :mod:`neurocosim.hwsim.tables`. Every sample has its own buffers and its own random
stream, so results do not depend on the number of threads.

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


@njit
def csr_eval(indptr, indices, data, ip0, nz0, n_out, div, x, y):
    """y = (A @ x) / div for the CSR block at offsets ``ip0`` (indptr) and ``nz0`` (nnz).

    ``div`` is the window size of an average pool (1 otherwise): dividing the sum, as the
    reference does, keeps the two bit-identical."""
    for r in range(n_out):
        acc = 0.0
        for k in range(indptr[ip0 + r], indptr[ip0 + r + 1]):
            acc += data[nz0 + k] * x[indices[nz0 + k]]
        y[r] = acc / div if div != 1.0 else acc


@njit
def neuron_eval(ntype, reset_sub, ge, maxlvl, off, n, alpha, gain, asyn, win, vleak, vth,
                vreset, v, cur, x, y):
    """One step of a neuron layer (state ``v``/``cur`` in place); output into ``y``.

    Returns the number of spikes (sum of integer levels for ILIF)."""
    spikes = 0.0
    for i in range(n):
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
def _read_columns(g, s2, goff, soff, rows, cols, act_i, act_v, nact, volt, noisy, rstate,
                  adc_bits, adc_fs, curr, var):
    """Column currents of one read (with aggregated noise and ADC); returns clipped count.

    Rows outer, columns inner (contiguous in the row-major conductance block); current
    and noise variance accumulate in one pass; normals are drawn in pairs."""
    for c in range(cols):
        curr[c] = 0.0
    if noisy:
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
    clipped = 0
    if adc_bits > 0:
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
def syn_eval(k, x, y, s_bias_off, bias, s_blk_ptr, b_same, b_ch_outs, b_rows, b_cols, b_outs,
             b_reads,
             b_gat_off, b_sca_off, b_g_off, b_s_off, b_term_ptr, b_adc_bits, b_adc_fs,
             b_cycles, b_tile, b_ideal, gat, sca, g, s2, t_out, t_pos, t_neg, t_coef,
             volt, dac_bits, rstate, blk_cnt, tile_time, t_read_fixed, t_adc,
             act_i, act_v, lvl_i, lvl_v, curr, var, outl):
    """Evaluate synaptic op ``k`` on input ``x`` into ``y``; returns an error code.

    Blocks flagged ``b_same`` share the previous block's rows and reads (the column
    chunks of one row chunk): the active rows of a read are found once for all of them."""
    n_out = y.shape[0]
    bo = s_bias_off[k]
    for j in range(n_out):
        y[j] = bias[bo + j]
    end = s_blk_ptr[k + 1]
    b0 = s_blk_ptr[k]
    while b0 < end:
        b1 = b0 + 1
        while b1 < end and b_same[b1]:
            b1 += 1
        rows = b_rows[b0]
        for r in range(b_reads[b0]):
            nact = 0
            integer = True
            maxlvl = 0.0
            gbase = b_gat_off[b0] + r * rows
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
            if nact == 0:
                continue  # event driven: no spike on this read's rows, nothing is read
            if not b_ideal[b0]:
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
            if b_ideal[b0]:
                # ideal macro: the float weights of the whole row chunk in one matrix
                outs = b_ch_outs[b0]
                so = b_sca_off[b0] + r * outs
                for j in range(outs):
                    outl[j] = 0.0
                for a in range(nact):
                    xv = act_v[a]
                    base = b_g_off[b0] + act_i[a] * outs
                    for j in range(outs):
                        outl[j] += xv * g[base + j]
                for j in range(outs):
                    y[sca[so + j]] += outl[j]
                for b in range(b0, b1):
                    blk_cnt[b, C_ROWS] += nact
                    blk_cnt[b, C_INPUTS] += nact
                    blk_cnt[b, C_CELLS] += nact * b_cols[b]
                    blk_cnt[b, C_ACC] += b_outs[b]
                    blk_cnt[b, C_READS] += 1
                    tile_time[b_tile[b]] += t_read_fixed
                continue
            for b in range(b0, b1):
                cols = b_cols[b]
                outs = b_outs[b]
                so = b_sca_off[b] + r * outs
                for j in range(outs):
                    outl[j] = 0.0
                blk_cnt[b, C_INPUTS] += nact
                noisy = b_s_off[b] >= 0
                for lvl in range(1, n_sub + 1):
                    if integer:
                        m = 0
                        for a in range(nact):
                            if act_v[a] >= lvl:
                                lvl_i[m] = act_i[a]
                                lvl_v[m] = 1.0
                                m += 1
                        clipped = _read_columns(g, s2, b_g_off[b], b_s_off[b], rows, cols,
                                                lvl_i, lvl_v, m, volt, noisy, rstate,
                                                b_adc_bits[b], b_adc_fs[b], curr, var)
                    else:
                        m = nact
                        clipped = _read_columns(g, s2, b_g_off[b], b_s_off[b], rows, cols,
                                                act_i, act_v, nact, volt, noisy, rstate,
                                                b_adc_bits[b], b_adc_fs[b], curr, var)
                    for t in range(b_term_ptr[b], b_term_ptr[b + 1]):
                        dif = curr[t_pos[t]]
                        if t_neg[t] >= 0:
                            dif -= curr[t_neg[t]]
                        outl[t_out[t]] += t_coef[t] * dif
                    blk_cnt[b, C_ROWS] += m
                    blk_cnt[b, C_CELLS] += m * cols
                    blk_cnt[b, C_READS] += 1
                    tile_time[b_tile[b]] += t_read_fixed
                    if b_adc_bits[b] > 0:
                        blk_cnt[b, C_CONV] += cols
                        blk_cnt[b, C_CYCLES] += b_cycles[b]
                        blk_cnt[b, C_CLIP] += clipped
                        tile_time[b_tile[b]] += b_cycles[b] * t_adc
                for j in range(outs):
                    y[sca[so + j]] += outl[j]
                blk_cnt[b, C_ACC] += outs
        b0 = b1
    return E_OK


@njit
def run_sample(s, frames, steps, n_kind, n_size, n_off, n_ref, e_ptr, e_src, e_back, has_back,
               val_size,
               in_node, out_node, evid_mean, in_packets, in_hops,
               # digital
               d_iptr_off, d_nnz_off, d_indptr, d_indices, d_data, d_div,
               # neurons
               l_type, l_off, l_reset, l_ge, l_maxlvl, n_neurons, p_alpha, p_gain, p_asyn,
               p_win, p_vleak, p_vth, p_vreset, r_packets, r_hops, r_maxhop,
               # synapses
               s_bias_off, bias, s_blk_ptr, s_prev_off, prev_size, delay, b_same, b_ch_outs, b_rows, b_cols,
               b_outs, b_reads, b_gat_off, b_sca_off, b_g_off, b_s_off, b_term_ptr, b_adc_bits,
               b_adc_fs, b_cycles, b_tile, b_ideal, gat, sca, g, s2, t_out, t_pos, t_neg,
               t_coef, volt, dac_bits, n_tiles, times,
               # early stop
               policy, theta, temp, margin, min_steps,
               # probes
               p_node, p_mode, p_off, p_size,
               # outputs
               rstate, out_sum, steps_used, latency, blk_cnt, lay_cnt, in_cnt, probes, err):
    """Simulate sample ``s`` (its own buffers and random stream)."""
    val = np.zeros(val_size)
    prev = np.zeros(val_size)
    v = np.zeros(n_neurons)
    cur = np.zeros(n_neurons)
    synprev = np.zeros(prev_size)
    max_in = 1
    max_rows = 1
    max_cols = 1
    max_outs = 1
    for n in range(n_kind.shape[0]):
        if n_size[n] > max_in:
            max_in = n_size[n]
    for b in range(b_rows.shape[0]):
        max_rows = max(max_rows, b_rows[b])
        max_cols = max(max_cols, b_cols[b])
        max_outs = max(max_outs, b_outs[b], b_ch_outs[b])
    x = np.zeros(max_in + 1)
    act_i = np.zeros(max_rows, np.int64)
    act_v = np.zeros(max_rows)
    lvl_i = np.zeros(max_rows, np.int64)
    lvl_v = np.zeros(max_rows)
    curr = np.zeros(max_cols)
    var = np.zeros(max_cols)
    outl = np.zeros(max_outs)
    tile_time = np.zeros(max(n_tiles, 1))
    n_out = n_size[out_node]
    cum = np.zeros(n_out)
    t_read_fixed = times[0] + times[1]
    t_adc, t_acc, t_neuron, t_hop = times[2], times[3], times[4], times[5]
    for t in range(steps):
        for q in range(tile_time.shape[0]):
            tile_time[q] = 0.0
        maxhop = 0.0
        for n in range(n_kind.shape[0]):
            kind = n_kind[n]
            size = n_size[n]
            off = n_off[n]
            if kind == K_INPUT:
                for j in range(size):
                    xv = frames[t, j]
                    val[off + j] = xv
                    if xv != 0.0:
                        in_cnt[s, 0] += in_packets[j]
                        in_cnt[s, 1] += in_hops[j]
                continue
            # input of the node: sum of its sources (previous step along back edges)
            src0 = e_src[e_ptr[n]]
            in_size = n_size[src0]
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
            y = val[off:off + size]
            if kind == K_SYN:
                k = n_ref[n]
                xin = x[:in_size]
                if delay:
                    po = s_prev_off[k]
                    tmp = np.empty(in_size)
                    for j in range(in_size):
                        tmp[j] = synprev[po + j]
                        synprev[po + j] = x[j]
                    xin = tmp
                code = syn_eval(k, xin, y, s_bias_off, bias, s_blk_ptr, b_same, b_ch_outs, b_rows, b_cols, b_outs,
                                b_reads, b_gat_off, b_sca_off, b_g_off, b_s_off, b_term_ptr,
                                b_adc_bits, b_adc_fs, b_cycles, b_tile, b_ideal, gat, sca, g, s2,
                                t_out, t_pos, t_neg, t_coef, volt, dac_bits, rstate, blk_cnt[s],
                                tile_time, t_read_fixed, t_adc, act_i, act_v, lvl_i, lvl_v,
                                curr, var, outl)
                if code != E_OK:
                    err[s, 0] = code
                    err[s, 1] = n
                    steps_used[s] = t + 1
                    return
            elif kind == K_NEURON:
                k = n_ref[n]
                lo = l_off[k]
                spikes = neuron_eval(l_type[k], l_reset[k], l_ge[k], l_maxlvl[k], lo, size,
                                     p_alpha, p_gain, p_asyn, p_win, p_vleak, p_vth, p_vreset,
                                     v, cur, x, y)
                lay_cnt[s, k, L_UPDATES] += size
                lay_cnt[s, k, L_SPIKES] += spikes
                if spikes > 0.0:
                    for i in range(size):
                        if y[i] != 0.0:
                            lay_cnt[s, k, L_PACKETS] += y[i] * r_packets[lo + i]
                            lay_cnt[s, k, L_HOPS] += y[i] * r_hops[lo + i]
                            if r_maxhop[lo + i] > maxhop:
                                maxhop = r_maxhop[lo + i]
            elif kind == K_DIGITAL:
                k = n_ref[n]
                csr_eval(d_indptr, d_indices, d_data, d_iptr_off[k], d_nnz_off[k], size, d_div[k],
                         x, y)
            else:  # K_COPY: Output, Flatten
                for j in range(size):
                    y[j] = x[j]
        # step latency: slowest tile, then accumulate, neuron update and routing
        slow = 0.0
        for q in range(tile_time.shape[0]):
            if tile_time[q] > slow:
                slow = tile_time[q]
        latency[s] += slow + t_acc + t_neuron + maxhop * t_hop
        oo = n_off[out_node]
        for j in range(n_out):
            cum[j] += val[oo + j]
            out_sum[s, j] = cum[j]
        for p in range(p_node.shape[0]):
            pn = p_node[p]
            if p_mode[p] == 0:
                for j in range(p_size[p]):
                    probes[s, t, p_off[p] + j] = val[n_off[pn] + j]
            else:
                buf = v if p_mode[p] == 1 else cur
                lo = l_off[n_ref[pn]]
                for j in range(p_size[p]):
                    probes[s, t, p_off[p] + j] = buf[lo + j]
        if has_back:
            for j in range(val_size):
                prev[j] = val[j]
        steps_used[s] = t + 1
        if policy != 0 and t + 1 >= min_steps:
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
            if policy == 1:
                z = 0.0
                for j in range(n_out):
                    z += math.exp((cum[j] * scale - top1) / temp)
                if 1.0 / z > theta:
                    return
            elif policy == 2:
                if top1 - top2 >= margin:
                    return


@pjit
def run_batch(frames, steps, n_kind, n_size, n_off, n_ref, e_ptr, e_src, e_back, has_back,
              val_size,
              in_node, out_node, evid_mean, in_packets, in_hops, d_iptr_off, d_nnz_off, d_indptr,
              d_indices, d_data, d_div, l_type, l_off, l_reset, l_ge, l_maxlvl, n_neurons, p_alpha,
              p_gain, p_asyn, p_win, p_vleak, p_vth, p_vreset, r_packets, r_hops, r_maxhop,
              s_bias_off, bias, s_blk_ptr, s_prev_off, prev_size, delay, b_same, b_ch_outs, b_rows, b_cols, b_outs,
              b_reads, b_gat_off, b_sca_off, b_g_off, b_s_off, b_term_ptr, b_adc_bits, b_adc_fs,
              b_cycles, b_tile, b_ideal, gat, sca, g, s2, t_out, t_pos, t_neg, t_coef, volt,
              dac_bits, n_tiles, times, policy, theta, temp, margin, min_steps, p_node, p_mode,
              p_off, p_size, rstates, out_sum, steps_used, latency, blk_cnt, lay_cnt, in_cnt,
              probes, err):
    """Every sample of the batch, in parallel (each with its own state and stream)."""
    for s in prange(frames.shape[0]):
        run_sample(s, frames[s], steps, n_kind, n_size, n_off, n_ref, e_ptr, e_src, e_back,
                   has_back, val_size, in_node, out_node, evid_mean, in_packets, in_hops, d_iptr_off,
                   d_nnz_off, d_indptr, d_indices, d_data, d_div, l_type, l_off, l_reset, l_ge, l_maxlvl,
                   n_neurons, p_alpha, p_gain, p_asyn, p_win, p_vleak, p_vth, p_vreset,
                   r_packets, r_hops, r_maxhop, s_bias_off, bias, s_blk_ptr, s_prev_off,
                   prev_size, delay, b_same, b_ch_outs, b_rows, b_cols, b_outs, b_reads, b_gat_off, b_sca_off,
                   b_g_off, b_s_off, b_term_ptr, b_adc_bits, b_adc_fs, b_cycles, b_tile, b_ideal,
                   gat, sca, g, s2, t_out, t_pos, t_neg, t_coef, volt, dac_bits, n_tiles, times,
                   policy, theta, temp, margin, min_steps, p_node, p_mode, p_off, p_size,
                   rstates[s], out_sum, steps_used, latency, blk_cnt, lay_cnt, in_cnt, probes,
                   err)
