"""The command line: every command works, has --help, and bad input exits 2 with one line."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from neurocosim import network_from_weights, save_network
from neurocosim.cli import main

COMMANDS = [["info"], ["simulate"], ["convert"], ["chips"], ["chip"], ["chip", "show"], ["device"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    assert e.value.code == 0
    assert "usage: neurocosim" in capsys.readouterr().out


@pytest.fixture
def model_and_data(tmp_path, rng):
    w0, w1 = rng.normal(0, 0.5, (12, 6)), rng.normal(0, 0.5, (3, 12))
    net = network_from_weights([w0, w1], dt=1e-3, neuron="IF", reset="subtract")
    model = save_network(net, tmp_path / "m.nir")
    x = rng.uniform(0, 1, (20, 6))
    y = rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return model, tmp_path / "d.npz", net, x, y


def test_info(model_and_data, capsys):
    model, *_ = model_and_data
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "fc0" in out and "(6,)" in out and "neurons: 15" in out and "synapses" in out


def test_simulate_json(model_and_data, tmp_path, capsys):
    from neurocosim import make_encoder, simulate_reference

    model, data, net, x, y = model_and_data
    out = tmp_path / "r.json"
    assert main(["simulate", str(model), "--steps", "16", "--data", str(data), "--json",
                 str(out), "-q"]) == 0
    rep = json.loads(out.read_text())
    ref = simulate_reference(net, make_encoder("current", x, (6,)), 16)
    assert rep["n_samples"] == 20 and rep["steps"] == 16
    assert rep["accuracy"] == pytest.approx(ref.accuracy(y))
    np.testing.assert_array_equal(rep["output_counts_per_class"], ref.output.sum(axis=0))
    assert rep["predictions"] == ref.predictions().tolist()
    assert "accuracy:" in capsys.readouterr().out


def test_simulate_rate_is_seeded(model_and_data, tmp_path):
    model, data, *_ = model_and_data
    runs = []
    for seed in (1, 1, 2):
        out = tmp_path / f"r{len(runs)}.json"
        main(["simulate", str(model), "--steps", "30", "--data", str(data), "--encoding",
              "rate", "--seed", str(seed), "--json", str(out), "-q"])
        runs.append(json.loads(out.read_text())["output_counts_per_class"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_ties_go_to_lowest_class(tmp_path):
    net = network_from_weights([np.ones((3, 2))], dt=1e-3, neuron="IF")  # identical outputs
    model = save_network(net, tmp_path / "tie.nir")
    np.savez(tmp_path / "d.npz", x=np.full((4, 2), 0.7), y=np.zeros(4, int))
    out = tmp_path / "t.json"
    main(["simulate", str(model), "--steps", "10", "--data", str(tmp_path / "d.npz"), "--json",
          str(out), "-q"])
    rep = json.loads(out.read_text())
    assert rep["predictions"] == [0, 0, 0, 0] and rep["accuracy"] == 1.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_convert_then_simulate(tmp_path, capsys):
    x, y = load_digits(return_X_y=True)
    x = x[:400] / 16.0
    y = y[:400]
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(x, y)
    joblib.dump(mlp, tmp_path / "mlp.joblib")
    np.savez(tmp_path / "train.npz", x=x, y=y)
    # a pickle loads only when the user vouches for it
    assert main(["convert", str(tmp_path / "mlp.joblib"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert not (tmp_path / "snn.nir").exists()
    assert main(["convert", str(tmp_path / "mlp.joblib"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir"), "--trust-pickle"]) == 0
    assert main(["simulate", str(tmp_path / "snn.nir"), "--steps", "32", "--data",
                 str(tmp_path / "train.npz"), "-q"]) == 0
    out = capsys.readouterr().out
    acc = float(out.split("accuracy: ")[1].split()[0])
    assert acc > 0.9


def test_chips_and_chip_show(capsys):
    assert main(["chips"]) == 0
    assert "prime-rram-40nm" in capsys.readouterr().out
    assert main(["chip", "show", "pcm-aihwkit"]) == 0
    out = capsys.readouterr().out
    assert "pcm_aihwkit" in out and "1.56 pJ" in out
    assert main(["chip", "show", "loihi2", "--yaml"]) == 0
    assert "neurons_per_core: 8192" in capsys.readouterr().out


@pytest.mark.parametrize("args,fragment", [
    (["info", "missing.nir", "--dt", "1e-3"], "no such model file"),
    (["chip", "show", "nope"], "no chip preset named 'nope'"),
    (["simulate", "MODEL", "--steps", "5", "--data", "missing.npz"], "no such data file"),
    (["simulate", "MODEL", "--steps", "5", "--data", "DATA", "--encoding", "rate"],
     "rate coding needs values in [0, 1]"),
    (["simulate", "MODEL", "--steps", "0", "--data", "DATA"], "must be >= 1"),
    (["info", "MODEL", "--dt", "-1"], "must be > 0"),
])
def test_bad_input_exits_2_with_one_line(model_and_data, tmp_path, args, fragment):
    model, data, *_ = model_and_data
    np.savez(tmp_path / "big.npz", x=np.full((2, 6), 3.0))
    args = [str(model) if a == "MODEL" else str(tmp_path / "big.npz") if a == "DATA" else a
            for a in args]
    proc = subprocess.run([sys.executable, "-m", "neurocosim.cli", *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert fragment in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_device_command_text_plot_json(tmp_path, capsys):
    png, js = tmp_path / "d.png", tmp_path / "d.json"
    assert main(["device", "pcm-aihwkit", "--cells", "20000", "--times", "1h,1d", "--plot",
                 str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "programming noise 'pcm_aihwkit'" in out and "drift at 1 d" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    rep = json.loads(js.read_text())
    for row in rep["sigma_at_targets"]:
        assert row["sigma_measured_S"] == pytest.approx(row["sigma_model_S"], rel=0.05)
    day = rep["drift_mean_ratio"]["86400.0"]
    assert day["measured"] == pytest.approx(day["expected"], rel=0.02)


def test_simulate_on_chip_writes_run_directory(model_and_data, tmp_path, capsys):
    model, data, net, x, y = model_and_data
    np.savez(tmp_path / "bin.npz", x=(x > 0.5).astype(float), y=y)
    # the ADC ranges are calibrated on 64 other samples: all 20 of bin.npz are scored
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(9).uniform(0, 1, (64, 6)))
    cal = ["--calibration-data", str(tmp_path / "cal.npz")]
    run = tmp_path / "run"
    assert main(["simulate", str(model), "--chip", "pcm-aihwkit", "--data", str(tmp_path / "bin.npz"),
                 "--steps", "20", "--encoding", "rate", "--early-stop", "confidence:0.9",
                 "--seed", "3", "-o", str(run), "-q", *cal]) == 0
    summary = json.loads((run / "summary.json").read_text())
    for key in ("accuracy", "n_samples", "steps_max", "mean_steps", "load_saving", "seed", "chip",
                "wall_s", "synaptic_events"):
        assert key in summary
    assert summary["chip"] == "pcm-aihwkit" and summary["n_samples"] == 20
    assert summary["calibration"]["calibration_samples"]["count"] == 64
    assert summary["load_saving"] == pytest.approx(1 - summary["mean_steps"] / 20)
    z = np.load(run / "results.npz")
    assert z["output"].shape == (20, 3) and z["block"].shape[0] == 20
    for png in ("raster.png", "early_stop.png"):
        assert (run / png).read_bytes()[:4] == b"\x89PNG"
    # same seed, same result
    run2 = tmp_path / "run2"
    main(["simulate", str(model), "--chip", "pcm-aihwkit", "--data", str(tmp_path / "bin.npz"),
          "--steps", "20", "--encoding", "rate", "--early-stop", "confidence:0.9", "--seed", "3",
          "-o", str(run2), "-q", *cal])
    np.testing.assert_array_equal(np.load(run2 / "results.npz")["output"], z["output"])


def test_simulate_on_the_loihi2_card_says_to_deploy(model_and_data, tmp_path, capsys):
    """The loihi2 preset is a deployment target, not a crossbar: one line with the fix."""
    model, data, *_ = model_and_data
    code = main(["simulate", str(model), "--chip", "loihi2", "--data", str(data), "--steps", "5",
                 "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "chip 'loihi2'" in err[0] and "deploy MODEL --target lava" in err[0]
    assert not (tmp_path / "run").exists()
