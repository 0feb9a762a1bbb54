"""Benchmark: hwsim's loihi2 mode against Lava's CPU simulator (fixed_pt) on digits.

    .venv/bin/python bench/bench_loihi2.py        # writes bench/results/loihi2.md

The demo's digits network (64-128-64-10 IF, converted from an MLP), quantised to Loihi 2
fixed point, 50 test digits rate-coded over 64 steps. Lava runs all samples in one graph
(block-diagonal Sparse layers); hwsim is timed after a warm-up run (compilation is
cached), best of three, with the machine's threads. Spikes are checked equal.
"""

from __future__ import annotations

import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(samples: int = 50, steps: int = 64) -> None:
    import neurocosim as nc
    from neurocosim.datasets import digits, digits_mlp
    from neurocosim.hwsim.jit import get_threads
    from neurocosim.targets.loihi2 import quantize_loihi2, run_lava, simulate_loihi2

    xtr, xte, ytr, yte = digits(0)
    mlp = digits_mlp(xtr, ytr, 0)
    net = nc.convert_mlp(mlp, xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_loihi2(net)
    enc = nc.make_encoder("rate", xte[:samples], net.input_shape, np.random.default_rng(0))
    spikes = enc.block(0, samples, steps)
    simulate_loihi2(q, spikes)  # warm-up (loads the cached kernels)
    hw = min((simulate_loihi2(q, spikes) for _ in range(3)), key=lambda r: r.wall_s)
    lv = run_lava(q, spikes)
    equal = all(np.array_equal(hw.spikes[L.name], lv.spikes[L.name]) for L in q.layers)
    n_spikes = sum(int(hw.spikes[L.name].sum()) for L in q.layers)
    speedup = lv.wall_s / hw.wall_s
    lines = [
        "# hwsim loihi2 mode vs Lava CPU simulator (bench/bench_loihi2.py)", "",
        f"Machine: {platform.machine()}, {get_threads()} Numba threads, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}. Digits network 64-128-64-10 "
        f"in Loihi 2 fixed point, {samples} samples x {steps} steps, rate-coded input.", "",
        "| engine | wall time (s) | spikes | accuracy |", "|---|---:|---:|---:|",
        f"| Lava 0.10 CPU simulator, fixed_pt | {lv.wall_s:.2f} | {n_spikes} | "
        f"{lv.accuracy(yte[:samples]):.4f} |",
        f"| hwsim loihi2 mode (Numba) | {hw.wall_s:.4f} | {n_spikes} | "
        f"{hw.accuracy(yte[:samples]):.4f} |", "",
        f"Speed-up: **{speedup:.0f}x**; spikes identical at every step for every neuron: {equal}.",
    ]
    out = Path(__file__).parent / "results" / "loihi2.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
