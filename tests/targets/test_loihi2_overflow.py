"""Loihi 2 overflow paths: ``u`` wraps, ``v`` saturates, and Lava's int32 arithmetic beyond one
wrap, each counted by an independent model and checked against hwsim's ``loihi2`` mode and
against Lava's own fixed-point simulator (every spike, and ``u``/``v`` after every step).

The independent model below is written from Lava 0.10's source, in Python integers (no
fixed width, so every wrap is explicit): ``lava/proc/dense/models.py``
(``AbstractPyDenseModelBitAcc.run_spk``: ``a_buff = sum of active weights << weight_exp``,
sent one step later through the ``a_out`` port, int32) and ``lava/proc/lif/models.py``
(``AbstractPyLifModelFixed.subthr_dynamics``: ``u = int32(decay(u)) + int32(a_in << 6)``
in int32, one 24-bit wrap; ``v = int32(decay(v)) + u + bias`` in int32, clipped to
±(2^23 − 1); ``PyLifModelBitAcc``: spike when ``v > vth << 6``, then ``v = 0``).
"""


import numpy as np
import pytest

from neurocosim.targets.loihi2 import (
    LoihiLayer,
    LoihiNetwork,
    run_lava,
    simulate_loihi2,
    trace_loihi2,
)
from tests.conftest import lava_only

P23, P32 = 2**23, 2**32
EVENTS = ("u_wrap_up", "u_wrap_down", "u_beyond_24_bits", "int32_wrap", "v_sat_high",
          "v_sat_low", "v_sat_high_fired")


