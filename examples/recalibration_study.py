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
import warnings

import numpy as np

import neurocosim as nc
from neurocosim.calibration import calibrate_adc_ranges, rebalance_thresholds
from neurocosim.datasets import digits, digits_mlp


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
        for seed in range(seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mapped = nc.map_network(net, chip)
            prog = nc.program_chip(mapped, np.random.default_rng(seed))
            enc = nc.make_encoder("rate", xte, net.input_shape, np.random.default_rng(100 + seed))
            cal = nc.make_encoder("rate", xtr[:64], net.input_shape, np.random.default_rng(7))

            def run(p, fs, enc=enc, seed=seed, t_read=t_read):
                return nc.simulate(p, enc, steps, rng=np.random.default_rng(200 + seed),
                                   read_time=t_read, adc_full_scale=fs).accuracy(yte)

            acc["full"].append(run(prog, None))
            fs = calibrate_adc_ranges(prog, cal, steps, read_time=t_read)
            acc["adc"].append(run(prog, fs))
            reb = rebalance_thresholds(prog, cal, steps, rng=np.random.default_rng(3),
                                       read_time=t_read, adc_full_scale=fs)
            acc["thr"].append(run(reb, fs))
            if chip.macro.drift.model != "none":
                comp_chip = dataclasses.replace(chip, macro=dataclasses.replace(
                    chip.macro, drift=dataclasses.replace(chip.macro.drift, compensation=True)))
                cmapped = dataclasses.replace(mapped, chip=comp_chip)
                cprog = dataclasses.replace(prog, mapped=cmapped)  # instead of re-balancing
                fs_c = calibrate_adc_ranges(cprog, cal, steps, read_time=t_read)
                acc["comp"].append(nc.simulate(cprog, enc, steps, rng=np.random.default_rng(200 + seed),
                                               read_time=t_read, adc_full_scale=fs_c).accuracy(yte))
        cells = [f"{np.mean(v):.3f}" if v else "n/a" for v in acc.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
