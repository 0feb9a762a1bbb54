"""Calibration never sees a scored sample (issue 15, item 5).

``simulate --chip`` and the sweep calibrate the ADC ranges (and re-balanced thresholds) on
``--calibration-data`` / ``calibration_data`` or, by default, on a slice held out of the
data file and excluded from scoring; every output records which samples calibrated the
chip and which were scored. Bad calibration input exits 2 with one line naming the file,
the field and the fix, and writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from neurocosim import network_from_weights, save_network
from neurocosim.cli import main

N_IN, N_SAMPLES, STEPS = 6, 40, 4
CHIP = "prime-rram-40nm"  # 8-bit ADCs whose ranges are calibrated


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("calsplit")
    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(0, 0.6, (8, N_IN)), rng.normal(0, 0.6, (3, 8))],
                               dt=1e-3, neuron="IF", reset="subtract")
    save_network(net, root / "net.nir")
    x = rng.uniform(0, 1, (N_SAMPLES, N_IN))
    np.savez(root / "data.npz", x=x, y=np.arange(N_SAMPLES) % 3)
    np.savez(root / "head.npz", x=x[:10])                 # the first 10 samples of data
    np.savez(root / "tail.npz", x=x[10:], y=np.arange(10, N_SAMPLES) % 3)
    np.savez(root / "cal_a.npz", x=rng.uniform(0, 1, (20, N_IN)))
    np.savez(root / "cal_b.npz", x=rng.uniform(0, 0.25, (20, N_IN)), y=np.zeros(20, int))
    return root


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def chip_run(ws: Path, out: str, *extra: str, data: str = "data.npz", chip: str = CHIP):
    return cli("simulate", str(ws / "net.nir"), "--chip", chip, "--data", str(ws / data),
               "--steps", str(STEPS), "--encoding", "rate", "--seed", "1", "-q",
               "-o", str(ws / out), *extra)


def summary(ws: Path, run: str) -> dict:
    return json.loads((ws / run / "summary.json").read_text())


# -- the default: a held-out slice, never scored ----------------------------------------
def test_default_holds_out_the_calibration_samples_and_scores_only_the_others(ws):
    code, out, err = chip_run(ws, "run_default", "--adc-calibration", "10")
    assert code == 0, err
    s = summary(ws, "run_default")
    cal = s["calibration"]
    assert cal["calibrated"] == ["adc_ranges"]
    c, sc = cal["calibration_samples"], cal["scored_samples"]
    assert (c["file"], c["first"], c["last"], c["count"]) == (str(ws / "data.npz"), 0, 9, 10)
    assert c["held_out_of_scored_file"] is True
    assert (sc["file"], sc["first"], sc["last"], sc["count"]) == (str(ws / "data.npz"), 10,
                                                                   N_SAMPLES - 1, 30)
    calibrated = set(range(c["first"], c["last"] + 1))
    scored = set(range(sc["first"], sc["last"] + 1))
    assert not calibrated & scored and cal["disjoint"] is True
    assert s["n_samples"] == 30  # the scored samples are exactly the others
    z = np.load(ws / "run_default" / "results.npz")
    np.testing.assert_array_equal(z["labels"], np.arange(10, N_SAMPLES) % 3)
    assert z["adc_full_scale"].size > 0 and s["adc_calibrated"] is True
    assert "samples 0..9 of data.npz (held out); scored on the other 30 (samples 10..39" in out


def test_the_held_out_slice_is_exactly_what_calibrates(ws):
    """Held out of data.npz ≡ the same samples given as --calibration-data and the others
    as --data: same ADC ranges, same outputs (so the default neither scores a calibration
    sample nor calibrates on a scored one)."""
    assert chip_run(ws, "run_held", "--adc-calibration", "10")[0] == 0
    code, _, err = chip_run(ws, "run_split", "--adc-calibration", "10", "--calibration-data",
                            str(ws / "head.npz"), data="tail.npz")
    assert code == 0, err
    a, b = (np.load(ws / r / "results.npz") for r in ("run_held", "run_split"))
    np.testing.assert_array_equal(a["adc_full_scale"], b["adc_full_scale"])
    np.testing.assert_array_equal(a["output"], b["output"])
    rec = summary(ws, "run_split")["calibration"]
    assert rec["calibration_samples"]["held_out_of_scored_file"] is False
    assert rec["scored_samples"]["count"] == 30 and rec["disjoint"] is True


def test_nothing_is_held_out_when_nothing_is_calibrated(ws):
    for run, extra, chip in (("run_ideal", (), "ideal"),
                             ("run_full", ("--adc-calibration", "0"), CHIP)):
        code, out, err = chip_run(ws, run, *extra, chip=chip)
        assert code == 0, err
        s = summary(ws, run)
        assert s["n_samples"] == N_SAMPLES
        assert s["calibration"]["calibrated"] == []
        assert s["calibration"]["calibration_samples"] is None
        assert s["calibration"]["scored_samples"]["count"] == N_SAMPLES
        assert "calibration: none" in out


# -- --calibration-data -----------------------------------------------------------------
def test_calibration_data_is_honoured_and_recorded(ws):
    ranges = {}
    for name in ("cal_a", "cal_b"):
        code, out, err = chip_run(ws, f"run_{name}", "--adc-calibration", "16",
                                  "--calibration-data", str(ws / f"{name}.npz"))
        assert code == 0, err
        s = summary(ws, f"run_{name}")
        rec = s["calibration"]
        assert rec["calibration_samples"] == {"file": str(ws / f"{name}.npz"), "first": 0,
                                              "last": 15, "count": 16,
                                              "held_out_of_scored_file": False}
        assert rec["scored_samples"]["count"] == N_SAMPLES == s["n_samples"]
        assert rec["disjoint"] is True and rec["identical_samples"] == 0
        assert f"samples 0..15 of {name}.npz; scored on samples 0..39 of data.npz" in out
        ranges[name] = np.load(ws / f"run_{name}" / "results.npz")["adc_full_scale"]
    assert ranges["cal_a"].shape == ranges["cal_b"].shape
    assert not np.allclose(ranges["cal_a"], ranges["cal_b"])  # weaker inputs, smaller ranges


# -- bad calibration input: exit 2, one line, nothing written ----------------------------
def _write(ws: Path, name: str, make) -> str:
    path = ws / name
    make(path)
    return str(path)


BAD = {
    "wrong-shape": (lambda p: np.savez(p, x=np.zeros((20, N_IN + 1))), "bad_shape.npz",
                    ("--calibration-data", "bad_shape.npz", "shape", "give --calibration-data")),
    "too-few": (lambda p: np.savez(p, x=np.zeros((3, N_IN))), "few.npz",
                ("--calibration-data", "few.npz", "'x'", "3 calibration samples",
                 "--adc-calibration 3")),
    "not-npz": (lambda p: p.write_text("cell,g\n1,2\n"), "cal.csv",
                ("--calibration-data", "cal.csv", ".npz", "give --calibration-data")),
    "no-x": (lambda p: np.savez(p, y=np.zeros(20, int)), "nox.npz",
             ("--calibration-data", "nox.npz", "'x'")),
    "nan": (lambda p: np.savez(p, x=np.full((20, N_IN), np.nan)), "nan.npz",
            ("--calibration-data", "nan.npz", "NaN")),
    "missing": (lambda p: None, "nope.npz", ("--calibration-data", "nope.npz", "no such")),
    "copy-of-data": (lambda p: p.write_bytes((p.parent / "data.npz").read_bytes()), "copy.npz",
                     ("--calibration-data", "copy.npz", "scored samples", "training")),
}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file()}


def _refused(ws: Path, argv_fn, fragments) -> None:
    before = _snapshot(ws)
    code, out, err = argv_fn()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("neurocosim") and "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert _snapshot(ws) == before  # nothing written


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_calibration_data_exits_2_naming_file_field_and_fix(ws, case):
    make, name, fragments = BAD[case]
    path = _write(ws, name, make) if case != "missing" else str(ws / name)
    _refused(ws, lambda: chip_run(ws, f"out_{case}", "--adc-calibration", "10",
                                  "--calibration-data", path), fragments)


def test_the_scored_file_itself_is_refused_as_calibration_data(ws):
    _refused(ws, lambda: chip_run(ws, "out_same", "--calibration-data", str(ws / "data.npz")),
             ("--calibration-data", "data.npz", "scored data file itself", "training set"))


def test_too_few_samples_to_hold_out_is_refused_with_the_fix(ws):
    # the default 64 calibration samples would leave none of the 40 to score
    _refused(ws, lambda: chip_run(ws, "out_few"),
             ("data.npz", "40 samples", "held out", "--calibration-data",
              "smaller --adc-calibration"))


def test_calibration_data_needs_a_chip(ws):
    _refused(ws, lambda: cli("simulate", str(ws / "net.nir"), "--data", str(ws / "data.npz"),
                             "--steps", "4", "--calibration-data", str(ws / "cal_a.npz")),
             ("--calibration-data", "--chip"))


def test_the_pipeline_refuses_to_calibrate_without_calibration_samples(ws):
    from neurocosim.devices import load_chip
    from neurocosim.errors import ConfigError
    from neurocosim.frontends import load_network
    from neurocosim.hwsim import make_encoder
    from neurocosim.pipeline import ChipRunOptions, RunStreams, run_on_chip

    net = load_network(ws / "net.nir")
    x = np.load(ws / "data.npz")["x"]
    enc = make_encoder("rate", x, net.input_shape, np.random.default_rng(0))
    streams = RunStreams(*np.random.SeedSequence(0).spawn(2))
    with pytest.raises(ConfigError, match="calibration="):
        run_on_chip(net, load_chip(CHIP), enc, ChipRunOptions(steps=STEPS), streams=streams)


def test_split_ranges_cannot_overlap():
    from neurocosim.calibration.split import CalibrationSplit, count_identical
    from neurocosim.errors import DataError

    with pytest.raises(DataError, match="overlap"):
        CalibrationSplit(scored_file="d.npz", scored=(5, 40), file="d.npz", samples=(0, 6))
    ok = CalibrationSplit(scored_file="d.npz", scored=(5, 40), file="d.npz", samples=(0, 5))
    assert ok.disjoint and ok.cells(["adc_ranges"]) == ("d.npz[0:5]", "d.npz[5:40]")
    assert CalibrationSplit.from_record(ok.record(["adc_ranges"])) == ok
    a = np.arange(12.0).reshape(4, 3)
    assert count_identical(a[:2], a[1:]) == 1 and count_identical(a[:1], a[1:]) == 0


# -- the sweep ---------------------------------------------------------------------------
def _study(ws: Path, name: str, **changes) -> Path:
    study = {"name": name, "model": "net.nir", "data": "data.npz", "samples": 12,
             "chip": CHIP, "simulation": {"steps": STEPS, "encoding": "rate",
                                          "adc_calibration": 8},
             "grid": {"chip": ["ideal", CHIP]}, "seeds": [0], "metrics": ["accuracy"]}
    study.update(changes)
    path = ws / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _sweep(ws: Path, study: Path, out: str) -> tuple[dict[str, list[str]], dict]:
    from neurocosim.sweep import load_study, read_table, run_sweep

    table = run_sweep(load_study(study), ws / out, workers=1)
    header, rows = read_table(table)
    assert header[-2:] == ["calibrated_on", "scored_on"]
    by_chip = {r[header.index("chip")]: r for r in rows}
    return by_chip, json.loads((ws / out / "study.json").read_text())["calibration"]


def test_the_sweep_holds_out_and_records_the_split(ws):
    rows, rec = _sweep(ws, _study(ws, "held"), "sweep_held")
    # every run scores the same samples, after the 8 held out; the ideal card needs none
    assert rows[CHIP][-2:] == ["data.npz[0:8]", "data.npz[8:20]"]
    assert rows["ideal"][-2:] == ["none", "data.npz[8:20]"]
    assert rec["calibration_samples"]["count"] == 8 and rec["disjoint"] is True
    assert rec["calibration_samples"]["held_out_of_scored_file"] is True
    assert (rec["scored_samples"]["first"], rec["scored_samples"]["last"]) == (8, 19)


def test_the_sweep_honours_calibration_data(ws):
    rows, rec = _sweep(ws, _study(ws, "file", calibration_data="cal_a.npz"), "sweep_file")
    assert rows[CHIP][-2:] == ["cal_a.npz[0:8]", "data.npz[0:12]"]
    assert rows["ideal"][-2:] == ["none", "data.npz[0:12]"]
    assert rec["calibration_samples"]["file"].endswith("cal_a.npz")
    assert rec["scored_samples"]["count"] == 12 and rec["identical_samples"] == 0


def test_the_sweep_refuses_a_split_it_cannot_make(ws):
    from neurocosim.errors import NeurocosimError
    from neurocosim.sweep import load_study, run_sweep

    cases = [
        (dict(simulation={"steps": STEPS, "adc_calibration": N_SAMPLES}),
         ["data.npz", "held out", "calibration_data", "simulation.adc_calibration"]),
        (dict(calibration_data="few.npz"), ["calibration_data", "few.npz", "'x'"]),
        (dict(calibration_data="bad_shape.npz"), ["calibration_data", "bad_shape.npz", "shape"]),
    ]
    np.savez(ws / "few.npz", x=np.zeros((3, N_IN)))
    np.savez(ws / "bad_shape.npz", x=np.zeros((20, N_IN + 1)))
    for i, (changes, fragments) in enumerate(cases):
        study = load_study(_study(ws, f"bad{i}", **changes))
        with pytest.raises(NeurocosimError) as exc:
            run_sweep(study, ws / f"sweep_bad{i}", workers=1)
        for frag in fragments:
            assert frag in str(exc.value), (frag, str(exc.value))
        assert not (ws / f"sweep_bad{i}" / "results.csv").exists()
    with pytest.raises(NeurocosimError, match="calibration_data: .*is the data file itself"):
        load_study(_study(ws, "same", calibration_data="data.npz"))
