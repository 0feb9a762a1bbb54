"""The Numba cycle-level engine against the NumPy reference, hand counts and policies."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import (
    convert_mlp,
    ir,
    make_encoder,
    map_network,
    program_chip,
    simulate,
    simulate_reference,
)
from neurocosim.errors import SimulationError
from neurocosim.hwsim.early_stop import parse_early_stop
from tests.conftest import chain, chip_variant, per_read

IDEAL = chip_variant("ideal", macro__rows=24, macro__cols=20)


def run_both(net, x, steps, encoding="spikes", chip=IDEAL, probes=None, **kw):
    layers = probes or [n for n in net.layers()]
    wanted = layers + [f"{n}.v" for n in layers]
    enc = make_encoder(encoding, x, net.input_shape, np.random.default_rng(7))
    ref = simulate_reference(net, enc, steps, probes=wanted)
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    eng = simulate(prog, enc, steps, probes=wanted, rng=np.random.default_rng(1), **kw)
    return ref, eng


def assert_same_spikes(net, ref, eng, layers, tol=1e-9):
    """Spikes equal, except where float summation order leaves the membrane within
    ``tol`` of a decision boundary at the first divergence of a sample (checked)."""
    n = ref.output.shape[0]
    explained = 0
    for s in range(n):
        first = None
        for t in range(ref.probes[layers[0]].shape[1]):
            for layer in layers:
                a, b = ref.probes[layer][s, t], eng.probes[layer][s, t]
                if not np.array_equal(a, b):
                    first = (t, layer, np.flatnonzero(a.ravel() != b.ravel()))
                    break
            if first:
                break
        if first is None:
            continue
        t, layer, idx = first
        node = net.nodes[layer]
        for i in idx:
            va = ref.probes[f"{layer}.v"][s, t].ravel()[i]
            vb = eng.probes[f"{layer}.v"][s, t].ravel()[i]
            if isinstance(node, ir.ILIF):
                th = node.v_threshold.ravel()[i]
                sa = ref.probes[layer][s, t].ravel()[i]
                pre = (va + sa * th) / th
                assert abs(abs(pre - np.floor(pre)) - 0.5) < tol, (layer, s, t, i, pre)
            else:
                th = node.v_threshold.ravel()[i]
                # the engine that did not spike kept its membrane: it sits on the threshold
                quiet = va if ref.probes[layer][s, t].ravel()[i] == 0 else vb
                assert abs(quiet - th) <= tol * max(1.0, abs(th)), (layer, s, t, i, quiet, th)
        explained += 1
    return explained


NEURONS = st.sampled_from(["IF", "LIF", "CubaLIF", "ILIF"])


def make_neuron(kind, n, rng, reset, compare):
    th = rng.uniform(0.3, 1.5, n)
    if kind == "IF":
        return ir.IF(r=np.ones(n), v_threshold=th, reset=reset, compare=compare)
    if kind == "LIF":
        return ir.LIF(tau=rng.uniform(2e-3, 2e-2, n), r=np.ones(n), v_leak=np.zeros(n),
                      v_threshold=th, reset=reset, compare=compare)
    if kind == "CubaLIF":
        return ir.CubaLIF(tau_syn=np.full(n, 3e-3), tau_mem=np.full(n, 8e-3), r=np.ones(n),
                          v_leak=np.zeros(n), v_threshold=th, w_in=np.full(n, 1.5),
                          reset=reset, compare=compare)
    return ir.ILIF(tau=np.full(n, 4e-3), r=np.ones(n) * 2, v_leak=np.zeros(n),
                   v_threshold=th, max_level=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 50), min_size=2, max_size=4), kinds=st.lists(NEURONS, min_size=3, max_size=3),
       reset=st.sampled_from(["zero", "subtract"]), compare=st.sampled_from([">", ">="]),
       delay=st.integers(0, 1), readout=st.booleans(), seed=st.integers(0, 2**16))
def test_ideal_engine_matches_reference_on_random_networks(sizes, kinds, reset, compare, delay,
                                                           readout, seed):
    rng = np.random.default_rng(seed)
    nodes = {"in": ir.Input(shape=(sizes[0],))}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        nodes[f"fc{k}"] = ir.Affine(weight=rng.normal(0, 1.2, (n_out, n_in)),
                                    bias=rng.normal(0, 0.1, n_out))
        last = k == len(sizes) - 2
        if last and readout:
            nodes[f"n{k}"] = ir.LI(tau=np.full(n_out, 5e-3), r=np.ones(n_out), v_leak=np.zeros(n_out))
        else:
            nodes[f"n{k}"] = make_neuron(kinds[k % 3], n_out, rng, reset, compare)
    nodes["out"] = ir.Output()
    net = chain(nodes, synaptic_delay=delay)
    x = (rng.random((6, 25, sizes[0])) < 0.4).astype(float)
    ref, eng = run_both(net, x, 25)
    spiking = [n for n in net.layers() if net.nodes[n].spiking]
    if spiking:
        assert_same_spikes(net, ref, eng, spiking)
    if not spiking or all(np.array_equal(ref.probes[n], eng.probes[n]) for n in spiking):
        np.testing.assert_allclose(eng.output, ref.output, rtol=1e-9, atol=1e-9)


def test_ideal_engine_matches_reference_on_digits(digits_mlp):
    mlp, xtr, xte, yte = digits_mlp
    net = convert_mlp(mlp, xtr)
    ref, eng = run_both(net, xte, 64, encoding="current")
    assert assert_same_spikes(net, ref, eng, ["if0", "if1", "if2"]) <= 2
    assert eng.accuracy(yte) == pytest.approx(ref.accuracy(yte), abs=2 / len(yte))
    assert eng.counts.totals()["spikes"] > 10_000


def test_ideal_engine_matches_reference_on_conv(rng):
    from tests.conftest import all_types_network

    net = all_types_network(rng)
    x = (rng.random((8, 12, *net.input_shape)) < 0.3).astype(float)
    ref, eng = run_both(net, x, 12, probes=["lif_c", "cuba", "if", "ilif"])
    assert_same_spikes(net, ref, eng, ["lif_c", "cuba", "if", "ilif"])
    assert ref.probes["lif_c"].sum() > 100


def noisy_setup(rng, chip="pcm-aihwkit"):
    net = chain({"in": ir.Input(shape=(30,)), "fc": ir.Affine(weight=rng.normal(0, 1, (20, 30)),
                                                               bias=np.zeros(20)),
                 "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="subtract"),
                 "fc2": ir.Linear(weight=rng.normal(0, 1, (5, 20))),
                 "out_n": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()})
    from neurocosim.devices import load_chip

    prog = program_chip(map_network(net, load_chip(chip)), np.random.default_rng(3))
    x = rng.uniform(0, 1, (40, 30))
    return net, prog, make_encoder("rate", x, (30,), np.random.default_rng(4))


def noisy_mlp(rng, n_samples=96, chip="pcm-aihwkit"):
    """A 100-64-32-10 LIF network on a chip with programming and read noise and 8-bit
    ADCs (calibrated ranges, so some conversions clip); rate-coded inputs."""
    from neurocosim.calibration import calibrate_adc_ranges
    from neurocosim.devices import load_chip

    net = chain({"in": ir.Input(shape=(100,)),
                 "fc1": ir.Affine(weight=rng.normal(0.05, 0.3, (64, 100)), bias=np.zeros(64)),
                 "lif1": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="subtract"),
                 "fc2": ir.Linear(weight=rng.normal(0.15, 0.5, (32, 64))),
                 "lif2": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
                 "fc3": ir.Linear(weight=rng.normal(0.15, 0.6, (10, 32))),
                 "out_n": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()})
    prog = program_chip(map_network(net, (per_read(chip) if chip != "ideal" else load_chip(chip))), np.random.default_rng(3))
    enc = make_encoder("rate", rng.uniform(0, 0.6, (n_samples, 100)), (100,),
                       np.random.default_rng(4))
    prog = calibrate_adc_ranges(prog, enc, 40, max_samples=16, percentile=90.0)
    return net, prog, enc


def assert_same_run(a, b):
    """Two SimResults equal bit for bit: outputs, steps, every counter, every probe."""
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.steps_used, b.steps_used)
    for f in ("block", "layer", "input", "latency_s"):
        np.testing.assert_array_equal(getattr(a.counts, f), getattr(b.counts, f), err_msg=f)
    assert sorted(a.probes) == sorted(b.probes)
    for k in a.probes:
        np.testing.assert_array_equal(a.probes[k], b.probes[k], err_msg=k)


def test_noise_same_seed_same_result_any_batch_and_threads(rng):
    """Per-sample random streams: batch size (1, 7, 64) and Numba threads (1, 2) change
    nothing, bit for bit, on 96 samples of a chip with read noise and ADCs (with early
    stop, so samples stop at different steps)."""
    net, prog, enc = noisy_mlp(rng)
    kw = dict(probes=["lif1", "lif2.v"], early_stop="margin:4@10")
    runs = {(b, t): simulate(prog, enc, 40, rng=np.random.default_rng(9), threads=t,
                             batch_size=b, **kw) for b in (1, 7, 64) for t in (1, 2)}
    base = runs[(64, 2)]
    assert 10 <= base.steps_used.min() and base.steps_used.min() < base.steps_used.max()
    c = base.counts.totals()
    assert c["clipped_conversions"] > 0 and c["spikes"] > 1000  # ADC clips; layers fire
    for key, res in runs.items():
        assert res.options["batch_size"] == key[0] and res.options["threads"] == key[1]
        assert_same_run(base, res)
    other = simulate(prog, enc, 40, rng=np.random.default_rng(10), batch_size=64, **kw)
    assert not np.array_equal(base.probes["lif2.v"], other.probes["lif2.v"])  # noise is drawn
    with pytest.raises(SimulationError, match="pass rng"):
        simulate(prog, enc, 5)


def test_read_noise_changes_membranes_by_the_expected_amount(rng):
    """One read of a differential pair: σ of the decoded partial sum matches the model."""
    from neurocosim.devices.noise import READ_NOISE

    w = np.array([[0.8, -0.5, 0.3]])
    net = chain({"in": ir.Input(shape=(3,)), "fc": ir.Linear(weight=w),
                 "li": ir.LI(tau=1e-3, r=1.0, v_leak=0.0), "out": ir.Output()})
    chip = per_read("pcm-aihwkit")
    chip = dataclasses.replace(chip, macro=dataclasses.replace(
        chip.macro, adc_bits=None, programming_noise=dataclasses.replace(chip.macro.programming_noise, model="none", params={})))
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    x = np.ones((4000, 1, 3))
    res = simulate(prog, make_encoder("spikes", x, (3,)), 1, rng=np.random.default_rng(5))
    tile = prog.tiles[0]
    g = tile.g
    sig = READ_NOISE["pcm_aihwkit"].sigma(g, chip.resolved("read"))
    coef = tile.encoded.col_weights[0, 0]  # weight units per ampere·volt
    expected = abs(coef) * np.sqrt((sig**2).sum())
    got = res.output[:, 0]
    assert got.mean() == pytest.approx(w.sum(), abs=4 * expected / np.sqrt(4000))
    assert got.std() == pytest.approx(expected, rel=0.05)


def tiny_chip(**kw):
    base = dict(macro__rows=8, macro__cols=8, macro__adc_bits=4, macro__adcs_per_tile=2,
                tiles_per_core=1, neurons_per_core=64, cores=16, max_fan_out=16)
    base.update(kw)
    return chip_variant("pcm-aihwkit", **base)


def strip_noise(chip):
    m = dataclasses.replace(chip.macro,
                            programming_noise=dataclasses.replace(chip.macro.programming_noise, model="none", params={}),
                            read_noise=dataclasses.replace(chip.macro.read_noise, model="none", params={}),
                            drift=dataclasses.replace(chip.macro.drift, model="none", params={}))
    return dataclasses.replace(chip, macro=m)


def test_counters_by_hand():
    w = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    net = chain({"in": ir.Input(shape=(4,)), "fc": ir.Linear(weight=w),
                 "if": ir.IF(r=1.0, v_threshold=0.9), "out": ir.Output()})
    chip = strip_noise(tiny_chip())
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    x = np.array([[[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]], float)
    res = simulate(prog, make_encoder("spikes", x, (4,)), 3, probes=["if"])
    c = res.counts.totals()
    cols = 3 * 2  # differential pairs
    assert c["reads"] == 2  # the silent step reads nothing
    assert c["rows_driven"] == 2 + 4
    assert c["cell_reads"] == (2 + 4) * cols
    assert c["conversions"] == 2 * cols
    assert c["conversion_cycles"] == 2 * np.ceil(cols / 2)
    assert c["accumulates"] == 2 * 3
    assert c["neuron_updates"] == 3 * 3
    # IF by hand: step 0 input w@[1,0,1,0] = [1, 1, 1]  -> all spike (> 0.9), reset to 0
    #             step 1 nothing; step 2 w@[1,1,1,1] = [1.5, 2, 2] -> all spike
    np.testing.assert_array_equal(res.probes["if"][0], [[1, 1, 1], [0, 0, 0], [1, 1, 1]])
    assert c["spikes"] == 6 and c["clipped_conversions"] == 0
    lat = chip.macro.latency
    read = lat.row_drive.value + lat.array_read.value + 3 * lat.adc_conversion.value
    per_step = lat.accumulate.value + chip.neuron.update_latency.value
    assert res.counts.latency_s[0] == pytest.approx(2 * read + 3 * per_step)


def test_packets_and_hops_by_hand():
    """Layer 1 on core 0, layer 2 on core 1 (one tile per core): each spike of layer 1 is
    one packet, one hop on the mesh."""
    w1 = np.eye(4)
    w2 = np.ones((2, 4))
    net = chain({"in": ir.Input(shape=(4,)), "fc1": ir.Linear(weight=w1),
                 "n1": ir.IF(r=1.0, v_threshold=0.5), "fc2": ir.Linear(weight=w2),
                 "n2": ir.IF(r=1.0, v_threshold=100.0), "out": ir.Output()})
    chip = strip_noise(tiny_chip())
    mapped = map_network(net, chip, placement="sequential")
    assert mapped.report.cores == 2
    prog = program_chip(mapped, np.random.default_rng(0))
    x = np.array([[[1, 1, 0, 0], [0, 0, 0, 1]]], float)
    res = simulate(prog, make_encoder("spikes", x, (4,)), 2)
    lay = res.counts.by_layer()
    assert lay["n1"]["spikes"] == 3
    assert lay["n1"]["packets"] == 3 and lay["n1"]["packet_hops"] == 3
    assert lay["n2"]["packets"] == 0
    assert res.counts.totals()["input_packets"] == 3  # host -> core 0


def test_integer_spikes_drive_a_thermometer_code():
    w1 = np.array([[1.0], [1.0]])
    w2 = np.array([[0.5, 0.25]])
    net = chain({"in": ir.Input(shape=(1,)), "fc1": ir.Linear(weight=w1),
                 "ilif": ir.ILIF(tau=1e-3, r=1.0, v_leak=0.0, v_threshold=1.0, max_level=4),
                 "fc2": ir.Linear(weight=w2), "li": ir.LI(tau=1e-3, r=1.0, v_leak=0.0),
                 "out": ir.Output()})
    chip = strip_noise(tiny_chip(macro__adc_bits=None, tiles_per_core=4))
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    x = np.array([[[3.0]]])  # ILIF emits 3 on both neurons
    res = simulate(prog, make_encoder("spikes", x, (1,)), 1, probes=["ilif", "li"])
    np.testing.assert_array_equal(res.probes["ilif"][0, 0], [3, 3])
    assert res.probes["li"][0, 0, 0] == pytest.approx(3 * 0.75, rel=1e-9)
    by_op = res.counts.by_op()
    assert by_op["fc2"]["reads"] == 3  # three binary reads: levels 1, 2, 3
    assert by_op["fc2"]["rows_driven"] == 6
    assert by_op["fc1"]["reads"] == 3  # the input value 3 is itself multi-level


def test_analog_input_needs_dac_bits(rng):
    from neurocosim.devices import load_chip

    net = chain({"in": ir.Input(shape=(3,)), "fc": ir.Linear(weight=np.ones((2, 3))),
                 "if": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()})
    prog = program_chip(map_network(net, load_chip("prime-rram-40nm")), rng)
    enc = make_encoder("current", np.full((2, 3), 0.4), (3,))
    with pytest.raises(SimulationError, match="layer 'fc' receives a non-binary.*1-bit DAC"):
        simulate(prog, enc, 3, rng=rng)
    prog4 = program_chip(map_network(net, tiny_chip(macro__dac_bits=4)), rng)
    res = simulate(prog4, enc, 3, rng=rng)
    assert res.counts.totals()["reads"] == 2 * 3  # two samples, three steps


def test_early_stop_theta_one_equals_no_early_stop(rng):
    net, prog, enc = noisy_setup(rng)
    a = simulate(prog, enc, 40, rng=np.random.default_rng(2))
    b = simulate(prog, enc, 40, rng=np.random.default_rng(2), early_stop="confidence:1.0")
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.counts.block, b.counts.block)
    assert (b.steps_used == 40).all() and b.load_saving == 0.0


def test_early_stop_saves_steps_and_counts_only_steps_run(rng):
    net, prog, enc = noisy_setup(rng)
    full = simulate(prog, enc, 40, rng=np.random.default_rng(2), probes=["out_n"])
    es = simulate(prog, enc, 40, rng=np.random.default_rng(2), probes=["out_n"],
                  early_stop="margin:2@3")
    assert es.mean_steps < 40 and (es.steps_used >= 3).all()
    assert es.load_saving == pytest.approx(1 - es.steps_used.mean() / 40)
    for s in range(len(es.steps_used)):
        k = es.steps_used[s]
        np.testing.assert_array_equal(es.output[s], es.probes["out_n"][s, :k].sum(axis=0))
        assert (es.probes["out_n"][s, k:] == 0).all()
        assert es.counts.layer[s, :, 0].sum() == k * (20 + 5)  # neuron updates stop too
    assert es.counts.totals()["cell_reads"] < full.counts.totals()["cell_reads"]


def test_confidence_policy_by_hand():
    """Spiking output: evidence = counts [t, 0] after step t; softmax top-1 of [t, 0]/T is
    1/(1 + e^(-t/T)): 0.731, 0.881, 0.953 for T = 1."""
    net = chain({"in": ir.Input(shape=(2,)), "fc": ir.Linear(weight=np.diag([2.0, 0.0])),
                 "n": ir.IF(r=1.0, v_threshold=0.1, reset="zero"), "out": ir.Output()})
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    enc = make_encoder("spikes", np.ones((1, 6, 2)), (2,))
    assert simulate(prog, enc, 6, early_stop="confidence:0.85").steps_used[0] == 2
    assert simulate(prog, enc, 6, early_stop="confidence:0.9").steps_used[0] == 3
    assert simulate(prog, enc, 6, early_stop="confidence:0.9:2").steps_used[0] == 5  # 0.924
    assert simulate(prog, enc, 6, early_stop="margin:4").steps_used[0] == 4
    assert simulate(prog, enc, 6, early_stop="confidence:0.85@4").steps_used[0] == 4
    # a non-spiking output: evidence is the mean so far ([2, 0] after any step)
    net2 = chain({"in": ir.Input(shape=(2,)), "fc": ir.Linear(weight=np.diag([2.0, 0.0])),
                  "n": ir.IF(r=1.0, v_threshold=0.1, reset="zero"),
                  "sc": ir.Scale(scale=np.array([2.0, 1.0])), "out": ir.Output()})
    prog2 = program_chip(map_network(net2, IDEAL), np.random.default_rng(0))
    assert simulate(prog2, enc, 6, early_stop="confidence:0.85").steps_used[0] == 1
    assert simulate(prog2, enc, 6, early_stop="confidence:0.9").steps_used[0] == 6


@pytest.mark.parametrize("text,ok", [("none", True), ("confidence:0.8", True),
                                     ("confidence:0.8:2@4", True), ("margin:3", True),
                                     ("confidence:1.5", False), ("margin:-1", False),
                                     ("maybe", False), ("confidence:x", False)])
def test_parse_early_stop(text, ok):
    if ok:
        assert str(parse_early_stop(text)).split(":")[0] == text.split(":")[0].split("@")[0]
    else:
        with pytest.raises(SimulationError):
            parse_early_stop(text)
