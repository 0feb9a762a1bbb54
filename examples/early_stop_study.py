"""Early-stop study on scikit-learn digits: accuracy against mean steps used, per θ.

Trains the demo's MLP, converts it, maps it onto ``prime-rram-40nm`` and runs the
cycle-level engine (2 % programming noise, 1 % read noise, 8-bit ADCs calibrated on 64
training digits, rate-coded input, 64 steps; the 450 test digits scored) under
``confidence:θ:2`` for several θ, and under ``none``. Prints a Markdown table (used in
the README).

    .venv/bin/python examples/early_stop_study.py
"""

from __future__ import annotations

import dataclasses

import numpy as np

import neurocosim as nc
from neurocosim.datasets import digits, digits_mlp
from neurocosim.pipeline import (
    ChipRunOptions,
    calibrate,
    map_onto,
    program_onto,
    simulate_and_cost,
)


def main(steps: int = 64, seed: int = 0) -> None:
    xtr, xte, ytr, yte = digits(seed)
    mlp = digits_mlp(xtr, ytr, seed)
    net = nc.convert_mlp(mlp, xtr)
    opts = ChipRunOptions(steps=steps, adc_calibration=64)
    mapped = map_onto(net, nc.load_chip("prime-rram-40nm"), opts)
    prog = program_onto(mapped, np.random.SeedSequence(seed))
    enc = nc.make_encoder("rate", xte, net.input_shape, np.random.default_rng(seed))
    # the ADC ranges: 64 training digits, never a scored test digit
    cal = nc.make_encoder("rate", xtr[:64], net.input_shape, np.random.default_rng(seed + 2))
    prog = calibrate(prog, cal, opts, np.random.SeedSequence(seed + 1))
    print("| early stop | accuracy | mean steps | load saving |")
    print("|---|---:|---:|---:|")
    for policy in ["none"] + [f"confidence:{t}:2" for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)] + \
            ["margin:2", "margin:5"]:
        r, _ = simulate_and_cost(prog, enc, dataclasses.replace(opts, early_stop=policy),
                                 np.random.SeedSequence(seed + 1), paper=False)
        print(f"| `{policy}` | {r.accuracy(yte):.4f} | {r.mean_steps:.1f} | {r.load_saving:.1%} |")


if __name__ == "__main__":
    main()
