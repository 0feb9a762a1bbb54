"""Convolutional networks on Loihi 2: Conv → LIF → pooling (folded) → dense/conv, quantised,
run by hwsim's loihi2 mode and by Lava's fixed_pt Conv/Dense/LIF processes, spike for spike."""

import json
import warnings

import numpy as np
import pytest
from scipy import signal

from neurocosim import ir, save_network
from neurocosim.errors import MappingError, ModelError, SimulationError
from neurocosim.hwsim.encoders import SpikeEncoder
from neurocosim.hwsim.reference import conv2d, pool2d
from neurocosim.pipeline import reference_run
from neurocosim.targets.loihi2 import (
    ConvSpec,
    LoihiWarning,
    NetxError,
    conv_int,
    quantize_loihi2,
    run_lava,
    simulate_loihi2,
    stages,
    trace_loihi2,
    write_netx,
)
from neurocosim.targets.loihi2.chain import fold_pool_conv, fold_pool_dense, folded_network
from neurocosim.targets.loihi2.conv import from_lava_xyc, lava_kernel, to_lava_xyc, wrap24
from tests.conftest import chain, lava_only

STEPS = 24


def lif():
    return ir.LIF(tau=4e-3, r=1.0, v_leak=0.0, v_threshold=1.0)


def cnn_pool_dense(rng, pool=ir.SumPool2d):
    """1×16×16 → conv 3×3 (8 channels, padding 1) → LIF → 2×2 pool → Flatten → 10 LIF.
    Weights scaled so that on 30 % input spikes each layer fires in 5–40 % of the steps."""
    fc = 1.0 if pool is ir.SumPool2d else 4.0  # an average pool divides by 4
    return chain({
        "in": ir.Input(shape=(1, 16, 16)),
        "conv": ir.Conv2d(weight=rng.normal(0.8, 1.0, (8, 1, 3, 3)),
                          bias=rng.normal(-0.1, 0.05, 8), padding=(1, 1)),
        "lif1": lif(),
        "pool": pool(kernel_size=2),
        "flat": ir.Flatten(),
        "fc": ir.Affine(weight=rng.normal(0.003 * fc, 0.03 * fc, (10, 8 * 8 * 8)),
                        bias=np.zeros(10)),
        "lif2": lif(),
        "out": ir.Output(),
    })


def cnn_conv_conv(rng):
    """2×12×12 → conv 3×3 (6 ch) → LIF → 2×2 average pool → conv 3×3 stride 2 padding 1
    (8 ch; the pool is folded into it) → LIF → Flatten → Linear → 10 LIF."""
    return chain({
        "in": ir.Input(shape=(2, 12, 12)),
        "conv1": ir.Conv2d(weight=rng.normal(0.3, 1.0, (6, 2, 3, 3)),
                           bias=rng.normal(-0.1, 0.05, 6), padding=(1, 1)),
        "lif1": lif(),
        "avg": ir.AvgPool2d(kernel_size=2),
        "conv2": ir.Conv2d(weight=rng.normal(0.1, 0.3, (8, 6, 3, 3)), bias=np.zeros(8),
                           stride=2, padding=1),
        "lif2": lif(),
        "flat": ir.Flatten(),
        "fc": ir.Linear(weight=rng.normal(0.09, 0.1, (10, 8 * 3 * 3))),
        "lif3": lif(),
        "out": ir.Output(),
    })


