"""Every serial kernel of the engine against its NumPy twin (:mod:`neurocosim.hwsim.kernels.
oracle`), value by value on random inputs, through the kernels' interfaces only:
``neuron_eval``, ``csr_eval``, ``syn_eval`` (on records from ``build_tables``) and the
early-stop test ``_stop``; then the noisy read's distribution (KS tests against the
per-cell model, a chi-square test of the ADC codes against a Monte-Carlo of the twin, the
clipping counter against its expectation) and the kernels' normal generators.

The crossbar twin reads the programmed chip itself (tiles, operating point, card), not
the engine's tables, so it also checks how the tables store conductances, variances,
decode terms and ADC ranges.
"""

from __future__ import annotations

import importlib

import numba
import numpy as np
import pytest
from scipy import stats

from neurocosim import ir, map_network, program_chip
from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.kernels import oracle as O
from neurocosim.hwsim.kernels import rng as KR
from neurocosim.hwsim.tables import Policy, build_tables
from tests.conftest import all_types_network, chain, chip_variant

#: coarse cells (16-level RRAM, 4-bit slices) are what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore:design rule 'weight_precision'")

#: the p-value below which a distribution test fails (a correct engine: ~1e-4 of the time
#: for a random seed; the seeds are fixed)
P_FAIL = 1e-4


# -- helpers ---------------------------------------------------------------------------
def _card(preset="pcm-aihwkit", **changes):
    """A 64 x 72 macro of ``preset`` with read noise off, a 4-bit DAC, and ``changes``."""
    base = {"macro__rows": 64, "macro__cols": 72, "macro__read_noise": {"model": "none"},
            "macro__dac_bits": 4}
    return chip_variant(preset, **{**base, **changes})


def _dense_net(rng, n_in=192, n_hid=160, n_out=64):
    """n_in → n_hid (Affine) → LIF → n_out (Linear) → LI: row chunks, column chunks,
    a bias on one op."""
    return chain({
        "in": ir.Input(shape=(n_in,)),
        "fc1": ir.Affine(weight=rng.normal(0, 0.3, (n_hid, n_in)), bias=rng.normal(0, 0.2, n_hid)),
        "lif": ir.LIF(tau=np.full(n_hid, 5e-3), r=np.ones(n_hid), v_leak=np.zeros(n_hid),
                      v_threshold=np.ones(n_hid)),
        "fc2": ir.Linear(weight=rng.normal(0, 0.3, (n_out, n_hid))),
        "li": ir.LI(tau=np.full(n_out, 5e-3), r=np.ones(n_out), v_leak=np.zeros(n_out)),
        "out": ir.Output()})


def _conv_net(rng):
    """A strided, padded convolution (3 x 9 x 9 → 40 x 5 x 5): many reads per block,
    padding rows, two column chunks."""
    return chain({
        "in": ir.Input(shape=(3, 9, 9)),
        "conv": ir.Conv2d(weight=rng.normal(0, 0.4, (40, 3, 3, 3)), bias=rng.normal(0, 0.1, 40),
                          stride=2, padding=(1, 1), dilation=1, groups=1),
        "if": ir.IF(r=np.ones((40, 5, 5)), v_threshold=np.ones((40, 5, 5))),
        "out": ir.Output()})


def _program(net, chip, seed=1, **map_kw):
    return program_chip(map_network(net, chip, placement="sequential", **map_kw),
                        np.random.default_rng(seed))


