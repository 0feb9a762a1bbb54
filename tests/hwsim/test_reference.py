"""Reference simulator: closed-form neuron behaviour and independent NumPy references."""

import numpy as np
import pytest

from neurocosim import ir, make_encoder, simulate_reference
from neurocosim.errors import DataError, SimulationError
from neurocosim.hwsim.reference import conv2d, pool2d
from tests.conftest import all_types_network, chain


def single(neuron, n=1, dt=1e-3, w=None):
    """Input(n) -> Linear(identity or w) -> neuron -> Output."""
    w = np.eye(n) if w is None else w
    return chain({"in": ir.Input(shape=(w.shape[1],)), "fc": ir.Linear(weight=w),
                  "nrn": neuron, "out": ir.Output()}, dt=dt)


def run_const(net, current, steps, probes=("nrn", "nrn.v")):
    x = np.atleast_2d(np.asarray(current, float))
    return simulate_reference(net, make_encoder("current", x, net.input_shape), steps,
                              probes=list(probes))


def spike_times(res, k=0):
    return np.flatnonzero(res.probes["nrn"][0, :, k]) + 1  # 1-based step numbers


@pytest.mark.parametrize("current,theta", [(0.3, 1.0), (0.45, 2.0), (0.07, 0.5)])
def test_if_zero_reset_period_is_ceil_theta_over_i(current, theta):
    net = single(ir.IF(r=1.0, v_threshold=theta, reset="zero"))
    res = run_const(net, [[current]], 200)
    period = int(np.ceil(theta / current))
    times = spike_times(res)
    np.testing.assert_array_equal(times, np.arange(period, 201, period))


@pytest.mark.parametrize("compare", [">", ">="])
def test_if_subtract_reset_keeps_remainder(compare):
    # exact binary fractions, so that t*I/theta hits integers exactly and > / >= differ
    current, theta, steps = 0.375, 1.0, 64
    net = single(ir.IF(r=1.0, v_threshold=theta, reset="subtract", compare=compare))
    res = run_const(net, [[current]], steps)
    t = np.arange(1, steps + 1)
    if compare == ">=":
        n_t = np.floor(t * current / theta)
    else:
        n_t = np.maximum(np.ceil(t * current / theta) - 1, 0)
    np.testing.assert_array_equal(np.cumsum(res.probes["nrn"][0, :, 0]), n_t)
    # membrane after the step = total input minus what the spikes removed
    np.testing.assert_allclose(res.probes["nrn.v"][0, :, 0], t * current - n_t * theta)


def test_if_compare_differs_on_exact_threshold():
    gt = run_const(single(ir.IF(r=1.0, v_threshold=1.0, compare=">")), [[0.25]], 20)
    ge = run_const(single(ir.IF(r=1.0, v_threshold=1.0, compare=">=")), [[0.25]], 20)
    np.testing.assert_array_equal(spike_times(ge), [4, 8, 12, 16, 20])
    np.testing.assert_array_equal(spike_times(gt), [5, 10, 15, 20])


def test_lif_never_fires_at_or_below_rheobase(rng):
    n = 50
    tau = rng.uniform(2e-3, 20e-3, n)
    r = rng.uniform(0.5, 2.0, n)
    v_leak = rng.uniform(-0.5, 0.2, n)
    theta = rng.uniform(0.5, 1.5, n)
    lif = ir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=theta)
    current = (theta - v_leak) / r  # r*I == theta - v_leak: v tends to theta, never above
    res = run_const(single(lif, n), [current * rng.uniform(0.5, 1.0, n)], 2000)
    assert res.probes["nrn"].sum() == 0
    res = run_const(single(lif, n), [current], 2000)
    assert res.probes["nrn"].sum() == 0
    np.testing.assert_array_less(res.probes["nrn.v"][0, -1], theta + 1e-12)
    # 1 % above the rheobase every neuron fires
    res = run_const(single(lif, n), [current * 1.01], 4000)
    assert (res.probes["nrn"][0].sum(axis=0) > 0).all()


def test_lif_membrane_closed_form():
    dt, tau, r, v_leak, current = 1e-3, 4e-3, 2.0, 0.1, 0.3
    lif = ir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=100.0)
    res = run_const(single(lif, dt=dt), [[current]], 30)
    a = dt / tau
    t = np.arange(1, 31)
    v_inf = v_leak + r * current
    np.testing.assert_allclose(res.probes["nrn.v"][0, :, 0], v_inf * (1 - (1 - a) ** t),
                               rtol=1e-12)