def quantised(net, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        return quantize_loihi2(net, **kw)


def loop_conv(x, w, stride, pad, dil, groups):
    """Cross-correlation of one sample ``(C, H, W)`` from the definition, explicit loops."""
    cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((cout, ho, wo), np.int64)
    for o in range(cout):
        g = o // (cout // groups)
        for c in range(cin_g):
            for y in range(ho):
                for xx in range(wo):
                    for i in range(kh):
                        for j in range(kw):
                            iy = y * stride[0] + i * dil[0] - pad[0]
                            ix = xx * stride[1] + j * dil[1] - pad[1]
                            if 0 <= iy < h and 0 <= ix < wd:
                                out[o, y, xx] += w[o, c, i, j] * x[g * cin_g + c, iy, ix]
    return out


@pytest.mark.parametrize("stride,pad,dil,groups", [
    ((1, 1), (0, 0), (1, 1), 1), ((1, 1), (1, 1), (1, 1), 1), ((2, 2), (0, 0), (1, 1), 1),
    ((2, 2), (1, 1), (1, 1), 1), ((2, 1), (1, 0), (2, 1), 2)])
def test_integer_conv_equals_the_definition(rng, stride, pad, dil, groups):
    """hwsim's integer conv (batched slices) = explicit loops = scipy's correlate2d; and
    Lava's layout (flipped kernel, (X, Y, C) tensors) computes the same numbers."""
    from lava.proc.conv import utils as lava_conv_utils  # read for semantics, run here

    x = rng.integers(0, 2, (3, 4, 9, 11))
    w = rng.integers(-255, 256, (6, 4 // groups, 3, 3))
    ref = np.stack([loop_conv(s, w, stride, pad, dil, groups) for s in x])
    spec = ConvSpec(in_shape=(4, 9, 11), out_shape=ref.shape[1:], stride=stride, padding=pad,
                    dilation=dil, groups=groups)
    np.testing.assert_array_equal(conv_int(x, w, spec), ref)
    if dil == (1, 1) and groups == 1:  # scipy.signal.correlate2d, valid part, subsampled
        xp = np.pad(x[0], ((0, 0), (pad[0],) * 2, (pad[1],) * 2))
        sc = [sum(signal.correlate2d(xp[c], w[o, c], mode="valid") for c in range(4))
              [::stride[0], ::stride[1]] for o in range(6)]
        np.testing.assert_array_equal(np.stack(sc), ref[0])
    flat = x.reshape(3, -1)
    lava_in = to_lava_xyc(flat, spec.in_shape)  # (W, H, 3·C): samples as channel groups
    lava_out = lava_conv_utils.conv(lava_in, lava_kernel(w, 3).astype(np.int32),
                                    (3, 3), stride[::-1], pad[::-1], dil[::-1], groups * 3)
    np.testing.assert_array_equal(from_lava_xyc(lava_out, 3, ref.shape[1:]),
                                  ref.reshape(3, -1))
    assert wrap24(np.array([2**23 - 1, 2**23, -(2**23), -(2**23) - 1])).tolist() == [
        2**23 - 1, -(2**23), -(2**23), 2**23 - 1]


@pytest.mark.parametrize("pool", [ir.SumPool2d(kernel_size=2),
                                  ir.AvgPool2d(kernel_size=3, stride=2, padding=1),
                                  ir.SumPool2d(kernel_size=(2, 3), stride=(2, 2))])
def test_folded_pooling_equals_pooling_then_layer(rng, pool):
    """W · pool(x) = W_fold · x (dense, after Flatten) and conv(pool(x)) = conv_fold(x),
    in float, for sum and average pools with stride, padding and overlap."""
    x = rng.random((5, 3, 11, 10))
    pooled = pool2d(x, pool)
    _, cp, hp, wp = pooled.shape
    w = rng.normal(size=(7, cp * hp * wp))
    w_fold = fold_pool_dense(w, pool, x.shape[1:], pooled.shape[1:])
    np.testing.assert_allclose(x.reshape(5, -1) @ w_fold.T, pooled.reshape(5, -1) @ w.T,
                               rtol=1e-12, atol=1e-12)
    for stride, pad, dil in (((1, 1), (0, 0), (1, 1)), ((2, 2), (0, 0), (2, 1))):
        node = ir.Conv2d(weight=rng.normal(size=(4, 3, 2, 3)), bias=np.zeros(4),
                         stride=stride, padding=pad, dilation=dil)
        ref = conv2d(pooled, node)
        spec = ConvSpec(in_shape=pooled.shape[1:], out_shape=ref.shape[1:], stride=stride,
                        padding=pad, dilation=dil)
        wf, sf = fold_pool_conv(node.weight, spec, pool, x.shape[1:], "pool", "conv")
        got = conv2d(x, ir.Conv2d(weight=wf, bias=np.zeros(4), stride=sf.stride,
                                  padding=sf.padding, dilation=sf.dilation))
        assert got.shape == ref.shape and sf.out_shape == ref.shape[1:]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_folded_network_runs_like_the_original_in_float(rng):
    """The whole folded network (pools gone, Flatten kept) gives the float engine's spikes
    and membranes in every neuron layer."""
    nets = [cnn_pool_dense(np.random.default_rng(1234)),
            cnn_pool_dense(np.random.default_rng(1234), ir.AvgPool2d),
            cnn_conv_conv(np.random.default_rng(1234))]
    for net in nets:
        folded = folded_network(net)
        assert not any(isinstance(n, ir.SumPool2d | ir.AvgPool2d) for n in folded.nodes.values())
        x = (rng.random((3, 12, int(np.prod(net.input_shape)))) < 0.3).astype(float)
        enc = SpikeEncoder(x.reshape(3, 12, *net.input_shape))
        probes = [s.neuron + key for s in stages(net) for key in ("", ".v")]
        a = reference_run(net, enc, 12, probes=probes)
        b = reference_run(folded, enc, 12, probes=probes)
        for p in probes:
            np.testing.assert_allclose(b.probes[p], a.probes[p], rtol=1e-9, atol=1e-9)
            assert np.abs(a.probes[p]).sum() > 0, p


def test_conv_quantisation_rules(rng):
    """Conv layers: weight_exp 0 (Lava's Conv ignores it), 8-bit weights on the grid, the
    worst-case step input inside the 24-bit u, vth = round(θ·s/64), biases per channel."""
    net = cnn_conv_conv(rng)
    q = quantised(net)
    st = stages(net)
    assert [s.pools for s in st] == [(), ("avg",), ()]
    for L, s, entry in zip(q.layers, st, q.report["layers"], strict=True):
        d = net.discretised(s.neuron)
        gain = d.gain.reshape(s.rows.shape[0], -1)[:, 0]
        worst = np.max(np.abs(s.rows * gain[:, None]).sum(axis=1) + np.abs(s.bias * gain))
        assert worst * L.scale < 2**23 and L.vth == round(1.0 * L.scale / 64)
        assert np.abs(L.weight).max() <= 255 and L.weight.min() >= -256
        if L.conv is not None:
            assert L.weight_exp == 0 and L.weight.shape == s.weight.shape
            assert entry["conv"]["out_shape"] == list(L.conv.out_shape)
            chan = L.bias_mant.reshape(L.conv.out_shape[0], -1)
            assert (chan == chan[:, :1]).all()
    assert q.layers[1].conv.stride == (4, 4) and q.layers[1].conv.padding == (2, 2)
    assert q.report["layers"][1]["pooling_folded"] == ["avg"]


def _rates_ok(name, s):
    rate = s.mean(axis=1)  # (samples, neurons): fraction of steps with a spike
    assert 0.05 <= s.mean() <= 0.40, (name, s.mean())
    assert np.mean(rate == 0) <= 0.3 and np.mean(rate >= 0.9) <= 0.05, (name, rate)


@lava_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("build", [cnn_pool_dense, cnn_conv_conv])
def test_lava_matches_hwsim_on_a_cnn(rng, build):
    """Lava's Conv/Dense/LIF processes (fixed_pt) and hwsim's loihi2 mode: every layer,
    neuron and step, and the final u and v; the layers fire irregularly (5–40 %)."""
    net = build(rng)
    q = quantised(net)
    x = (rng.random((2, STEPS, q.input_size)) < 0.3).astype(np.int8)
    hw = simulate_loihi2(q, x)
    for L in q.layers:
        _rates_ok(L.name, hw.spikes[L.name])
    lv = run_lava(q, x)
    for L in q.layers:
        assert lv.spikes[L.name].shape == (2, STEPS, L.n_out)
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        np.testing.assert_array_equal(lv.u[L.name], hw.u[L.name])
        np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])
    tr = trace_loihi2(q, x[1])  # the one-sample statement is the same arithmetic
    for k, L in enumerate(q.layers):
        np.testing.assert_array_equal(tr[k]["s"], hw.spikes[L.name][1])


@lava_only
@pytest.mark.timeout(120)
def test_graded_input_into_a_conv_layer_matches_lava(rng):
    """Current-encoded input: 8-bit payloads into the first Conv (Lava's num_message_bits)."""
    from neurocosim.targets.loihi2 import graded_payload

    net = cnn_pool_dense(rng)
    q = quantised(net, num_message_bits=8)
    assert q.layers[0].weight_exp == 0 and np.abs(q.layers[0].weight).max() >= 16
    p = graded_payload(np.broadcast_to(rng.random((2, 1, 256)), (2, 16, 256)), 8)
    hw, lv = simulate_loihi2(q, p), run_lava(q, p)
    for L in q.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
    assert all(hw.spikes[L.name].sum() > 0 for L in q.layers)


@lava_only
@pytest.mark.timeout(120)
def test_lava_matches_hwsim_pool_first_grouped_conv_one_sample(rng):
    """A pool straight after the input (folded into the first Conv), a grouped conv, IF
    and CubaLIF neurons, and one sample (Lava's Dense with permuted columns, not Sparse)."""
    net = chain({
        "in": ir.Input(shape=(4, 10, 10)), "avg": ir.AvgPool2d(kernel_size=2),
        "conv": ir.Conv2d(weight=rng.normal(0.2, 1.0, (6, 2, 3, 3)), bias=np.full(6, -0.2),
                          padding=1, groups=2),
        "if": ir.IF(r=1.0, v_threshold=2.0), "flat": ir.Flatten(),
        "fc": ir.Linear(weight=rng.normal(0.02, 0.1, (5, 6 * 5 * 5))),
        "cuba": ir.CubaLIF(tau_syn=2e-3, tau_mem=4e-3, r=1.0, v_leak=0.0, v_threshold=0.5),
        "out": ir.Output()})
    q = quantised(net)
    assert q.layers[0].conv.in_shape == (4, 10, 10) and q.layers[0].conv.groups == 2
    x = (rng.random((1, 16, q.input_size)) < 0.4).astype(np.int8)
    hw, lv = simulate_loihi2(q, x), run_lava(q, x)
    for L in q.layers:
        np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
        np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])
        assert 0.02 < hw.spikes[L.name].mean() < 0.6, (L.name, hw.spikes[L.name].mean())


