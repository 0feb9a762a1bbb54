"""Loihi 2 deployment: hwsim loihi2 mode vs Lava's fixed_pt simulator, spike for spike."""

import sys

import h5py
import numpy as np
import pytest

from neurocosim import ir, load_network, make_encoder, save_network, simulate_reference
from neurocosim.errors import ModelError
from neurocosim.targets.loihi2 import (
    LavaUnavailable,
    LoihiLayer,
    LoihiNetwork,
    LoihiWarning,
    quantize_loihi2,
    read_netx,
    reference_loihi2,
    require_lava,
    run_lava,
    simulate_loihi2,
    write_netx,
)
from tests.conftest import chain, lava_only


def handmade(rng):
    """Three layers in raw Loihi integers: mixed signs, weight_exp +3/-2/0, 6-bit and
    4-bit weights, negative biases."""
    def w(n_out, n_in, bits):
        k = 8 - bits + 1
        return (rng.integers(-256, 256, (n_out, n_in)) >> k) << k

    layers = (
        LoihiLayer(name="l1", weight=w(40, 30, 6), weight_exp=3, num_weight_bits=6,
                   sign_mode="mixed", du=600, dv=150, vth=900,
                   bias_mant=rng.integers(-300, 100, 40), bias_exp=2),
        LoihiLayer(name="l2", weight=w(25, 40, 4), weight_exp=-2, num_weight_bits=4,
                   sign_mode="mixed", du=4095, dv=40, vth=60,
                   bias_mant=rng.integers(-50, 50, 25), bias_exp=1),
        LoihiLayer(name="l3", weight=w(10, 25, 8), weight_exp=0, num_weight_bits=8,
                   sign_mode="mixed", du=3000, dv=0, vth=120,
                   bias_mant=np.full(10, -20), bias_exp=0),
    )
    return LoihiNetwork(name="handmade", layers=layers)


def excitatory_irregular(rng):
    """Three excitatory layers (weights ≥ 0; 6-, 4- and 8-bit; weight_exp 0/−1/0) held in
    the fluctuation-driven regime: short time constants, negative biases, thresholds set
    so that each layer fires in about a quarter of the steps on 20 % input spikes."""
    def w(n_out, n_in, bits):
        k = 8 - bits
        return (rng.integers(0, 256, (n_out, n_in)) >> k) << k

    spec = (("e1", 40, 30, 6, 0, 3000, 2000, 1730, -1000, 3),
            ("e2", 25, 40, 4, -1, 3000, 2500, 1276, -4000, 2),
            ("e3", 10, 25, 8, 0, 3500, 2500, 1673, -4000, 1))
    layers = []
    for name, n_out, n_in, bits, wexp, du, dv, vth, bias_lo, bias_exp in spec:
        weight = w(n_out, n_in, bits)
        layers.append(LoihiLayer(name=name, weight=weight, weight_exp=wexp, num_weight_bits=bits,
                                 sign_mode="excitatory", du=du, dv=dv, vth=vth,
                                 bias_mant=rng.integers(bias_lo, 0, n_out), bias_exp=bias_exp))
    return LoihiNetwork(name="excitatory", layers=tuple(layers))


def isi_cv(spikes):
    """Coefficient of variation of the inter-spike intervals of every (sample, neuron) train
    with at least 4 intervals: 0 for a clock, 1 for a Poisson train."""
    out = []
    for train in spikes.transpose(0, 2, 1).reshape(-1, spikes.shape[1]):
        d = np.diff(np.flatnonzero(train))
        if len(d) >= 4:
            out.append(d.std() / d.mean())
    return np.array(out)


def test_numba_loihi2_equals_numpy_statement(rng):
    net = handmade(rng)
    x = (rng.random((3, 200, 30)) < 0.4).astype(np.int8)
    res = simulate_loihi2(net, x)
    for s in range(3):
        ref = reference_loihi2(net, x[s])
        for k, L in enumerate(net.layers):
            np.testing.assert_array_equal(res.spikes[L.name][s], ref[k])
    assert all(res.spikes[L.name].sum() > 50 for L in net.layers)


@lava_only
@pytest.mark.timeout(300)
def test_lava_matches_hwsim_mixed_network_300_steps(rng):
    net = handmade(rng)
    x = (rng.random((1, 320, 30)) < 0.35).astype(np.int8)
    hw = simulate_loihi2(net, x)
    lv = run_lava(net, x)
    for L in net.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        assert hw.spikes[L.name].sum() > 100, L.name