def test_cubalif_current_follows_geometric_series():
    dt, tau_syn, w_in, current = 1e-3, 5e-3, 1.5, 0.4
    cuba = ir.CubaLIF(tau_syn=tau_syn, tau_mem=1e-2, r=1.0, v_leak=0.0, v_threshold=1e9,
                      w_in=w_in)
    res = run_const(single(cuba, dt=dt), [[current]], 40, probes=("nrn.i", "nrn.v"))
    a = dt / tau_syn
    t = np.arange(1, 41)
    i_expected = w_in * current * (1 - (1 - a) ** t)
    np.testing.assert_allclose(res.probes["nrn.i"][0, :, 0], i_expected, rtol=1e-12)
    # the membrane is driven by i, not I: v_t = (1-am) v_{t-1} + am*r*i_t
    am, v = dt / 1e-2, 0.0
    for k in range(40):
        v = (1 - am) * v + am * i_expected[k]
    assert res.probes["nrn.v"][0, -1, 0] == pytest.approx(v, rel=1e-12)


def test_ilif_emits_rounded_clipped_levels(rng):
    n, D, steps = 40, 4, 30
    ilif = ir.ILIF(tau=1e-3, r=1.0, v_leak=0.0, v_threshold=1.0, max_level=D)  # alpha = 1
    w = rng.normal(0.5, 2.0, (n, n))
    net = single(ilif, n, w=w)
    x = rng.uniform(-1, 2, (3, steps, n))
    res = simulate_reference(net, make_encoder("spikes", np.round(x), net.input_shape), steps,
                             probes=["nrn"])
    v = np.zeros((3, n))
    for t in range(steps):
        v = 0.0 * v + np.round(x[:, t]) @ w.T  # alpha = dt/tau = 1: no memory of v
        s = np.round(np.clip(v, 0, D))
        v = v - s
        np.testing.assert_array_equal(res.probes["nrn"][:, t], s)
    assert set(np.unique(res.probes["nrn"])) <= set(range(D + 1))
    assert res.probes["nrn"].max() == D and (res.probes["nrn"] % 1 == 0).all()


def test_ilif_with_leak_matches_manual(rng):
    n, D, dt, tau = 8, 3, 1e-3, 3e-3
    ilif = ir.ILIF(tau=tau, r=1.0, v_leak=0.0, v_threshold=0.5, max_level=D)
    net = single(ilif, n)
    x = rng.uniform(0, 1.2, (2, n))
    res = run_const(net, x, 25)
    a, v = dt / tau, np.zeros((2, n))
    for t in range(25):
        v = v + a * (0 - v) + a * x
        s = np.round(np.clip(v / 0.5, 0, D))
        v = v - s * 0.5
        np.testing.assert_array_equal(res.probes["nrn"][:, t], s)


def test_li_readout_outputs_membrane():
    li = ir.LI(tau=2e-3, r=1.0, v_leak=0.0)
    res = run_const(single(li), [[1.0]], 5)
    np.testing.assert_allclose(res.probes["nrn"][0, :, 0], 1 - 0.5 ** np.arange(1, 6))
    assert res.output[0, 0] == pytest.approx(np.sum(1 - 0.5 ** np.arange(1, 6)))


def test_synaptic_delay_shifts_each_layer_by_one_step():
    layers = {"in": ir.Input(shape=(1,)), "l1": ir.Linear(weight=[[1.0]]),
              "n1": ir.IF(r=1.0, v_threshold=0.5), "l2": ir.Linear(weight=[[1.0]]),
              "n2": ir.IF(r=1.0, v_threshold=0.5), "out": ir.Output()}
    x = np.array([[0.3]])
    r0 = simulate_reference(chain(layers), make_encoder("current", x, (1,)), 30,
                            probes=["n1", "n2"])
    r1 = simulate_reference(chain(layers, synaptic_delay=1), make_encoder("current", x, (1,)),
                            30, probes=["n1", "n2"])
    np.testing.assert_array_equal(r1.probes["n1"][0, 1:], r0.probes["n1"][0, :-1])
    np.testing.assert_array_equal(r1.probes["n2"][0, 2:], r0.probes["n2"][0, :-2])
    assert r1.probes["n2"][0, :2].sum() == 0


def test_recurrent_edge_uses_previous_step(rng):
    n = 6
    w_in, w_rec = rng.normal(0, 1, (n, 4)), rng.normal(0, 0.5, (n, n))
    net = ir.Network(
        nodes={"in": ir.Input(shape=(4,)), "fc": ir.Linear(weight=w_in),
               "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=0.3, reset="subtract"),
               "rec": ir.Linear(weight=w_rec), "out": ir.Output()},
        edges=(("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")),
        dt=1e-3)
    x = rng.uniform(0, 1, (2, 4))
    res = simulate_reference(net, make_encoder("current", x, (4,)), 40, probes=["lif"])
    a, v, s = 0.2, np.zeros((2, n)), np.zeros((2, n))
    for t in range(40):
        current = x @ w_in.T + s @ w_rec.T
        v = v + a * (0 - v) + a * current
        s = (v > 0.3).astype(float)
        v = v - s * 0.3
        np.testing.assert_array_equal(res.probes["lif"][:, t], s)


