"""Sweeps: identical tables on a process pool and on Dask; kill and resume lose nothing."""

import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from neurocosim import network_from_weights, save_network
from neurocosim.errors import ConfigError, NeurocosimError
from neurocosim.sweep import load_study, read_table, run_sweep


@pytest.fixture
def study_file(tmp_path):
    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(0, 0.6, (24, 16)), rng.normal(0, 0.6, (4, 24))],
                               dt=1e-3, neuron="IF")
    save_network(net, tmp_path / "m.nir")
    x = rng.uniform(0, 1, (30, 16))
    np.savez(tmp_path / "d.npz", x=x, y=rng.integers(0, 4, 30))
    study = {
        "name": "t", "model": "m.nir", "data": "d.npz", "chip": "prime-rram-40nm",
        "simulation": {"steps": 12, "encoding": "rate", "adc_calibration": 10},
        "grid": {"macro.programming_noise.params.percent": [0, 10, 20],
                 "simulation.early_stop": ["none", "margin:2"]},
        "seeds": [0, 1],
        "metrics": ["accuracy", "mean_steps", "energy_per_inference_J", "clipped_conversions"],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_study_expansion(study_file):
    s = load_study(study_file)
    assert len(s.runs) == 3 * 2 * 2
    assert len({r.run_id for r in s.runs}) == 12
    assert s.columns()[:3] == ["run_id", "index", "seed"]


@pytest.mark.timeout(300)
def test_local_pool_and_dask_give_identical_tables(study_file, tmp_path):
    s = load_study(study_file)
    a = run_sweep(s, tmp_path / "local", executor="local", workers=2)
    b = run_sweep(s, tmp_path / "dask", executor="dask-local", workers=2)
    ha, ra = read_table(a)
    hb, rb = read_table(b)
    assert ha == hb and len(ra) == 12
    assert ra == rb  # sorted by run index, exact float reprs
    acc = {(r[3], r[4]): [] for r in ra}
    for r in ra:
        acc[(r[3], r[4])].append(float(r[5]))
    assert len(acc) == 6


@pytest.mark.timeout(300)
def test_kill_and_resume_gives_the_full_table_once(study_file, tmp_path):
    s = load_study(study_file)
    full = read_table(run_sweep(s, tmp_path / "ref", workers=1))[1]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "neurocosim.cli", "sweep", str(study_file),
                             "-o", str(out), "--workers", "1", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    table = out / "results.csv"
    while time.time() < deadline:
        if table.exists() and len(read_table(table)[1]) >= 3:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    partial = read_table(table)[1]
    assert 3 <= len(partial) < 12, "the sweep should have been interrupted part way"
    with open(table, "a") as fh:  # a torn line, as a kill mid-write would leave
        fh.write("deadbeef,3,0,1")
    with pytest.raises(NeurocosimError, match="--resume"):
        run_sweep(s, out)
    run_sweep(s, out, resume=True, workers=1)
    header, rows = read_table(table)
    assert len(rows) == 12 and len({r[0] for r in rows}) == 12
    assert rows == full
    # resuming a finished sweep runs nothing and changes nothing
    run_sweep(s, out, resume=True)
    assert read_table(table)[1] == full


def test_bad_study_errors(tmp_path, study_file):
    raw = yaml.safe_load(study_file.read_text())
    raw["grdi"] = raw.pop("grid")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="grdi: unknown key; did you mean 'grid'"):
        load_study(bad)
    raw["grid"] = {"macro.programming_noise.params.percent": []}
    raw.pop("grdi")
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="non-empty list"):
        load_study(bad)
    raw["grid"] = {"simulation.early_stop": ["none"]}
    raw["metrics"] = ["accurcy"]
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="unknown metric 'accurcy'"):
        load_study(bad)


def test_bad_card_value_in_grid_fails_with_the_path(tmp_path, study_file):
    raw = yaml.safe_load(study_file.read_text())
    raw["grid"] = {"macro.adc_bits": [40]}
    raw["seeds"] = [0]
    bad = tmp_path / "s.yaml"
    bad.write_text(yaml.safe_dump(raw))
    # validated when the study is loaded (not in a worker), naming the grid key and value
    with pytest.raises(ConfigError, match="grid: macro.adc_bits = 40: macro.adc_bits"):
        load_study(bad)
    assert not (tmp_path / "o").exists()