@lava_only
@pytest.mark.timeout(120)
def test_lava_matches_hwsim_irregular_excitatory_network(rng):
    """Excitatory only, and not saturated: every layer fires in 10–40 % of the steps, each
    neuron irregularly (no neuron silent or firing every step; ISIs far from a clock)."""
    net = excitatory_irregular(rng)
    assert all(L.weight.min() >= 0 and L.weight.max() > 0 for L in net.layers)
    x = (rng.random((2, 150, 30)) < 0.2).astype(np.int8)
    hw = simulate_loihi2(net, x)
    for L in net.layers:
        s = hw.spikes[L.name]
        rate = s.mean(axis=1)  # (samples, neurons): fraction of steps with a spike
        assert 0.10 <= s.mean() <= 0.40, (L.name, s.mean())
        assert np.mean((rate >= 0.10) & (rate <= 0.40)) >= 0.8, (L.name, rate)
        assert 0 < rate.min() and rate.max() < 0.6, (L.name, rate)
        cv = isi_cv(s)
        assert len(cv) >= 0.9 * rate.size and np.median(cv) >= 0.4, (L.name, cv)
    lv = run_lava(net, x)
    for L in net.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        np.testing.assert_array_equal(lv.u[L.name], hw.u[L.name])
        np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])


@pytest.fixture(scope="module")
def digits_deploy(digits_mlp):
    from neurocosim import convert_mlp

    mlp, xtr, xte, yte = digits_mlp
    net = convert_mlp(mlp, xtr)
    with pytest.warns(LoihiWarning, match="subtract reset"):
        q = quantize_loihi2(net)
    enc = make_encoder("rate", xte, net.input_shape, np.random.default_rng(0))
    spikes = enc.block(0, len(xte), 64)
    return net, q, spikes, yte


def test_digits_fixed_point_accuracy(digits_deploy):
    from neurocosim.hwsim.encoders import SpikeEncoder

    net, q, spikes, yte = digits_deploy
    fx = simulate_loihi2(q, spikes).accuracy(yte)
    fl = simulate_reference(net, SpikeEncoder(spikes), 64).accuracy(yte)
    assert fx >= 0.95 * fl, (fx, fl)
    for ly in q.report["layers"]:
        assert ly["weight_rel_rms_error"] < 0.02 and ly["threshold_rel_error"] < 1e-3


@lava_only
@pytest.mark.timeout(600)
def test_lava_matches_hwsim_on_digits(digits_deploy):
    net, q, spikes, yte = digits_deploy
    x = spikes[:50]
    hw = simulate_loihi2(q, x)
    lv = run_lava(q, x)
    for L in q.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
    assert lv.accuracy(yte[:50]) == hw.accuracy(yte[:50])


def test_quantiser_choices(rng):
    net = chain({"in": ir.Input(shape=(20,)),
                 "fc": ir.Affine(weight=rng.normal(0, 0.3, (8, 20)), bias=rng.normal(0, 0.05, 8)),
                 "lif": ir.LIF(tau=4e-3, r=1.0, v_leak=0.0, v_threshold=1.0), "out": ir.Output()})
    q = quantize_loihi2(net, num_weight_bits=5)
    L = q.layers[0]
    assert L.dv == round(0.25 * 4096) and L.du == 4095
    assert L.sign_mode == "mixed"
    assert (L.weight % 2 ** (8 - 5 + 1) == 0).all()  # Lava's truncation leaves it as is
    assert L.weight.max() <= 255 and L.weight.min() >= -256
    # the worst-case step input (all inputs spiking) stays inside the 24-bit u
    d = net.discretised("lif")
    worst = np.max(np.abs(net.nodes["fc"].weight * d.gain[:, None]).sum(axis=1)
                   + np.abs(net.nodes["fc"].bias * d.gain))
    assert worst * L.scale < 2**23
    assert L.vth == round(1.0 * L.scale / 64)
    with pytest.raises(ModelError, match="per-neuron time constants"):
        quantize_loihi2(chain({"in": ir.Input(shape=(2,)), "fc": ir.Linear(weight=np.eye(2)),
                               "lif": ir.LIF(tau=[4e-3, 5e-3], r=1.0, v_leak=0.0, v_threshold=1.0),
                               "out": ir.Output()}))


