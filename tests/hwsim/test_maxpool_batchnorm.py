"""MaxPool2d and BatchNorm in the Numba engine: the ideal engine against the reference
spike for spike, the digital kernel against loops written here from the equations and
against its NumPy twin, and the digital counters and their energy in closed form."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, make_encoder, map_network, program_chip, simulate, simulate_reference
from neurocosim.devices import load_chip
from neurocosim.energy import estimate
from neurocosim.errors import ConfigError, DataError
from neurocosim.hwsim import EventCounts
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.kernels import oracle as O
from neurocosim.hwsim.tables import build_tables
from tests.conftest import chain, chip_variant
from tests.ir.test_maxpool_batchnorm import maxpool_loops  # the loops of the definition

IDEAL = chip_variant("ideal", macro__rows=24, macro__cols=20)
EPS = 2.0**-20


def dyadic(rng, shape, scale=8):
    """Multiples of 1/scale: sums of them are exact in any order, so the engine's crossbar
    sums equal the reference's bit for bit."""
    return rng.integers(-2 * scale, 2 * scale + 1, shape) / scale


def dyadic_bn(rng, c):
    """A BatchNorm whose s = γ/√(σ² + ε) and b = β − μs are exact dyadic numbers."""
    var = rng.choice([0.25, 1.0, 4.0], c) - EPS  # σ² + ε is exactly 1/4, 1 or 4
    return ir.BatchNorm(gamma=rng.integers(1, 9, c) / 4, beta=dyadic(rng, c, 4),
                        running_mean=dyadic(rng, c, 4), running_var=var, eps=EPS)


def lif(shape, rng):
    return ir.LIF(tau=np.full(shape, 4e-3), r=np.full(shape, 2.0), v_leak=np.zeros(shape),
                  v_threshold=rng.uniform(0.4, 1.2, shape), reset="subtract")


def run_both(net, x, steps, probes):
    enc = make_encoder("spikes", x, net.input_shape, np.random.default_rng(7))
    ref = simulate_reference(net, enc, steps, probes=probes)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    eng = simulate(prog, enc, steps, probes=probes, rng=np.random.default_rng(1))
    return ref, eng, prog


def assert_every_spike_equal(ref, eng, probes):
    for p in probes:
        assert ref.probes[p].shape == eng.probes[p].shape, p
        np.testing.assert_array_equal(eng.probes[p], ref.probes[p], err_msg=p)
    np.testing.assert_array_equal(eng.output, ref.output)


POOL = dict(c=st.integers(1, 3), hw=st.tuples(st.integers(3, 8), st.integers(3, 8)),
            k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
            s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
            p=st.tuples(st.integers(0, 1), st.integers(0, 1)), seed=st.integers(0, 2**16))