def _i32(x):
    return (x + P32 // 2) % P32 - P32 // 2


def _decay(x, d):
    p = x * (4096 - d)
    return np.array([(abs(q) >> 12) * (1 if q >= 0 else -1) for q in p], dtype=object)


def _lif_step(L, u, v, a, ev):
    """One LIF step of Lava's fixed-point model in Python integers, counting events."""
    a6 = a * 64
    u_sum = _decay(u, L.du + 1) + _i32(a6)
    ev["int32_wrap"] += int(np.sum(_i32(a6) != a6) + np.sum(_i32(u_sum) != u_sum))
    u_sum = _i32(u_sum)
    up, down = u_sum > P23, u_sum <= -P23
    ev["u_wrap_up"] += int(up.sum())
    ev["u_wrap_down"] += int(down.sum())
    u = np.where(up, u_sum - 2 * P23, np.where(down, u_sum + 2 * P23, u_sum))
    ev["u_beyond_24_bits"] += int(np.sum((u > P23) | (u <= -P23)))
    v_sum = _decay(v, L.dv) + u + L.bias_mant.astype(object) * 2**L.bias_exp
    ev["int32_wrap"] += int(np.sum(_i32(v_sum) != v_sum))
    v_sum = _i32(v_sum)
    high, low = v_sum > P23 - 1, v_sum < -(P23 - 1)
    v = np.minimum(np.maximum(v_sum, -(P23 - 1)), P23 - 1)
    fired = v > L.vth * 64
    ev["v_sat_high"] += int(high.sum())
    ev["v_sat_low"] += int(low.sum())
    ev["v_sat_high_fired"] += int(np.sum(high & fired))
    return u, np.where(fired, 0, v), fired


def lava_equations(net, x):
    """Per layer: spikes, ``u``, ``v`` ``(n_samples, steps, n)`` and the event counts."""
    n_smp, steps, _ = x.shape
    out = {L.name: {k: np.zeros((n_smp, steps, L.n_out), np.int64) for k in "suv"}
           for L in net.layers}
    events = {L.name: dict.fromkeys(EVENTS, 0) for L in net.layers}
    for smp in range(n_smp):
        state = [[np.zeros(L.n_out, object) for _ in range(3)] for L in net.layers]
        for t in range(steps):
            s = x[smp, t].astype(object)
            for k, L in enumerate(net.layers):
                u, v, a = state[k]
                acc = L.weight.astype(object) @ s
                a_next = acc * 2**L.weight_exp if L.weight_exp >= 0 else acc // 2**-L.weight_exp
                events[L.name]["int32_wrap"] += int(np.sum(_i32(a_next) != a_next))
                u, v, fired = _lif_step(L, u, v, a, events[L.name])
                state[k] = [u, v, _i32(a_next)]
                for key, val in zip("suv", (fired, u, v), strict=True):
                    out[L.name][key][smp, t] = val.astype(np.int64)
                s = fired.astype(object)
    return out, events


def overflow_network(rng):
    """Two layers whose step inputs exceed the 24-bit ``u`` in both directions: rows 0–7 of
    layer 1 are excitatory (u overflows upward, wraps negative, v saturates low), rows 8–15
    inhibitory (u wraps positive, v saturates high and fires), the rest mixed; layer 2
    gets enough coincident spikes to wrap too."""
    w1 = 2 * rng.integers(-128, 128, (24, 16))  # 8-bit mixed grid: even, in [-256, 254]
    w1[:8] = 2 * rng.integers(0, 128, (8, 16))
    w1[8:16] = -2 * rng.integers(0, 129, (8, 16))
    l1 = LoihiLayer(name="wrap", weight=w1, weight_exp=7, num_weight_bits=8, sign_mode="mixed",
                    du=1500, dv=0, vth=100000, bias_mant=rng.integers(-2000, 2000, 24),
                    bias_exp=3)
    w2 = 4 * rng.integers(-64, 64, (12, 24))  # 7-bit mixed grid
    l2 = LoihiLayer(name="sat", weight=w2, weight_exp=7, num_weight_bits=7, sign_mode="mixed",
                    du=300, dv=100, vth=60000, bias_mant=rng.integers(-500, 500, 12),
                    bias_exp=4)
    return LoihiNetwork(name="overflow", layers=(l1, l2))


def wide_network(rng):
    """1,100 inputs at weight_exp 7: with ≥ 1,032 inputs active at full weight, ``a_in << 6``
    exceeds int32; with a few hundred, ``u`` lands beyond 24 bits after its one wrap."""
    w = np.empty((4, 1100), np.int64)
    w[0], w[1] = 254, -256
    w[2] = 2 * rng.integers(-128, 128, 1100)
    w[3] = 2 * rng.integers(0, 128, 1100)
    L = LoihiLayer(name="wide", weight=w, weight_exp=7, num_weight_bits=8, sign_mode="mixed",
                   du=2000, dv=0, vth=131071, bias_mant=np.array([0, 0, -4096, 4095]),
                   bias_exp=7)
    return LoihiNetwork(name="wide", layers=(L,))


EDGE_ACTIVE = (8, 0, 9, 0, 7, 8, 8, 10, 1, 8)  # active inputs per step of the edge case


def edge_network():
    """Each active input adds exactly ±2^20 to ``u`` (du = 4095 forgets the last step):
    8 active inputs put ``u`` exactly on 2^23 (kept: the wrap is ``u > 2^23``) and on −2^23
    (wrapped to +2^23: ``u ≤ −2^23``); 9 and 10 wrap."""
    w = np.array([[128] * 10, [-128] * 10])
    L = LoihiLayer(name="edge", weight=w, weight_exp=7, num_weight_bits=8, sign_mode="mixed",
                   du=4095, dv=0, vth=131071, bias_mant=np.zeros(2, np.int64), bias_exp=0)
    x = np.zeros((1, len(EDGE_ACTIVE), 10), np.int8)
    for t, k in enumerate(EDGE_ACTIVE):
        x[0, t, :k] = 1
    return LoihiNetwork(name="edge", layers=(L,)), x


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(7)
    net = overflow_network(rng)
    x = (rng.random((3, 120, 16)) < 0.3).astype(np.int8)
    wide = wide_network(rng)
    level = rng.choice([0.0, 0.02, 0.2, 0.5, 0.97], size=40)  # active fraction per step
    xw = (rng.random((1, 40, 1100)) < level[None, :, None]).astype(np.int8)
    return [(n, xx, *lava_equations(n, xx)) for n, xx in ((net, x), (wide, xw), edge_network())]


def _assert_reached(cases):
    (net, _, _, ev), (wide, _, _, evw), (edge, _, want, _) = cases
    # the edge case: inputs reach u one step later (the Dense delay)
    u = want["edge"]["u"][0]
    for t, k in enumerate(EDGE_ACTIVE[:-1], start=1):
        assert u[t, 0] == (k * 2**20 if k <= 8 else k * 2**20 - 2**24), (t, u[t])
        assert u[t, 1] == (-k * 2**20 if k < 8 else 2**24 - k * 2**20), (t, u[t])
    for name in ("wrap", "sat"):  # the 24-bit wrap of u, both ways, and v's clip, both ways
        e = ev[name]
        assert e["u_wrap_up"] >= 80 and e["u_wrap_down"] >= 80, (name, e)
        assert e["v_sat_high"] >= 25 and e["v_sat_low"] >= 1000, (name, e)
        assert e["v_sat_high_fired"] == e["v_sat_high"]  # 2^23 − 1 > vth << 6 always
        assert e["u_beyond_24_bits"] == e["int32_wrap"] == 0, (name, e)
    e = evw["wide"]  # Lava's arithmetic beyond one wrap
    assert e["int32_wrap"] >= 10 and e["u_beyond_24_bits"] >= 100, e
    assert e["u_wrap_up"] >= 50 and e["u_wrap_down"] >= 20, e
    assert e["v_sat_high"] >= 50 and e["v_sat_low"] >= 20, e
    return ev, evw


def test_u_wraps_and_v_saturates(cases):
    """hwsim's loihi2 mode (Numba) and its NumPy statement follow the independent model
    through every wrap and saturation: every spike, ``u`` and ``v`` after every step."""
    _assert_reached(cases)
    for net, x, want, _ in cases:
        hw = simulate_loihi2(net, x)
        for L in net.layers:
            np.testing.assert_array_equal(hw.spikes[L.name], want[L.name]["s"])
            np.testing.assert_array_equal(hw.u[L.name], want[L.name]["u"][:, -1])
            np.testing.assert_array_equal(hw.v[L.name], want[L.name]["v"][:, -1])
            assert 0 < hw.spikes[L.name].sum() < hw.spikes[L.name].size
        for smp in range(x.shape[0]):
            for k, tr in enumerate(trace_loihi2(net, x[smp])):
                for key in "suv":
                    np.testing.assert_array_equal(tr[key], want[net.layers[k].name][key][smp])


@lava_only
@pytest.mark.timeout(120)
def test_lava_matches_hwsim_where_u_wraps_and_v_saturates(cases):
    """Lava's fixed_pt simulator, run step by step with ``u``/``v`` read after each step:
    the overflow network on 3 samples (Lava's Sparse path) and the wide one on 1 (Dense)."""
    _assert_reached(cases)
    for net, x, want, _ in cases:
        hw = simulate_loihi2(net, x)
        lv = run_lava(net, x, trace=True)
        for L in net.layers:
            np.testing.assert_array_equal(lv.spikes[L.name], hw.spikes[L.name])
            np.testing.assert_array_equal(lv.spikes[L.name], want[L.name]["s"])
            np.testing.assert_array_equal(lv.u[L.name], hw.u[L.name])
            np.testing.assert_array_equal(lv.v[L.name], hw.v[L.name])
            for key in "uv":
                np.testing.assert_array_equal(lv.trace[L.name][key], want[L.name][key])
