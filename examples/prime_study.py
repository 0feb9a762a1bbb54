"""PRIME-style study on scikit-learn digits: prune-on-chip over random programmed weights.

A random 64-256-10 SNN on ``prime-rram-40nm``: every differential pair of the macro takes
a random conductance (electroforming stochasticity); nothing is ever re-programmed but
the RESET of the pairs a learned 50 % mask drops (write-once). Then, on the chip model
(2 % programming noise, 1 % read noise, stuck-at cells, 8-bit ADCs), with rate-coded
input over 16 steps:

* accuracy before and after pruning, and with PRIME's early stop (softmax of the mean
  readout membrane / 2 > 0.8);
* energy per inference and load saving;
* accuracy under PRIME's weight-noise tests: 2 % and 20 % multiplicative noise on every
  programmed conductance (5 draws each).

Figures go to ``examples/figures/prime-*.png`` (committed; discussed in the README).

    .venv/bin/python examples/prime_study.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

import neurocosim as nc
from neurocosim.datasets import digits
from neurocosim.pipeline import ChipRunOptions, map_onto, simulate_and_cost
from neurocosim.plots import energy_figure, training_figure
from neurocosim.training import (
    chip_weights,
    learn_mask,
    prime_network,
    program_random,
    prune_chip,
)
from neurocosim.training.prune import MaskTraining

FIGS = Path(__file__).resolve().parent / "figures"


def with_weight_noise(prog, percent: float, rng: np.random.Generator):
    """Multiplicative noise on every programmed conductance, clipped to the window."""
    m = prog.mapped.chip.macro
    tiles = tuple(dataclasses.replace(
        t, g=np.clip(t.g * (1 + percent / 100 * rng.standard_normal(t.g.shape)), m.g_min, m.g_max))
        for t in prog.tiles)
    return dataclasses.replace(prog, tiles=tiles)


def main(steps: int = 16, seed: int = 0) -> dict:
    xtr, xte, ytr, yte = digits(seed)
    chip = nc.load_chip("prime-rram-40nm")
    net = prime_network([64, 256, 10], rng=np.random.default_rng(seed))
    mapped = map_onto(net, chip, ChipRunOptions(steps=steps))
    prog = program_random(mapped, np.random.default_rng(seed + 1))
    res = learn_mask(chip_weights(prog), xtr, ytr,
                     MaskTraining(sparsity=0.5, epochs=20, lr=0.1, rate=True, steps=steps,
                                  beta=0.2, beta_out=0.2, theta=0.5),
                     rng=np.random.default_rng(seed + 2), x_val=xte, y_val=yte)
    pruned, reset_list, n_ops = prune_chip(prog, res.masks, np.random.default_rng(seed + 3))
    enc = nc.make_encoder("rate", xte, (64,), np.random.default_rng(seed + 4))

    def run(p, es="none", s=5):
        return simulate_and_cost(p, enc, ChipRunOptions(steps=steps, early_stop=es),
                                 np.random.SeedSequence(s), paper=False)

    r_before, _ = run(prog)
    r_full, e_full = run(pruned)
    r_es, e_es = run(pruned, "confidence:0.8:2")
    noise = {}
    for pct in (2.0, 20.0):
        noise[pct] = [run(with_weight_noise(pruned, pct, np.random.default_rng(100 + k)),
                          "confidence:0.8:2", 10 + k)[0].accuracy(yte) for k in range(5)]
    # the same flow with a mask trained under 20 % weight noise (PRIME's robustness setting)
    robust = learn_mask(chip_weights(prog), xtr, ytr,
                        MaskTraining(sparsity=0.5, epochs=20, lr=0.1, rate=True, read_noise=0.2,
                                     steps=steps, beta=0.2, beta_out=0.2, theta=0.5),
                        rng=np.random.default_rng(seed + 2))
    pruned_r, _, _ = prune_chip(prog, robust.masks, np.random.default_rng(seed + 3))
    noise_robust = {pct: [run(with_weight_noise(pruned_r, pct, np.random.default_rng(100 + k)),
                              "confidence:0.8:2", 10 + k)[0].accuracy(yte) for k in range(5)]
                    for pct in (0.0, 2.0, 20.0)}
    FIGS.mkdir(exist_ok=True)
    training_figure(res.history, FIGS / "prime-training_curve.png",
                    "PRIME-style mask learning, random 64-256-10 on prime-rram-40nm")
    energy_figure(e_es, FIGS / "prime-energy.png")
    out = {
        "accuracy_before_pruning": r_before.accuracy(yte),
        "accuracy_after_pruning": r_full.accuracy(yte),
        "accuracy_early_stop": r_es.accuracy(yte),
        "mean_steps_early_stop": r_es.mean_steps, "load_saving": r_es.load_saving,
        "energy_full_J": e_full.energy_per_inference_J,
        "energy_early_stop_J": e_es.energy_per_inference_J,
        "energy_ratio_full_over_early_stop": e_full.energy_per_inference_J / e_es.energy_per_inference_J,
        "reset_pairs": len(reset_list), "reset_operations": n_ops,
        "weight_noise_accuracy": {f"{k:g}%": [float(np.mean(v)), float(np.std(v))]
                                  for k, v in noise.items()},
        "weight_noise_accuracy_mask_trained_with_20pct_noise": {
            f"{k:g}%": [float(np.mean(v)), float(np.std(v))] for k, v in noise_robust.items()},
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
