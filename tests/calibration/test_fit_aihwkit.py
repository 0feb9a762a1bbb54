"""``calibrate`` recovers IBM aihwkit's PCM device physics from measurements aihwkit made.

aihwkit 1.0.0 (its own environment, as in ``tests/devices/test_aihwkit_equivalence.py``)
programs 16,000 cells at random targets in [0.3, 25] uS and reads each four times at five
times after programming (``aihwkit_measure.py``), written in a lab's own layout
(``cell_id,g_target_uS,g_uS,time_s,rep``) that ``--columns``/``--units`` map. The design
and seed differ from the data the fitting was developed on (a grid of 50 targets, three
times, three reads).

The truth is aihwkit's ``PCMLikeNoiseModel``, written here from its equations:
σ_prog = 0.26348 + 1.9650 g_n − 1.1731 g_n² uS; read σ = min(0.0088/g_n^0.65, 0.2) ·
sqrt(ln((t + 20 s + 250 ns)/(500 ns))) · g; ν ~ |N(μ_ν, σ_ν)| with μ_ν = clip(−0.0155 ln g_n
+ 0.0244, 0.049, 0.1) and σ_ν = clip(−0.0125 ln g_n − 0.0059, 0.008, 0.045), g_n = g/25 uS.
Bounds (issue 15): σ_prog within 10 % at g ≥ 2.5 uS, σ_read within 15 % at g ≥ 1 uS at
every measured time, μ_ν within 0.005 and σ_ν within 0.004 above 8 uS, and the true family
chosen for each. The same test with the read noise's time factor removed from the truth
fails (checked below), so the bounds are tight enough to tell the families apart.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neurocosim.cli import main
from neurocosim.devices import load_chip
from tests.conftest import side_python

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TIMES_S = (25.0, 300.0, 3600.0, 21600.0, 86400.0)
G_MAX_US = 25.0


def _truth(g_us: np.ndarray, t: float) -> dict[str, np.ndarray]:
    gn = g_us / G_MAX_US
    return {"sigma_prog": np.maximum(0.26348 + 1.9650 * gn - 1.1731 * gn**2, 0.0),
            "sigma_read": np.minimum(0.0088 / gn**0.65, 0.2)
            * np.sqrt(np.log((t + 20.0 + 250e-9) / (2 * 250e-9))) * g_us,
            "nu_mean": np.clip(-0.0155 * np.log(gn) + 0.0244, 0.049, 0.1),
            "nu_std": np.clip(-0.0125 * np.log(gn) - 0.0059, 0.008, 0.045)}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, dict]:
    py = side_python("aihwkit", ROOT / "tests" / "devices" / "aihwkit_env.sh", "AIHWKIT",
                     ".venv-aihwkit")
    d = tmp_path_factory.mktemp("aihwkit_fit")
    targets = np.random.default_rng(20261130).uniform(0.3, G_MAX_US, 16_000)
    spec, csv = d / "spec.json", d / "lab.csv"
    spec.write_text(json.dumps({"targets_uS": targets.tolist(), "times_s": TIMES_S,
                                "reads": 4, "seed": 424242}))
    proc = subprocess.run([str(py), str(HERE / "aihwkit_measure.py"), str(spec), str(csv)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = d / "pcm-fitted.yaml"
    rc = main(["calibrate", str(csv), "-o", str(out), "--units", "uS", "--bootstrap", "8",
               "-q", "--columns", "cell=cell_id,g_target=g_target_uS,g_measured=g_uS,t=time_s,"
               "read=rep"])
    assert rc == 0
    return out, json.loads(out.with_suffix(".fit.json").read_text())


def test_true_families_chosen(fitted):
    _, rep = fitted
    assert rep["programming"]["family"] == "pcm_aihwkit", rep["programming"]
    assert rep["read"]["family"] == "power_law_time", rep["read"]
    assert rep["drift"]["family"] == "log_clipped", rep["drift"]
    for kind in ("programming", "read", "drift"):  # chosen = best held-out likelihood
        scores = rep[kind]["heldout_loglik_per_obs"]
        assert max(scores, key=scores.get) == rep[kind]["family"]


def test_curves_within_the_issue_bounds(fitted):
    _, rep = fitted
    c = rep["curves"]
    g = np.array(c["g_S"]) * 1e6
    assert set(c["sigma_read_S"]) == {f"{t:g} s" for t in TIMES_S}
    truth = _truth(g, 0.0)
    hi = g >= 2.5
    err = np.array(c["sigma_prog_S"])[hi] * 1e6 / truth["sigma_prog"][hi] - 1
    assert np.abs(err).max() < 0.10, err
    for t in TIMES_S:
        sel = g >= 1.0
        fit = np.array(c["sigma_read_S"][f"{t:g} s"])[sel] * 1e6
        err = fit / _truth(g, t)["sigma_read"][sel] - 1
        assert np.abs(err).max() < 0.15, (t, err)
        # without aihwkit's time factor the truth is 4-5x smaller: the bound would fail
        assert np.abs(fit / (_truth(g, t)["sigma_read"][sel] / np.sqrt(
            np.log((t + 20.0 + 250e-9) / 500e-9))) - 1).max() > 0.15
    top = g > 8.0
    assert np.abs(np.array(c["nu_mean"])[top] - truth["nu_mean"][top]).max() < 0.005
    assert np.abs(np.array(c["nu_std"])[top] - truth["nu_std"][top]).max() < 0.004


def test_intervals_and_card(fitted):
    out, rep = fitted
    c = rep["curves"]
    assert c["bootstrap"] == 8
    for key in ("sigma_prog_S", "nu_mean", "nu_std"):
        lo, hi = np.array(c["ci95"][key])
        assert np.all(hi >= lo) and np.any(hi > lo), key
    card = load_chip(out)  # the card the tool loads: aihwkit's models, the fitted values
    m = card.macro
    assert (m.programming_noise.model, m.read_noise.model, m.read_noise.redraw,
            m.drift.model) == ("pcm_aihwkit", "pcm_aihwkit", "per_inference", "pcm_aihwkit")
    assert card.resolved("read")["exponent"] == pytest.approx(0.65, abs=0.05)
    assert out.with_suffix(".fit.png").stat().st_size > 10_000