@lava_only
@pytest.mark.timeout(120)
def test_conv_output_wraps_at_24_bits_like_lava():
    """Beyond the quantiser's bounds: a conv sum of 255 · 33856 > 2^23 wraps to a negative
    24-bit a_out in Lava's Conv; hwsim wraps it the same way (u, v and spikes equal)."""
    from neurocosim.targets.loihi2 import LoihiLayer, LoihiNetwork

    spec = ConvSpec(in_shape=(64, 23, 23), out_shape=(2, 1, 1))
    weight = np.full((2, 64, 23, 23), 255)
    weight[1] = 1
    layer = LoihiLayer(name="c", weight=weight, weight_exp=0, num_weight_bits=8,
                       sign_mode="excitatory", du=4095, dv=0, vth=100,
                       bias_mant=np.zeros(2, np.int64), bias_exp=0, conv=spec)
    net = LoihiNetwork(name="wrap", layers=(layer,))
    x = np.ones((1, 4, net.input_size), np.int8)
    hw, lv = simulate_loihi2(net, x), run_lava(net, x)
    assert wrap24(np.array([255 * 33856]))[0] < 0
    np.testing.assert_array_equal(lv.u["c"], hw.u["c"])
    np.testing.assert_array_equal(lv.v["c"], hw.v["c"])
    np.testing.assert_array_equal(lv.spikes["c"], hw.spikes["c"])
    assert hw.u["c"][0, 0] < 0 < hw.u["c"][0, 1]


