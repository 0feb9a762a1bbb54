"""Benchmark for the Operators issue: Spikformer-4-384 at CIFAR size (T = 4) on the
cycle-level engine, ideal and noisy chip (run by hand).

    .venv/bin/python bench/bench_spikformer.py                  # → bench/results/spikformer.md
    .venv/bin/python bench/bench_spikformer.py --samples 8 --out /tmp/sf.md   # smoke run
    options: --samples N  --reps N  --threads N  --precision float32|float64  --label TEXT

Model: ``zoo:spikformer-4-384-cifar`` (Zhou et al., ICLR 2023; 9.32 M parameters; the
paper's CIFAR hyper-parameters: SPS with four 3×3 conv–BN–LIF stages, 4 encoder blocks,
D = 384, 12 heads, MLP ratio 4, 64 tokens), seeded random weights (BatchNorm folded at load).
Input: the scikit-learn digits (real 8×8 images), scaled to [0, 1], upsampled ×4 to 32×32
and repeated over 3 channels, entering the chip as analog values at every step (the
paper's direct coding; through the macro's DAC on a chip that has one).

Chips: ``ideal`` (float weights, no noise, no ADC) and ``prime-rram-40nm`` (programming and
read noise, 8-bit bit-serial input — PRIME's input driver is 1-bit —, ADC), each with the per-core limits lifted so that the model maps
whole (``flows.virtual_chip_sets``: limits change no arithmetic).

Figures: inferences/s of the whole ``neurocosim.simulate`` call (engine tables built
beforehand, as a study does; the first call compiles and is not timed), synaptic events/s
(Σ spikes × non-zero fan-out, the engine's own counter), spikes per layer (firing rates),
and where the time goes: the engine's per-node-kind busy time (``simulate(...,
profile=True)`` when the engine has it) and a cProfile of the call. Beside them: the bare
float64 event-driven kernel's events/s per core from ``bench/results/engine.md``
(Engine v2 bench, W1). Targets (issue 16, 2 cores): ≥ 15 inferences/s ideal, ≥ 5 noisy.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import neurocosim as nc  # noqa: E402
from neurocosim import pipeline, zoo  # noqa: E402
from neurocosim.devices.overrides import apply_overrides, parse_set  # noqa: E402
from neurocosim.flows import virtual_chip_sets  # noqa: E402
from neurocosim.frontends import load_network  # noqa: E402
from neurocosim.hwsim.encoders import CurrentEncoder  # noqa: E402
from neurocosim.hwsim.jit import get_threads, set_threads  # noqa: E402
from neurocosim.hwsim.tables import build_tables  # noqa: E402

MODEL = "spikformer-4-384-cifar"
STEPS = 4
TARGETS = {"ideal": 15.0, "prime-rram-40nm": 5.0}
#: PRIME's macro has a 1-bit input driver: the analog image enters bit-serially (8 bits)
EXTRA_SETS = {"prime-rram-40nm": ["macro.input=bit_serial:8"]}


def images(n: int) -> np.ndarray:
    """``n`` CIFAR-size inputs (3, 32, 32) in [0, 1] from the scikit-learn digits."""
    from sklearn.datasets import load_digits

    d = load_digits().images[:n] / 16.0
    up = np.kron(d, np.ones((4, 4)))
    return np.repeat(up[:, None], 3, axis=1)


def programmed(net, card: str, seed: int, x: np.ndarray):
    """``net`` mapped, programmed and calibrated on ``card`` (limits lifted); (prog, stages)."""
    sets = virtual_chip_sets(net) + EXTRA_SETS.get(card, [])
    chip = apply_overrides(nc.load_chip(card), parse_set(sets))
    opts = pipeline.ChipRunOptions(steps=STEPS, adc_calibration=4, placement="sequential")
    stages = {}
    t = time.perf_counter()
    mapped = pipeline.map_onto(net, chip, opts)
    stages["map_onto"] = time.perf_counter() - t
    t = time.perf_counter()
    prog = pipeline.program_onto(mapped, np.random.SeedSequence(seed))
    stages["program_onto"] = time.perf_counter() - t
    t = time.perf_counter()
    prog = pipeline.calibrate(prog, CurrentEncoder(x[:4]), opts, np.random.SeedSequence(seed + 1))
    stages["calibrate"] = time.perf_counter() - t
    return prog, stages


def run_card(net, card: str, x: np.ndarray, a) -> dict:
    """Time ``simulate`` of all of ``x`` on ``card``: best of ``a.reps`` after a warm-up."""
    prog, stages = programmed(net, card, a.seed, x)
    kw = {"precision": a.precision}
    t = time.perf_counter()
    tables = build_tables(prog, **kw)
    stages["build_tables"] = time.perf_counter() - t
    sim_kw = dict(rng=np.random.default_rng(3), tables=tables, batch_size=len(x), **kw)
    prof_ok = "profile" in inspect.signature(nc.simulate).parameters
    enc = CurrentEncoder(x.astype(np.float32 if a.precision == "float32" else np.float64))
    nc.simulate(prog, enc.head(min(2, len(x))) if hasattr(enc, "head") else enc, STEPS,
                **sim_kw)  # compile
    walls, res = [], None
    for _ in range(a.reps):
        t = time.perf_counter()
        res = nc.simulate(prog, enc, STEPS, **sim_kw)
        walls.append(time.perf_counter() - t)
    wall = min(walls)
    row = {"card": card, "wall_s": wall, "walls": walls, "inf_per_s": len(x) / wall,
           "events": res.counts.synaptic_events(), "stages": stages,
           "spikes": {k: v["spikes"] for k, v in res.counts.by_layer().items()},
           "layer_sizes": {k: int(np.prod(net.out_shapes[k])) for k in res.counts.by_layer()},
           "steps_used": float(np.mean(res.counts.steps))}
    row["events_per_s"] = row["events"] / wall
    if prof_ok:
        pr = nc.simulate(prog, enc, STEPS, profile=True, **sim_kw)
        row["profile"] = pr.extras.get("profile") if hasattr(pr, "extras") else None
    row["cprofile"] = cprofile(prog, enc, sim_kw)
    if a.perf_seconds > 0:
        row["perf"] = perf_profile(card, a)
    return row


def cprofile(prog, enc, sim_kw) -> str:
    """The top of a cProfile of one ``simulate`` call (Python-side overhead)."""
    import cProfile
    import io
    import pstats

    p = cProfile.Profile()
    p.enable()
    nc.simulate(prog, enc, STEPS, **sim_kw)
    p.disable()
    s = io.StringIO()
    pstats.Stats(p, stream=s).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in s.getvalue().splitlines() if ln.strip()]
    return "\n".join(lines[-10:])


#: where the engine's time goes: a kernel function's module → the part of the chip it models
PARTS = (("crossbar", "crossbar reads"), ("columns", "crossbar reads"),
         ("digital", "digital spike units"), ("spikeops", "digital spike units"),
         ("neuron", "neurons"), ("driver", "driver (lists, routing counts, probes)"),
         ("rng", "crossbar reads"))


def perf_map(path: Path) -> int:
    """Write a perf map (``START SIZE NAME`` per line) of every compiled engine kernel in
    this process, so that ``perf report`` names them; returns the number of symbols.
    Needs kernels compiled in this process (an empty ``NUMBA_CACHE_DIR``): a kernel loaded
    from Numba's cache has no LLVM module to list."""
    import gc

    from numba.core.registry import CPUDispatcher

    addrs = set()
    for obj in gc.get_objects():
        if not isinstance(obj, CPUDispatcher):
            continue
        for cres in obj.overloads.values():
            lib = cres.library
            mod = getattr(lib, "_final_module", None)
            for f in (mod.functions if mod is not None else ()):
                if not f.is_declaration:
                    try:
                        a = lib.get_pointer_to_function(f.name)
                    except Exception:  # noqa: BLE001 - a helper without an address
                        continue
                    if a:
                        addrs.add((a, f.name))
    out = sorted(addrs)
    with open(path, "w") as fh:
        for i, (a, name) in enumerate(out):
            size = min((out[i + 1][0] - a) if i + 1 < len(out) else 4096, 1 << 20)
            fh.write(f"{a:x} {size:x} {name}\n")
    return len(out)


