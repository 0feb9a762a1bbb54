"""aihwkit's PCM semantics in the device models: per-inference read noise with its time
factor, conductance-dependent drift exponents, clipping at 0 only (hand-computed values;
tests/devices/test_aihwkit_equivalence.py compares with aihwkit itself)."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from neurocosim.devices import load_chip
from neurocosim.devices.crossbar import (
    EncodedTile,
    at_inference,
    drifted,
    measure,
    program,
    program_tile,
)
from neurocosim.devices.noise import READ_NOISE, draw_nu, pcm_inference_sigma, pcm_nu_stats
from neurocosim.devices.program import ProgrammedChip
from neurocosim.devices.report import characterise
from neurocosim.errors import ConfigError
from tests.conftest import chip_variant


def _tile(macro, g_uS=(1.0, 5.0, 12.0, 25.0), n=200, seed=0):
    g_t = np.repeat(np.asarray(g_uS) * 1e-6, n).reshape(-1, 200)
    enc = EncodedTile(g_target=g_t, mapping="differential", n_out=1, w_max=1.0,
                      col_weights=np.zeros((g_t.shape[1], 1)))
    return program_tile(enc, macro, np.random.default_rng(seed))


def test_time_factor_and_q_s_are_aihwkits():
    p = load_chip("pcm-aihwkit").macro.resolved("read")
    g = np.array([0.1e-6, 2.5e-6, 25e-6])
    q = np.minimum(0.0088 / (g / 25e-6) ** 0.65, 0.2)
    for t, factor in ((0.0, 4.183), (86400.0, 5.087)):
        f = math.sqrt(math.log((t + 20.0 + 250e-9) / 500e-9))
        assert f == pytest.approx(factor, abs=1e-3)
        np.testing.assert_allclose(pcm_inference_sigma(g, t, 20.0, p), q * f, rtol=1e-12)
    assert q[0] == 0.2 and q[2] == pytest.approx(0.0088)


def test_nu_statistics_follow_the_log_form_with_its_clips():
    p = load_chip("pcm-aihwkit").macro.resolved("drift")
    g = np.array([25e-6, 2.5e-6, 0.25e-6, 0.0])
    mu, sd = pcm_nu_stats(g, p)
    # ln(g/g_max) = 0, -2.303, -4.605, ln(1e-7) = -16.12
    np.testing.assert_allclose(mu, [0.049, 0.0244 + 0.0155 * math.log(10),
                                    0.0244 + 0.0155 * math.log(100), 0.1])
    np.testing.assert_allclose(sd, [0.008, -0.0059 + 0.0125 * math.log(10),
                                    0.045, 0.045])  # -0.0059 + 0.0125 ln 100 > 0.045
    nu = draw_nu("pcm_aihwkit", np.full(200_000, 0.25e-6), p, np.random.default_rng(1))
    assert nu.min() >= 0
    # folded normal: mean μ + 2σφ(μ/σ) − 2μΦ(−μ/σ) (≈ μ here, σ/μ ≈ 0.5)
    m, s = mu[2], sd[2]
    phi = math.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * math.erfc(m / s / math.sqrt(2))
    assert nu.mean() == pytest.approx(s * 2 * phi + m * (1 - 2 * big_phi), abs=5e-4)


def test_programming_clips_at_zero_only():
    m = load_chip("pcm-aihwkit").macro
    g, _, _ = program(np.full((1, 50_000), 25e-6), m, np.random.default_rng(2))
    assert g.max() > 26e-6  # σ ≈ 1.06 uS at g_max: aihwkit lets cells overshoot
    assert g.mean() == pytest.approx(25e-6, abs=0.03e-6)
    g0, _, _ = program(np.full((1, 50_000), 0.0), m, np.random.default_rng(3))
    assert g0.min() == 0.0 and np.mean(g0 == 0) == pytest.approx(0.5, abs=0.01)
    rram = load_chip("prime-rram-40nm").macro  # other models keep the window clip
    hi, _, _ = program(np.full((1, 5000), rram.g_max), rram, np.random.default_rng(4))
    assert hi.max() <= rram.g_max


def test_read_noise_is_drawn_once_per_inference():
    m = load_chip("pcm-aihwkit").macro
    tile = _tile(m)
    assert READ_NOISE["pcm_aihwkit"].sigma(tile.g, m.resolved("read")).max() == 0.0
    a = at_inference(tile, m, 3600.0)
    np.testing.assert_array_equal(a.g, at_inference(tile, m, 3600.0).g)  # reproducible
    b = at_inference(tile, m, 3600.0, draw=1)
    assert not np.array_equal(a.g, b.g)
    np.testing.assert_array_equal(a.g_programmed, tile.g)
    # a redraw starts from the programmed conductances, not from the previous draw
    np.testing.assert_array_equal(at_inference(a, m, 3600.0, draw=1).g, b.g)
    rel = (a.g - tile.g) / tile.g
    sig = pcm_inference_sigma(tile.g, 3600.0, 20.0, m.resolved("read"))
    z = rel / sig
    assert abs(z.mean()) < 0.1 and z.std() == pytest.approx(1.0, abs=0.1)
    assert drifted(a, 3600.0).min() >= 0.0


def test_an_edited_tile_is_taken_as_programmed():
    m = load_chip("pcm-aihwkit").macro
    a = at_inference(_tile(m), m, 0.0)
    edited = dataclasses.replace(a, g=np.full_like(a.g, 10e-6))
    b = at_inference(edited, m, 25.0)
    np.testing.assert_array_equal(b.g_programmed, edited.g)


def test_programmed_chip_redraws_at_a_new_operating_point():
    card = load_chip("pcm-aihwkit")
    m = card.macro
    tile = at_inference(_tile(m), m, 0.0)
    chip = ProgrammedChip(mapped=SimpleNamespace(chip=card), tiles=(tile, None), mismatch={})
    later = chip.at(read_time=86400.0)
    assert later.tiles[1] is None
    np.testing.assert_array_equal(later.tiles[0].g, at_inference(tile, m, 86400.0).g)
    assert chip.at(adc_full_scale=None).tiles[0] is tile  # same inference: no redraw
    other = later.at(inference=2)
    assert other.operating_point.inference == 2
    assert not np.array_equal(other.tiles[0].g, later.tiles[0].g)


def test_per_read_option_keeps_the_old_path():
    card = chip_variant("pcm-aihwkit", macro__read_noise={
        "model": "pcm_aihwkit", "params": {"g_max": "25 uS"}, "redraw": "per_read"})
    m = card.macro
    tile = _tile(m)
    assert tile.inference_seed is None and at_inference(tile, m, 60.0) is tile
    g = np.array([5e-6])
    assert READ_NOISE["pcm_aihwkit"].sigma(g, m.resolved("read"))[0] == pytest.approx(
        0.0088 / 0.2**0.65 * 5e-6)


@pytest.mark.parametrize("where, spec, match", [
    ("programming_noise", {"model": "none", "redraw": "per_inference"},
     "programming_noise.redraw"),
    ("read_noise", {"model": "pcm_aihwkit", "redraw": "sometimes"}, "redraw"),
])
def test_bad_redraw_is_refused(where, spec, match):
    with pytest.raises(ConfigError, match=match):
        chip_variant("pcm-aihwkit", **{f"macro__{where}": spec})


def test_other_read_models_can_be_drawn_per_inference():
    card = chip_variant("pcm-aihwkit", macro__read_noise={
        "model": "relative", "params": {"percent": 5}, "redraw": "per_inference"})
    m = card.macro
    assert READ_NOISE["relative"].sigma(np.array([1e-5]), m.resolved("read"))[0] == 0.0
    tile = _tile(m, g_uS=(10.0,), n=40_000)
    g_d = drifted(tile, 60.0)
    z = (drifted(at_inference(tile, m, 60.0), 60.0) - g_d) / (0.05 * g_d)
    assert abs(z.mean()) < 0.03 and z.std() == pytest.approx(1.0, abs=0.03)
    none = chip_variant("pcm-aihwkit", macro__read_noise={"model": "none",
                                                          "redraw": "per_inference"})
    t = _tile(none.macro)
    assert at_inference(t, none.macro, 60.0) is t


def test_device_report_drift_ratio_matches_its_closed_form():
    rep = characterise(load_chip("pcm-aihwkit").macro, np.random.default_rng(5),
                       n_cells=50_000, times=(3600.0, 86400.0), cells_per_target=2000)
    for t in (3600.0, 86400.0):
        assert rep.drift_ratio_measured[t] == pytest.approx(rep.drift_ratio_expected[t],
                                                            rel=2e-3)
    # σ of the first inference at mid window: Q_s(12.5 uS) · 4.18 · 12.5 uS
    q = 0.0088 / 0.5**0.65
    assert rep.read_sigma_mid == pytest.approx(q * 4.1834 * 12.5e-6, rel=1e-3)


def test_measure_draws_the_macros_read_noise_semantics():
    m = load_chip("pcm-aihwkit").macro
    g, nu, stuck = program(np.full((1, 100_000), 10e-6), m, np.random.default_rng(6))
    got = measure(g, nu, stuck, 3600.0, m, np.random.default_rng(7))
    gd = g * (3620.0 / 20.0) ** (-nu)
    z = (got - gd) / (gd * pcm_inference_sigma(g, 3600.0, 20.0, m.resolved("read")))
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)
    per_read = dataclasses.replace(m, read_noise=dataclasses.replace(m.read_noise,
                                                                     redraw="per_read"))
    z = (measure(g, nu, stuck, 3600.0, per_read, np.random.default_rng(7)) - gd) / (
        READ_NOISE["pcm_aihwkit"].sigma(gd, per_read.resolved("read")))
    assert z.std() == pytest.approx(1.0, abs=0.02)