class Run:
    """The engine's tables and the twin of one programmed chip."""

    def __init__(self, prog, precision="float64"):
        self.prog = prog
        self.tab = build_tables(prog, precision=precision)
        self.dtype = self.tab.dtype
        self.orc = O.CrossbarOracle(prog)
        self.work = K.work_for(self.tab.synapses)
        self.order = self.tab.extras["block_order"]  # engine block j is mapped block order[j]
        assert list(self.tab.block_op) == [self.orc.blocks[i].op for i in self.order]

    def engine(self, op, x, state=None, cnt=None, busy=None):
        """One ``syn_eval`` of op ``op``: (code, y, counters by mapped block, tile time)."""
        tab, k = self.tab, self.orc.op_index(op)
        size = self.prog.mapped.ops[self.orc.op_names[k]].out_size
        y = np.zeros(size, self.dtype)
        cnt = np.zeros((len(tab.block_op), K.N_BLOCK_COUNTERS)) if cnt is None else cnt
        busy = np.zeros(tab.n_tiles) if busy is None else busy
        state = KR.seed_states(np.random.SeedSequence(0), 1)[0] if state is None else state
        code = K.syn_eval(k, np.ascontiguousarray(x, self.dtype), y, tab.synapses, tab.readout,
                          tab.timing, state, cnt, busy, self.work)
        by_mapped = np.zeros_like(cnt)
        by_mapped[self.order] = cnt
        return code, y.astype(float), by_mapped, busy

    def compare(self, op, x, rtol=1e-9):
        """Engine and twin on input ``x``, value by value; returns the twin's result."""
        code, y, cnt, busy = self.engine(op, x)
        want = self.orc.evaluate(op, x)
        assert code == want.code, (op, code, want.code)
        if code != K.E_OK:
            return want
        scale = 1.0 + np.abs(want.y[0]).max()
        np.testing.assert_allclose(y, want.y[0], rtol=rtol, atol=rtol * scale, err_msg=str(op))
        np.testing.assert_array_equal(cnt, want.counters[0], err_msg=f"{op}: counters")
        np.testing.assert_allclose(busy, want.tile_time, rtol=1e-12, atol=0, err_msg=f"{op}: time")
        return want


def _inputs(rng, n, kind, p=0.35):
    """A random op input: binary spikes, multi-level integers (up to 4) or analog values
    in [0, 1] (with some exact 0/1 and some that the DAC rounds to 0)."""
    on = rng.random(n) < p
    if kind == "binary":
        return on.astype(float)
    if kind == "levels":
        return on * rng.integers(1, 5, n).astype(float)
    x = on * rng.random(n)
    x[rng.random(n) < 0.05] = 1.0
    x[rng.random(n) < 0.05] = 0.01  # rounds to 0 on a DAC of up to 5 bits, still drives
    return x


# -- neuron layers ---------------------------------------------------------------------
def _neuron_net(rng, n=96):
    """One layer of every model and option, with an affine op before each; a fifth of
    each layer's neurons have ``v_leak = v_threshold`` (exact-threshold ties)."""
    tie = rng.random(n) < 0.2
    th = rng.uniform(0.3, 1.5, n)
    leak = np.where(tie, th, rng.normal(0, 0.2, n))
    tau = rng.uniform(2e-3, 2e-2, n)
    half = 0.5 * (np.floor(rng.uniform(0, 4, n)) + 0.5)  # ILIF ties: v / 0.5 = k + 1/2
    layers = {
        "if0": ir.IF(r=rng.uniform(0.5, 2, n), v_threshold=th, reset="zero", compare=">"),
        "if1": ir.IF(r=np.ones(n), v_threshold=th, reset="subtract", compare=">="),
        "lif0": ir.LIF(tau=tau, r=np.ones(n), v_leak=leak, v_threshold=th,
                       v_reset=rng.normal(0, 0.1, n), reset="zero", compare=">="),
        "lif1": ir.LIF(tau=tau, r=rng.uniform(0.5, 2, n), v_leak=leak, v_threshold=th,
                       reset="subtract", compare=">"),
        "cuba0": ir.CubaLIF(tau_syn=np.full(n, 3e-3), tau_mem=tau, r=np.ones(n), v_leak=leak,
                            v_threshold=th, w_in=rng.uniform(0.5, 2, n)),
        "cuba1": ir.CubaLIF(tau_syn=rng.uniform(2e-3, 9e-3, n), tau_mem=tau, r=np.ones(n),
                            v_leak=leak, v_threshold=th, reset="subtract", compare=">="),
        "ilif0": ir.ILIF(tau=tau, r=np.full(n, 2.0), v_leak=np.where(tie, half, 0.0),
                         v_threshold=np.full(n, 0.5), max_level=3),
        "ilif1": ir.ILIF(tau=tau, r=np.ones(n), v_leak=leak, v_threshold=th, max_level=6),
        "cubali": ir.CubaLI(tau_syn=np.full(n, 3e-3), tau_mem=tau, r=np.ones(n), v_leak=leak,
                            w_in=np.ones(n)),
        "li": ir.LI(tau=tau, r=np.ones(n), v_leak=leak),
    }
    nodes = {"in": ir.Input(shape=(n,))}
    for i, (name, layer) in enumerate(layers.items()):
        nodes[f"fc{i}"] = ir.Affine(weight=rng.normal(0, 0.1, (n, n)), bias=np.zeros(n))
        nodes[name] = layer
    nodes["out"] = ir.Output()
    return chain(nodes), tie


