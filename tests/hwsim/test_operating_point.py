"""The programmed chip's operating point, the counters file and the one latency model."""

import numpy as np
import pytest

from neurocosim import ir, make_encoder, map_network, program_chip, simulate
from neurocosim.calibration import calibrate_adc_ranges, rebalance_thresholds
from neurocosim.devices.program import OperatingPoint
from neurocosim.energy import analytical_counts
from neurocosim.errors import DataError
from neurocosim.hwsim import EventCounts, LatencyModel, expected_counts
from neurocosim.hwsim.counters import EventCounts as CountersEventCounts
from neurocosim.hwsim.tables import build_tables
from tests.conftest import chain, chip_variant


def _net():
    w = np.array([[0.8, -0.5, 0.3, 0.1], [0.2, 0.4, -0.6, 0.5], [-0.3, 0.7, 0.2, 0.9]])
    return chain({"in": ir.Input(shape=(4,)), "fc": ir.Linear(weight=w),
                  "if": ir.IF(r=1.0, v_threshold=0.5), "out": ir.Output()})


def _pcm(**kw):
    return chip_variant("pcm-aihwkit", macro__rows=8, macro__cols=8, macro__adc_bits=6,
                        macro__adcs_per_tile=2, tiles_per_core=1, neurons_per_core=64, cores=16,
                        max_fan_out=16, **kw)


def _prog(chip=None):
    return program_chip(map_network(_net(), chip or _pcm()), np.random.default_rng(0))


def _enc(n=20, steps=6):
    x = (np.random.default_rng(3).random((n, steps, 4)) < 0.5).astype(float)
    return make_encoder("spikes", x, (4,))


def test_at_returns_a_copy_at_another_operating_point():
    prog = _prog()
    op = prog.operating_point
    assert isinstance(op, OperatingPoint)
    assert (op.read_time, op.adc_full_scale) == (0.0, None)
    assert op.drift_compensation is bool(prog.chip.macro.drift.compensation)
    later = prog.at(read_time=3600)
    assert later.operating_point.read_time == 3600.0
    # the same conductances, unless the card draws its read noise once per inference
    assert (later.tiles is prog.tiles) == (prog.chip.macro.read_noise.redraw != "per_inference")
    assert prog.operating_point.read_time == 0.0  # the original is unchanged
    fs = np.ones(len(prog.mapped.blocks))
    both = later.at(adc_full_scale=fs, drift_compensation=True)
    assert both.operating_point.read_time == 3600.0
    assert both.operating_point.adc_full_scale is fs and both.operating_point.drift_compensation
    assert both.at(adc_full_scale=None).operating_point.adc_full_scale is None


def test_the_engine_reads_at_the_chips_operating_point():
    prog = _prog()
    enc = _enc()
    now = simulate(prog, enc, 6, rng=np.random.default_rng(1), probes=["fc"])
    later = simulate(prog.at(read_time=30 * 86400.0), enc, 6, rng=np.random.default_rng(1),
                     probes=["fc"])
    comp = simulate(prog.at(read_time=30 * 86400.0, drift_compensation=True), enc, 6,
                    rng=np.random.default_rng(1), probes=["fc"])
    assert later.options["read_time"] == 30 * 86400.0
    drop = np.abs(later.probes["fc"]).sum() / np.abs(now.probes["fc"]).sum()
    back = np.abs(comp.probes["fc"]).sum() / np.abs(now.probes["fc"]).sum()
    assert drop < 0.98 and abs(back - 1) < abs(drop - 1)  # drift, then compensated
    p = build_tables(prog.at(read_time=7.0))
    assert p.read_time == 7.0


