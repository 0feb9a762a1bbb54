"""``examples/transformer_study.py`` end to end, small: a tiny Spike-driven Transformer and
a tiny Spikformer trained in SpikingJelly (in ``.venv-torch``, built by
``tests/frontends/torch_env.sh`` when missing: a failed build fails this test, it never
skips) for 3 epochs on 900 digits, imported into NIR files, run here on the reference
engine and on ``prime-rram-40nm``.

The independent reference is SpikingJelly itself: the reference engine's predictions on
the test digits must equal the framework's own float64 forward pass (computed in the
other environment, from the same weights) on every sample. The chip runs must report
the energy split (crossbar, ADC, digital units, neurons, routing) summing to the total,
the attention's SOPs in the papers' convention, and early stop must end runs early.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, SAMPLES, STEPS = 3, 900, 4  # 900 training digits, all 450 test digits
EARLY_STOP = "confidence:0.5:2"  # these briefly trained models are less confident


def _study():
    spec = importlib.util.spec_from_file_location("transformer_study",
                                                  ROOT / "examples" / "transformer_study.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    mod = _study()
    tmp = tmp_path_factory.mktemp("transformer")
    summary = mod.run(tmp / "out", figures_dir=tmp / "figures", epochs=EPOCHS, steps=STEPS,
                      samples=SAMPLES, seed=0, early_stop=EARLY_STOP)
    return mod, tmp, summary


@pytest.mark.timeout(900)  # the first call may build .venv-torch
def test_reference_engine_predicts_as_spikingjelly(study):
    _, tmp, summary = study
    out = tmp / "out"
    assert summary["n_train"] == SAMPLES and summary["n_test"] == 450
    for key in ("sdt", "spikformer"):
        with np.load(out / f"{key}_framework.npz") as f:
            framework = f["pred"]
        with np.load(out / "test.npz") as t:
            y = t["y"]
        assert len(framework) == len(y) == 450
        assert len(set(framework.tolist())) >= 4, (key, np.bincount(framework))  # not degenerate
        m = summary["models"][key]
        assert m["reference"]["agreement"] == 1.0, (key, m["reference"]["disagreeing_samples"])
        assert m["reference"]["accuracy"] == pytest.approx(float((framework == y).mean()))
        assert m["framework_accuracy"] == pytest.approx(float((framework == y).mean()))
        rates = m["reference"]["firing_rate"]
        assert all(0.0 <= r < 1.0 for r in rates.values()) and max(rates.values()) > 0.01, rates
    kinds = {k: set(m["node_kinds"]) for k, m in summary["models"].items()}
    assert {"Mul", "ReduceSum", "MaxPool2d", "Add"} <= kinds["sdt"], kinds["sdt"]
    assert {"MatMul", "Transpose", "Add"} <= kinds["spikformer"], kinds["spikformer"]


def test_chip_runs_report_the_energy_split(study):
    mod, tmp, summary = study
    ended_early = []
    for key, m in summary["models"].items():
        for policy, r in m["chip"].items():
            split = r["split_J"]
            for group in ("crossbar", "ADC", "digital units", "neurons", "routing"):
                assert split.get(group, 0.0) > 0.0, (key, policy, group, split)
            assert sum(split.values()) == pytest.approx(r["total_J"], rel=1e-9)
            p = r["paper"]
            assert p["attention_sops"] > 0 and p["sops"] > 0 and p["E_snn_J"] > 0, p
            assert 0.0 <= r["accuracy"] <= 1.0
        full, early = m["chip"]["none"], m["chip"][EARLY_STOP]
        assert full["mean_steps"] == STEPS
        assert 1.0 <= early["mean_steps"] <= STEPS
        ended_early.append(early["mean_steps"] < STEPS)
        assert early["total_J"] <= full["total_J"] * (1 + 1e-9)
    assert any(ended_early), "early stop never ended a run early"
    saved = json.loads((tmp / "out" / "summary.json").read_text())
    assert saved["models"].keys() == summary["models"].keys()
    table = (tmp / "figures" / "transformer-study.md").read_text()
    assert "Spike-driven Transformer" in table and "Spikformer" in table
    assert (tmp / "figures" / "transformer-study-energy.png").stat().st_size > 1000
    assert (tmp / "figures" / "transformer-study-accuracy.png").stat().st_size > 1000


def test_the_output_folder_is_never_overwritten_without_force(tmp_path, capsys):
    """A folder holding a user's file, or a user's table in --figures, is refused before
    anything is trained."""
    mod = _study()
    (tmp_path / "notes.txt").write_text("mine")
    rc = mod.main(["--out", str(tmp_path), "--figures", str(tmp_path / "figs"), "--epochs",
                   "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--force" in err and err.count("\n") == 1, err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "transformer-study.md").write_text("my table")
    rc = mod.main(["--out", str(tmp_path / "new"), "--figures", str(figs), "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "--force" in err and "transformer-study.md" in err, err
    assert (figs / "transformer-study.md").read_text() == "my table"
    assert not (tmp_path / "new").exists()
