"""Benchmark for the Engine v2 issue: hwsim against bare Numba kernels and Brian2 (run by hand).

    .venv/bin/python bench/bench_engine.py                 # the full run → bench/results/engine.md
    .venv/bin/python bench/bench_engine.py --quick --out /tmp/engine-quick.md   # smoke run
    options: --only W1,W3  --no-brian2  --no-cold  --reps N  --long S  --label TEXT

Brian2 runs in its own environment, made once by ``bash bench/brian2_env.sh``
(``bench/.venv-brian2``; another one with ``BRIAN2_PYTHON=/path/to/python``).

Workloads (``bench/nets.py``, shared with bench_hwsim.py and brian2_worker.py; run by hwsim
through ``neurocosim.pipeline``: ``map_onto`` ▸ ``program_onto`` ▸ ``calibrate`` ▸
``simulate``):

W1  feed-forward 784-1024-1024-10, W ~ N(0.0015, 0.04) (seeded), Bernoulli input at 8 % per
    step, LIF ``v ← 0.9·v + I``, spike when ``v ≥ 1``, reset to 0, one-step delay per
    synaptic hop (``network_from_weights(beta=0.9, compare=">=", synaptic_delay=1)``).
W2  sparse recurrent: 400 inputs (8 %) → 4000 LIF (as W1's neurons), 10 % input and 2 %
    recurrent connectivity, the dyadic weights of bench_hwsim.py's case (b); the input
    reaches the neurons in its own step, the recurrent spikes one step later.
W3  bench_hwsim.py's case (a) unchanged: the saturated regime (IF, ``v > 1``, dyadic
    weights, one-step delay, ~70 % of the neurons fire at every step).

Engines, one run per workload, batch 1 and batch 64 (the batch-1 input is sample 0):

* bare float32 / float64 ``@njit`` event-driven kernel (``bench/bare.py``: spike index list;
  for each spiking source add its weight row; LIF update; one-step delay buffer);
* bare CSR kernel, float32 and float64 (W2 only: only the non-zero synapses);
* hwsim ``ideal`` card, ``precision`` float32 and float64, and ``pcm-aihwkit``
  (programming and read noise, 8-bit ADC calibrated on 4 samples, differential pairs),
  float64 and float32. The float32 rows need ``simulate(..., precision=)`` and
  ``build_tables(..., precision=)``; without them they read "not available";
* Brian2 C++ standalone, one thread, batch 1 only (compile time excluded).

Timing: a warm-up call first (compilation), then best of ``--reps`` (3; a single repetition
when one takes over ``--long`` seconds). Spikes are compared per neuron per step on the
first ``--verify`` samples: pairs of float64 engines may differ only where the float64
membrane lay within 1e-9·θ of the threshold at a sample's first divergence, pairs with a
float32 engine only where a bare kernel's membrane lay within 1e-5·θ; any other divergence
fails the bench (exit status 1). Cold start: ``bench/cold_start.py`` in fresh processes
with an empty, then filled, ``NUMBA_CACHE_DIR``. Profile: pipeline stages, the kernel on
five card variants per precision, cProfile of ``simulate``.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import engine_report  # noqa: E402
import nets  # noqa: E402
from bare import CSR, Bare  # noqa: E402

import neurocosim as nc  # noqa: E402
from neurocosim import pipeline  # noqa: E402
from neurocosim.hwsim.encoders import SpikeEncoder  # noqa: E402
from neurocosim.hwsim.jit import get_threads  # noqa: E402
from neurocosim.hwsim.tables import build_tables  # noqa: E402

SHORT = {"float32": "f32", "float64": "f64"}
IDEAL, PCM = "hwsim ideal", "hwsim pcm noise+ADC"


def precision_missing() -> str | None:
    """None when the API takes ``precision`` (simulate and build_tables), else why not."""
    lacking = [f"{f.__module__}.{f.__name__}" for f in (nc.simulate, build_tables)
               if "precision" not in inspect.signature(f).parameters]
    return f"{' and '.join(lacking)} take no precision" if lacking else None


# -- hwsim ----------------------------------------------------------------------------------
def card(name: str, read_noise: bool = True, adc: bool = True):
    """A preset card with bench_hwsim.py's capacity limits raised (W2's 4000-row layer needs
    16 tiles on one core; the limits change no arithmetic), read noise drawn at every read
    (the engine's costly path), read noise or ADC optionally off."""
    d = nc.load_chip(name).to_dict()
    d.update(cores=4096, tiles_per_core=4096, neurons_per_core=1 << 20, max_fan_in=1 << 20,
             max_fan_out=4096)
    if not read_noise:
        d["macro"]["read_noise"] = {"model": "none"}
    elif d["macro"]["read_noise"].get("model", "none") != "none":
        # the engine's per-read noise path (pcm-aihwkit draws its noise once per inference,
        # into the conductances, which costs the engine nothing per read)
        d["macro"]["read_noise"]["redraw"] = "per_read"
    if not adc:
        d["macro"]["adc_bits"] = None
    d["name"] = f"{name}{'' if read_noise else '-noread'}{'' if adc else '-noadc'}-bench"
    return nc.devices.chip_from_dict(d)


class Chip:
    """One card for one workload: map ▸ program ▸ calibrate (4 samples) once, engine tables
    per precision (float64 only when the API has no precision)."""

    def __init__(self, wl: nets.Net, chip, precisions):
        steps = wl.x.shape[1]
        self.wl, self.stages = wl, {}
        opts = pipeline.ChipRunOptions(steps=steps, adc_calibration=4, placement="sequential")
        t = time.perf_counter()
        mapped = pipeline.map_onto(nets.to_ir(wl), chip, opts)
        self.stages["map_onto"] = time.perf_counter() - t
        t = time.perf_counter()
        prog = pipeline.program_onto(mapped, np.random.SeedSequence(1))
        self.stages["program_onto"] = time.perf_counter() - t
        t = time.perf_counter()
        self.prog = pipeline.calibrate(prog, SpikeEncoder(wl.x[:4].astype(float)), opts,
                                       np.random.SeedSequence(2))
        self.stages["calibrate"] = time.perf_counter() - t
        self.tables = {}
        for p in precisions:
            t = time.perf_counter()
            self.tables[p] = (build_tables(self.prog) if precision_missing()
                              else build_tables(self.prog, precision=p))
            self.stages[f"build_tables {SHORT[p]}"] = time.perf_counter() - t
        self.tiles = mapped.report.tiles

    def engine(self, precision: str) -> Hwsim:
        return Hwsim(self, precision)


class Hwsim:
    """One timed ``neurocosim.simulate`` call (tables prebuilt), input in the engine's dtype."""

    def __init__(self, chip: Chip, precision: str):
        self.chip, self.precision, self.inner = chip, precision, None
        self.kw = {} if precision_missing() else {"precision": precision}
        self.dtype = np.float32 if precision == "float32" else np.float64

    def run(self, x, batch: int, probes=()):
        return nc.simulate(self.chip.prog, SpikeEncoder(x.astype(self.dtype)), x.shape[1],
                           rng=np.random.default_rng(3), tables=self.chip.tables[self.precision],
                           batch_size=batch, probes=probes, **self.kw)

    def __call__(self, x, record=False):
        layers = self.chip.wl.layers
        t0 = time.perf_counter()
        res = self.run(x, len(x), layers if record else ())
        wall = time.perf_counter() - t0
        by = res.counts.by_layer()
        counts = np.array([by[n]["spikes"] for n in layers], np.int64)
        spk = (np.concatenate([res.probes[n].reshape(len(x), x.shape[1], -1) for n in layers],
                              axis=2) != 0) if record else None
        self.inner = res.wall_s
        return wall, counts, spk, None


def best_of(fn, x, long_s: float, reps: int) -> dict:
    """Warm-up on 5 steps of one sample, then best of ``reps`` (stops after a run longer
    than ``long_s``)."""
    fn(np.ascontiguousarray(x[:1, :5]))
    runs = []
    for _ in range(reps):
        cpu = time.process_time()
        wall, counts, *_ = fn(x)
        runs.append({"wall": wall, "counts": counts, "inner": getattr(fn, "inner", None),
                     "cpu": time.process_time() - cpu})
        if wall > long_s:
            break
    best = min(runs, key=lambda r: r["wall"])
    best["reps"] = len(runs)
    return best


# -- spike comparison -----------------------------------------------------------------------
# (engine a, engine b, rule): rule 64 — explained when the bare float64 membrane lay within
# NEAR64·θ; rule 32 — when a bare kernel's membrane (float32 or float64) lay within NEAR32·θ
PAIRS = [(f"{IDEAL} f64", "bare f64", 64), (f"{IDEAL} f32", "bare f32", 32),
         (f"{IDEAL} f32", "bare f64", 32), ("bare f32", "bare f64", 32),
         ("bare CSR f64", "bare f64", 64), ("bare CSR f32", "bare f32", 32)]


def compare(a: np.ndarray, b: np.ndarray, near: np.ndarray, acc: dict) -> None:
    """Accumulate into ``acc`` the per-neuron-per-step differences of rasters ``a``, ``b``
    (samples, steps, neurons); ``near``: where the membrane lay near the threshold. A
    sample's first divergence is 'explained' when every spike that differs at that step
    is near-threshold; later differences follow from it (a changed reset, changed input)."""
    diff = a != b
    acc["diff"] = acc.get("diff", 0) + int(diff.sum())
    acc["diff_near"] = acc.get("diff_near", 0) + int((diff & near).sum())
    acc["near"] = acc.get("near", 0) + int(near.sum())
    for s in range(len(a)):
        at = np.flatnonzero(diff[s].any(axis=1))
        if at.size:
            acc["diverged"] = acc.get("diverged", 0) + 1
            if not np.all(near[s, at[0]][diff[s, at[0]]]):
                acc["unexplained"] = acc.get("unexplained", 0) + 1


def verify(wl: nets.Net, engines: dict, n: int, chunk: int = 8) -> dict:
    """Spike rasters of the first ``n`` samples, ``chunk`` at a time (bounded memory), for
    every pair of :data:`PAIRS` whose engines ran; ``ok`` when no divergence is unexplained."""
    pairs = [p for p in PAIRS if p[0] in engines and p[1] in engines]
    out = {f"{a} vs {b}": {} for a, b, _ in pairs}
    rate = np.zeros(wl.n_neurons)
    out["samples"] = n = min(n, len(wl.x))
    for lo in range(0, n, chunk):
        x = wl.x[lo:min(n, lo + chunk)]
        ras, code = {}, {}
        for name in {e for p in pairs for e in p[:2]}:
            _, _, s, c = engines[name](x, record=True)
            ras[name], code[name] = s.astype(bool), c
        near = {64: code["bare f64"] == 2, 32: (code["bare f64"] >= 1)
                | ((code["bare f32"] >= 1) if "bare f32" in code else False)}
        rate += ras["bare f64"].sum(axis=(0, 1))
        for a, b, rule in pairs:
            compare(ras[a], ras[b], near[rule], out[f"{a} vs {b}"])
    rate /= n * wl.x.shape[1]
    edges = np.cumsum([0] + [w.shape[0] for w in wl.ws])
    out["rates"] = [float(rate[a:b].mean()) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    out["ok"] = all(out[f"{a} vs {b}"].get("unexplained", 0) == 0 for a, b, _ in pairs)
    return out


# -- profile --------------------------------------------------------------------------------
def variants(wl: nets.Net, chips: dict, precisions, reps: int, steps: int | None = None) -> list:
    """The kernel's time at batch 1 on the ideal card and on pcm-aihwkit with read noise
    and ADC each off/on, per precision (best of ``reps``); ``steps``: fewer steps (new
    chips, tables and calibration)."""
    x = np.ascontiguousarray(wl.x[:1, :steps])
    sub = wl if steps is None else wl.with_input(x)
    full = steps is None
    cards = {"ideal card (float weights, one matrix per row chunk)":
             chips["ideal"] if full else Chip(sub, card("ideal"), precisions),
             "pcm, no read noise, no ADC": Chip(sub, card("pcm-aihwkit", False, False), precisions),
             "pcm, read noise, no ADC": Chip(sub, card("pcm-aihwkit", True, False), precisions),
             "pcm, no read noise, 8-bit ADC": Chip(sub, card("pcm-aihwkit", False, True),
                                                   precisions),
             "pcm, read noise + 8-bit ADC": chips["pcm"] if full else Chip(sub, card("pcm-aihwkit"),
                                                                           precisions)}
    rows = []
    for p in precisions:
        for name, chip in cards.items():
            eng = chip.engine(p)
            best = best_of(eng, x, 1e9, reps)
            tot = eng.run(x, 1).counts.totals()
            rows.append((SHORT[p], name, best["wall"], best["inner"], tot, x.shape[1]))
    return rows


def profile(wl: nets.Net, engines: dict, chips: dict, precisions, big: int, reps: int) -> dict:
    """W1: pipeline stage times, the kernel on card variants (:func:`variants`), the cost of
    steps with no input spike and cProfile of single ``simulate`` calls."""
    out = {"stages": {k: c.stages for k, c in chips.items()}}
    out["variants"] = variants(wl, chips, precisions, reps)
    x0 = np.zeros_like(wl.x[:1])
    out["idle"] = {k: best_of(e, x0, 1e9, reps)["wall"] for k, e in engines.items()
                   if k.startswith(IDEAL) or k in ("bare f32", "bare f64")}
    calls = [(f"{IDEAL} f64", 1), (f"{PCM} f64", 1), (f"{IDEAL} f64", big)]
    calls += [(f"{k} f32", 1) for k in (IDEAL, PCM) if f"{k} f32" in engines]
    for key, batch in calls:
        eng = engines[key]
        x = wl.x[:batch]
        prof = cProfile.Profile()
        prof.enable()
        eng.run(x, batch)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(6)
        out[f"{key}, batch {batch}"] = _trim_pstats(buf.getvalue())
    return out


def _trim_pstats(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    keep = [ln for ln in lines if "function calls" in ln or "ncalls" in ln
            or ln.lstrip()[:1].isdigit()]
    return "\n".join(ln.replace(str(HERE.parent) + "/", "") for ln in keep)


# -- cold start -----------------------------------------------------------------------------
def cold_start(precisions, steps: int = 20) -> list[dict]:
    """``cold_start.py`` twice per precision in fresh processes on one ``NUMBA_CACHE_DIR``
    that starts empty: the first compiles, the second loads the cache."""
    out = []
    for p in precisions:
        with tempfile.TemporaryDirectory(prefix="nc-cold-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            cmd = [sys.executable, str(HERE / "cold_start.py"), "--steps", str(steps)]
            if not precision_missing():
                cmd += ["--precision", p]
            for which in ("empty cache", "filled cache"):
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
                if proc.returncode != 0:
                    err = (proc.stderr or proc.stdout or "no output").strip().splitlines()[-1]
                    out.append({"precision": p, "cache": which, "error": err[:300]})
                    break
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                r.update(precision=p, cache=which, steps=steps)
                out.append(r)
                print(f"cold start {SHORT[p]} {which:<12}: first simulate call {r['first']:.2f} s "
                      f"(CPU {r['first_cpu']:.2f} s), second {r['second']:.3f} s, import "
                      f"{r['import']:.2f} s, process {r['process']:.1f} s", flush=True)
    return out


# -- driver ---------------------------------------------------------------------------------
def make_engines(wl: nets.Net, precisions) -> tuple[dict, dict]:
    engines = {"bare f32": Bare(wl, np.float32), "bare f64": Bare(wl, np.float64)}
    if wl.w_rec is not None:
        engines["bare CSR f32"] = CSR(wl, np.float32)
        engines["bare CSR f64"] = CSR(wl, np.float64)
    chips = {"ideal": Chip(wl, card("ideal"), precisions),
             "pcm": Chip(wl, card("pcm-aihwkit"), precisions)}
    order = [(IDEAL, "ideal", "float32"), (IDEAL, "ideal", "float64"),
             (PCM, "pcm", "float64"), (PCM, "pcm", "float32")]
    for label, c, p in order:
        if p in precisions:
            engines[f"{label} {SHORT[p]}"] = chips[c].engine(p)
    return engines, chips


def run_workload(wl: nets.Net, a: argparse.Namespace, rows: list, precisions) -> dict:
    load = os.getloadavg()[0]
    engines, chips = make_engines(wl, precisions)
    missing = precision_missing()
    for batch in (1, a.big):
        x = np.ascontiguousarray(wl.x[:batch])
        for name, fn in engines.items():
            r = best_of(fn, x, a.long, a.reps)
            add_row(rows, wl, batch, name, x, r, threads=min(batch, get_threads()))
        if missing:
            for name in (f"{IDEAL} f32", f"{PCM} f32"):
                rows.append({"wl": wl.name, "batch": batch, "engine": name,
                             "error": f"not available ({missing})"})
                print(f"{wl.name:<3} b{batch:<3} {name:<22} not available", flush=True)
    if not a.no_brian2:
        run_brian2(wl, rows)
    t = time.perf_counter()
    check = verify(wl, engines, a.verify)
    check["wall"] = time.perf_counter() - t
    print(f"{wl.name:<3} verified in {check['wall']:.1f} s: ok={check['ok']} rates="
          f"{[round(100 * r, 2) for r in check['rates']]} %", flush=True)
    check["load"] = (load, os.getloadavg()[0])
    check["tiles"] = {k: c.tiles for k, c in chips.items()}
    if wl.name == "W1":
        check["profile"] = profile(wl, engines, chips, precisions, a.big, a.prof_reps)
    else:
        check["variants"] = variants(wl, chips, precisions, a.reps, steps=min(200, wl.x.shape[1]))
    return check


def run_brian2(wl: nets.Net, rows: list) -> None:
    r = nets.run_brian2(wl.with_input(wl.x[:1]))
    if "error" in r:
        print(f"{wl.name:<3} Brian2: {r['error']}", flush=True)
        rows.append({"wl": wl.name, "batch": 1, "engine": "Brian2 C++ standalone",
                     "error": r["error"]})
    else:
        r.update(counts=np.array(r["counts"]), reps=3)
        add_row(rows, wl, 1, "Brian2 C++ standalone", wl.x[:1], r, threads=1)


def add_row(rows: list, wl: nets.Net, batch: int, engine: str, x, r: dict, threads: int):
    spikes = int(np.sum(r["counts"]))
    ev = wl.events(x, r["counts"])
    row = {"wl": wl.name, "batch": batch, "engine": engine, "wall": r["wall"],
           "reps": r.get("reps", 1), "spikes": spikes, "events": ev, "threads": threads,
           "inner": r.get("inner"), "loop": r.get("loop"), "compile": r.get("compile"),
           "cpu": r.get("cpu"), "counts": [int(c) for c in r["counts"]]}
    rows.append(row)
    print(f"{wl.name:<3} b{batch:<3} {engine:<24} {r['wall']:9.4f} s (x{row['reps']})  "
          f"spikes {spikes:>10}  {ev / r['wall']:.3g} ev/s", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 100 steps, batch 8 "
                    "instead of 64, 1 repetition, 8 samples verified")
    ap.add_argument("--only", default="W1,W2,W3", help="workloads, e.g. W1,W3")
    ap.add_argument("--no-brian2", action="store_true", help="skip Brian2")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    ap.add_argument("--reps", type=int, default=None, help="best of N (default 3; --quick 1)")
    ap.add_argument("--long", type=float, default=15.0,
                    help="a run longer than this many seconds is not repeated")
    ap.add_argument("--verify", type=int, default=None, help="samples whose spikes are "
                    "compared per neuron per step (default 16; --quick 8)")
    ap.add_argument("--out", type=Path, default=None, help="the report (default: "
                    "bench/results/engine.md, engine-quick.md with --quick)")
    ap.add_argument("--label", default=None, help="what code is measured (default: the "
                    "git commit of this tree, and whether neurocosim/ has local changes)")
    a = ap.parse_args(argv)
    a.steps, a.big = (100, 8) if a.quick else (1000, 64)
    a.reps = a.reps or (1 if a.quick else 3)
    a.prof_reps = 1 if a.quick else 5
    a.verify = a.verify or (8 if a.quick else 16)
    bad = set(a.only.split(",")) - set(nets.WORKLOADS)
    if bad:
        ap.error(f"--only: unknown {', '.join(sorted(bad))}; use {','.join(nets.WORKLOADS)}")
    return a


def main() -> None:
    a = parse_args()
    t_all = time.perf_counter()
    missing = precision_missing()
    precisions = ("float64",) if missing else ("float32", "float64")
    print(f"precision: {'float32 rows not available: ' + missing if missing else 'both'}",
          flush=True)
    cold = [] if a.no_cold else cold_start(precisions)
    rows: list = []
    checks = {}
    wls = {n: nets.workload(n, a.steps) for n in nets.WORKLOADS if n in a.only.split(",")}
    for wl in wls.values():
        checks[wl.name] = run_workload(wl, a, rows, precisions)
    out = a.out or HERE / "results" / ("engine-quick.md" if a.quick else "engine.md")
    meta = {"steps": a.steps, "big": a.big, "reps": a.reps, "long": a.long,
            "prof_reps": a.prof_reps, "total_s": time.perf_counter() - t_all,
            "label": a.label or code_label(), "missing": missing, "quick": a.quick}
    text = engine_report.report(rows, checks, wls, cold, meta)
    notes = ""
    if out.exists() and engine_report.NOTES in out.read_text():
        notes = out.read_text().split(engine_report.NOTES, 1)[1]
    out.write_text(text + "\n" + engine_report.NOTES + (notes or "\n"))
    print(f"wrote {out} ({time.perf_counter() - t_all:.0f} s in all)")
    bad = [k for k, c in checks.items() if not c["ok"]]
    if bad:
        sys.exit("FAILED: spikes differ beyond near-threshold flips on " + ", ".join(
            f"{k} ({', '.join(p for p, v in checks[k].items() if ' vs ' in p and v.get('unexplained'))})"
            for k in bad))


def code_label() -> str:
    root = str(HERE.parent)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "neurocosim"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with local changes in neurocosim/" if dirty else "")


if __name__ == "__main__":
    main()
