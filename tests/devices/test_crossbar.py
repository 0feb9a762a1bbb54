"""Device models, validated statistically with fixed seeds (DESIGN §3.4)."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.devices.crossbar import (
    ADC,
    calibrate_adc_range,
    compensation_scale,
    dac_quantize,
    drifted,
    encode_weights,
    expected_drift_ratio,
    program,
    program_tile,
    read_currents,
    read_currents_per_cell,
    tile_mvm,
)
from neurocosim.devices.neuron import draw_mismatch
from neurocosim.devices.noise import PROGRAMMING_NOISE
from neurocosim.devices.schema import DriftSpec, NoiseSpec, StuckAtSpec
from neurocosim.errors import ConfigError, DataError


def macro(preset="pcm-aihwkit", **changes):
    return dataclasses.replace(load_chip(preset).macro, **changes)


def quiet(m):
    """The macro without noise, faults or drift."""
    return dataclasses.replace(m, programming_noise=NoiseSpec(), read_noise=NoiseSpec(),
                               drift=DriftSpec(), stuck_at=StuckAtSpec())


def test_ideal_macro_reproduces_wx(rng):
    m = load_chip("ideal").macro
    w = rng.normal(0, 1, (100, 200))
    tile = program_tile(encode_weights(w, m), m, rng)
    x = (rng.random((50, 200)) < 0.3).astype(float)  # binary spikes, 1-bit DAC
    y, clipped = tile_mvm(tile, x, m)
    ref = x @ w.T
    assert clipped == 0
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 1e-12
    assert np.max(np.abs(y - ref)) < 1e-12 * np.max(np.abs(ref))


@pytest.mark.parametrize("mapping,levels", [("differential", None), ("offset", None),
                                            ("differential", 16), ("offset", 17)])
def test_mappings_store_weights(rng, mapping, levels):
    m = quiet(macro("ideal", weight_mapping=mapping, levels=levels))
    w = rng.normal(0, 1, (30, 40))
    enc = encode_weights(w, m)
    err = np.abs(enc.weights() - w).max()
    if levels is None:
        assert err < 1e-12 * np.abs(w).max()
    else:
        wmax = np.abs(w).max()
        step = wmax / (levels - 1) * (2 if mapping == "offset" else 1)
        assert err <= step / 2 * (1 + 1e-9)
        assert err > step / 4  # the quantisation is really there


@pytest.mark.parametrize("levels", [2, 3, 5, 16, 64])
def test_level_quantisation_error_at_most_half_step(rng, levels):
    m = quiet(macro("ideal", levels=levels))
    w = rng.uniform(-1, 1, (64, 64))
    enc = encode_weights(w, m, w_max=1.0)
    step = 1.0 / (levels - 1)
    assert np.abs(enc.weights() - w).max() <= step / 2 + 1e-12
    # every cell sits on one of the levels
    k = (enc.g_target - m.g_min) / (m.g_range / (levels - 1))
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)


@pytest.mark.parametrize("bits,slices", [(1, 4), (2, 2), (2, 3), (4, 2)])
def test_bit_slicing_exact_on_its_grid(rng, bits, slices):
    m = quiet(macro("ideal", weight_mapping="bit_sliced", bits_per_cell=bits, slices=slices))
    top = 2 ** (bits * slices) - 1
    ints = rng.integers(-top, top + 1, (20, 30))
    w = ints / top * 3.0
    enc = encode_weights(w, m, w_max=3.0)
    assert enc.shape == (30, 2 * slices * 20)
    np.testing.assert_allclose(enc.weights(), w, atol=1e-12)
    # each cell holds one of 2^bits levels
    k = (enc.g_target - m.g_min) / (m.g_range / (2**bits - 1))
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert k.max() <= 2**bits - 1


# -- programming noise: measured sigma against the model's sigma(g) ---------------------
NOISE_CASES = [
    ("pcm-aihwkit", {"model": "pcm_aihwkit"}, [5e-6, 8e-6, 12e-6, 16e-6, 20e-6]),
    ("pcm-aihwkit", {"model": "constant", "params": {"sigma": "0.5 uS"}},
     [4e-6, 8e-6, 12e-6, 16e-6, 20e-6]),
    ("prime-rram-40nm", {"model": "multiplicative", "params": {"percent": 20.0}},
     [10e-6, 20e-6, 30e-6, 40e-6, 50e-6]),
    ("prime-rram-40nm", {"model": "multiplicative", "params": {"percent": 2.0}},
     [10e-6, 25e-6, 50e-6, 75e-6, 95e-6]),
]


def rram_window():
    d = load_chip("prime-rram-40nm").to_dict()
    d["macro"]["g_min"], d["macro"]["g_max"] = "50 uS", "225 uS"
    d["macro"]["programming_noise"] = {"model": "rram_linear"}
    return chip_from_dict(d).macro


@pytest.mark.parametrize("preset,spec,targets", NOISE_CASES + [
    ("rram", {"model": "rram_linear"}, [75e-6, 100e-6, 130e-6, 160e-6, 195e-6])],
    ids=lambda v: v if isinstance(v, str) else None)
def test_programming_sigma_matches_model(preset, spec, targets):
    m = rram_window() if preset == "rram" else dataclasses.replace(
        quiet(macro(preset)), programming_noise=NoiseSpec(**spec))
    m = dataclasses.replace(m, stuck_at=StuckAtSpec())
    n = 20_000
    g_t = np.repeat(np.asarray(targets)[:, None], n, axis=1)
    g, _, _ = program(g_t, m, np.random.default_rng(42))
    model = PROGRAMMING_NOISE[m.programming_noise.model]
    expected = model.sigma(np.asarray(targets), m.resolved("programming"))
    measured = g.std(axis=1, ddof=1)
    np.testing.assert_allclose(measured, expected, rtol=0.05)
    np.testing.assert_allclose(g.mean(axis=1), targets, atol=4 * expected.max() / np.sqrt(n))


def test_pcm_sigma_is_aihwkit_polynomial():
    p = macro("pcm-aihwkit").resolved("programming")
    g = np.array([0.0, 12.5e-6, 25e-6])
    s = PROGRAMMING_NOISE["pcm_aihwkit"].sigma(g, p) * 1e6
    gn = g / 25e-6
    np.testing.assert_allclose(s, 0.26348 + 1.9650 * gn - 1.1731 * gn**2)


def test_programmed_conductances_stay_in_window():
    m = dataclasses.replace(quiet(macro("prime-rram-40nm")), programming_noise=NoiseSpec(
        model="multiplicative", params={"percent": 50.0}))
    g, _, _ = program(np.full((100, 100), 95e-6), m, np.random.default_rng(0))
    assert g.min() >= m.g_min and g.max() <= m.g_max
    assert (g == m.g_max).any()


def test_stuck_at_fractions_in_binomial_interval():
    m = macro("prime-rram-40nm", stuck_at=StuckAtSpec(g_min_fraction=0.001, g_max_fraction=0.004))
    shape = (512, 512)
    g, _, stuck = program(np.full(shape, 50e-6), m, np.random.default_rng(7))
    n = stuck.size
    for code, p, level in ((-1, 0.001, m.g_min), (1, 0.004, m.g_max)):
        k = int((stuck == code).sum())
        lo, hi = stats.binom.interval(0.999, n, p)
        assert lo <= k <= hi, (code, k, lo, hi)
        assert np.all(g[stuck == code] == level)


def test_drift_mean_follows_power_law():
    m = macro("pcm-aihwkit", drift=DriftSpec(model="power_law",
                                             params={"nu_mean": 0.06, "nu_std": 0.02, "t0": "20 s"}))
    m = dataclasses.replace(m, programming_noise=NoiseSpec(), stuck_at=StuckAtSpec())
    enc = encode_weights(np.random.default_rng(0).uniform(-1, 1, (128, 256)), m)
    tile = program_tile(enc, m, np.random.default_rng(1))
    on = tile.g > 0  # PCM's g_min is 0: those cells carry no drift information
    for t in (60.0, 3600.0, 86400.0, 86400.0 * 30):
        ratio = drifted(tile, t)[on] / tile.g[on]
        expected = expected_drift_ratio(t, 0.06, 0.02, 20.0)
        assert ratio.mean() == pytest.approx(expected, rel=0.02)
    # a fixed nu gives the power law exactly
    m0 = macro("pcm-aihwkit", drift=DriftSpec(model="power_law",
                                              params={"nu_mean": 0.05, "nu_std": 0.0}))
    t0tile = program_tile(enc, dataclasses.replace(m0, programming_noise=NoiseSpec()),
                          np.random.default_rng(2))
    np.testing.assert_allclose(drifted(t0tile, 86400.0)[on] / t0tile.g[on],
                               ((86400 + 20) / 20) ** -0.05)


def drift_errors():
    """Mean relative weight error at one day after programming, without and with
    global drift compensation (figures reported in the README)."""
    m = macro("pcm-aihwkit")
    m = dataclasses.replace(m, programming_noise=NoiseSpec(), read_noise=NoiseSpec())
    w = np.random.default_rng(3).uniform(-1, 1, (128, 128))
    tile = program_tile(encode_weights(w, m), m, np.random.default_rng(4))
    x = np.eye(128)  # read every column of weights through the array
    day = 86400.0
    plain, _ = tile_mvm(tile, x, m, t=day)
    comp, _ = tile_mvm(tile, x, m, t=day, compensate=True)
    err = lambda y: float(np.mean(np.abs(y.T - w)) / np.mean(np.abs(w)))  # noqa: E731
    return err(plain), err(comp), compensation_scale(tile, day)


def test_drift_compensation_reduces_error_at_one_day():
    plain, comp, scale = drift_errors()
    assert plain > 0.3  # ~ 1 - (86420/20)^-0.049 = 0.34 (ν ≈ 0.049 above 2.2 uS)
    assert comp < 0.5 * plain
    assert scale > 1.0


def test_aggregated_read_noise_matches_per_cell_in_distribution():
    base = macro("pcm-aihwkit")
    m = dataclasses.replace(base, read_noise=dataclasses.replace(base.read_noise,
                                                                 redraw="per_read"))
    rng = np.random.default_rng(11)
    g = rng.uniform(1e-6, 25e-6, (64, 8))
    v = (rng.random(64) < 0.5) * m.read_voltage
    n = 10_000
    v_rep = np.broadcast_to(v, (n, 64))
    agg = read_currents(g, v_rep, m, np.random.default_rng(1))
    cell = read_currents_per_cell(g, v_rep, m, np.random.default_rng(2))
    mean_exact = v @ g
    for j in range(8):
        assert stats.ks_2samp(agg[:, j], cell[:, j]).pvalue > 0.01
        se = agg[:, j].std() / np.sqrt(n)
        assert abs(agg[:, j].mean() - mean_exact[j]) < 5 * se
        assert abs(cell[:, j].mean() - mean_exact[j]) < 5 * se
        # variances: F-ratio within a 99.9 % interval
        f = agg[:, j].var(ddof=1) / cell[:, j].var(ddof=1)
        lo, hi = stats.f.interval(0.999, n - 1, n - 1)
        assert lo < f < hi


def test_adc_error_and_clipping():
    adc = ADC(bits=6, full_scale=1e-4)
    inside = np.linspace(0, 1e-4, 10_001)
    q, clipped = adc.convert(inside)
    assert clipped == 0
    assert np.abs(q - inside).max() <= adc.lsb / 2 * (1 + 1e-9)
    outside = np.array([1.2e-4, 5e-4, -1e-5, 0.5e-4])
    q, clipped = adc.convert(outside)
    assert clipped == 3
    np.testing.assert_allclose(q[:3], [1e-4, 1e-4, 0.0])
    with pytest.raises(ConfigError, match="adc_bits"):
        ADC(bits=0, full_scale=1.0)


def test_adc_calibration_and_mvm_with_adc(rng):
    m = quiet(macro("pcm-aihwkit"))
    w = rng.normal(0, 1, (16, 64))
    tile = program_tile(encode_weights(w, m), m, rng)
    x = (rng.random((200, 64)) < 0.3).astype(float)
    cur = read_currents(tile.g, x * m.read_voltage, m, None)
    fs = calibrate_adc_range(cur, 100.0)
    assert fs == pytest.approx(cur.max())
    y, clipped = tile_mvm(tile, x, m, adc=ADC(bits=8, full_scale=fs))
    assert clipped == 0
    lsb_w = fs / 255 / m.read_voltage * np.abs(tile.encoded.col_weights).max()
    assert np.abs(y - x @ w.T).max() <= lsb_w + 1e-12  # two columns, LSB/2 each
    y, clipped = tile_mvm(tile, x, m, adc=ADC(bits=8, full_scale=fs / 2))
    assert clipped > 0


def test_dac():
    np.testing.assert_array_equal(dac_quantize([0, 1, 1, 0], 1), [0, 1, 1, 0])
    np.testing.assert_allclose(dac_quantize([0.0, 0.5, 0.34], 2), [0, 2 / 3, 1 / 3])
    with pytest.raises(DataError, match="DAC input outside"):
        dac_quantize([2.0], 1)


def test_same_seed_same_conductances_different_seed_different():
    m = macro("prime-rram-40nm")
    enc = encode_weights(np.random.default_rng(0).normal(size=(32, 64)), m)
    a = program_tile(enc, m, np.random.default_rng(5))
    b = program_tile(enc, m, np.random.default_rng(5))
    c = program_tile(enc, m, np.random.default_rng(6))
    np.testing.assert_array_equal(a.g, b.g)
    np.testing.assert_array_equal(a.stuck, b.stuck)
    assert not np.array_equal(a.g, c.g)


def test_neuron_mismatch():
    circuit = dataclasses.replace(load_chip("prime-rram-40nm").neuron, threshold_mismatch=0.05,
                                  leak_mismatch=0.1)
    mm = draw_mismatch((100, 100), circuit, np.random.default_rng(0))
    assert mm.threshold.std() == pytest.approx(0.05, rel=0.05)
    assert mm.leak.std() == pytest.approx(0.1, rel=0.05)
    assert abs(np.corrcoef(mm.threshold.ravel(), mm.leak.ravel())[0, 1]) < 0.05
    none = draw_mismatch((10,), load_chip("ideal").neuron, np.random.default_rng(0))
    np.testing.assert_array_equal(none.threshold, 1.0)


def _card_with(edit):
    d = load_chip("pcm-aihwkit").to_dict()
    edit(d["macro"])
    return d


@pytest.mark.parametrize("edit,fragment", [
    (lambda m: m.update(programming_noise={"model": "constant", "params": {"sigma": "-1 uS"}}),
     "macro.programming_noise.params.sigma"),
    (lambda m: m.update(g_min="30 uS"), "macro.g_min"),
    (lambda m: m.update(levels=1), "macro.levels"),
    (lambda m: m.update(drift={"model": "power_law", "params": {"nu_mean": 0.05, "nu_std": -0.01}}),
     "macro.drift.params.nu_std"),
    (lambda m: m.update(g_min="10 uS", g_max="300 uS", programming_noise={"model": "rram_linear"}),
     "macro.programming_noise: model 'rram_linear' is valid for conductances in [50, 225] uS"),
    (lambda m: m.update(read_noise={"model": "relative", "params": {"percent": 150}}),
     "macro.read_noise.params.percent"),
])
def test_bad_device_parameters_raise_config_error(edit, fragment):
    with pytest.raises(ConfigError) as err:
        chip_from_dict(_card_with(edit))
    assert fragment in str(err.value)
