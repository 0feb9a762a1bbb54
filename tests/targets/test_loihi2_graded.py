"""Graded input spikes on Loihi 2: a current-encoded model deployed with B-bit payloads into
its first Dense layer, the integer simulator against Lava's fixed_pt, spike for spike."""

import json
import warnings

import numpy as np
import pytest

from neurocosim import convert_mlp, make_encoder, save_network, simulate_reference
from neurocosim.errors import DataError, ModelError, SimulationError
from neurocosim.targets.loihi2 import (
    LoihiLayer,
    LoihiNetwork,
    LoihiWarning,
    graded_payload,
    payload_error,
    quantize_loihi2,
    read_netx,
    reference_loihi2,
    run_lava,
    simulate_loihi2,
    trace_loihi2,
    write_netx,
)
from tests.conftest import lava_only

STEPS = 32
BITS = 8


@pytest.fixture(scope="module")
def current_digits(digits_mlp):
    """The digits MLP as an SNN run with constant-current input, deployed with 8-bit
    graded input spikes: (float net, graded Loihi net, analog frames, payloads, labels)."""
    mlp, xtr, xte, yte = digits_mlp
    net = convert_mlp(mlp, xtr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        q = quantize_loihi2(net, num_message_bits=BITS)
    x = make_encoder("current", xte, net.input_shape).block(0, len(xte), STEPS)
    return net, q, x, graded_payload(x, BITS), yte


def test_payload_equals_closed_form(rng):
    """p = floor(x / x_max · (2^B − 1) + 1/2): exact, its error within x_max / (2P)."""
    x = np.concatenate([rng.random(5000), [0.0, 1.0, 0.5, 1e-12, 1 - 1e-12]])
    for bits in (1, 4, 8, 13, 24):
        levels = 2**bits - 1
        p = graded_payload(x, bits)
        np.testing.assert_array_equal(p, np.floor(x * levels + 0.5).astype(np.int64))
        assert p.dtype == np.int32 and p.min() == 0 and p.max() == levels
        err = np.abs(p / levels - x)
        assert err.max() <= payload_error(bits, 1.0) * (1 + 1e-9)
        assert err.max() > 0.9 * payload_error(bits, 1.0) or bits == 24  # the bound is tight
    p = graded_payload(3.0 * x, 8, input_max=3.0)
    np.testing.assert_array_equal(p, graded_payload(x, 8))
    assert graded_payload(np.array([0.25, 0.75]), 2).tolist() == [1, 2]  # 0.75 → 2.25 → 2
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        graded_payload(np.array([-0.1, 0.5]), 8)
    with pytest.raises(DataError, match="rescale"):
        graded_payload(np.array([1.5]), 8)
    for bad in (0, 25, 2.5):
        with pytest.raises(ModelError, match="num_message_bits"):
            graded_payload(x, bad)


def test_graded_first_layer_reproduces_the_float_current(current_digits):
    """W_q · p · 2^(weight_exp + 6) equals s · W_eff · x up to the weight and payload
    rounding, and the worst-case step input stays inside the 24-bit u."""
    net, q, x, p, _ = current_digits
    L = q.layers[0]
    assert q.num_message_bits == BITS and q.report["input"]["payload_max"] == 255
    w_eff = net.nodes["fc0"].weight * net.discretised("if0").gain.ravel()[:, None]
    x0, p0 = x[:50, 0].reshape(50, -1), p[:50, 0].reshape(50, -1)
    integer = (L.weight @ p0.T) * 2.0 ** (L.weight_exp + 6)
    floated = L.scale * (w_eff @ x0.T)
    rel = np.abs(integer - floated).max() / np.abs(floated).max()
    assert 1e-4 < rel < 0.01, rel  # 8-bit weights and payloads: well under 1 %
    assert np.abs(L.weight).sum(axis=1).max() * 255 * 2.0 ** (L.weight_exp + 6) < 2**23
    # the binary deployment of the same network has a 255x smaller first-layer input unit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        qb = quantize_loihi2(net)
    assert qb.layers[0].vth != L.vth and qb.num_message_bits == 0


def test_numba_graded_equals_numpy_statement(current_digits):
    _, q, _, p, _ = current_digits
    res = simulate_loihi2(q, p[:3])
    for s in range(3):
        tr = trace_loihi2(q, p[s])
        for k, L in enumerate(q.layers):
            np.testing.assert_array_equal(res.spikes[L.name][s], tr[k]["s"])
            np.testing.assert_array_equal(res.u[L.name][s], tr[k]["u"][-1])
            np.testing.assert_array_equal(res.v[L.name][s], tr[k]["v"][-1])
    assert all(res.spikes[L.name].sum() > 20 for L in q.layers)


def test_deployed_current_network_accuracy(current_digits):
    """The 8-bit graded deployment keeps the float network's accuracy (measured: 0.969
    against 0.971 on the 450 held-out digits, 32 steps)."""
    net, q, x, p, yte = current_digits
    fx = simulate_loihi2(q, p, keep_spikes=False).accuracy(yte)
    fl = simulate_reference(net, make_encoder("current", x[:, 0], net.input_shape),
                            STEPS).accuracy(yte)
    assert fl > 0.9 and fx >= fl - 0.02, (fx, fl)


def test_graded_input_is_checked(current_digits):
    _, q, x, p, _ = current_digits
    with pytest.raises(SimulationError, match="integer payloads in 0..255"):
        simulate_loihi2(q, x[:2])  # analog values, not payloads
    with pytest.raises(SimulationError, match="0..255"):
        simulate_loihi2(q, p[:2] * 2)
    with pytest.raises(ModelError, match="int32 dendritic accumulator.*fewer num_message_bits"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        quantize_loihi2(current_digits[0], num_message_bits=24)


def test_netx_records_message_bits(tmp_path, current_digits):
    _, q, _, p, _ = current_digits
    back = read_netx(write_netx(q, tmp_path / "g.net"))
    assert back.num_message_bits == BITS and back.input_max == 1.0
    np.testing.assert_array_equal(simulate_loihi2(back, p[:2]).counts,
                                  simulate_loihi2(q, p[:2]).counts)
    # binary deployments keep the files and report they had before graded spikes
    import h5py

    binary = LoihiNetwork(name="b", layers=q.layers)
    with h5py.File(write_netx(binary, tmp_path / "b.net"), "r") as f:
        assert set(f["layer/0"]) == {"type", "shape"}
    assert read_netx(tmp_path / "b.net").num_message_bits == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        assert "input" not in quantize_loihi2(current_digits[0]).report


@lava_only
@pytest.mark.timeout(120)
def test_lava_matches_hwsim_on_current_input_digits(current_digits):
    """0 mismatched spikes per neuron per step, and equal u, v, on 30 digits."""
    _, q, _, p, yte = current_digits
    x = p[:30]
    hw = simulate_loihi2(q, x)
    lv = run_lava(q, x)
    for L in q.layers:
        assert hw.spikes[L.name].mean() > 0.01, L.name
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        np.testing.assert_array_equal(lv.u[L.name], hw.u[L.name])
        np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])
    assert lv.accuracy(yte[:30]) == hw.accuracy(yte[:30]) >= 0.85