def child(a) -> None:
    """``--perf-child CARD``: set up, compile, write the perf map, signal, run ``simulate``
    for ``a.perf_seconds`` (the parent's perf samples this process meanwhile)."""
    net = load_network(f"zoo:{MODEL}")
    prog, _ = programmed(net, a.perf_child, a.seed, a.x)
    tables = build_tables(prog, precision=a.precision)
    enc = CurrentEncoder(a.x.astype(np.float32 if a.precision == "float32" else np.float64))
    kw = dict(rng=np.random.default_rng(3), tables=tables, batch_size=len(a.x),
              precision=a.precision)
    nc.simulate(prog, enc.head(2), STEPS, **kw)
    perf_map(Path(f"/tmp/perf-{os.getpid()}.map"))
    Path(a.perf_ready).write_text(str(os.getpid()))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < a.perf_seconds:
        nc.simulate(prog, enc, STEPS, **kw)


def perf_profile(card: str, a) -> dict[str, float] | str:
    """Share of the engine's samples by part of the chip (``perf record`` on a child
    process running ``simulate`` on ``card``), or why there is none."""
    import shutil
    import subprocess
    import tempfile

    if shutil.which("perf") is None:
        return "perf not installed"
    tmp = Path(tempfile.mkdtemp(prefix="nc-perf-"))
    ready, data = tmp / "ready", tmp / "perf.data"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba")}
    cmd = [sys.executable, __file__, "--perf-child", card, "--samples", str(len(a.x)),
           "--precision", a.precision, "--perf-ready", str(ready),
           "--perf-seconds", str(a.perf_seconds + 5)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not ready.exists():
        if proc.poll() is not None:
            return f"profiling child failed: {proc.stderr.read().decode()[-300:]}"
        time.sleep(1)
    rec = subprocess.run(["perf", "record", "-F", "499", "-p", str(proc.pid), "-o", str(data),
                          "--", "sleep", str(a.perf_seconds)], capture_output=True)
    proc.wait()
    if rec.returncode != 0:
        return f"perf record failed: {rec.stderr.decode()[-200:]}"
    rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "sym"],
                         capture_output=True, text=True).stdout
    shares: dict[str, float] = {}
    for ln in rep.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#") or "%" not in ln:
            continue
        pct, _, sym = ln.partition("%")
        try:
            share = float(pct)
        except ValueError:
            continue
        part = "other (Python, libraries)"
        if "[k]" in sym:
            part = "operating system (page faults, zeroing)"
        elif "neurocosim" in sym:
            part = next((name for key, name in PARTS if f"kernels{len(key)}{key}" in sym),
                        "engine, other")
        shares[part] = shares.get(part, 0.0) + share
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def bare_figure() -> str:
    """The Engine v2 bench's bare float64 kernel, W1 batch 64, events/s per core (its table)."""
    path = HERE / "results" / "engine.md"
    if not path.exists():
        return "n/a (bench/results/engine.md missing)"
    for ln in path.read_text().splitlines():
        cells = [c.strip() for c in ln.split("|")]
        if len(cells) > 10 and cells[1] == "W1" and cells[2] == "64" and cells[3] == "bare f64":
            return f"{cells[9]} events/s per core (W1, batch 64, bench/results/engine.md)"
    return "n/a"