def _naive_conv(x, w, b, stride, pad, dil, groups):
    B, C, H, W = x.shape
    co, cig, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = (H + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (W + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((B, co, ho, wo))
    per = co // groups
    for o in range(co):
        g = o // per
        for i in range(ho):
            for j in range(wo):
                for c in range(cig):
                    for p in range(kh):
                        for q in range(kw):
                            out[:, o, i, j] += w[o, c, p, q] * xp[:, g * cig + c,
                                                                 i * stride[0] + p * dil[0],
                                                                 j * stride[1] + q * dil[1]]
        out[:, o] += b[o]
    return out


@pytest.mark.parametrize("stride,pad,dil,groups", [((1, 1), (0, 0), (1, 1), 1),
                                                   ((2, 1), (1, 2), (1, 1), 2),
                                                   ((1, 2), (2, 1), (2, 1), 4)])
def test_conv2d_matches_naive_loops(rng, stride, pad, dil, groups):
    x = rng.normal(size=(2, 4, 9, 8))
    w = rng.normal(size=(8, 4 // groups, 3, 2))
    b = rng.normal(size=8)
    node = ir.Conv2d(weight=w, bias=b, stride=stride, padding=pad, dilation=dil, groups=groups)
    np.testing.assert_allclose(conv2d(x, node), _naive_conv(x, w, b, stride, pad, dil, groups),
                               rtol=1e-12, atol=1e-12)


def test_pooling_matches_naive(rng):
    x = rng.normal(size=(2, 3, 6, 7))
    node = ir.SumPool2d(kernel_size=(2, 3), stride=(2, 2), padding=(1, 0))
    out = pool2d(x, node)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            np.testing.assert_allclose(out[:, :, i, j],
                                       xp[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 3].sum(axis=(2, 3)))
    avg = pool2d(x, ir.AvgPool2d(kernel_size=(2, 3), stride=(2, 2), padding=(1, 0)))
    np.testing.assert_allclose(avg, out / 6)


def test_batch_size_does_not_change_results(rng):
    net = all_types_network(rng)
    x = rng.uniform(0, 1, (7, *net.input_shape))
    enc = make_encoder("rate", x, net.input_shape, np.random.default_rng(5))
    a = simulate_reference(net, enc, 10, batch_size=7, probes=["if"])
    b = simulate_reference(net, enc, 10, batch_size=2, probes=["if"])
    np.testing.assert_array_equal(a.probes["if"], b.probes["if"])
    # BLAS may sum in another order for another batch size: last-bit differences only
    np.testing.assert_allclose(a.output, b.output, rtol=1e-12)


def test_rate_encoding_reproducible_and_calibrated(rng):
    x = rng.uniform(0, 1, (20, 16))
    e1 = make_encoder("rate", x, (16,), np.random.default_rng(3))
    e2 = make_encoder("rate", x, (16,), np.random.default_rng(3))
    e3 = make_encoder("rate", x, (16,), np.random.default_rng(4))
    b1 = e1.block(0, 20, 2000)
    np.testing.assert_array_equal(b1, e2.block(0, 20, 2000))
    assert not np.array_equal(b1, e3.block(0, 20, 2000))
    # per-sample streams: a sample's spikes do not depend on the block it is drawn in
    np.testing.assert_array_equal(b1[5:9], e1.block(5, 9, 2000))
    rate = b1.mean(axis=1)
    se = np.sqrt(x * (1 - x) / 2000)
    assert np.all(np.abs(rate - x) < 5 * se + 1e-9)


def test_encoder_input_errors():
    with pytest.raises(DataError, match=r"rate coding needs values in \[0, 1\]"):
        make_encoder("rate", np.array([[2.0]]), (1,), np.random.default_rng(0))
    with pytest.raises(DataError, match="per-sample shape"):
        make_encoder("current", np.zeros((3, 5)), (4,))
    with pytest.raises(DataError, match="NaN"):
        make_encoder("current", np.array([[np.nan]]), (1,))
    with pytest.raises(DataError, match="encoding must be one of"):
        make_encoder("phase", np.zeros((1, 1)), (1,))
    with pytest.raises(DataError, match="spike data"):
        make_encoder("spikes", np.full((1, 2, 1), 0.5), (1,))


def test_probe_errors(rng):
    net = all_types_network(rng)
    enc = make_encoder("current", np.zeros((1, *net.input_shape)), net.input_shape)
    with pytest.raises(SimulationError, match="no node named 'nope'"):
        simulate_reference(net, enc, 2, probes=["nope"])
    with pytest.raises(SimulationError, match="'NEURON.v'"):
        simulate_reference(net, enc, 2, probes=["fc1.v"])
    with pytest.raises(SimulationError, match="steps must be >= 1"):
        simulate_reference(net, enc, 0)
