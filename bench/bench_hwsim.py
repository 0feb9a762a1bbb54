"""Benchmark: synaptic events per second of hwsim against other simulators (run by hand).

    .venv/bin/python bench/bench_hwsim.py [--quick] [--out FILE]   # bench/results/hwsim.md

Networks (the same equations in every engine, 1000 steps):

(a) feed-forward 784-1024-1024-10, input Bernoulli spikes at 8 %, batch 1 and batch 64;
(b) recurrent: 400 inputs (8 %) → 4000 neurons, 10 % input and 2 % recurrent connectivity.

Neurons are integrate-and-fire, ``v ← v + W·s(t−1)``, spike if ``v > 1``, reset to 0, and
every synapse delays by one step (Lava's convention). Weights are multiples of 2^-8, so
every engine's float arithmetic is exact whatever its summation order, and spike counts
must agree exactly. The networks, the plain kernel and the Brian2 side are shared with
bench_engine.py (``bench/nets.py``, ``bench/bare.py``, ``bench/brian2_worker.py``). Engines:

* hwsim, ``ideal`` card (exact weights) and ``pcm-aihwkit`` (programming noise, read noise,
  drift model off, 8-bit ADCs, differential pairs);
* the NumPy reference (``neurocosim.hwsim.reference``);
* a plain Numba dense event-driven kernel with no device model (the machine-limit proxy);
* Brian2 2.x in C++ standalone mode, in its own environment (``bash bench/brian2_env.sh``;
  compile time excluded, best of three runs of the binary);
* Lava 0.10's CPU simulator, ``floating_pt``.

Synaptic events: input spikes × fan-out (non-zero synapses), the same count for all.
Fast engines (hwsim, plain Numba, NumPy) are timed best of three; Lava once.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import nets  # noqa: E402  (the networks, shared with bench_engine.py and brian2_worker.py)
from bare import Bare  # noqa: E402  (the plain Numba kernel)

import neurocosim as nc  # noqa: E402
from neurocosim.hwsim.jit import get_threads  # noqa: E402


# -- networks -------------------------------------------------------------------------------
def cases(steps: int) -> list[tuple[str, nets.Net]]:
    """(a) bench_engine.py's W3 weights with the inputs drawn here (batch 1 and 64); (b) W2's
    weights and input with integrate-and-fire neurons (``v > 1``). The recurrent (back) edge
    already carries s(t−1); the input projection has no delay (``delay=False``), so the other
    engines get the input one step earlier."""
    d = nets.old_draws()

    def ff(x):
        return nets.Net("(a)", "FF 784-1024-1024-10, IF", d["ws"], None, x[:, :steps].copy(),
                        1.0, False, True)

    xr = d["rec1"][:, :steps].copy()
    xr[:, 0] = 0
    rec = nets.Net("(b)", "recurrent 4000 IF", [d["w_in"]], d["w_rec"], xr, 1.0, False, False)
    return [("(a) FF batch 1", ff(d["ff1"])), ("(a) FF batch 64", ff(d["ff64"])),
            ("(b) recurrent 4000", rec)]


# -- engines ------------------------------------------------------------------------------
def hwsim(net: nets.Net, chip_name: str):
    d = nc.load_chip(chip_name).to_dict()
    d.update(name=f"{chip_name}-bench", cores=4096, tiles_per_core=4096, neurons_per_core=1 << 20,
             max_fan_in=1 << 20, max_fan_out=4096)
    if chip_name != "ideal":
        d["macro"]["drift"] = {"model": "none"}
    chip = nc.devices.chip_from_dict(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapped = nc.map_network(nets.to_ir(net), chip, placement="sequential")
    prog = nc.program_chip(mapped, np.random.default_rng(0))
    from neurocosim.hwsim.encoders import SpikeEncoder
    from neurocosim.hwsim.tables import build_tables

    program = build_tables(prog)
    x = net.x
    enc = SpikeEncoder(x.astype(float))
    nc.simulate(prog, enc.head(1), 5, rng=np.random.default_rng(1), tables=program)  # warm-up
    t0 = time.perf_counter()
    res = nc.simulate(prog, enc, x.shape[1], rng=np.random.default_rng(1), tables=program,
                      batch_size=max(1, x.shape[0]))
    wall = time.perf_counter() - t0
    by = res.counts.by_layer()
    return wall, np.array([by[n]["spikes"] for n in net.layers])


def numpy_reference(net: nets.Net):
    from neurocosim.hwsim.encoders import SpikeEncoder

    g, x = nets.to_ir(net), net.x
    t0 = time.perf_counter()
    res = nc.simulate_reference(g, SpikeEncoder(x.astype(float)), x.shape[1], probes=net.layers,
                                batch_size=max(1, x.shape[0]))
    wall = time.perf_counter() - t0
    return wall, np.array([res.probes[n].sum() for n in net.layers])


def plain_numba(net: nets.Net):
    kernel = Bare(net, np.float64)
    x = np.ascontiguousarray(net.x)
    kernel(x[:1, :5])  # warm-up (compilation)
    wall, counts, *_ = kernel(x)
    return wall, counts


def brian2_standalone(net: nets.Net):
    r = nets.run_brian2(net)
    if "error" in r:
        raise RuntimeError(r["error"])
    return r["wall"], np.array(r["counts"])


def lava_float(net: nets.Net):
    from neurocosim.targets.loihi2 import require_lava

    require_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    ws, w_rec, x = net.ws, net.w_rec, net.x
    steps = x.shape[1]
    data = x[0].T.astype(float)
    if not net.delay:  # the input arrives in its own step
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
def main(quick: bool = False, out: Path | None = None) -> None:
    steps = 200 if quick else 1000
    rows = []

    def record(case, engine, wall, counts, ev):
        rows.append((case, engine, wall, int(np.sum(counts)), ev / wall if wall > 0 else 0.0))
        print(f"{case:<22} {engine:<34} {wall:9.3f} s  spikes {int(np.sum(counts)):>9}  "
              f"{ev / wall:.3g} events/s", flush=True)

    for case, net in cases(steps):
        ref_counts = None
        ev = None
        engines = [("hwsim ideal", partial(hwsim, net, "ideal")),
                   ("hwsim pcm noise + 8-bit ADC", partial(hwsim, net, "pcm-aihwkit")),
                   ("plain Numba dense kernel", partial(plain_numba, net))]
        if net.x.shape[0] == 1:
            engines += [("NumPy reference", partial(numpy_reference, net)),
                        ("Brian2 C++ standalone", partial(brian2_standalone, net)),
                        ("Lava 0.10 CPU floating_pt", partial(lava_float, net))]
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
                ev = net.events(net.x, counts)
            elif "noise" not in name and not np.array_equal(counts, ref_counts):
                print(f"    WARNING: spike counts differ from hwsim ideal: {counts} vs {ref_counts}")
            record(case, name, wall, counts, ev)
    out = out or HERE / "results" / "hwsim.md"
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
    ap.add_argument("--out", type=Path, default=None, help="the report (default: "
                    "bench/results/hwsim.md)")
    a = ap.parse_args()
    main(a.quick, a.out)
