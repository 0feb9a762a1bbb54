"""netx files against lava-dl itself: ``lava.lib.dl.netx.hdf5.Network`` loads the ``.net``
file that neurocosim writes and runs it in Lava's fixed-point simulator, spike for spike
against hwsim's ``loihi2`` mode; layers lava-dl cannot represent are refused.

lava-dl runs in its own environment (``.venv-lavadl``: CPython 3.10, lava-nc 0.10,
lava-dl 0.6.0 and PyPI's torch; built by ``tests/targets/lavadl_env.sh``, or named by
``LAVADL_PYTHON``; ``LAVADL_VENV`` names another folder) as a subprocess
(``lavadl_worker.py``). When the environment is missing the test builds it (once; CI
caches the folder); it skips, with pip's reason, only when the wheels cannot be installed.

Each network runs on one stream of input spikes (samples back to back, no reset in
between, the same stream for both simulators); every layer's spikes are compared at every
step.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurocosim import make_encoder
from neurocosim.errors import LoihiWarning
from neurocosim.targets.loihi2 import (
    LoihiLayer,
    LoihiNetwork,
    quantize_loihi2,
    read_netx,
    simulate_loihi2,
    write_netx,
)
from neurocosim.targets.loihi2.netx import NetxError
from tests.conftest import side_python

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGITS_SAMPLES, DIGITS_STEPS = 30, 64


def _lavadl_python() -> Path:
    """lava-dl's interpreter (built when missing; skip only when pip cannot install)."""
    return side_python("lava-dl", HERE / "lavadl_env.sh", "LAVADL", ".venv-lavadl")


def leaky_mixed() -> LoihiNetwork:
    """Three leaky layers (du, dv > 0) with mixed-sign 8-bit weights at weight_exp 0 and
    biases at bias_exp 6: every field lava-dl reads takes a value that matters."""
    rng = np.random.default_rng(7)
    spec = (("l1", 40, 30, 600, 150, 3000), ("l2", 25, 40, 2000, 400, 2500),
            ("l3", 10, 25, 4095, 40, 1200))
    layers = []
    for name, n_out, n_in, du, dv, vth in spec:
        w = np.minimum((rng.integers(-256, 256, (n_out, n_in)) >> 1) << 1, 254)
        layers.append(LoihiLayer(name=name, weight=w, weight_exp=0, num_weight_bits=8,
                                 sign_mode="mixed", du=du, dv=dv, vth=vth,
                                 bias_mant=rng.integers(-40, 60, n_out), bias_exp=6))
    return LoihiNetwork(name="leaky", layers=tuple(layers))


@pytest.fixture(scope="module")
def cases(digits_mlp) -> dict:
    """name → (Loihi network, input stream (1, steps, n_in))."""
    from neurocosim import convert_mlp

    mlp, xtr, xte, _ = digits_mlp
    net = convert_mlp(mlp, xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        digits = quantize_loihi2(net)
    enc = make_encoder("rate", xte, net.input_shape, np.random.default_rng(0))
    x = enc.block(0, DIGITS_SAMPLES, DIGITS_STEPS).reshape(1, -1, net.input_shape[0])
    leaky = leaky_mixed()
    xl = (np.random.default_rng(1).random((1, 600, 30)) < 0.3).astype(np.int8)
    return {"digits": (digits, x.astype(np.int8)), "leaky": (leaky, xl)}


@pytest.fixture(scope="module")
def lavadl_runs(cases, tmp_path_factory) -> dict:
    py = _lavadl_python()
    d = tmp_path_factory.mktemp("lavadl")
    jobs = []
    for key, (q, x) in cases.items():
        path = write_netx(q, d / f"{key}.net", require_lavadl=True)
        np.save(d / f"{key}.npy", np.ascontiguousarray(x[0].T))
        jobs.append({"key": key, "net": str(path), "spikes": str(d / f"{key}.npy")})
    (d / "spec.json").write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run([str(py), str(HERE / "lavadl_worker.py"), str(d / "spec.json"),
                           str(d / "out.npz")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(d / "out.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("key", ["digits", "leaky"])
def test_lavadl_runs_the_netx_file_spike_for_spike(cases, lavadl_runs, key):
    q, x = cases[key]
    hw = simulate_loihi2(q, x)
    assert str(lavadl_runs[f"{key}/table"]).count("Dense") == len(q.layers)
    for k, L in enumerate(q.layers):
        want = hw.spikes[L.name][0]  # (steps, n_out)
        got = lavadl_runs[f"{key}/{k}"].T
        assert got.shape == want.shape
        mismatched = int((got != want).sum())
        rate = float(want.mean())
        print(f"{key} {L.name}: {want.size} neuron-steps, {int(want.sum())} spikes "
              f"(rate {rate:.3f}), {mismatched} mismatched")
        assert mismatched == 0, (key, L.name, mismatched)
        assert want.sum() >= 50 and rate < 0.6, (key, L.name, rate)  # not silent, not saturated


def test_unrepresentable_layers_are_refused_or_left_unloadable(tmp_path):
    """weight_exp 3 (weights beyond lava-dl's 8 bits), weight_exp −2 with weights that are
    not whole numbers at exponent 0, and biases at bias_exp 2 that are not multiples of 16."""
    base = leaky_mixed().layers
    bad = {
        "l1": LoihiLayer(**{**vars(base[0]), "weight_exp": 3}),
        "l2": LoihiLayer(**{**vars(base[1]), "weight_exp": -2}),
        "l3": LoihiLayer(**{**vars(base[2]), "bias_exp": 2,
                           "bias_mant": np.arange(10) * 16 + 3}),
    }
    why = {"l1": "outside lava-dl's 8-bit range", "l2": "not whole numbers at exponent 0",
           "l3": "not whole multiples of 2\\^4"}
    for name, layer in bad.items():
        layers = tuple(layer if L.name == name else L for L in base)
        net = LoihiNetwork(name="bad", layers=layers)
        with pytest.raises(NetxError, match=f"layer '{name}' cannot be written for lava-dl: "
                                            f".*{why[name]}.*fix: "):
            write_netx(net, tmp_path / f"{name}.net", require_lavadl=True)
        assert not (tmp_path / f"{name}.net").exists()
        path = write_netx(net, tmp_path / f"{name}.net")  # neurocosim's own round trip
        k = [L.name for L in layers].index(name) + 1
        with h5py.File(path, "r") as f:
            g = f[f"layer/{k}"]
            assert "weight" not in g and "bias" not in g and "neuron" not in g
            assert g.attrs["lavadl"].startswith("not readable by lava-dl")
        back = read_netx(path)
        for a, b in zip(back.layers, layers, strict=True):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.bias_mant, b.bias_mant)
            assert (a.weight_exp, a.bias_exp, a.du, a.dv, a.vth) == (
                b.weight_exp, b.bias_exp, b.du, b.dv, b.vth)


def test_file_layout_is_what_lavadl_reads(tmp_path, cases):
    q, _ = cases["leaky"]
    with h5py.File(write_netx(q, tmp_path / "m.net"), "r") as f:
        assert set(f["layer/0"]) == {"type", "shape"}  # no input neuron: no extra delay
        for i, L in enumerate(q.layers, start=1):
            g = f[f"layer/{i}"]
            np.testing.assert_array_equal(g["weight"][()], L.weight)  # weight_exp 0
            np.testing.assert_array_equal(g["bias"][()], L.bias_mant)  # bias_exp 6
            assert g["neuron/vThMant"][()] == L.vth and g["neuron/iDecay"][()] == L.du + 1