def test_netx_layout_and_round_trip(tmp_path, rng, digits_deploy):
    net, q, _, _ = digits_deploy
    path = write_netx(q, tmp_path / "model.net")
    with h5py.File(path, "r") as f:
        assert f["layer/0/type"][()].decode() == "input"
        assert list(f["layer/0/shape"][()]) == [net.input_shape[0]]
        for i, L in enumerate(q.layers, start=1):
            g = f[f"layer/{i}"]
            assert g["type"][()].decode() == "dense"
            assert list(g["shape"][()]) == [L.n_out]
            np.testing.assert_array_equal(g["weight"][()], L.weight * 2.0**L.weight_exp)
            np.testing.assert_array_equal(g["bias"][()], L.bias_mant * 2.0**(L.bias_exp - 6))
            n = g["neuron"]
            assert n["type"][()].decode() == "CUBA"
            assert n["iDecay"][()] == L.du + 1 and n["vDecay"][()] == L.dv
            assert n["vThMant"][()] == L.vth and n["refDelay"][()] == 1
            assert not n["gradedSpike"][()]
    back = read_netx(path)
    for a, b in zip(back.layers, q.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert (a.weight_exp, a.du, a.dv, a.vth, a.bias_exp) == (b.weight_exp, b.du, b.dv, b.vth, b.bias_exp)
    # NIR export -> import gives the same network
    assert load_network(save_network(net, tmp_path / "m.nir")) == net


def test_missing_lava_gives_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "lava", None)
    monkeypatch.setitem(sys.modules, "lava.magma", None)
    monkeypatch.setitem(sys.modules, "lava.magma.core.run_configs", None)
    with pytest.raises(LavaUnavailable, match="needs lava-nc 0.10.*Python 3.10"):
        require_lava()


def test_cli_deploy_without_lava_exits_2(tmp_path, rng):
    import subprocess

    from neurocosim import network_from_weights

    model = save_network(network_from_weights([rng.normal(size=(4, 6))], dt=1e-3, neuron="IF"),
                         tmp_path / "m.nir")
    code = ("import sys; sys.modules['lava'] = None; from neurocosim.cli import main; "
            f"sys.exit(main(['deploy', {str(model)!r}, '-o', {str(tmp_path / 'out')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "needs lava-nc 0.10" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@lava_only
@pytest.mark.timeout(600)
def test_cli_deploy_run(tmp_path, digits_mlp):
    import json

    import skops.io

    from neurocosim.cli import main

    mlp, xtr, xte, yte = digits_mlp
    skops.io.dump(mlp, tmp_path / "mlp.skops")
    np.savez(tmp_path / "train.npz", x=xtr)
    np.savez(tmp_path / "test.npz", x=xte, y=yte)
    assert main(["convert", str(tmp_path / "mlp.skops"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir")]) == 0
    out = tmp_path / "dep"
    assert main(["deploy", str(tmp_path / "snn.nir"), "-o", str(out), "--run", "--data",
                 str(tmp_path / "test.npz"), "--samples", "12", "--steps", "40"]) == 0
    d = json.loads((out / "deploy.json").read_text())
    for key in ("samples", "steps", "spikes_compared", "spikes_mismatched", "lava_accuracy",
                "hwsim_loihi2_accuracy", "float_accuracy", "lava_wall_s", "hwsim_wall_s"):
        assert key in d
    assert d["spikes_mismatched"] == 0 and d["samples"] == 12
    assert (out / "model.net").exists() and (out / "model.nir").exists()


def test_one_bit_mixed_sign_weights_are_refused_with_the_fix(rng):
    """Mixed-sign weights spend one bit on the sign: 1-bit weights keep no magnitude, and
    the quantiser said so with a ZeroDivisionError before."""
    from neurocosim import network_from_weights
    from neurocosim.errors import ModelError
    from neurocosim.targets.loihi2 import quantize_loihi2

    net = network_from_weights([rng.normal(0, 0.5, (8, 6)), rng.normal(0, 0.5, (3, 8))],
                               dt=1e-3, neuron="IF")
    with pytest.raises(ModelError, match="num-weight-bits 2"):
        quantize_loihi2(net, num_weight_bits=1)
    pos = network_from_weights([np.abs(rng.normal(0, 0.5, (8, 6))),
                                np.abs(rng.normal(0, 0.5, (3, 8)))], dt=1e-3, neuron="IF")
    assert quantize_loihi2(pos, num_weight_bits=1).layers[0].weight.max() > 0
