"""Prune-on-chip on digits (fixed seeds): mask learning, baselines, chip RESET flow."""

import warnings

import numpy as np
import pytest

import neurocosim as nc
from neurocosim.training import (
    chip_weights,
    encode_rate,
    evaluate,
    learn_mask,
    prime_network,
    program_random,
    prune_chip,
    topk_mask,
    train_weights,
)
from neurocosim.training.prune import MaskTraining, WeightTraining

KW = {"steps": 10, "beta": 0.2, "beta_out": 0.2, "theta": 0.5}


@pytest.fixture(scope="module")
def digits():
    from neurocosim.datasets import digits as split

    return split(0)


def random_weights(n_h, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.3, (n_h, 64)), rng.normal(0, 0.3, (10, n_h))]


@pytest.fixture(scope="module")
def mask256(digits):
    xtr, xte, ytr, yte = digits
    ws = random_weights(256)
    return ws, learn_mask(ws, xtr, ytr, MaskTraining(sparsity=0.5, epochs=20, lr=0.1, **KW),
                          rng=np.random.default_rng(1))


def test_learned_mask_on_random_weights(digits, mask256):
    xtr, xte, ytr, yte = digits
    ws, res = mask256
    acc = evaluate([w * m for w, m in zip(ws, res.masks, strict=True)], xte, yte, **KW)
    dense = train_weights(ws, xtr, ytr, WeightTraining(epochs=20, lr=0.01, **KW),
                          rng=np.random.default_rng(1))
    acc_dense = evaluate(dense, xte, yte, **KW)
    rnd = [topk_mask(np.random.default_rng(9).standard_normal(w.shape), 0.5) for w in ws]
    acc_rnd = evaluate([w * m for w, m in zip(ws, rnd, strict=True)], xte, yte, **KW)
    assert acc >= 0.93
    assert acc >= acc_dense - 0.025, (acc, acc_dense)
    assert acc >= acc_rnd + 0.50, (acc, acc_rnd)
    assert res.history["loss"][-1] < res.history["loss"][0]


def test_mask_beats_training_the_readout_alone_with_64_hidden(digits):
    xtr, xte, ytr, yte = digits
    ws = random_weights(64)
    res = learn_mask(ws, xtr, ytr, MaskTraining(sparsity=0.5, epochs=20, lr=0.1, **KW),
                     rng=np.random.default_rng(1))
    acc = evaluate([w * m for w, m in zip(ws, res.masks, strict=True)], xte, yte, **KW)
    ro = train_weights(ws, xtr, ytr, WeightTraining(epochs=20, lr=0.01, **KW), layers=(1,),
                       rng=np.random.default_rng(1))
    assert acc >= evaluate(ro, xte, yte, **KW) + 0.04


def test_density_exact_and_deterministic(digits, mask256):
    xtr, _, ytr, _ = digits
    ws, res = mask256
    for w, m in zip(ws, res.masks, strict=True):
        assert m.sum() == round(0.5 * w.size)
    again = learn_mask(ws, xtr, ytr, MaskTraining(sparsity=0.5, epochs=20, lr=0.1, **KW),
                       rng=np.random.default_rng(1))
    for a, b in zip(res.masks, again.masks, strict=True):
        np.testing.assert_array_equal(a, b)
    thin = learn_mask(ws, xtr[:200], ytr[:200], MaskTraining(sparsity=0.7, epochs=1, **KW),
                      rng=np.random.default_rng(0))
    assert [m.sum() for m in thin.masks] == [round(0.3 * w.size) for w in ws]


def test_training_with_read_noise_makes_the_mask_robust(digits):
    xtr, xte, ytr, yte = digits
    ws = random_weights(256)
    res = learn_mask(ws, xtr, ytr,
                     MaskTraining(sparsity=0.5, epochs=20, lr=0.1, read_noise=0.1, **KW),
                     rng=np.random.default_rng(1))
    eff = [w * m for w, m in zip(ws, res.masks, strict=True)]
    clean = evaluate(eff, xte, yte, **KW)
    for level, tol in ((0.1, 0.01), (0.2, 0.02)):
        noisy = np.mean([evaluate(eff, xte, yte, rng=np.random.default_rng(s), read_noise=level, **KW)
                         for s in range(5)])
        assert noisy >= clean - tol, (level, noisy, clean)