def test_calibration_returns_the_chip_at_the_calibrated_point():
    prog = _prog().at(read_time=3600.0)
    enc = _enc()
    cal = calibrate_adc_ranges(prog, enc, 6)
    fs = cal.operating_point.adc_full_scale
    assert fs.shape == (len(prog.mapped.blocks),) and (fs > 0).all()
    assert cal.operating_point.read_time == 3600.0 and cal.tiles is prog.tiles
    np.testing.assert_array_equal(build_tables(cal).adc_full_scale, fs)
    full = build_tables(prog).adc_full_scale
    assert (fs <= full * (1 + 1e-12)).all()
    reb = rebalance_thresholds(cal, enc, 6, rng=np.random.default_rng(2))
    assert reb.operating_point is cal.operating_point
    assert not np.array_equal(reb.mismatch["if"].threshold, cal.mismatch["if"].threshold)


def test_counts_save_load_and_summary(tmp_path):
    assert EventCounts is CountersEventCounts
    prog = _prog()
    res = simulate(prog, _enc(), 6, rng=np.random.default_rng(1))
    c = res.counts
    path = tmp_path / "results.npz"
    c.save(path, output=res.output, predictions=res.predictions(), labels=np.arange(20),
           adc_full_scale=np.asarray([]))
    with np.load(path) as z:
        assert z.files == ["output", "steps_used", "predictions", "labels", "block", "layer",
                           "input", "latency_s", "block_op", "block_tile", "block_outs",
                           "layer_names", "adc_full_scale"]
        np.testing.assert_array_equal(z["steps_used"], res.steps_used)
    back = EventCounts.load(path)
    for k, v in c.arrays().items():
        np.testing.assert_array_equal(back.arrays()[k], v)
    d = c.to_dict()
    assert list(d) == ["synaptic_events", "latency_per_inference_s", "counters",
                       "counters_by_op", "counters_by_layer"]
    assert d["counters"] == c.totals() and d["synaptic_events"] == c.synaptic_events()
    assert d["latency_per_inference_s"] == float(np.mean(c.latency_s))
    np.savez(tmp_path / "bad.npz", **{**c.arrays(), "latency_s": -c.latency_s - 1})
    with pytest.raises(DataError, match="latency_s"):
        EventCounts.load(tmp_path / "bad.npz")


def test_engine_and_analytical_share_the_latency_model():
    """Every row driven on every step: the engine's latency is the model's, and so is
    the analytical worst case."""
    chip = _pcm()
    prog = program_chip(map_network(_net(), chip), np.random.default_rng(0))
    steps = 3
    res = simulate(prog, make_encoder("spikes", np.ones((1, steps, 4)), (4,)), steps,
                   rng=np.random.default_rng(1))
    model = LatencyModel.of(chip)
    timing = build_tables(prog).timing
    np.testing.assert_array_equal(timing[:6], model.kernel_times())
    assert timing.n_tiles == prog.mapped.n_tiles
    worst = expected_counts(prog, steps, worst_case=True)
    assert worst.latency_s[0] == pytest.approx(res.counts.latency_s[0], rel=1e-12)
    reads = res.counts.block[0, :, 6].sum() / steps  # one read per block per step
    cycles = res.counts.block[0, :, 3].sum() / steps / reads
    tile_time = reads * model.read_s(cycles)  # one tile
    assert res.counts.latency_s[0] == pytest.approx(steps * model.step_s(tile_time, 0.0),
                                                    rel=1e-12)
    ana = analytical_counts(prog, steps, worst_case=True)
    for k, v in worst.arrays().items():
        np.testing.assert_array_equal(ana.arrays()[k], v)


def test_expected_counts_leave_pruned_rows_undriven():
    from neurocosim.training import prune_chip

    prog = _prog()
    masks = [np.ones((3, 4), bool)]
    masks[0][:, 1] = False  # input 1 loses every synapse
    pruned, _, _ = prune_chip(prog, masks, np.random.default_rng(4))
    full = expected_counts(prog, 4, worst_case=True).totals()
    less = expected_counts(pruned, 4, worst_case=True).totals()
    assert less["rows_driven"] == full["rows_driven"] - 4
