"""Ternary (signed) spikes, SpikeLM's bi-spiking neuron (issue 16): a TernaryLIF layer
emits −1/0/+1 (two thresholds) and a crossbar reads a signed input as two binary reads,
the rows driven +1 and the rows driven −1, subtracted.

References: the NumPy equations written here (the neuron, a 'same' convolution, dense
layers) against the reference and the engine on an ideal chip (dyadic values: exact);
the neuron kernel against its twin with ties on both thresholds; the crossbar kernel
against its twin (``kernels/oracle.py``) on programmed chips with read noise off; a
signed read against the difference of the engine's own binary reads of the positive and
the negative rows (which the twin checks elsewhere); the read counters in closed form
(p rows at +1 and m at −1: two reads of p + m rows, one when a single sign is present)
and their energy = the sum of the two binary reads'.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from neurocosim import ir
from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.energy import estimate
from neurocosim.hwsim.counters import EventCounts
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.kernels import oracle as O
from neurocosim.hwsim.tables import build_tables
from tests.conftest import chain, chip_variant, engine_equals_reference
from tests.hwsim.test_oracles import (
    P_FAIL,
    Run,
    _card,
    _configured,
    _conv_net,
    _dense_net,
    _noisy_outputs,
    _program,
)
from tests.hwsim.test_residual_nodes import conv_same

pytestmark = pytest.mark.filterwarnings("ignore:design rule 'weight_precision'")

IDEAL = chip_variant("ideal", macro__rows=24, macro__cols=20)
STEPS = 6
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the equations, written here ---------------------------------------------------------
class Ternary:
    """v ← v + (dt/τ)(v_leak − v) + (dt/τ)·r·I; s = +1 where v > θ⁺ (≥), −1 where
    v < −θ⁻ (≤), else 0; where s ≠ 0: v ← v_reset, or v ← v − θ⁺ (s = +1), v + θ⁻ (s = −1)."""

    def __init__(self, node, batch):
        self.n, self.a = node, 1e-3 / node.tau
        self.v = np.zeros((batch, *node.tau.shape))

    def __call__(self, current):
        n = self.n
        self.v = self.v + self.a * (n.v_leak - self.v) + self.a * n.r * current
        if n.compare == ">=":
            up, down = self.v >= n.v_threshold, self.v <= -n.v_threshold_neg
        else:
            up, down = self.v > n.v_threshold, self.v < -n.v_threshold_neg
        s = up.astype(float) - down.astype(float)
        if n.reset == "zero":
            self.v = np.where(s != 0, n.v_reset, self.v)
        else:
            self.v = np.where(up, self.v - n.v_threshold,
                              np.where(down, self.v + n.v_threshold_neg, self.v))
        return s


def ternary(rng, shape, compare, reset):
    """Dyadic parameters (α = 1/4, r = 2): every membrane value is exact."""
    return ir.TernaryLIF(tau=np.full(shape, 4e-3), r=np.full(shape, 2.0),
                         v_leak=rng.integers(-2, 3, shape) / 8,
                         v_threshold=rng.integers(2, 9, shape) / 8,
                         v_threshold_neg=rng.integers(2, 9, shape) / 8,
                         v_reset=rng.integers(-2, 3, shape) / 8, compare=compare, reset=reset)


# -- reference = engine = the equations (ideal chip) -------------------------------------
@FAST
@given(c=st.integers(1, 3), h=st.integers(2, 5), w=st.integers(2, 5), n_out=st.integers(2, 12),
       compare=st.sampled_from([">", ">="]), reset=st.sampled_from(["zero", "subtract"]),
       seed=st.integers(0, 2**16))
def test_ternary_network_engine_equals_reference_and_equations(c, h, w, n_out, compare, reset,
                                                               seed):
    """input spikes → 3×3 conv → TernaryLIF → Linear → TernaryLIF: the second layer's
    convolution-free input and the first's conv read signed spikes on the crossbars."""
    rng = np.random.default_rng(seed)
    c_out = int(rng.integers(2, 5))
    conv = ir.Conv2d(weight=rng.integers(-8, 9, (c_out, c, 3, 3)) / 8,
                     bias=rng.integers(-4, 5, c_out) / 8, padding=1)
    t1 = ternary(rng, (c_out, h, w), compare, reset)
    fc = ir.Linear(weight=rng.integers(-8, 9, (n_out, c_out * h * w)) / 8)
    t2 = ternary(rng, (n_out,), ">=" if compare == ">" else ">", reset)
    net = chain({"in": ir.Input(shape=(c, h, w)), "conv": conv, "t1": t1,
                 "flat": ir.Flatten(), "fc": fc, "t2": t2, "out": ir.Output()})
    x = (rng.random((3, STEPS, c, h, w)) < 0.5).astype(float)
    ref, eng, _ = engine_equals_reference(net, x, ["t1", "t1.v", "t2", "t2.v"], STEPS, IDEAL)
    n1, n2 = Ternary(t1, 3), Ternary(t2, 3)
    want = {"t1": [], "t1.v": [], "t2": [], "t2.v": []}
    for t in range(STEPS):
        s1 = n1(conv_same(x[:, t], conv))
        s2 = n2(s1.reshape(3, -1) @ fc.weight.T)
        for k, v in (("t1", s1), ("t1.v", n1.v), ("t2", s2), ("t2.v", n2.v)):
            want[k].append(v)
    for k, v in want.items():
        np.testing.assert_array_equal(ref.probes[k], np.stack(v, axis=1), err_msg=k)
    # spikes are counted as |s|: the layer counters hold the non-zero outputs
    for j, name in enumerate(eng.counts.layer_names):
        if name in ("t1", "t2"):
            np.testing.assert_array_equal(eng.counts.layer[:, j, K.L_SPIKES],
                                          np.abs(ref.probes[name]).reshape(3, -1).sum(axis=1))