@pytest.fixture(scope="module")
def chip_flow(digits):
    xtr, xte, ytr, yte = digits
    net = prime_network([64, 256, 10], rng=np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapped = nc.map_network(net, nc.load_chip("prime-rram-40nm"))
    prog = program_random(mapped, np.random.default_rng(1))
    ws = chip_weights(prog)
    kw = dict(KW, steps=16)
    res = learn_mask(ws, xtr, ytr, MaskTraining(sparsity=0.5, epochs=20, lr=0.1, rate=True, **kw),
                     rng=np.random.default_rng(2))
    return mapped, prog, ws, res, kw


def test_reset_list_and_residual_conductance(digits, chip_flow):
    _, xte, _, yte = digits
    mapped, prog, ws, res, kw = chip_flow
    pruned, reset_list, n_ops = prune_chip(prog, res.masks, np.random.default_rng(4))
    assert len(reset_list) == sum(int((~m).sum()) for m in res.masks)
    assert n_ops >= len(reset_list)  # at least the used cell of every pair gets a RESET pulse
    xr = encode_rate(xte, kw["steps"], np.random.default_rng(3))
    ideal_zero = evaluate([w * m for w, m in zip(ws, res.masks, strict=True)], xr, yte, **kw)
    residual = evaluate(chip_weights(pruned), xr, yte, **kw)
    assert ideal_zero >= 0.93
    assert residual >= ideal_zero - 0.01  # G_reset residuals cost at most a point
    # the pruned chip runs in hwsim like any other, noise and ADC included
    enc = nc.make_encoder("rate", xte, (64,), np.random.default_rng(5))
    hw = nc.simulate(pruned, enc, kw["steps"], rng=np.random.default_rng(6))
    before = nc.simulate(prog, enc, kw["steps"], rng=np.random.default_rng(6))
    assert hw.accuracy(yte) >= ideal_zero - 0.03 and before.accuracy(yte) < 0.3


def test_mask_is_chip_specific(digits, chip_flow):
    _, xte, _, yte = digits
    mapped, prog, ws, res, kw = chip_flow
    other = chip_weights(program_random(mapped, np.random.default_rng(11)))
    xr = encode_rate(xte, kw["steps"], np.random.default_rng(3))
    assert evaluate([w * m for w, m in zip(other, res.masks, strict=True)], xr, yte, **kw) <= 0.20


def test_fully_pruned_rows_are_skipped(chip_flow):
    mapped, prog, ws, res, kw = chip_flow
    masks = [m.copy() for m in res.masks]
    masks[0][:, 5] = False  # input 5 loses every synapse
    pruned, _, _ = prune_chip(prog, masks, np.random.default_rng(4))
    from neurocosim.hwsim.tables import build_tables

    assert build_tables(pruned).extras["pruned_rows"] >= 1
    x = np.zeros((1, 3, 64))
    x[0, :, 5] = 1.0  # only the pruned input spikes
    r = nc.simulate(pruned, nc.make_encoder("spikes", x, (64,)), 3, rng=np.random.default_rng(0))
    assert r.counts.by_op()["fc0"]["reads"] == 0


def test_cli_prune_writes_mask_reset_list_curve_and_summary(tmp_path, digits):
    import csv
    import json

    from neurocosim.cli import main

    xtr, xte, ytr, yte = digits
    np.savez(tmp_path / "train.npz", x=xtr, y=ytr)
    np.savez(tmp_path / "test.npz", x=xte[:120], y=yte[:120])
    out = tmp_path / "out"
    assert main(["prune", "random:64-64-10", "--chip", "prime-rram-40nm", "--data",
                 str(tmp_path / "train.npz"), "--test", str(tmp_path / "test.npz"),
                 "--sparsity", "0.5", "--epochs", "4", "--seed", "0", "-o", str(out), "-q"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["density_per_layer"] == [0.5, 0.5]
    with open(out / "reset_list.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == s["reset_pairs"] == (64 * 64 + 10 * 64) // 2
    assert s["accuracy_after"] > s["accuracy_before"] + 0.3
    z = np.load(out / "mask.npz")
    assert z["mask_fc0"].shape == (64, 64) and z["mask_fc0"].mean() == 0.5
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_learn_mask_takes_the_programmed_chip(digits, chip_flow):
    xtr, _, ytr, _ = digits
    mapped, prog, ws, res, kw = chip_flow
    a = learn_mask(prog, xtr[:100], ytr[:100], MaskTraining(epochs=1, **KW),
                   rng=np.random.default_rng(0))
    b = learn_mask(ws, xtr[:100], ytr[:100], MaskTraining(epochs=1, **KW),
                   rng=np.random.default_rng(0))
    for ma, mb in zip(a.masks, b.masks, strict=True):
        np.testing.assert_array_equal(ma, mb)
