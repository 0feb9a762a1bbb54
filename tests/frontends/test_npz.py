import numpy as np
import pytest

from neurocosim import (
    load_network,
    make_encoder,
    network_from_weights,
    save_network,
    simulate_reference,
)
from neurocosim.errors import ModelError


def test_npz_round_trip(tmp_path, rng):
    net = network_from_weights([rng.normal(size=(8, 5)), rng.normal(size=(3, 8))],
                               [rng.normal(size=8), None], dt=1e-3, neuron="LIF",
                               output_neuron="LI", beta=[0.8, 0.95], v_threshold=[0.7, 1.0],
                               reset="subtract")
    path = save_network(net, tmp_path / "w.npz")
    back = load_network(path)
    x = rng.uniform(0, 1, (4, 5))
    a = simulate_reference(net, make_encoder("current", x, (5,)), 20)
    b = simulate_reference(back, make_encoder("current", x, (5,)), 20)
    np.testing.assert_allclose(a.output, b.output, rtol=1e-12)
    assert back.nodes["lif0"].reset == "subtract"


def test_beta_gives_exact_decay(rng):
    w = rng.normal(size=(4, 3))
    net = network_from_weights([w], dt=1e-4, neuron="LIF", beta=0.9, v_threshold=1e9)
    x = rng.uniform(0, 1, (2, 3))
    res = simulate_reference(net, make_encoder("current", x, (3,)), 10, probes=["lif0.v"])
    v = np.zeros((2, 4))
    for t in range(10):
        v = 0.9 * v + x @ w.T
        np.testing.assert_allclose(res.probes["lif0.v"][:, t], v, rtol=1e-12)


def test_npz_bad_input(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(p, weight_0=np.ones((2, 2)), dt=1e-3, wieght_1=np.ones(2))
    with pytest.raises(ModelError, match=r"unknown key\(s\) \['wieght_1'\]"):
        load_network(p)
    np.savez(p, weight_0=np.ones((2, 2)), dt=1e-3, neuron="LIF", beta=1.0)
    with pytest.raises(ModelError, match="beta must lie in"):
        load_network(p)
    np.savez(p, weight_0=np.ones((2, 2)))
    with pytest.raises(ModelError, match="no 'dt'"):
        load_network(p)
    np.savez(p, weight_0=np.array([[1.0, np.nan]]), dt=1e-3, neuron="IF")
    with pytest.raises(ModelError, match="NaN"):
        load_network(p)


def test_load_network_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_network(tmp_path / "missing.nir", dt=1e-3)
    p = tmp_path / "m.onnx"
    p.write_text("x")
    with pytest.raises(ModelError, match="unknown model format"):
        load_network(p)
