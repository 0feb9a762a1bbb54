"""Noise-aware recalibration on digits: accuracy before and after each step, per preset.

On ``prime-rram-40nm`` (40 % multiplicative programming noise) and ``pcm-aihwkit`` (read
30 days after programming), both with 4-bit ADCs, 3 seeds, 200 test digits, rate input,
32 steps:

* ADC ranges: full range (the largest possible column current) → calibrated on 64
  training digits (99.99th percentile of the currents);
* then either threshold re-balancing per layer from measured on-chip input currents,
* or global drift compensation (PCM only: PRIME's card has no drift) — the two correct
  the same scale loss, so applying both over-corrects.

    .venv/bin/python examples/recalibration_study.py
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


def main(seeds: int = 3, steps: int = 32) -> None:
    xtr, xte, ytr, yte = digits(0)
    mlp = digits_mlp(xtr, ytr, 0)
    net = nc.convert_mlp(mlp, xtr)
    xte, yte = xte[:200], yte[:200]
    setups = {
        "prime-rram-40nm, 40 % noise": ("prime-rram-40nm", {"programming_noise": {
            "model": "multiplicative", "params": {"percent": 40.0}}}, 0.0),
        "pcm-aihwkit, 30 days": ("pcm-aihwkit", {}, 30 * 86400.0),
    }
    print("| chip | ADC full range | ADC calibrated | ADC cal. + thresholds re-balanced | "
          "ADC cal. + drift compensation |\n|---|---:|---:|---:|---:|")
    for label, (preset, macro_over, t_read) in setups.items():
        card = nc.load_chip(preset).to_dict()
        card["macro"].update(macro_over)
        card["macro"]["adc_bits"] = 4
        chip = nc.devices.chip_from_dict(card)
        acc = {k: [] for k in ("full", "adc", "thr", "comp")}
        opts = ChipRunOptions(steps=steps, read_time=t_read, adc_calibration=64)
        rebalance = dataclasses.replace(opts, recalibrate_thresholds=True)
        for seed in range(seeds):
            mapped = map_onto(net, chip, opts)
            prog = program_onto(mapped, np.random.SeedSequence(seed))
            enc = nc.make_encoder("rate", xte, net.input_shape, np.random.default_rng(100 + seed))
            cal = nc.make_encoder("rate", xtr[:64], net.input_shape, np.random.default_rng(7))

            def run(p, enc=enc, seed=seed, opts=opts):  # p: the chip at its operating point
                r, _ = simulate_and_cost(p, enc, opts, np.random.SeedSequence(200 + seed),
                                         paper=False)
                return r.accuracy(yte)

            acc["full"].append(run(prog.at(read_time=t_read)))
            adc = calibrate(prog, cal, opts, np.random.SeedSequence(3))
            acc["adc"].append(run(adc))
            acc["thr"].append(run(calibrate(prog, cal, rebalance, np.random.SeedSequence(3))))
            if chip.macro.drift.model != "none":  # instead of re-balancing
                acc["comp"].append(run(adc.at(drift_compensation=True)))
        cells = [f"{np.mean(v):.3f}" if v else "n/a" for v in acc.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