def report(rows: list[dict], net, a) -> str:
    info = zoo.info(MODEL)  # the paper's count (before BatchNorm folding)
    out = [f"# Spikformer-4-384 (CIFAR size, T = {STEPS}) on the cycle-level engine", "",
           f"{a.label}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
           f"{get_threads()} engine threads, precision {a.precision}, {len(a.x)} samples "
           f"(batch {len(a.x)}), best of {a.reps} after a compile call.", "",
           f"Model: `zoo:{MODEL}`, {info['parameters']:,} parameters, "
           f"{info['macs_per_step']:,} dense MACs per step, {info['neurons']:,} neurons.", "",
           "| chip | inferences/s | target | wall (s) | synaptic events/inference | events/s |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        tgt = TARGETS[r["card"]]
        ok = "met" if r["inf_per_s"] >= tgt else "**missed**"
        out.append(f"| {r['card']} | {r['inf_per_s']:.2f} | ≥ {tgt:g} ({ok}) | {r['wall_s']:.3f} "
                   f"| {r['events'] / len(a.x):.3g} | {r['events_per_s']:.3g} |")
    out += ["", f"Bare-kernel figure (Engine v2 bench): {bare_figure()}.", ""]
    for r in rows:
        out += [f"## {r['card']}", "", "Stages (s): " + ", ".join(
            f"{k} {v:.2f}" for k, v in r["stages"].items()), ""]
        if isinstance(r.get("perf"), dict):
            out += [f"Where the time goes (perf, {a.perf_seconds:g} s of `simulate` sampled "
                    "at 499 Hz in a child process; share of all samples):", ""]
            out += [f"- {k}: {v:.1f} %" for k, v in r["perf"].items()]
            out.append("")
        elif r.get("perf"):
            out += [f"perf profile: {r['perf']}", ""]
        if r.get("profile"):
            out += ["Engine time by node kind (s, summed over threads):", ""]
            out += [f"- {k}: {v:.3f}" for k, v in r["profile"].items()]
            out.append("")
        rates = [(k, r["spikes"][k] / (r["layer_sizes"][k] * STEPS * len(a.x)))
                 for k in r["spikes"]]
        out += ["Firing rate per layer (spikes per neuron per step): " + ", ".join(
            f"{k} {v:.3f}" for k, v in rates), "", "cProfile (Python side):", "", "```",
                r["cprofile"], "```", ""]
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="float32", choices=("float32", "float64"))
    p.add_argument("--cards", default="ideal,prime-rram-40nm")
    p.add_argument("--label", default="neurocosim main")
    p.add_argument("--out", type=Path, default=HERE / "results" / "spikformer.md")
    p.add_argument("--perf-seconds", type=float, default=20.0,
                   help="seconds of perf sampling per card (0: none)")
    p.add_argument("--perf-child", help=argparse.SUPPRESS)
    p.add_argument("--perf-ready", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.threads:
        set_threads(a.threads)
    a.x = images(a.samples)
    if a.perf_child:
        child(a)
        return
    net = load_network(f"zoo:{MODEL}")  # BatchNorm folded into the convolutions, seed 0
    rows = []
    for card in a.cards.split(","):
        r = run_card(net, card, a.x, a)
        print(f"{card}: {r['inf_per_s']:.2f} inferences/s, {r['events_per_s']:.3g} events/s",
              flush=True)
        rows.append(r)
    a.out.write_text(report(rows, net, a) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