def test_a_ternary_network_fires_both_signs():
    """The Hypothesis networks are not vacuous: a fixed one fires +1 and −1 in both layers."""
    rng = np.random.default_rng(3)
    t1 = ternary(rng, (4, 4, 4), ">", "subtract")
    net = chain({"in": ir.Input(shape=(2, 4, 4)),
                 "conv": ir.Conv2d(weight=rng.integers(-8, 9, (4, 2, 3, 3)) / 8,
                                   bias=np.zeros(4), padding=1),
                 "t1": t1, "flat": ir.Flatten(),
                 "fc": ir.Linear(weight=rng.integers(-8, 9, (10, 64)) / 8),
                 "t2": ternary(rng, (10,), ">=", "zero"), "out": ir.Output()})
    x = (rng.random((4, STEPS, 2, 4, 4)) < 0.5).astype(float)
    ref, _, _ = engine_equals_reference(net, x, ["t1", "t2"], STEPS, IDEAL)
    for k in ("t1", "t2"):
        assert (ref.probes[k] == 1).sum() > 5 and (ref.probes[k] == -1).sum() > 5, k


# -- the neuron kernel and its twin ------------------------------------------------------
def _mismatched(leak=0.1, threshold=0.0):
    d = load_chip("ideal").to_dict()
    d["neuron"]["leak_mismatch"] = leak
    d["neuron"]["threshold_mismatch"] = threshold
    d["macro"]["rows"] = d["macro"]["cols"] = 128
    return chip_from_dict(d, strict_units=False)


def _ternary_layers(rng, n):
    """Four ternary layers (both compares × both resets) after affine ops; a fifth of the
    neurons rest at +θ⁺ and a fifth at −θ⁻ (v_leak there: exact ties)."""
    th, thn = rng.uniform(0.3, 1.5, n), rng.uniform(0.3, 1.5, n)
    tie = rng.integers(0, 5, n)  # 0: at +θ⁺, 1: at −θ⁻, else free
    leak = np.where(tie == 0, th, np.where(tie == 1, -thn, rng.normal(0, 0.2, n)))
    nodes = {"in": ir.Input(shape=(n,))}
    for i, (cmp, rst) in enumerate([(">", "zero"), (">=", "zero"), (">", "subtract"),
                                    (">=", "subtract")]):
        nodes[f"fc{i}"] = ir.Affine(weight=rng.normal(0, 0.1, (n, n)), bias=np.zeros(n))
        nodes[f"t{i}"] = ir.TernaryLIF(tau=rng.uniform(2e-3, 2e-2, n), r=rng.uniform(0.5, 2, n),
                                       v_leak=leak, v_threshold=th, v_threshold_neg=thn,
                                       v_reset=rng.normal(0, 0.1, n), compare=cmp, reset=rst)
    nodes["out"] = ir.Output()
    return chain(nodes), tie


