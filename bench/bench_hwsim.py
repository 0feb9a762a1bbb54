"""Benchmark: synaptic events per second of hwsim against other simulators (run by hand).

    .venv/bin/python bench/bench_hwsim.py [--quick]     # writes bench/results/hwsim.md

Networks (the same equations in every engine, 1000 steps):

(a) feed-forward 784-1024-1024-10, input Bernoulli spikes at 8 %, batch 1 and batch 64;
(b) recurrent: 400 inputs (8 %) → 4000 neurons, 10 % input and 2 % recurrent connectivity.

Neurons are integrate-and-fire, ``v ← v + W·s(t−1)``, spike if ``v > 1``, reset to 0, and
every synapse delays by one step (Lava's convention). Weights are multiples of 2^-8, so
every engine's float arithmetic is exact whatever its summation order, and spike counts
must agree exactly. Engines:

* hwsim, ``ideal`` card (exact weights) and ``pcm-aihwkit`` (programming noise, read noise,
  drift model off, 8-bit ADCs, differential pairs);
* the NumPy reference (``neurocosim.hwsim.reference``);
* a plain Numba dense event-driven kernel with no device model (the machine-limit proxy);
* Brian2 2.x in C++ standalone mode (compile time excluded);
* Lava 0.10's CPU simulator, ``floating_pt``.

Synaptic events: input spikes × fan-out (non-zero synapses), the same count for all.
Fast engines (hwsim, plain Numba, NumPy) are timed best of three; Brian2 and Lava once.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import neurocosim as nc  # noqa: E402
from neurocosim import ir  # noqa: E402
from neurocosim.hwsim.jit import (  # noqa: E402
    get_threads,
    njit,
    pjit,  # noqa: E402
    prange,
)

DT = 1e-3


# -- networks ---------------------------------------------------------------------------
def dyadic(rng, shape, lo, hi, density=1.0):
    w = rng.integers(lo, hi + 1, shape).astype(float) / 256.0
    if density < 1.0:
        w[rng.random(shape) >= density] = 0.0
    return w


def feedforward(rng):
    sizes = [784, 1024, 1024, 10]
    ws = [dyadic(rng, (b, a), -10, 14) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return ws


def recurrent(rng):
    w_in = dyadic(rng, (4000, 400), -12, 24, density=0.10)
    w_rec = dyadic(rng, (4000, 4000), -40, 30, density=0.02)
    return w_in, w_rec


def ff_network(ws):
    nodes = {"in": ir.Input(shape=(ws[0].shape[1],))}
    for k, w in enumerate(ws):
        nodes[f"fc{k}"] = ir.Linear(weight=w)
        nodes[f"n{k}"] = ir.IF(r=1.0, v_threshold=1.0)
    nodes["out"] = ir.Output()
    names = list(nodes)
    return ir.Network(nodes=nodes, edges=tuple(zip(names[:-1], names[1:], strict=True)),
                      dt=DT, synaptic_delay=1)


def rec_network(w_in, w_rec):
    # synaptic_delay = 0: the recurrent (back) edge already carries s(t-1); the input
    # projection then has no delay, so the other engines get the input one step earlier.
    return ir.Network(
        nodes={"in": ir.Input(shape=(w_in.shape[1],)), "fc": ir.Linear(weight=w_in),
               "n": ir.IF(r=1.0, v_threshold=1.0), "rec": ir.Linear(weight=w_rec),
               "out": ir.Output()},
        edges=(("in", "fc"), ("fc", "n"), ("n", "rec"), ("rec", "n"), ("n", "out")), dt=DT)


# -- plain Numba kernel (machine-limit proxy) ---------------------------------------------
@njit
def _plain_sample(x, wts, offs, n_in, n_out, rec_off, n_rec, delay, layer_spikes):
    """Dense event-driven IF chain (transposed weights, rows of active inputs added);
    with ``n_rec`` the last layer also gets its own spikes of the previous step."""
    steps = x.shape[0]
    L = n_in.shape[0]
    tot = 0
    wmax = 1
    for k in range(L):
        tot += n_out[k]
        wmax = max(wmax, n_out[k], n_in[k])
    v = np.zeros(tot)
    buf = np.zeros(tot)
    new = np.zeros(wmax)
    rbuf = np.zeros(max(n_rec, 1))
    act = np.zeros(wmax, np.int64)
    for t in range(steps):
        na = 0
        for i in range(n_in[0]):
            if x[t, i] != 0:
                act[na] = i
                na += 1
        base = 0
        for k in range(L):
            no = n_out[k]
            for j in range(no):
                new[j] = 0.0
            for q in range(na):
                row = offs[k] + act[q] * no
                for j in range(no):
                    new[j] += wts[row + j]
            for j in range(no):
                if delay:
                    v[base + j] += buf[base + j]
                    buf[base + j] = new[j]
                else:
                    v[base + j] += new[j]
                if n_rec > 0 and k == L - 1:
                    v[base + j] += rbuf[j]
            na = 0
            for j in range(no):
                if v[base + j] > 1.0:
                    v[base + j] = 0.0
                    act[na] = j
                    na += 1
            layer_spikes[k] += na
            if n_rec > 0 and k == L - 1:
                for j in range(no):
                    rbuf[j] = 0.0
                for q in range(na):
                    row = rec_off + act[q] * no
                    for j in range(no):
                        rbuf[j] += wts[row + j]
            base += no


@pjit
def _plain_batch(x, wts, offs, n_in, n_out, rec_off, n_rec, delay, layer_spikes):
    for s in prange(x.shape[0]):
        _plain_sample(x[s], wts, offs, n_in, n_out, rec_off, n_rec, delay, layer_spikes[s])


def plain_numba(ws, x, w_rec=None):
    wts = [w.T.ravel() for w in ws]
    offs = np.concatenate([[0], np.cumsum([w.size for w in ws])[:-1]]).astype(np.int64)
    rec_off, n_rec = 0, 0
    if w_rec is not None:
        rec_off = int(sum(w.size for w in ws))
        wts.append(w_rec.T.ravel())
        n_rec = w_rec.shape[0]
    wts = np.concatenate(wts)
    n_in = np.array([w.shape[1] for w in ws], np.int64)
    n_out = np.array([w.shape[0] for w in ws], np.int64)
    ls = np.zeros((x.shape[0], len(ws)), np.int64)
    args = (np.ascontiguousarray(x, np.int8), wts, offs, n_in, n_out, rec_off, n_rec,
            w_rec is None)
    _plain_batch(args[0][:1], *args[1:], ls[:1].copy())  # warm-up (compilation)
    t0 = time.perf_counter()
    _plain_batch(*args, ls)
    return time.perf_counter() - t0, ls.sum(axis=0)


# -- engines ------------------------------------------------------------------------------
def hwsim(net, x, chip_name):
    d = nc.load_chip(chip_name).to_dict()
    d.update(name=f"{chip_name}-bench", cores=4096, tiles_per_core=4096, neurons_per_core=1 << 20,
             max_fan_in=1 << 20, max_fan_out=4096)
    if chip_name != "ideal":
        d["macro"]["drift"] = {"model": "none"}
    chip = nc.devices.chip_from_dict(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapped = nc.map_network(net, chip, placement="sequential")
    prog = nc.program_chip(mapped, np.random.default_rng(0))
    from neurocosim.hwsim.encoders import SpikeEncoder
    from neurocosim.hwsim.tables import build_tables

    program = build_tables(prog)
    enc = SpikeEncoder(x.astype(float))
    layers = [n for n in net.layers()]
    nc.simulate(prog, enc.head(1), 5, rng=np.random.default_rng(1), tables=program)  # warm-up
    t0 = time.perf_counter()
    res = nc.simulate(prog, enc, x.shape[1], rng=np.random.default_rng(1), tables=program,
                      batch_size=max(1, x.shape[0]))
    wall = time.perf_counter() - t0
    by = res.counts.by_layer()
    return wall, np.array([by[n]["spikes"] for n in layers])


def numpy_reference(net, x):
    from neurocosim.hwsim.encoders import SpikeEncoder

    layers = list(net.layers())
    t0 = time.perf_counter()
    res = nc.simulate_reference(net, SpikeEncoder(x.astype(float)), x.shape[1], probes=layers,
                                batch_size=max(1, x.shape[0]))
    wall = time.perf_counter() - t0
    return wall, np.array([res.probes[n].sum() for n in layers])


def brian2_standalone(ws, x, w_rec=None, shift_input=False):
    import brian2 as b2

    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0  # single-threaded, like batch 1
    steps = x.shape[1]
    b2.defaultclock.dt = DT * b2.second
    idx, tt = np.nonzero(x[0].T)  # (input, step)
    times = (tt - (1 if shift_input else 0))
    keep = times >= 0
    gen = b2.SpikeGeneratorGroup(x.shape[2], idx[keep], times[keep] * DT * b2.second)
    objs = [gen]
    prev = gen
    monitors = []
    groups = []
    for k, w in enumerate(ws):
        g = b2.NeuronGroup(w.shape[0], "v : 1", threshold="v > 1", reset="v = 0",
                           method="exact", name=f"g{k}")
        post, pre = np.nonzero(w)
        s = b2.Synapses(prev, g, "w : 1", on_pre="v_post += w", name=f"s{k}")
        s.connect(i=pre, j=post)
        s.w = w[post, pre]
        m = b2.SpikeMonitor(g, record=False)
        objs += [g, s, m]
        monitors.append(m)
        groups.append(g)
        prev = g
    if w_rec is not None:
        post, pre = np.nonzero(w_rec)
        r = b2.Synapses(groups[-1], groups[-1], "w : 1", on_pre="v_post += w", name="rec")
        r.connect(i=pre, j=post)
        r.w = w_rec[post, pre]
        objs.append(r)
    net = b2.Network(*objs)
    # synapses run before the threshold test and read the spikes of the previous step:
    # v <- v + W s(t-1); spike if v > 1; reset — the one-step delay of the other engines
    net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
    net.run(steps * DT * b2.second, namespace={})
    with tempfile.TemporaryDirectory() as tmp:
        b2.device.build(directory=tmp, compile=True, run=False)
        t0 = time.perf_counter()
        b2.device.run(directory=tmp)
        wall = time.perf_counter() - t0
        counts = np.array([int(m.num_spikes) for m in monitors])
    b2.device.reinit()
    b2.device.activate("runtime")
    b2.set_device("runtime")
    return wall, counts


def lava_float(ws, x, w_rec=None, shift_input=False):
    from neurocosim.targets.loihi2 import require_lava

    require_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    steps = x.shape[1]
    data = x[0].T.astype(float)
    if shift_input:
        data = np.concatenate([data[:, 1:], np.zeros((data.shape[0], 1))], axis=1)
    src = Source(data=data)
    prev = src.s_out
    sinks, lifs = [], []
    for w in ws:
        d = Dense(weights=w)
        lif = LIF(shape=(w.shape[0],), du=1.0, dv=0.0, vth=1.0, bias_mant=0.0)
        sink = Sink(shape=(w.shape[0],), buffer=steps)
        prev.connect(d.s_in)
        d.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        prev = lif.s_out
        sinks.append(sink)
        lifs.append(lif)
    if w_rec is not None:
        r = Dense(weights=w_rec)
        lifs[-1].s_out.connect(r.s_in)
        r.a_out.connect(lifs[-1].a_in)
    t0 = time.perf_counter()
    try:
        src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        counts = np.array([int(s.data.get().sum()) for s in sinks])
    finally:
        src.stop()
    return time.perf_counter() - t0, counts


# -- driver --------------------------------------------------------------------------------
def events(ws, counts_in, layer_counts, w_rec=None):
    """Σ spikes × fan-out (non-zero synapses) over the layers."""
    total = 0.0
    fan = [np.count_nonzero(w, axis=0) for w in ws]
    total += counts_in @ fan[0]
    for k in range(1, len(ws)):
        total += layer_counts[k - 1] * fan[k].mean()
    if w_rec is not None:
        total += layer_counts[-1] * np.count_nonzero(w_rec, axis=0).mean()
    return float(total)


def main(quick: bool = False) -> None:
    rng = np.random.default_rng(0)
    steps = 200 if quick else 1000
    rows = []
    ws = feedforward(rng)
    x1 = (rng.random((1, steps, 784)) < 0.08).astype(np.int8)
    x64 = (rng.random((64, steps, 784)) < 0.08).astype(np.int8)
    w_in, w_rec = recurrent(rng)
    xr = (rng.random((1, steps, 400)) < 0.08).astype(np.int8)
    xr[:, 0] = 0  # the other engines see the input one step early (see rec_network)
    ffn, recn = ff_network(ws), rec_network(w_in, w_rec)

    def record(case, engine, wall, counts, ev):
        rows.append((case, engine, wall, int(np.sum(counts)), ev / wall if wall > 0 else 0.0))
        print(f"{case:<22} {engine:<34} {wall:9.3f} s  spikes {int(np.sum(counts)):>9}  "
              f"{ev / wall:.3g} events/s", flush=True)

    cases = [("(a) FF batch 1", ffn, ws, None, x1, False),
             ("(a) FF batch 64", ffn, ws, None, x64, False),
             ("(b) recurrent 4000", recn, [w_in], w_rec, xr, True)]
    for case, net, wlist, wr, x, shift in cases:
        ref_counts = None
        ev = None
        engines = [("hwsim ideal", partial(hwsim, net, x, "ideal")),
                   ("hwsim pcm noise + 8-bit ADC", partial(hwsim, net, x, "pcm-aihwkit")),
                   ("plain Numba dense kernel", partial(plain_numba, wlist, x, wr))]
        if x.shape[0] == 1:
            engines += [("NumPy reference", partial(numpy_reference, net, x)),
                        ("Brian2 C++ standalone", partial(brian2_standalone, wlist, x, wr, shift)),
                        ("Lava 0.10 CPU floating_pt", partial(lava_float, wlist, x, wr, shift))]
        for name, fn in engines:
            try:
                # best of three for the fast engines: this VM's timings vary by up to 2x
                reps = 3 if any(k in name for k in ("hwsim", "plain", "NumPy")) else 1
                wall, counts = min((fn() for _ in range(reps)), key=lambda r: r[0])
            except Exception as exc:  # a missing optional simulator is reported, not fatal
                print(f"{case:<22} {name:<34} failed: {type(exc).__name__}: {exc}", flush=True)
                rows.append((case, name, float("nan"), -1, float("nan")))
                continue
            counts = np.asarray(counts)
            if ref_counts is None:
                ref_counts = counts
                per_sample_in = x.sum(axis=(1,)).sum(axis=0)
                ev = events(wlist, per_sample_in, counts, wr)
            elif "noise" not in name and not np.array_equal(counts, ref_counts):
                print(f"    WARNING: spike counts differ from hwsim ideal: {counts} vs {ref_counts}")
            record(case, name, wall, counts, ev)
    out = Path(__file__).parent / "results" / "hwsim.md"
    lines = ["# hwsim throughput (bench/bench_hwsim.py)", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {get_threads()} Numba "
             f"threads, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; "
             f"{steps} steps.", "",
             "| case | engine | wall (s) | spikes | synaptic events/s |",
             "|---|---|---:|---:|---:|"]
    lines += [f"| {c} | {e} | {w:.3f} | {s} | {r:.3g} |" for c, e, w, s, r in rows]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 steps instead of 1000")
    main(ap.parse_args().quick)
