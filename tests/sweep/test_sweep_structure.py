"""The sweep package's structure: runs go through the pipeline, the worker cache is keyed by
the files, and the modules stay small."""

import ast
import os
from pathlib import Path

import numpy as np
import pytest

import neurocosim.sweep as sweep_pkg
from neurocosim import network_from_weights, save_network
from neurocosim.sweep import runner
from neurocosim.sweep.runner import _study_payload, run_one

SWEEP = Path(sweep_pkg.__file__).parent
#: steps the pipeline owns; a sweep run calls run_on_chip instead
FORBIDDEN = {"map_network", "program_chip", "calibrate_adc_ranges", "rebalance_thresholds"}
#: names forbidden when imported from these modules
FORBIDDEN_FROM = {"simulate": ("hwsim",), "estimate": ("energy",)}


def _modules():
    return sorted(SWEEP.glob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_sweep_does_not_reimplement_the_pipeline(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            for alias in node.names:
                assert alias.name not in FORBIDDEN, f"{path.name}:{node.lineno} {alias.name}"
                froms = FORBIDDEN_FROM.get(alias.name, ())
                assert not any(mod == f or mod.startswith(f + ".") for f in froms), \
                    f"{path.name}:{node.lineno} {mod}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith(("neurocosim.hwsim", "neurocosim.energy",
                                                  "neurocosim.mapping")), alias.name
        elif isinstance(node, ast.Attribute):
            assert node.attr not in FORBIDDEN, f"{path.name}:{node.lineno} .{node.attr}"
    assert "run_on_chip" in (SWEEP / "runner.py").read_text()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_modules_and_functions_are_small(path):
    text = path.read_text()
    assert text.count("\n") <= 500, f"{path.name} has {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            n_params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) \
                + bool(a.kwarg)
            assert n_params <= 12, f"{path.name}: {node.name} takes {n_params} parameters"
            length = node.end_lineno - node.lineno + 1
            assert length <= 80, f"{path.name}: {node.name} is {length} lines"


def test_public_names_stay_importable():
    for name in sweep_pkg.__all__:
        assert getattr(sweep_pkg, name) is not None
    for name in runner.__all__:
        assert getattr(runner, name) is not None


@pytest.fixture
def study(tmp_path):
    from neurocosim.sweep import study_from_dict

    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(0, 0.6, (12, 8)), rng.normal(0, 0.6, (3, 12))],
                               dt=1e-3, neuron="IF")
    save_network(net, tmp_path / "m.nir")
    np.savez(tmp_path / "d.npz", x=rng.uniform(0, 1, (6, 8)), y=rng.integers(0, 3, 6))
    return study_from_dict({"model": "m.nir", "data": "d.npz", "chip": "prime-rram-40nm",
                            "simulation": {"steps": 4, "adc_calibration": 2},
                            "seeds": [0, 1], "metrics": ["accuracy", "synaptic_events"]},
                           base=tmp_path, source="s.yaml")


def test_worker_keeps_network_and_data_until_their_files_change(study, tmp_path):
    runner._cached_network.cache_clear()
    runner._cached_data.cache_clear()
    payload = _study_payload(study)
    first = [run_one(payload, r.index, dict(r.params), r.seed) for r in study.runs]
    assert runner._cached_network.cache_info().misses == 1
    assert runner._cached_network.cache_info().hits == 1
    assert runner._cached_data.cache_info().misses == 1
    again = [run_one(payload, r.index, dict(r.params), r.seed) for r in study.runs]
    assert again == first  # a cached network and data give the same runs
    st = os.stat(tmp_path / "d.npz")
    os.utime(tmp_path / "d.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    run_one(payload, 0, {}, 0)
    assert runner._cached_data.cache_info().misses == 2  # changed: read again
    assert runner._cached_network.cache_info().misses == 1
    assert runner._cached_network.cache_info().maxsize == 4
