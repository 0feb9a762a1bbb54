"""The engine's driver: samples in lockstep groups, groups over threads (DESIGN §4.4,
layer 2).

:func:`run_batch` splits a batch into groups of :data:`GROUP` samples and runs the groups
on Numba's thread count (each group on one thread, the kernels release the GIL). Within a
group, :func:`run_group` walks the steps and the network's nodes, and for each node every
sample of the group in turn (sample-inner loop order): the samples at the same layer and
step read the same weight rows while they are in cache (batch weight reuse). Every sample
keeps its own state, counters and random stream (``out.state[s]``), so a sample's result
does not depend on the batch size, the group it falls in or the thread count.

Per step, for each node in network order: its input is the sum of its sources (the
previous step's values along back edges); a synaptic op turns it into an index list of
active inputs (the previous step's list when synapses delay by one step) for
:func:`~.crossbar.syn_events`; a neuron layer runs :func:`~.neuron.neuron_eval` and
counts packets and hops of its spikes; a digital node runs :func:`~.digital.csr_eval`
on the sum of its sources, or, for a node with ordered inputs (IAnd, Concat, Mul,
MatMul: ``Digital.stack``), on its sources stacked one after another in operand order
(:func:`~.digital.stack_inputs`); a MatMul runs :func:`~.spikeops.matmul_eval` instead.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ..jit import get_threads, njit, njit_inner
from .codes import (
    DG_MATMUL,
    E_OK,
    K_DIGITAL,
    K_INPUT,
    K_NEURON,
    K_SYN,
    L_HOPS,
    L_PACKETS,
    L_SPIKES,
    L_UPDATES,
    O_PREV,
    T_CUBALI,
    T_LI,
)
from .crossbar import Tally, active_inputs, syn_events, work_for
from .digital import csr_eval, stack_inputs
from .neuron import neuron_eval
from .spikeops import matmul_eval

__all__ = ["GROUP", "run_batch", "run_group", "Sample", "Spikes", "Delayed"]

#: samples run in lockstep by one thread
GROUP = 16


def run_batch(frames, topo, dig, neu, rt, syn, rdo, timing, pol, pr, out):
    """Every sample of the batch (``frames``: ``(n, steps, inputs)``), in groups of up to
    :data:`GROUP` (fewer when that leaves a thread idle) over Numba's thread count."""
    n = frames.shape[0]
    size = max(1, min(GROUP, -(-n // max(1, get_threads()))))  # every thread gets a group
    groups = [(lo, min(n, lo + size)) for lo in range(0, n, size)]
    threads = min(get_threads(), len(groups))

    chip, run = (topo, dig, neu, rt, syn, rdo, timing), (pol, pr, out)

    def one(g):
        run_group(g[0], g[1], frames, chip, run)

    if threads <= 1:
        for g in groups:
            one(g)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(one, groups):
            pass


class Delayed(NamedTuple):
    """One sample's active inputs of every op on the previous step (synaptic delay)."""

    index: np.ndarray  # op k's list at op[k, O_PREV]
    value: np.ndarray
    count: np.ndarray  # (ops,)


class Spikes(NamedTuple):
    """A node's non-zero outputs of this step as an index list (ascending)."""

    index: np.ndarray
    value: np.ndarray
    count: np.ndarray  # (nodes,) list length of every node of the sample; -1: no list


class Sample(NamedTuple):
    """One sample's state at the end of a step (rows of :func:`run_group`'s arrays)."""

    val: np.ndarray  # node outputs this step
    prev: np.ndarray  # and last step (back edges)
    v: np.ndarray  # membranes
    cur: np.ndarray  # synaptic currents
    tile_time: np.ndarray  # busy time of every tile this step


@njit
def run_group(lo, hi, frames, chip, run):
    """Simulate samples ``lo`` .. ``hi`` of the batch in lockstep (``chip``: the tables'
    records; ``run``: policy, probes and outputs).

    Per-sample arrays (first axis: the sample in the group): ``val``/``prev`` node outputs
    this and last step, ``v``/``cur`` membranes and synaptic currents, ``dl_i``/``dl_v``/
    ``dl_n`` each op's active inputs of the previous step (synaptic delay), ``nl_i``/
    ``nl_v``/``nl_n`` each node's non-zero outputs this step as an index list (made by the
    input node and the spiking layers as they write them; −1: none made)."""
    topo, dig, neu, rt, syn, rdo, timing = chip
    pol, pr, out = run
    dt = syn.g.dtype
    gn = hi - lo
    # every node writes all of its outputs each step before any reader (a synaptic op
    # starts from its bias): left uninitialised, as the index lists below
    val = np.empty((gn, topo.val_size), dt)
    prev = np.zeros((gn, topo.val_size if topo.has_back else 1), dt)
    v = np.zeros((gn, neu.count), dt)
    cur = np.zeros((gn, neu.count), dt)
    # index lists are read only up to their lengths (dl_n, nl_n), written before: left
    # uninitialised, their pages are touched only as far as the lists reach (a large
    # network's lists span most of the per-sample memory and are mostly short)
    dl_i = np.empty((gn, syn.prev_size), np.int64)
    dl_v = np.empty((gn, syn.prev_size), dt)
    dl_n = np.zeros((gn, syn.op.shape[0] - 1), np.int64)
    nl_i = np.empty((gn, topo.val_size), np.int64)
    nl_v = np.empty((gn, topo.val_size), dt)
    nl_n = np.full((gn, topo.kind.shape[0]), -1, np.int64)
    x = np.zeros(topo.val_size + 1, dt)
    work = work_for(syn)
    tile_time = np.zeros((gn, max(timing.n_tiles, 1)))
    maxhop = np.zeros(gn)
    cum = np.zeros((gn, topo.size[topo.out_node]))
    alive = np.ones(gn, np.bool_)
    n_alive = gn
    for t in range(pol.steps):
        if n_alive == 0:
            return
        for g in range(gn):
            maxhop[g] = 0.0
            for q in range(tile_time.shape[1]):
                tile_time[g, q] = 0.0
        for n in range(topo.kind.shape[0]):
            kind, k = topo.kind[n], topo.ref[n]
            y0, y1 = topo.off[n], topo.off[n] + topo.size[n]
            for g in range(gn):
                if not alive[g]:
                    continue
                s = lo + g
                y = val[g, y0:y1]
                if kind == K_INPUT:
                    nl_n[g, n] = _input(rt, s, frames[s, t], y, out, nl_i[g, y0:y1],
                                        nl_v[g, y0:y1])
                    continue
                e0 = topo.e_ptr[n]
                src = topo.e_src[e0]
                if kind == K_SYN and topo.e_ptr[n + 1] == e0 + 1 and not topo.e_back[e0] \
                        and nl_n[g, src] >= 0:  # its one source's index list
                    so = topo.off[src]
                    ev_i, ev_v, nev = nl_i[g, so:], nl_v[g, so:], nl_n[g, src]
                elif kind == K_DIGITAL and dig.stack[k]:  # ordered inputs, one by one
                    xin = stack_inputs(topo, n, val[g], prev[g], x)
                    ev_i, ev_v, nev = work.ev_i, work.ev_v, 0
                else:
                    xin = _gather(topo, n, val[g], prev[g], x)
                    ev_i, ev_v = work.ev_i, work.ev_v
                    nev = active_inputs(xin, ev_i, ev_v) if kind == K_SYN else 0
                if kind == K_SYN:
                    code = _syn_node(k, ev_i, ev_v, nev, y, Delayed(dl_i[g], dl_v[g], dl_n[g]),
                                     work, syn, rdo, timing,
                                     Tally(out.state[s], out.blk_cnt[s], tile_time[g]))
                    if code != E_OK:
                        out.err[s, 0] = code
                        out.err[s, 1] = n
                        out.steps_used[s] = t + 1
                        alive[g] = False
                        n_alive -= 1
                elif kind == K_NEURON:
                    spk = Spikes(nl_i[g, y0:y1], nl_v[g, y0:y1], nl_n[g])
                    maxhop[g] = _neuron_node(k, n, xin, y, v[g], cur[g], spk, neu, rt,
                                             out.lay_cnt[s], maxhop[g])
                elif kind == K_DIGITAL and dig.mode[k] == DG_MATMUL:
                    matmul_eval(dig, k, xin, y)
                elif kind == K_DIGITAL:
                    csr_eval(dig, k, xin, y)
                else:  # K_COPY: Output, Flatten
                    for j in range(y.shape[0]):
                        y[j] = xin[j]
        for g in range(gn):
            st = Sample(val[g], prev[g], v[g], cur[g], tile_time[g])
            if alive[g] and _end_step(lo + g, t, st, maxhop[g], cum[g], topo, neu, timing, run):
                alive[g] = False
                n_alive -= 1


@njit_inner
def _gather(topo, n, val, prev, x):
    """The input of node ``n``: the sum of its sources (the previous step's value along a
    back edge); a single source of this step is read in place."""
    e0, e1 = topo.e_ptr[n], topo.e_ptr[n + 1]
    in_size = topo.size[topo.e_src[e0]]
    if e1 == e0 + 1 and not topo.e_back[e0]:
        so = topo.off[topo.e_src[e0]]
        return val[so:so + in_size]
    xin = x[:in_size]
    for j in range(in_size):
        xin[j] = 0.0
    for e in range(e0, e1):
        so = topo.off[topo.e_src[e]]
        src = (prev if topo.e_back[e] else val)[so:so + in_size]
        for j in range(in_size):
            xin[j] = xin[j] + src[j]
    return xin


@njit_inner
def _syn_node(k, ev_i, ev_v, nev, y, dl, work, syn, rdo, timing, tally):
    """Synaptic op ``k`` on its active inputs ``ev_i[:nev]`` / ``ev_v`` (the previous
    step's, kept in ``dl``, when synapses delay by one step); returns an error code."""
    dl_i, dl_v, dl_n = dl
    if not syn.delay:
        return syn_events(k, ev_i, ev_v, nev, y, syn, rdo, timing, tally, work)
    po = syn.op[k, O_PREV]
    code = syn_events(k, dl_i[po:], dl_v[po:], dl_n[k], y, syn, rdo, timing, tally, work)
    for a in range(nev):  # this step's inputs arrive next step
        dl_i[po + a] = ev_i[a]
        dl_v[po + a] = ev_v[a]
    dl_n[k] = nev
    return code


@njit_inner
def _neuron_node(k, n, xin, y, v, cur, spk, neu, rt, lay, maxhop):
    """Neuron layer ``k`` (node ``n``): its step, its counters, packets and hops of its
    spikes, and their index list into ``spk`` (an analog LI layer leaves none). Returns the
    longest route of a spike this step (at least ``maxhop``)."""
    spikes = neuron_eval(neu, k, v, cur, xin, y)
    size = y.shape[0]
    lay[k, L_UPDATES] += size
    lay[k, L_SPIKES] += spikes
    ntype = neu.type[k]
    spk.count[n] = -1 if ntype == T_LI or ntype == T_CUBALI else 0
    if spikes > 0.0:
        li, lv = spk.index, spk.value
        lo = neu.off[k]
        m = 0
        for i in range(size):
            if y[i] != 0.0:
                li[m] = i
                lv[m] = y[i]
                m += 1
                mag = abs(y[i])  # a signed (ternary) spike is one packet either way
                lay[k, L_PACKETS] += mag * rt.packets[lo + i]
                lay[k, L_HOPS] += mag * rt.hops[lo + i]
                if rt.max_hop[lo + i] > maxhop:
                    maxhop = rt.max_hop[lo + i]
        if spk.count[n] == 0:
            spk.count[n] = m
    return maxhop


@njit_inner
def _end_step(s, t, st, maxhop, cum, topo, neu, timing, run):
    """Latency, output sums, probes and the early-stop test of sample ``s`` after step
    ``t``; returns whether the sample stops."""
    pol, pr, out = run
    val, tile_time = st.val, st.tile_time
    slow = 0.0
    for q in range(tile_time.shape[0]):  # the step: slowest tile, then accumulate,
        if tile_time[q] > slow:  # neuron update and routing
            slow = tile_time[q]
    out.latency[s] += slow + timing.accumulate + timing.neuron + maxhop * timing.hop
    oo = topo.off[topo.out_node]
    yo, osum = val[oo:oo + cum.shape[0]], out.out_sum[s]
    for j in range(cum.shape[0]):
        cum[j] += yo[j]
        osum[j] = cum[j]
    _record(pr, topo, neu, s, t, val, st.v, st.cur, out)
    if topo.has_back:
        for j in range(val.shape[0]):
            st.prev[j] = val[j]
    out.steps_used[s] = t + 1
    return _stop(pol, topo.evid_mean, cum, t)


@njit_inner
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


@njit_inner
def _input(rt, s, frame, y, out, li, lv):
    """The input node's value ``y`` of one step (``frame``) and its index list (``li`` /
    ``lv``), its host packets and hops; returns the list's length."""
    in_cnt = out.in_cnt
    m = 0
    for j in range(y.shape[0]):
        xv = frame[j]
        y[j] = xv
        if xv != 0.0:
            li[m] = j
            lv[m] = xv
            m += 1
            in_cnt[s, 0] += rt.in_packets[j]
            in_cnt[s, 1] += rt.in_hops[j]
    return m