def test_neuron_eval_matches_its_twin_for_ternary_layers(rng):
    n = 96
    net, tie = _ternary_layers(rng, n)
    neu = build_tables(_program(net, _mismatched())).neurons
    assert set(neu.type.tolist()) == {K.T_TLIF}
    for k in range(4):
        sl = slice(int(neu.off[k]), int(neu.off[k]) + n)
        v = rng.normal(0.0, 1.5, neu.count)
        cur = np.zeros(neu.count)
        v[sl] = np.where(tie == 0, neu.vth[sl], np.where(tie == 1, -neu.vthn[sl], v[sl]))
        fired = {1: 0, -1: 0}
        for step in range(6):
            x = rng.normal(0.0, 2.0, n)
            if step == 0:
                x[tie < 2] = 0.0  # v = v_leak stays put: exactly on a threshold
            y_want, v_want, _, s_want = O.neuron_step(neu, k, v, cur, x)
            y = np.full(n, np.nan)
            spikes = K.neuron_eval(neu, k, v, cur, x, y)
            np.testing.assert_array_equal(y, y_want, err_msg=f"layer {k} step {step}")
            np.testing.assert_array_equal(v, v_want, err_msg=f"layer {k} v")
            assert spikes == s_want == np.abs(y).sum()
            if step == 0:  # the ties fire only with >= / <=
                np.testing.assert_array_equal(y[tie == 0], float(neu.ge[k]))
                np.testing.assert_array_equal(y[tie == 1], -float(neu.ge[k]))
            for sgn in fired:
                fired[sgn] += int((y == sgn).sum())
        assert fired[1] > 10 and fired[-1] > 10


def test_negative_threshold_record_carries_the_threshold_mismatch(rng):
    """θ⁻ is drawn with the same mismatch factor as θ⁺ (one comparator offset per neuron)."""
    net, _ = _ternary_layers(rng, 40)
    neu = build_tables(_program(net, _mismatched(threshold=0.1))).neurons
    node = net.nodes["t0"]
    ratio = neu.vth[:40] / node.v_threshold
    assert np.std(ratio) > 0.01  # the mismatch is on
    np.testing.assert_allclose(neu.vthn[:40], node.v_threshold_neg * ratio, rtol=1e-12)


# -- the crossbar: signed reads on programmed chips --------------------------------------
def _signed(rng, n, top=1, p=0.35):
    """Random signed integers in [−top, top], a fraction ``p`` non-zero."""
    mag = rng.integers(1, top + 1, n)
    return (rng.random(n) < p) * np.where(rng.random(n) < 0.5, -mag, mag).astype(float)


@pytest.mark.parametrize("name", ["adc8-32", "no-adc", "fs-clip", "offset", "sliced-2x3",
                                  "drift-comp", "rram"])
def test_signed_reads_match_the_twin(rng, name):
    seen_neg = 0
    for net, bias in ((_dense_net(rng), "row"), (_conv_net(rng), "digital")):
        run = Run(_configured(net, name, bias=bias, conv_regions=2))
        for op in run.orc.op_names:
            n_in = run.prog.mapped.ops[op].in_size
            for top, p in ((1, 0.05), (1, 0.4), (3, 0.3)):
                x = _signed(rng, n_in, top, p)
                want = run.compare(op, x)
                assert want.code == K.E_OK
            only_neg = -np.abs(_signed(rng, n_in))  # one sign: one read
            run.compare(op, only_neg)
            seen_neg += int((x < 0).sum())
    assert seen_neg > 0