def _with_leak_mismatch():
    d = load_chip("ideal").to_dict()
    d["neuron"]["leak_mismatch"] = 0.1  # threshold mismatch off: the ties stay exact
    d["macro"]["rows"] = d["macro"]["cols"] = 128
    return chip_from_dict(d, strict_units=False)


def test_neuron_eval_matches_its_twin_for_every_model(rng):
    """Random states and inputs for five steps per layer; at step 0 a fifth of the
    neurons sit exactly on their threshold (``>`` and ``>=`` differ) or, in the ILIF
    layer of threshold 0.5, exactly half-way between two levels."""
    net, tie = _neuron_net(rng)
    tab = build_tables(_program(net, _with_leak_mismatch()))
    neu = tab.neurons
    assert sorted(set(neu.type.tolist())) == [K.T_IF, K.T_LIF, K.T_CUBALIF, K.T_LI, K.T_CUBALI,
                                              K.T_ILIF]
    spiking = (K.T_IF, K.T_LIF, K.T_CUBALIF)
    n = tie.size
    for k in range(neu.type.shape[0]):
        sl = slice(int(neu.off[k]), int(neu.off[k]) + n)
        v = rng.normal(0.5, 1.0, neu.count)
        cur = rng.normal(0.0, 0.5, neu.count)
        # with no input and no synaptic current, v = v_leak (= v_th) and an IF's v stay put
        at = neu.vth[sl] if neu.type[k] in spiking else neu.vleak[sl]
        v[sl] = np.where(tie, at, v[sl])
        cur[sl] = np.where(tie, 0.0, cur[sl])
        for step in range(5):
            x = rng.normal(0.3, 1.0, n)
            if step == 0:
                x[tie] = 0.0
            y_want, v_want, cur_want, s_want = O.neuron_step(neu, k, v, cur, x)
            y = np.full(n, np.nan)
            spikes = K.neuron_eval(neu, k, v, cur, x, y)
            np.testing.assert_array_equal(y, y_want, err_msg=f"layer {k} step {step}")
            np.testing.assert_array_equal(v, v_want, err_msg=f"layer {k} v")
            np.testing.assert_array_equal(cur, cur_want, err_msg=f"layer {k} cur")
            assert spikes == s_want
            if step == 0 and neu.type[k] in spiking:  # the ties: fire only with >=
                np.testing.assert_array_equal(y[tie], float(neu.ge[k]))
            if step == 0 and neu.type[k] == K.T_ILIF and neu.vth[sl][0] == 0.5:
                q = neu.vleak[sl][tie] / 0.5
                assert np.all(q - np.floor(q) == 0.5)
                np.testing.assert_array_equal(y[tie], np.minimum(np.rint(q), neu.maxlvl[k]))
    assert np.any(neu.ge == 1) and np.any(neu.ge == 0) and np.any(neu.reset == 1)


