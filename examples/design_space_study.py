"""Design-space study: crossbar tile size × ADC resolution against energy and accuracy.

The demo's digits SNN on ``prime-rram-40nm`` variants: square tiles of 128, 256 and 512
rows/columns, ADCs of 3, 4, 6 and 8 bits (ranges calibrated on 64 training digits), 3 seeds,
200 test digits, rate input, 32 steps. Writes the Pareto front of energy per inference
against accuracy to ``examples/figures/design-pareto.png``.

    .venv/bin/python examples/design_space_study.py [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

from neurocosim.plots import sweep_figure
from neurocosim.sweep import load_study, read_table, run_sweep

FIGS = Path(__file__).resolve().parent / "figures"


def main(workers: int) -> None:
    work = Path("build/robustness")
    if not (work / "digits.nir").exists() or not (work / "train.npz").exists():
        from robustness_study import build_model

        work.mkdir(parents=True, exist_ok=True)
        build_model(work)
    raw = {"name": "tile size x ADC bits", "model": "digits.nir", "data": "test.npz",
           "calibration_data": "train.npz", "samples": 200, "chip": "prime-rram-40nm",
           "simulation": {"steps": 32, "encoding": "rate"},
           "grid": {"macro.rows+macro.cols": [128, 256, 512], "macro.adc_bits": [3, 4, 6, 8]},
           "seeds": {"count": 3},
           "metrics": ["accuracy", "energy_per_inference_J", "area_mm2", "tiles"]}
    path = work / "design.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    study = load_study(path)
    out = work / "design"
    table = run_sweep(study, out, workers=workers, resume=(out / "results.csv").exists(),
                      progress=True)
    FIGS.mkdir(exist_ok=True)
    for png in sweep_figure(table, study, out):
        if png.name == "pareto.png" or png.name.startswith("accuracy_vs"):
            shutil.copy(png, FIGS / f"design-{png.name}")
    header, rows = read_table(table)
    col = {h: i for i, h in enumerate(header)}
    print("| tile | ADC bits | accuracy | energy (nJ) | area (mm²) |\n|---:|---:|---:|---:|---:|")
    seen = {}
    for r in rows:
        seen.setdefault((int(r[col["macro.rows+macro.cols"]]), int(r[col["macro.adc_bits"]])),
                        []).append(r)
    for (t, b), rs in sorted(seen.items()):
        acc = sum(float(r[col["accuracy"]]) for r in rs) / len(rs)
        e = sum(float(r[col["energy_per_inference_J"]]) for r in rs) / len(rs) * 1e9
        a = float(rs[0][col["area_mm2"]])
        print(f"| {t} | {b} | {acc:.4f} | {e:.2f} | {a:.4f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    main(ap.parse_args().workers)
