"""Noise-robustness study on scikit-learn digits, on both memristive presets.

1. trains the demo's MLP and converts it (IF neurons, threshold balancing);
2. sweep A — programming noise: multiplicative σ = 0, 10, 20, 40, 60 % of the target
   conductance on ``prime-rram-40nm`` and ``pcm-aihwkit``, 10 seeds each (programming,
   read noise and input spikes drawn anew per seed), 200 test digits, rate input, 32 steps,
   ADC ranges (and re-balanced thresholds) calibrated on training digits, never scored;
3. sweep B — drift on ``pcm-aihwkit``: accuracy 0 s … 1 year after programming, without
   compensation, with global drift compensation, and with threshold re-balancing,
   5 seeds each.

Figures are written to ``examples/figures/`` (committed; discussed in the README).

    .venv/bin/python examples/robustness_study.py [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np
import yaml

import neurocosim as nc
from neurocosim.datasets import digits, digits_mlp
from neurocosim.plots import ci95_half_width
from neurocosim.sweep import load_study, read_table, run_sweep

ROOT = Path(__file__).resolve().parent
FIGS = ROOT / "figures"


def build_model(work: Path) -> None:
    xtr, xte, ytr, yte = digits(0)
    mlp = digits_mlp(xtr, ytr, 0)
    nc.save_network(nc.convert_mlp(mlp, xtr), work / "digits.nir")
    np.savez(work / "test.npz", x=xte, y=yte)
    np.savez(work / "train.npz", x=xtr, y=ytr)  # calibration samples (never scored)


def summarise(table: Path, keys: list[str]) -> list[tuple]:
    header, rows = read_table(table)
    col = {h: i for i, h in enumerate(header)}
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(tuple(r[col[k]] for k in keys), []).append(float(r[col["accuracy"]]))
    # mean and the half-width of its 95 % confidence interval over seeds (Student's t)
    return [(*k, np.mean(v), ci95_half_width(v), len(v)) for k, v in groups.items()]


def main(workers: int) -> None:
    work = Path("build/robustness")
    work.mkdir(parents=True, exist_ok=True)
    FIGS.mkdir(exist_ok=True)
    build_model(work)
    common = {"model": "digits.nir", "data": "test.npz", "samples": 200,
              "calibration_data": "train.npz",  # ADC ranges, thresholds: training digits
              "simulation": {"steps": 32, "encoding": "rate"},
              "metrics": ["accuracy", "energy_per_inference_J", "mean_steps"]}
    studies = {
        "noise-prime": {**common, "name": "programming noise, prime-rram-40nm",
                        "chip": "prime-rram-40nm",
                        "card": {"macro.programming_noise": {"model": "multiplicative",
                                                             "params": {"percent": 0}}},
                        "grid": {"macro.programming_noise.params.percent": [0, 10, 20, 40, 60]},
                        "seeds": {"count": 10}},
        "noise-pcm": {**common, "name": "programming noise, pcm-aihwkit", "chip": "pcm-aihwkit",
                      "card": {"macro.programming_noise": {"model": "multiplicative",
                                                           "params": {"percent": 0}},
                               "macro.drift": {"model": "none"}},
                      "grid": {"macro.programming_noise.params.percent": [0, 10, 20, 40, 60]},
                      "seeds": {"count": 10}},
        "drift-pcm": {**common, "name": "drift, pcm-aihwkit", "chip": "pcm-aihwkit",
                      "grid": {"simulation.read_time": ["0", "1h", "1d", "30d", "1y"],
                               "macro.drift.compensation": [False, True],
                               "simulation.recalibrate_thresholds": [False, True]},
                      "seeds": {"count": 5}},
    }
    results = {}
    for key, raw in studies.items():
        path = work / f"{key}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        study = load_study(path)
        out = work / key
        table = run_sweep(study, out, workers=workers, resume=(out / "results.csv").exists(),
                          progress=True)
        from neurocosim.plots import sweep_figure

        for png in sweep_figure(table, study, out):
            if png.name.startswith("accuracy_vs"):
                shutil.copy(png, FIGS / f"{key}-{png.name}")
        results[key] = (study, table)
    print("\n| study | setting | accuracy (mean ± 95 % CI half-width, Student's t; n seeds) |"
          "\n|---|---|---|")
    for key, (study, table) in results.items():
        for row in summarise(table, study.param_names):
            *k, m, half, n = row
            print(f"| {key} | {', '.join(k)} | {m:.4f} ± {half:.4f} ({n}) |")
    with open(work / "summary.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        for key, (study, table) in results.items():
            for row in summarise(table, study.param_names):
                w.writerow([key, *row])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    main(ap.parse_args().workers)