def _pool(k, s, p):
    return ir.MaxPool2d(kernel_size=k, stride=s, padding=(min(p[0], k[0] // 2),
                                                          min(p[1], k[1] // 2)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**POOL)
def test_conv_lif_maxpool_dense_lif_matches_the_reference(c, hw, k, s, p, seed):
    rng = np.random.default_rng(seed)
    pool = _pool(k, s, p)
    conv = ir.Conv2d(weight=rng.integers(-4, 9, (c, 2, 3, 3)) / 8,  # mostly excitatory
                     bias=rng.integers(8, 17, c) / 8, padding=1)
    net = chain({"in": ir.Input(shape=(2, *hw)), "conv": conv, "lif": lif((c, *hw), rng),
                 "pool": pool, "flat": ir.Flatten(), **_dense_tail(rng, c, hw, pool),
                 "out": ir.Output()})
    x = (rng.random((3, 8, 2, *hw)) < 0.4).astype(float)
    probes = ["lif", "pool", "lif2", "lif.v", "lif2.v"]
    ref, eng, _ = run_both(net, x, 8, probes)
    assert ref.probes["lif"].sum() > 0
    assert_every_spike_equal(ref, eng, probes)


def _dense_tail(rng, c, hw, pool):
    ho, wo = ir.pool2d_output_hw(pool, *hw)
    n_in = c * ho * wo
    return {"fc": ir.Affine(weight=dyadic(rng, (5, n_in)), bias=dyadic(rng, 5)),
            "lif2": lif((5,), rng)}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**POOL, fold=st.booleans())
def test_conv_bn_lif_pool_bn_dense_lif_matches_the_reference(c, hw, k, s, p, seed, fold):
    rng = np.random.default_rng(seed)
    pool = _pool(k, s, p)
    conv = ir.Conv2d(weight=dyadic(rng, (c, 2, 3, 3)), bias=dyadic(rng, c), padding=1)
    nodes = {"in": ir.Input(shape=(2, *hw)), "conv": conv, "bn1": dyadic_bn(rng, c),
             "lif": lif((c, *hw), rng), "pool": pool, "bn2": dyadic_bn(rng, c),
             "flat": ir.Flatten(), **_dense_tail(rng, c, hw, pool), "out": ir.Output()}
    net = chain(nodes)
    if fold:  # bn1 into conv; bn2 (after the pool) stays a digital scale and shift
        net = ir.fold_batchnorm(net)
        assert net.folded == (("bn1", "conv"),) and "bn2" in net.nodes
    x = (rng.random((3, 8, 2, *hw)) < 0.4).astype(float)
    probes = ["lif", "pool", "bn2", "lif2", "lif.v", "lif2.v"] + ([] if fold else ["bn1"])
    ref, eng, prog = run_both(net, x, 8, probes)
    tab = build_tables(prog)
    modes = dict(zip(tab.digital_names, tab.digital.mode.tolist(), strict=True))
    assert modes["pool"] == K.DG_MAX and modes["bn2"] == K.DG_AFFINE
    assert ("bn1" in modes) != fold
    assert_every_spike_equal(ref, eng, probes)


def test_batchnorm_at_the_input_stays_digital_and_matches_the_reference(rng):
    net = ir.fold_batchnorm(chain({
        "in": ir.Input(shape=(2, 5, 5)), "bn": dyadic_bn(rng, 2),
        "conv": ir.Conv2d(weight=dyadic(rng, (3, 2, 3, 3)), bias=dyadic(rng, 3)),
        "lif": lif((3, 3, 3), rng), "pool": ir.MaxPool2d(kernel_size=2, stride=1),
        "flat": ir.Flatten(), "fc": ir.Linear(weight=dyadic(rng, (4, 12))),
        "lif2": lif((4,), rng), "out": ir.Output()}))
    assert net.folded == () and "bn" in net.nodes  # nothing before it to fold into
    x = rng.integers(0, 3, (4, 6, 2, 5, 5)).astype(float)
    probes = ["bn", "lif", "pool", "lif2", "lif.v"]
    ref, eng, _ = run_both(net, x, 6, probes)
    assert ref.probes["lif"].sum() > 0 and not np.isin(ref.probes["bn"], [0, 1, 2]).all()
    assert_every_spike_equal(ref, eng, probes)


# -- the digital kernel on its own --------------------------------------------------------
def test_digital_kernel_is_the_equations_and_its_twin(rng):
    c = 3
    norm = ir.BatchNorm(gamma=rng.uniform(0.5, 2, c), beta=rng.normal(0, 1, c),
                        running_mean=rng.normal(0, 1, c), running_var=rng.uniform(0.1, 2, c),
                        eps=1e-3)
    net = chain({"in": ir.Input(shape=(2, 7, 6)),
                 "conv": ir.Conv2d(weight=rng.normal(size=(c, 2, 1, 1)), bias=np.zeros(c)),
                 "pool": ir.MaxPool2d(kernel_size=(3, 2), stride=(2, 2), padding=(1, 1)),
                 "bn": norm, "flat": ir.Flatten(), "bn_flat": dataclasses.replace(
                     norm, gamma=np.ones(c * 16) * 1.5, beta=np.arange(c * 16.0),
                     running_mean=np.zeros(c * 16), running_var=np.ones(c * 16)),
                 "out": ir.Output()})
    tab = build_tables(program_chip(map_network(net, IDEAL), np.random.default_rng(0)))
    assert tab.digital_names == ("pool", "bn", "bn_flat")
    for _ in range(4):
        x = rng.normal(-1.0, 1.0, (c, 7, 6))  # mostly negative: a zero padding would show
        want = {"pool": maxpool_loops(x, (3, 2), (2, 2), (1, 1))}
        p = want["pool"]
        want["bn"] = np.stack([norm.gamma[i] * (p[i] - norm.running_mean[i])
                               / math.sqrt(norm.running_var[i] + norm.eps) + norm.beta[i]
                               for i in range(c)])
        want["bn_flat"] = 1.5 * want["bn"].ravel() / math.sqrt(1.0 + 1e-3) + np.arange(c * 16.0)
        inputs = {"pool": x.ravel(), "bn": p.ravel(), "bn_flat": want["bn"].ravel()}
        for k, name in enumerate(tab.digital_names):
            y = np.full(want[name].size, np.nan)
            K.csr_eval(tab.digital, k, inputs[name], y)
            if name == "pool":
                np.testing.assert_array_equal(y, want[name].ravel())
            else:
                np.testing.assert_allclose(y, want[name].ravel(), rtol=1e-13, atol=1e-13)
            np.testing.assert_array_equal(y, O.csr_step(tab.digital, k, inputs[name], y.size),
                                          err_msg=name)


# -- counters and energy --------------------------------------------------------------------
def counter_setup(rng, steps=5, n=3, early_stop=None):
    net = chain({"in": ir.Input(shape=(2, 6, 8)),
                 "conv": ir.Conv2d(weight=rng.normal(size=(3, 2, 3, 3)), bias=np.zeros(3),
                                   padding=1),
                 "lif": lif((3, 6, 8), rng), "pool": ir.MaxPool2d(kernel_size=2),
                 "bn": dyadic_bn(rng, 3), "flat": ir.Flatten(),
                 "fc": ir.Affine(weight=rng.normal(size=(4, 36)), bias=np.zeros(4)),
                 "lif2": lif((4,), rng), "out": ir.Output()})
    x = (rng.random((n, steps, 2, 6, 8)) < 0.5).astype(float)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    enc = make_encoder("spikes", x, net.input_shape)
    kw = {} if early_stop is None else {"early_stop": early_stop}
    return prog, simulate(prog, enc, steps, rng=np.random.default_rng(1), **kw)


def test_digital_counters_in_closed_form(rng):
    prog, res = counter_setup(rng, early_stop="margin:0.5")
    tab = build_tables(prog)
    windows = 3 * (6 // 2) * (8 // 2)  # C × H_out × W_out of the 2×2 max pool
    elements = 3 * 3 * 4  # the BatchNorm's (C, H, W)
    ops = dict(zip(tab.digital_names, tab.digital_ops.tolist(), strict=True))
    z = [0.0] * (K.N_DIGITAL_COUNTERS - 2)
    assert ops == {"pool": [windows * (2 * 2 - 1), 0.0, *z], "bn": [0.0, elements, *z]}
    cnt = tab.digital_counts(res.steps_used)
    assert cnt.shape == (3, 2, K.N_DIGITAL_COUNTERS)
    for s in range(3):  # per sample: the steps it ran (early stop counts only those)
        t = res.steps_used[s]
        np.testing.assert_array_equal(cnt[s, 0], [windows * 3 * t, 0, *z])
        np.testing.assert_array_equal(cnt[s, 1], [0, elements * t, *z])
    pad = ir.MaxPool2d(kernel_size=3, stride=2, padding=1)  # edge windows hold fewer
    net = chain({"in": ir.Input(shape=(1, 4, 4)), "pool": pad, "out": ir.Output()})
    tab = build_tables(program_chip(map_network(net, IDEAL), np.random.default_rng(0)))
    # windows of 2×2 (corner), 2×3, 3×2 and 3×3 elements inside the input
    assert tab.digital_ops.tolist() == [[(4 - 1) + (6 - 1) * 2 + (9 - 1), 0.0, *z]]


def test_digital_counters_cost_one_digital_op_each(tmp_path, rng):
    prog, res = counter_setup(rng)
    tab = build_tables(prog)
    counts = res.counts  # simulate fills the digital counters of a net that has digital ops
    np.testing.assert_array_equal(counts.digital, tab.digital_counts(res.steps_used))
    assert counts.digital_names == tab.digital_names
    totals = counts.totals()
    assert totals["digital_comparisons"] == 3 * 5 * 36 * 3
    assert totals["digital_macs"] == 3 * 5 * 36
    assert counts.to_dict()["counters_by_digital_node"]["bn"]["digital_macs"] == 3 * 5 * 36
    chip = load_chip("prime-rram-40nm")
    e_cmp, e_mac = chip.digital.compare.value, chip.digital.mac.value
    assert e_cmp > 0 and e_mac > 0 and e_cmp != e_mac
    with_d = estimate(counts, chip, tiles=4, cores=1)
    without = estimate(dataclasses.replace(counts, digital=None, digital_names=()), chip,
                       tiles=4, cores=1)
    assert "digital" not in without.by_component
    per_sample = (3 * 5 * 36 * 3 * e_cmp + 3 * 5 * 36 * e_mac) / 3
    assert with_d.by_component["digital"] == pytest.approx(per_sample, rel=1e-12)
    assert with_d.by_layer["pool"] == pytest.approx(5 * 36 * 3 * e_cmp, rel=1e-12)
    assert with_d.by_layer["bn"] == pytest.approx(5 * 36 * e_mac, rel=1e-12)
    np.testing.assert_allclose(with_d.per_sample_J - without.per_sample_J,
                               per_sample, rtol=1e-12)
    fields = [c["field"] for c in with_d.constants]
    assert fields.count("digital.compare") == 1 and fields.count("digital.mac") == 1
    bare = dataclasses.replace(chip, digital=None)  # a card without digital units
    with pytest.raises(ConfigError, match="digital.compare is not given but the run counted"):
        estimate(counts, bare, tiles=4, cores=1)
    counts.save(tmp_path / "results.npz")
    back = EventCounts.load(tmp_path / "results.npz")
    np.testing.assert_array_equal(back.digital, counts.digital)
    assert back.digital_names == ("pool", "bn")
    with pytest.raises(DataError, match="'digital' and 'digital_names' come together"):
        EventCounts.load(_without(tmp_path, "digital_names"))
    data = dict(np.load(tmp_path / "results.npz"))
    data["digital"] = -data["digital"]
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(DataError, match="bad.npz: field 'digital' holds negative"):
        EventCounts.load(tmp_path / "bad.npz")


def _without(tmp_path, key):
    data = dict(np.load(tmp_path / "results.npz"))
    del data[key]
    np.savez(tmp_path / "part.npz", **data)
    return tmp_path / "part.npz"