def test_refusals_name_the_layer_and_the_fix(rng, tmp_path):
    """An unfoldable pool, a pool that cannot fold into a padded conv, an even 'same'
    kernel, a conv layer at another weight_exp, and netx export of a conv network."""
    base = {"in": ir.Input(shape=(1, 8, 8)),
            "conv": ir.Conv2d(weight=rng.normal(1, 1, (2, 1, 3, 3)), bias=np.zeros(2),
                              padding=1), "lif": lif()}
    with pytest.raises(ModelError, match="pooling layer 'tail' is not followed by a synaptic "
                                         "layer.*add a dense layer"):
        quantised(chain({**base, "tail": ir.SumPool2d(kernel_size=2), "out": ir.Output()}))
    overlap = {**base, "pool": ir.SumPool2d(kernel_size=3, stride=2),
               "conv2": ir.Conv2d(weight=np.ones((2, 2, 3, 3)), bias=np.zeros(2), padding=1),
               "lif2": lif(), "out": ir.Output()}
    with pytest.raises(ModelError, match="'pool' cannot be folded exactly into conv 'conv2'"):
        quantised(chain(overlap))
    even = {"in": ir.Input(shape=(1, 8, 8)),
            "conv": ir.Conv2d(weight=np.ones((2, 1, 2, 2)), bias=np.zeros(2), padding="same"),
            "lif": lif(), "out": ir.Output()}
    with pytest.raises(ModelError, match="even kernel.*odd kernel or explicit padding"):
        quantised(chain(even))
    q = quantised(cnn_pool_dense(rng))
    with pytest.raises(NetxError, match="netx export of conv layers is not supported yet"):
        write_netx(q, tmp_path / "m.net")
    assert not (tmp_path / "m.net").exists()
    from dataclasses import replace

    bad = replace(q, layers=(replace(q.layers[0], weight_exp=-1), *q.layers[1:]))
    with pytest.raises(SimulationError, match="Lava's fixed-point Conv ignores weight_exp"):
        simulate_loihi2(bad, np.zeros((1, 2, q.input_size), np.int8))