def overflowing(rng):
    """24-bit payloads into 8-bit weights: W_q · p leaves int32 in about half the steps."""
    l1 = LoihiLayer(name="g1", weight=(rng.integers(-256, 256, (6, 4)) >> 1) << 1,
                    weight_exp=-8, num_weight_bits=8, sign_mode="mixed", du=4095, dv=0,
                    vth=2000, bias_mant=np.zeros(6, np.int64), bias_exp=0)
    l2 = LoihiLayer(name="g2", weight=np.full((3, 6), 100), weight_exp=0, num_weight_bits=8,
                    sign_mode="excitatory", du=4095, dv=200, vth=150,
                    bias_mant=np.zeros(3, np.int64), bias_exp=0)
    return LoihiNetwork(name="overflow", layers=(l1, l2), num_message_bits=24)


@lava_only
@pytest.mark.timeout(120)
def test_graded_int32_accumulation_wraps_like_lava(rng):
    q = overflowing(rng)
    x = rng.integers(0, 1 << 24, (2, 40, 4)).astype(np.int32)
    acc = np.einsum("oi,sti->sto", q.layers[0].weight.astype(np.int64), x.astype(np.int64))
    assert np.mean(np.abs(acc) >= 2**31) > 0.3  # the wrap path is taken
    hw = simulate_loihi2(q, x)
    np.testing.assert_array_equal(hw.spikes["g1"][0], reference_loihi2(q, x[0])[0])
    lv = run_lava(q, x)
    for L in q.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        np.testing.assert_array_equal(lv.u[L.name], hw.u[L.name])
        np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])


@lava_only
@pytest.mark.timeout(180)
def test_cli_deploys_a_current_encoded_model(tmp_path, digits_mlp, capsys):
    from neurocosim.cli import main

    mlp, xtr, xte, yte = digits_mlp
    model = save_network(convert_mlp(mlp, xtr), tmp_path / "snn.nir")
    np.savez(tmp_path / "test.npz", x=xte, y=yte)
    out = tmp_path / "dep"
    assert main(["deploy", str(model), "-o", str(out), "--run", "--data",
                 str(tmp_path / "test.npz"), "--encoding", "current", "--samples", "12",
                 "--steps", "24"]) == 0
    assert f"input: graded spikes of {BITS} bits" in capsys.readouterr().out
    d = json.loads((out / "deploy.json").read_text())
    assert d["spikes_mismatched"] == 0 and d["spikes_compared"] > 0 and d["encoding"] == "current"
    qj = json.loads((out / "quantization.json").read_text())
    assert qj["num_message_bits"] == BITS
    assert qj["quantization"]["input"]["spikes"] == "graded"
    assert read_netx(out / "model.net").num_message_bits == BITS
