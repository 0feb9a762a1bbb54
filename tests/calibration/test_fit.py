"""Device-model fitting recovers known parameters from synthetic measurements."""

import dataclasses
import json

import numpy as np
import pytest

from neurocosim.calibration import fit_device, read_measurements
from neurocosim.calibration.fit import synthetic_measurements, write_measurements
from neurocosim.cli import main
from neurocosim.devices import load_chip
from neurocosim.devices.noise import PROGRAMMING_NOISE
from neurocosim.devices.schema import DriftSpec, NoiseSpec, StuckAtSpec
from neurocosim.errors import DataError


def truth():
    m = load_chip("pcm-aihwkit").macro
    return dataclasses.replace(
        m, read_noise=NoiseSpec(model="relative", params={"percent": 2.0}),
        drift=DriftSpec(model="power_law", params={"nu_mean": 0.06, "nu_std": 0.02, "t0": "20 s"}),
        stuck_at=StuckAtSpec(g_min_fraction=0.005, g_max_fraction=0.005))


@pytest.fixture(scope="module")
def measured():
    rng = np.random.default_rng(0)
    targets = rng.uniform(6e-6, 19e-6, 20_000)
    return synthetic_measurements(truth(), targets, [0.0, 60.0, 3600.0, 86400.0], 3, rng)


def test_fit_recovers_known_parameters(measured):
    m = truth()
    fit = fit_device(measured, model="pcm_aihwkit", g_min=m.g_min, g_max=m.g_max, t0=20.0)
    g = np.linspace(6e-6, 19e-6, 50)
    true_sigma = PROGRAMMING_NOISE["pcm_aihwkit"].sigma(g, m.resolved("programming"))
    fit_sigma = PROGRAMMING_NOISE["pcm_aihwkit"].sigma(g, fit.programming_params)
    # tolerances: sigma(g) within 5 % everywhere in the measured range
    assert np.max(np.abs(fit_sigma / true_sigma - 1)) < 0.05
    # read noise: 2 % relative within 5 % (relative)
    assert fit.read_model == "relative"
    assert fit.read_params["percent"] == pytest.approx(2.0, rel=0.05)
    # drift: nu mean within 0.003, nu std within 15 %
    assert fit.drift.family.name == "pooled"
    assert fit.drift_params["nu_mean"] == pytest.approx(0.06, abs=0.003)
    assert fit.drift_params["nu_std"] == pytest.approx(0.02, rel=0.15)
    # stuck-at: 0.5 % each within the 99.9 % binomial interval of 20,000 cells
    for k in ("g_min_fraction", "g_max_fraction"):
        assert 0.005 - 0.0017 < fit.stuck_at[k] < 0.005 + 0.0017


def test_other_models_fit_their_own_data():
    rng = np.random.default_rng(1)
    base = load_chip("prime-rram-40nm").macro
    m = dataclasses.replace(base, programming_noise=NoiseSpec(model="multiplicative",
                                                              params={"percent": 5.0}),
                            read_noise=NoiseSpec(model="relative", params={"percent": 1.0}),
                            stuck_at=StuckAtSpec(), levels=None)
    targets = rng.uniform(20e-6, 80e-6, 20_000)
    meas = synthetic_measurements(m, targets, [0.0], 2, rng)
    fit = fit_device(meas, model="multiplicative", g_min=m.g_min, g_max=m.g_max)
    assert fit.programming_params["percent"] == pytest.approx(5.0, rel=0.05)
    assert fit.drift is None


def test_cli_calibrate_writes_a_loadable_card(tmp_path, measured):
    csv_path = write_measurements(measured, tmp_path / "meas.csv")
    out = tmp_path / "fitted.yaml"
    assert main(["calibrate", str(csv_path), "--model", "pcm_aihwkit", "-o", str(out),
                 "--bootstrap", "4", "-q"]) == 0
    card = load_chip(out)
    assert card.macro.programming_noise.model == "pcm_aihwkit"
    assert card.resolved("drift")["nu_mean"] == pytest.approx(0.06, abs=0.003)
    report = json.loads((tmp_path / "fitted.fit.json").read_text())
    assert report["drift"]["family"] == "pooled" and report["curves"]["bootstrap"] == 4
    lo, hi = np.array(report["curves"]["ci95"]["sigma_prog_S"])
    assert np.all(lo <= np.array(report["curves"]["sigma_prog_S"]) * 1.001)
    assert np.all(hi >= np.array(report["curves"]["sigma_prog_S"]) * 0.999) and np.all(hi > lo)
    assert (tmp_path / "fitted.fit.png").exists() and (tmp_path / "fitted.fit.json").exists()


@pytest.mark.parametrize("text,fragment", [
    ("cell,g_target_S,t_s,read\n0,1e-6,0,0\n", "missing column(s) ['g_measured_S']"),
    ("cell,g_target_S,g_measured_S,t_s,read\n0,1e-6,1e-6,0,0\n1,1e-6,nan,0,0\n",
     "line 3, column 'g_measured_S': 'nan' is not finite"),
    ("cell,g_target_S,g_measured_S,t_s,read\n0,1e-6,-2e-6,0,0\n",
     "line 2, column 'g_measured_S': -2e-6 is negative"),
    ("cell,g_target_S,g_measured_S,t_s,read\n0,abc,1e-6,0,0\n",
     "line 2, column 'g_target_S': 'abc' is not a number"),
])
def test_malformed_csv_names_row_and_column(tmp_path, text, fragment):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError) as err:
        read_measurements(p)
    assert fragment in str(err.value) and str(p) in str(err.value)