def test_a_signed_read_is_the_difference_of_two_binary_reads(rng):
    """On a programmed chip with 8-bit ADCs and clipping, noise off: y(x) = y(x⁺) − y(x⁻)
    with x⁺, x⁻ the 0/1 spikes of the +1 and −1 rows read by the engine as plain spikes
    (the op has no bias: no row is driven besides the inputs)."""
    run = Run(_configured(_dense_net(rng), "fs-clip"))
    op = "fc2"
    n_in = run.prog.mapped.ops[op].in_size
    for p in (0.1, 0.5):
        x = _signed(rng, n_in, 1, p)
        code, y, _, _ = run.engine(op, x)
        assert code == K.E_OK
        y_pos = run.engine(op, (x > 0).astype(float))[1]
        y_neg = run.engine(op, (x < 0).astype(float))[1]
        scale = np.abs(y_pos).max() + np.abs(y_neg).max()
        np.testing.assert_allclose(y, y_pos - y_neg, rtol=0, atol=1e-12 * scale)
        assert np.abs(y_neg).max() > 0


def test_a_signed_read_draws_the_noise_of_each_of_its_two_reads(rng):
    """Read noise on, ADC off: the outputs are normal with the mean of the positive read
    minus that of the negative one and the sum of their variances (two independent
    reads), per the twin's per-cell model; KS tests per output and over all."""
    run = Run(_program(_dense_net(rng), _card(macro__read_noise={"model": "pcm_aihwkit"},
                                              macro__adc_bits=None)))
    op = "fc2"
    x = _signed(rng, run.prog.mapped.ops[op].in_size, 1, 0.4)
    mean, var = run.orc.moments(op, x)
    m_pos, v_pos = run.orc.moments(op, (x > 0).astype(float))
    m_neg, v_neg = run.orc.moments(op, (x < 0).astype(float))
    np.testing.assert_allclose(mean, m_pos - m_neg, rtol=1e-12, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(var, v_pos + v_neg, rtol=1e-12)
    assert (v_neg > 0).all() and (v_pos > 0).all()
    y, _ = _noisy_outputs(run, op, x, 2000, seed=5)
    z = (y - mean) / np.sqrt(var)
    p_each = np.array([stats.kstest(z[:, j], "norm").pvalue for j in range(z.shape[1])])
    assert p_each.min() > P_FAIL / z.shape[1], p_each.min()
    assert stats.kstest(z.ravel(), "norm").pvalue > P_FAIL, z.std()


def _energy(run, cnt):
    mapped = run.prog.mapped
    counts = EventCounts(block=cnt[None], layer=np.zeros((1, 1, K.N_LAYER_COUNTERS)),
                         input=np.zeros((1, 2)), steps=np.ones(1, np.int64),
                         latency_s=np.zeros(1), block_op=tuple(b.op for b in mapped.blocks),
                         block_tile=np.array([b.tile for b in mapped.blocks]),
                         block_outs=np.array([b.out_hi - b.out_lo for b in mapped.blocks]),
                         layer_names=("none",))
    return estimate(counts, mapped.chip, tiles=mapped.n_tiles, cores=1).by_component


def test_signed_read_counters_in_closed_form_and_their_energy(rng):
    """p rows at +1 and m at −1 on a block: 2 reads (1 when p or m is 0) of p + m rows,
    (p + m)·cols cells, 2·cols conversions and 2× the block's ADC cycles, the inputs and
    the accumulations once; energy of row drive, array read and ADC = the sum of the two
    binary reads' (read noise on)."""
    chip = _card(macro__read_noise={"model": "pcm_aihwkit"})
    run = Run(_program(_dense_net(rng), chip))
    op = "fc2"  # a Linear op: no bias row
    n_in = run.prog.mapped.ops[op].in_size
    blocks = run.orc.op_blocks(op)
    x = _signed(rng, n_in, 1, 0.4)
    last = blocks[-1].gather[0]
    x[last[last >= 0]] = -np.abs(x[last[last >= 0]])  # the last row chunk: one sign
    code, _, cnt, busy = run.engine(op, x)
    assert code == K.E_OK
    seen = set()
    for blk in blocks:
        assert blk.gather.shape[0] == 1 and (blk.gather >= 0).all()  # one read, no bias row
        rows = x[blk.gather[0]]
        p, m = int((rows > 0).sum()), int((rows < 0).sum())
        reads = int(p > 0) + int(m > 0)
        seen.add(reads)
        c = cnt[blk.index]
        assert c[K.C_READS] == reads and c[K.C_ROWS] == p + m, blk.index
        assert c[K.C_CELLS] == (p + m) * blk.cols
        assert c[K.C_CONV] == reads * blk.cols and c[K.C_CYCLES] == reads * blk.cycles
        assert c[K.C_INPUTS] == p + m and c[K.C_ACC] == (blk.outs if reads else 0)
    assert seen == {1, 2}
    _, _, c_pos, t_pos = run.engine(op, (x > 0).astype(float))
    _, _, c_neg, t_neg = run.engine(op, (x < 0).astype(float))
    for k in (K.C_READS, K.C_ROWS, K.C_CELLS, K.C_CONV, K.C_CYCLES, K.C_INPUTS):
        np.testing.assert_array_equal(cnt[:, k], c_pos[:, k] + c_neg[:, k])
    np.testing.assert_allclose(busy, t_pos + t_neg, rtol=1e-12)
    e, e_pos, e_neg = _energy(run, cnt), _energy(run, c_pos), _energy(run, c_neg)
    assert e["adc"] > 0 and e["array_read"] > 0
    for comp in ("row_drive", "array_read", "adc"):
        assert e[comp] == pytest.approx(e_pos[comp] + e_neg[comp], rel=1e-12), comp


def test_thermometer_levels_per_sign_in_closed_form(rng):
    """Signed levels −3..3 on one read: level k of each sign reads the rows at or beyond
    ±k — rows at 3, −1, −2 and 2: reads 3 (+) + 2 (−), rows (2 + 2 + 1) + (2 + 1)."""
    run = Run(_configured(_dense_net(rng, n_in=40, n_hid=20), "adc8-32"))
    x = np.zeros(40)
    x[[3, 7, 11, 20]] = [3.0, -1.0, -2.0, 2.0]
    c = run.compare("fc1", x).counters[0][[b.index for b in run.orc.op_blocks("fc1")]]
    np.testing.assert_array_equal(c[:, K.C_READS], 3 + 2)
    np.testing.assert_array_equal(c[:, K.C_ROWS], (2 + 2 + 1) + (2 + 1))
    np.testing.assert_array_equal(c[:, K.C_INPUTS], 4)


@pytest.mark.parametrize("values, code", [
    ([-1.0, 1.0], K.E_OK),  # ternary: no DAC needed, even on a 1-bit one
    ([-2.0, 3.0, -1.0], K.E_OK),
    ([-0.5], K.E_DAC),  # a negative fraction: the DAC takes [0, s] only
    ([-1.0, 0.5], K.E_DAC),  # a signed integer and an analog value on the rows of one read
])
def test_signed_input_errors_match_the_twin(rng, values, code):
    run = Run(_program(_dense_net(rng, n_in=30, n_hid=20), _card(macro__dac_bits=1)))
    x = np.zeros(30)
    x[[4, 9, 17][:len(values)]] = values
    assert run.compare("fc1", x).code == code


def test_an_ideal_block_adds_the_signed_rows_in_one_pass(rng):
    run = Run(_program(_dense_net(rng), chip_variant("ideal", macro__rows=64, macro__cols=72)))
    for op in run.orc.op_names:
        n_in = run.prog.mapped.ops[op].in_size
        x = _signed(rng, n_in, 1, 0.4)
        want = run.compare(op, x)
        blocks = run.orc.op_blocks(op)
        reads = want.counters[0][[b.index for b in blocks], K.C_READS]
        assert (reads <= 1).all() and reads.sum() > 0
        w = run.prog.mapped.network.nodes[op].weight
        bias = getattr(run.prog.mapped.network.nodes[op], "bias", 0.0)
        np.testing.assert_allclose(want.y[0], w @ x + bias, rtol=1e-12, atol=1e-12)