# -- digital nodes ---------------------------------------------------------------------
def test_csr_eval_matches_its_twin_on_real_inputs(rng):
    net = all_types_network(rng)
    tab = build_tables(_program(net, chip_variant("ideal", macro__rows=12, macro__cols=8)))
    digital = [n for i, n in enumerate(net.order) if tab.topology.kind[i] == K.K_DIGITAL]
    assert len(digital) == 3  # sum pool, average pool, scale
    for k, name in enumerate(digital):
        (src, _), = net.predecessors(name)
        n_in, n_out = int(np.prod(net.out_shapes[src])), int(np.prod(net.out_shapes[name]))
        for _ in range(5):
            x = rng.normal(0, 2.0, n_in) * (rng.random(n_in) < 0.7)
            y = np.full(n_out, np.nan)
            K.csr_eval(tab.digital, k, x, y)
            np.testing.assert_array_equal(y, O.csr_step(tab.digital, k, x, n_out), err_msg=name)


# -- early stop ------------------------------------------------------------------------
def _stop_kernel():
    """The early-stop kernel ``_stop(pol, evid_mean, cum, t)``, wherever the kernels keep it."""
    for mod in ("engine", "driver"):
        try:
            fn = getattr(importlib.import_module(f"neurocosim.hwsim.kernels.{mod}"), "_stop", None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    raise AssertionError("no _stop kernel in neurocosim.hwsim.kernels: point this test at it")


def test_stop_matches_its_twin(rng):
    stop = _stop_kernel()
    cases = stops = 0
    for code, theta, temp, margin in [(0, 1.0, 1.0, 0.0), (1, 0.6, 1.0, 0.0), (1, 0.8, 2.0, 0.0),
                                      (1, 0.95, 0.5, 0.0), (2, 1.0, 1.0, 0.0), (2, 1.0, 1.0, 3.0),
                                      (2, 1.0, 1.0, 0.25)]:
        for min_steps in (1, 4):
            pol = Policy(steps=20, code=code, theta=theta, temp=temp, margin=margin,
                         min_steps=min_steps)
            for evid_mean in (False, True):
                for t in (0, 2, 3, 9):
                    n_out = int(rng.integers(1, 12))
                    if evid_mean:
                        cum = rng.normal(0, 2.0, (40, n_out)) * (t + 1)
                    else:  # spike counts: many exact ties of top-1 and top-2
                        cum = rng.integers(0, t + 3, (40, n_out)).astype(float)
                    want, slack = O.stop_decision(pol, evid_mean, cum, t)
                    got = np.array([stop(pol, evid_mean, c, t) for c in cum])
                    clear = np.abs(slack) > 1e-12
                    np.testing.assert_array_equal(got[clear], want[clear],
                                                  err_msg=f"{pol} mean={evid_mean} t={t}")
                    if code == 2:  # the margin test is exact, ties included
                        np.testing.assert_array_equal(got, want)
                    cases += int(clear.sum())
                    stops += int(got.sum())
                    if code and t + 1 < min_steps:
                        assert not got.any()
    assert cases > 3000 and 500 < stops < cases - 500


# -- crossbar: noise-free reads, value by value ----------------------------------------
#: card changes and operating point of each configuration (read noise off)
CONFIGS = {
    "adc8-32": ({}, {}),
    "no-adc": ({"macro__adc_bits": None}, {}),
    "adc1-1": ({"macro__adc_bits": 1, "macro__adcs_per_tile": 1}, {}),
    "adc4-5": ({"macro__adc_bits": 4, "macro__adcs_per_tile": 5}, {}),
    "adc12-72": ({"macro__adc_bits": 12, "macro__adcs_per_tile": 72}, {}),
    "fs-clip": ({"macro__adc_bits": 6}, {"fs": 0.35}),
    "dac8": ({"macro__dac_bits": 8}, {}),
    "dac2": ({"macro__dac_bits": 2}, {}),
    "levels16": ({"macro__levels": 16}, {}),
    "offset": ({"macro__weight_mapping": "offset"}, {}),
    "offset-levels17": ({"macro__weight_mapping": "offset", "macro__levels": 17}, {}),
    "sliced-2x3": ({"macro__weight_mapping": "bit_sliced", "macro__bits_per_cell": 2,
                    "macro__slices": 3}, {}),
    "sliced-1x4-noadc": ({"macro__weight_mapping": "bit_sliced", "macro__bits_per_cell": 1,
                          "macro__slices": 4, "macro__adc_bits": None}, {}),
    "drift": ({}, {"read_time": 1e5, "drift_compensation": False}),
    "drift-comp": ({}, {"read_time": 1e5, "drift_compensation": True}),
    "stuck-drift-comp": ({"macro__stuck_at": {"g_min_fraction": 0.05, "g_max_fraction": 0.05}},
                         {"read_time": 3e3, "drift_compensation": True}),
    "rram": ({"preset": "prime-rram-40nm"}, {}),
}


def _configured(net, name, seed=1, **map_kw):
    changes, point = CONFIGS[name]
    changes = dict(changes)
    prog = _program(net, _card(changes.pop("preset", "pcm-aihwkit"), **changes), seed, **map_kw)
    point = dict(point)
    if "fs" in point:  # a smaller full scale than the largest column current: clipping
        full = build_tables(prog).adc_full_scale
        frac = point.pop("fs") * np.random.default_rng(seed).uniform(0.5, 1.0, full.size)
        point["adc_full_scale"] = full * frac
    return prog.at(**point) if point else prog


@pytest.mark.parametrize("name", list(CONFIGS))
def test_syn_eval_matches_its_twin_on_every_device_path(rng, name):
    seen = np.zeros(K.N_BLOCK_COUNTERS)
    levels = 0
    for net, bias in ((_dense_net(rng), "row"), (_dense_net(rng), "digital"),
                      (_conv_net(rng), "row")):
        run = Run(_configured(net, name, bias=bias, conv_regions=2))
        for op in run.orc.op_names:
            n_in = run.prog.mapped.ops[op].in_size
            for kind in ("binary", "levels", "analog"):
                for p in (0.05, 0.4):
                    want = run.compare(op, _inputs(rng, n_in, kind, p))
                    assert want.code == K.E_OK
                    seen += want.counters[0].sum(axis=0)
                    levels += kind == "levels"
    assert levels and (seen[[K.C_ROWS, K.C_READS, K.C_ACC, K.C_INPUTS]] > 0).all()
    adc = CONFIGS[name][0].get("macro__adc_bits", 8)
    assert (seen[K.C_CONV] > 0) == (adc is not None)
    assert (seen[K.C_CLIP] > 0) == (name == "fs-clip")  # noise-free: clips only below range


def test_syn_eval_counts_thermometer_levels_and_dac_reads(rng):
    """Hand counts on one op: a read with levels 1..3 is three array reads of 3, 2, 1
    rows; the same op through the DAC is one read of every non-zero input."""
    run = Run(_configured(_dense_net(rng, n_in=40, n_hid=20), "adc8-32"))
    x = np.zeros(40)
    x[[3, 7, 11]] = [1.0, 2.0, 3.0]
    want = run.compare("fc1", x)
    c = want.counters[0][[b.index for b in run.orc.op_blocks("fc1")]]
    np.testing.assert_array_equal(c[:, K.C_READS], 3)
    np.testing.assert_array_equal(c[:, K.C_ROWS], 3 + 2 + 1)
    np.testing.assert_array_equal(c[:, K.C_INPUTS], 3)
    np.testing.assert_array_equal(c[:, K.C_ACC], [b.outs for b in run.orc.op_blocks("fc1")])
    x[[3, 7, 11]] = [0.5, 0.01, 1.0]  # analog: one read of all three (0.01 rounds to 0)
    c = run.compare("fc1", x).counters[0][[b.index for b in run.orc.op_blocks("fc1")]]
    np.testing.assert_array_equal(c[:, K.C_READS], 1)
    np.testing.assert_array_equal(c[:, K.C_ROWS], 3)


@pytest.mark.parametrize("dac_bits, values, code", [
    (1, [0.5], K.E_DAC),  # analog input on a 1-bit DAC
    (4, [1.2], K.E_DAC),  # above the DAC range
    (4, [-0.3], K.E_DAC),  # below it
    (4, [-1.5], K.E_DAC),  # a negative fraction (a signed integer is a ternary read)
    (4, [2.0, 0.5], K.E_DAC),  # levels and analog values on the rows of one read
    (1, [2.0, 5.0, 1.0], K.E_OK),  # integers: thermometer code, no DAC needed
    (2, [1.0, 0.0, 0.4], K.E_OK),
])
def test_syn_eval_dac_errors_match_the_twin(rng, dac_bits, values, code):
    run = Run(_program(_dense_net(rng, n_in=30, n_hid=20), _card(macro__dac_bits=dac_bits)))
    x = np.zeros(30)
    x[[4, 9, 17][:len(values)]] = values
    assert run.compare("fc1", x).code == code


@pytest.mark.parametrize("sparse", [False, True])
def test_syn_eval_on_an_ideal_macro_takes_real_inputs_without_a_dac(rng, sparse):
    """Ideal blocks read the float weights with any real input (no DAC, no thermometer):
    dense ops, sparse ones (the engine may keep only their non-zero weights) and a
    convolution."""
    chip = chip_variant("ideal", macro__rows=64, macro__cols=72)
    for net, bias in ((_dense_net(rng), "row"), (_conv_net(rng), "digital")):
        if sparse:
            nodes = {k: (ir.Affine(weight=v.weight * (rng.random(v.weight.shape) < 0.1),
                                   bias=v.bias) if isinstance(v, ir.Affine) else v)
                     for k, v in net.nodes.items()}
            net = chain(nodes)
        run = Run(_program(net, chip, bias=bias))
        for op in run.orc.op_names:
            n_in = run.prog.mapped.ops[op].in_size
            for _ in range(3):
                x = rng.normal(0, 2.0, n_in) * (rng.random(n_in) < 0.3)
                run.compare(op, x)


def test_syn_eval_matches_its_twin_in_float32(rng):
    """float32 records: the same reads to float32 rounding (ADC off, so no code can
    flip at a rounding boundary)."""
    prog = _configured(_dense_net(rng), "no-adc")
    run = Run(prog, precision="float32")
    assert run.dtype == np.float32
    for op in run.orc.op_names:
        for kind in ("binary", "levels", "analog"):
            run.compare(op, _inputs(rng, prog.mapped.ops[op].in_size, kind), rtol=1e-4)


# -- crossbar: the noisy read ----------------------------------------------------------
def _noisy_outputs(run, op, x, n, seed):
    """``n`` engine reads of op ``op`` on ``x`` with independent streams: outputs
    ``(n, out)``, block counters summed over the reads (by mapped block)."""
    states = KR.seed_states(np.random.SeedSequence(seed), n)
    cnt = np.zeros((len(run.tab.block_op), K.N_BLOCK_COUNTERS))
    out = []
    for s in range(n):
        code, y, _, _ = run.engine(op, x, state=states[s], cnt=cnt)
        assert code == K.E_OK
        out.append(y)
    by_mapped = np.zeros_like(cnt)
    by_mapped[run.order] = cnt
    return np.array(out), by_mapped


KS_CASES = {
    # card read-noise model, integer input with levels, read at programming time
    "pcm-levels": ({"macro__read_noise": {"model": "pcm_aihwkit"}, "macro__adc_bits": None},
                   {}, "levels"),
    # bit-sliced pairs, analog input through the DAC, drifted and compensated
    "sliced-dac-drift": ({"macro__read_noise": {"model": "relative", "params": {"percent": 3.0}},
                          "macro__adc_bits": None, "macro__weight_mapping": "bit_sliced",
                          "macro__bits_per_cell": 2, "macro__slices": 2, "macro__dac_bits": 6},
                         {"read_time": 1e4, "drift_compensation": True}, "analog"),
}


@pytest.mark.parametrize("case", list(KS_CASES))
def test_noisy_read_follows_the_per_cell_model(rng, case):
    """With the ADC off every output is normal with the mean and variance of the per-cell
    model (DESIGN §3.4): each output's KS test, and one over all outputs standardised."""
    changes, point, kind = KS_CASES[case]
    prog = _program(_dense_net(rng), _card(**changes), bias="row")
    run = Run(prog.at(**point) if point else prog)
    x = _inputs(rng, 192, kind, p=0.4)
    y, _ = _noisy_outputs(run, "fc1", x, 2000, seed=11)
    mean, var = run.orc.moments("fc1", x)
    noisy = var > 0
    assert noisy.sum() > 100
    np.testing.assert_allclose(y[:, ~noisy], np.broadcast_to(mean[~noisy], y[:, ~noisy].shape),
                               rtol=1e-9, atol=1e-9)
    z = (y[:, noisy] - mean[noisy]) / np.sqrt(var[noisy])
    p_each = np.array([stats.kstest(z[:, j], "norm").pvalue for j in range(z.shape[1])])
    assert p_each.min() > P_FAIL / z.shape[1], (case, p_each.min())
    p_all = stats.kstest(z.ravel(), "norm").pvalue
    assert p_all > P_FAIL, (case, p_all, z.std())


def _codes(run, op, y):
    """The ADC code differences ``(samples, outputs)`` behind outputs ``y`` of an op of
    one row chunk on differential pairs (output = bias + unit · (code⁺ − code⁻))."""
    sop = run.prog.mapped.ops[op]
    d = np.full(y.shape, np.nan)
    for blk in run.orc.op_blocks(op):
        lsb = blk.fs / (2 ** blk.bits - 1)
        unit = lsb * blk.decode[0::2][np.arange(blk.outs), np.arange(blk.outs)]
        cols = blk.scatter[0]
        d[:, cols] = (y[:, cols] - sop.bias[cols]) / unit
    r = np.rint(d)
    np.testing.assert_allclose(d, r, atol=1e-6)  # the outputs lie on the ADC lattice
    return r


def _chi2_two_sample(a, b, min_count=20):
    """Chi-square statistic and degrees of freedom of two samples of integers, adjacent
    values pooled until each bin holds ``min_count`` of both together."""
    lo, hi = int(min(a.min(), b.min())), int(max(a.max(), b.max()))
    ca = np.bincount((a - lo).astype(int), minlength=hi - lo + 1)
    cb = np.bincount((b - lo).astype(int), minlength=hi - lo + 1)
    bins, acc = [], np.zeros(2)
    for u, v in zip(ca, cb, strict=True):
        acc += (u, v)
        if acc.sum() >= min_count:
            bins.append(acc.copy())
            acc[:] = 0
    if bins and acc.sum():
        bins[-1] += acc
    table = np.array(bins).T
    if table.shape[1] < 2:
        return 0.0, 0
    chi2, _, dof, _ = stats.chi2_contingency(table, correction=False)
    return chi2, dof


def test_noisy_read_with_adc_matches_a_monte_carlo_of_the_twin(rng):
    """ADC on, full scales cut on some blocks (clipping high) and a constant read noise
    that takes small column currents below zero (clipping low): the code histogram of
    every output against the twin's Monte-Carlo, and the clipping counter against its
    expectation under the per-cell model."""
    net = _dense_net(rng, n_in=48, n_hid=128)
    w = net.nodes["fc1"].weight.copy()
    w[0::2] = np.abs(w[0::2])  # even outputs: their minus columns carry almost no current
    net = chain({**net.nodes, "fc1": ir.Affine(weight=w, bias=net.nodes["fc1"].bias)})
    card = _card(macro__read_noise={"model": "constant", "params": {"sigma": "2 uS"}})
    prog = _program(net, card)
    full = build_tables(prog).adc_full_scale
    cut = np.where(np.arange(full.size) % 2 == 0, 0.3, 1.0)
    run = Run(prog.at(adc_full_scale=full * cut))
    blocks = run.orc.op_blocks("fc1")
    assert len({b.gather.tobytes() for b in blocks}) == 1 and len(blocks) >= 3  # one row chunk
    x = _inputs(rng, 48, "binary", p=0.5)
    n = 2000
    y, cnt = _noisy_outputs(run, "fc1", x, n, seed=5)
    twin = run.orc.evaluate("fc1", x, rng=np.random.default_rng(6), samples=n)
    d_eng, d_twin = _codes(run, "fc1", y), _codes(run, "fc1", twin.y)
    chi2 = dof = 0
    worst = 1.0
    for j in range(y.shape[1]):
        c, f = _chi2_two_sample(d_eng[:, j], d_twin[:, j])
        chi2, dof = chi2 + c, dof + f
        if f:
            worst = min(worst, stats.chi2.sf(c, f))
    assert dof > 20 * y.shape[1]
    assert worst > P_FAIL / y.shape[1], worst
    assert stats.chi2.sf(chi2, dof) > P_FAIL, (chi2, dof)
    # deterministic counters: n times one read's; clipped conversions: their expectation
    det = [c for c in range(K.N_BLOCK_COUNTERS) if c != K.C_CLIP]
    np.testing.assert_array_equal(cnt[:, det], n * twin.counters[0][:, det])
    expect = var = lows = highs = 0.0
    for blk in blocks:
        br = run.orc.block_reads(blk, x)
        top, lsb = 2 ** blk.bits - 1, blk.fs / (2 ** blk.bits - 1)
        sd = np.sqrt(br.var)
        low = stats.norm.cdf((-0.5 * lsb - br.mean) / sd)
        high = stats.norm.sf(((top + 0.5) * lsb - br.mean) / sd)
        p = low + high
        expect, var = expect + n * p.sum(), var + n * (p * (1 - p)).sum()
        lows, highs = lows + low.sum(), highs + high.sum()
    assert n * lows > 100 and n * highs > 100, (lows, highs)  # both ends clip, often
    z = (cnt[:, K.C_CLIP].sum() - expect) / np.sqrt(var)
    assert abs(z) < stats.norm.isf(P_FAIL / 2), z


# -- the kernels' normal generators ----------------------------------------------------
NORMALS = [name for name in ("normal_pair", "std_normal") if hasattr(KR, name)]


def _sampler(fn, pair):
    if pair:
        @numba.njit
        def draw(state, n):
            out = np.empty((n, 2))
            for i in range(n):
                a, b = fn(state)
                out[i, 0], out[i, 1] = a, b
            return out
    else:
        @numba.njit
        def draw(state, n):
            out = np.empty((n, 2))
            for i in range(n):
                out[i, 0] = fn(state)
                out[i, 1] = fn(state)
            return out
    return draw


@pytest.mark.parametrize("name", NORMALS)
def test_kernel_normal_generator_is_standard_normal(name):
    """10^6 draws (in pairs: each of a pair, and consecutive draws, independent)
    from four streams: KS test, both tails beyond 3.44 (the ziggurat's base strip) and
    beyond 4.5, and the correlation within pairs."""
    fn = getattr(KR, name)
    pair = isinstance(fn(KR.seed_states(np.random.SeedSequence(1), 1)[0]), tuple)
    draw = _sampler(fn, pair)
    states = KR.seed_states(np.random.SeedSequence(2024), 4)
    z = np.concatenate([draw(s, 125_000) for s in states])  # (500_000, 2)
    flat = z.ravel()
    assert stats.kstest(flat, "norm").pvalue > P_FAIL
    for j in (0, 1):
        assert stats.kstest(z[:, j], "norm").pvalue > P_FAIL
    r = np.corrcoef(z[:, 0], z[:, 1])[0, 1]
    assert abs(r) * np.sqrt(z.shape[0]) < stats.norm.isf(P_FAIL / 2)
    for edge in (3.442619855899, 4.5):
        for tail in (flat > edge, flat < -edge):
            p = stats.binomtest(int(tail.sum()), flat.size, stats.norm.sf(edge)).pvalue
            assert p > P_FAIL / 4, (edge, int(tail.sum()))