def test_a_cnn_over_loihi2_limits_is_refused(rng):
    """The core assignment of the deployed (folded) network against loihi2.yaml: a conv map
    of 64×128×128 neurons needs more than 120 cores; a pooled map still feeds its dense
    layer with the unpooled fan-in."""
    from neurocosim.flows import deploy_loihi2

    big = chain({"in": ir.Input(shape=(1, 128, 128)),
                 "conv": ir.Conv2d(weight=rng.normal(1, 1, (64, 1, 3, 3)), bias=np.zeros(64),
                                   padding=1), "lif": lif(),
                 "conv2": ir.Conv2d(weight=rng.normal(0, 1, (4, 64, 3, 3)), bias=np.zeros(4),
                                    stride=2), "lif2": lif(), "out": ir.Output()})
    with pytest.raises(MappingError, match="design rule 'cores'.*chip 'loihi2' has 120"):
        deploy_loihi2(big, num_weight_bits=8)
    wide = chain({"in": ir.Input(shape=(1, 32, 32)),
                  "conv": ir.Conv2d(weight=rng.normal(1, 1, (16, 1, 3, 3)), bias=np.zeros(16),
                                    padding=1), "lif": lif(),
                  "pool": ir.SumPool2d(kernel_size=2), "flat": ir.Flatten(),
                  "fc": ir.Linear(weight=rng.normal(0, 0.1, (10, 16 * 16 * 16))), "lif2": lif(),
                  "out": ir.Output()})
    with pytest.raises(MappingError, match="fan-in of 16384.*allows 4096.*pooling folded"):
        deploy_loihi2(wide, num_weight_bits=8)


def test_deploy_reports_a_cnn_on_the_chip(rng):
    """Without a run: the core assignment of the folded CNN, the pooling and netx notes."""
    from neurocosim.flows import deploy_loihi2

    q, report, check = deploy_loihi2(cnn_pool_dense(rng), num_weight_bits=8)
    assert check is None and q.has_conv
    layers = {ly["op"]: ly for ly in report["cores"]["layers"]}
    assert layers["conv"]["outputs"] == 8 * 16 * 16 and layers["fc"]["rows"] == 8 * 16 * 16
    assert report["cores"]["cores"] <= 120
    assert "folded" in report["pooling"] and report["netx"]["written"] is False


@lava_only
@pytest.mark.timeout(120)
def test_cli_deploy_runs_a_cnn(tmp_path, rng, capsys):
    from neurocosim.cli import main

    model = save_network(cnn_pool_dense(rng), tmp_path / "cnn.nir")
    np.savez(tmp_path / "data.npz", x=rng.random((3, 1, 16, 16)) * 0.6, y=np.array([1, 2, 3]))
    out = tmp_path / "dep"
    assert main(["deploy", str(model), "-o", str(out), "--run", "--data",
                 str(tmp_path / "data.npz"), "--samples", "2", "--steps", "16"]) == 0
    d = json.loads((out / "deploy.json").read_text())
    assert d["spikes_mismatched"] == 0 and d["samples"] == 2 and d["steps"] == 16
    assert d["spikes_compared"] == 2 * 16 * (8 * 16 * 16 + 10)
    rep = json.loads((out / "quantization.json").read_text())
    assert rep["netx"]["written"] is False and rep["quantization"]["layers"][0]["conv"]
    assert (out / "model.nir").exists() and not (out / "model.net").exists()
    printed = capsys.readouterr().out
    assert "0 of 65856 spikes differ" in printed and "no model.net" in printed
