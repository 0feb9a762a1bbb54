"""Mapper: exact tiling (Hypothesis), mapped = unmapped spikes, placement traffic, rules."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import (
    convert_mlp,
    ir,
    make_encoder,
    network_from_weights,
    save_network,
    simulate_reference,
)
from neurocosim.devices import load_chip
from neurocosim.errors import MappingError
from neurocosim.mapping import MappingWarning, load_mapped, map_network, save_mapped
from neurocosim.mapping.dynamic import DynamicPolicy
from tests.conftest import all_types_network, chain, chip_variant
from tests.mapping.test_rules import ssa


def check_tiles(mapped):
    R, C = mapped.chip.macro.rows, mapped.chip.macro.cols
    per_tile: dict[int, list] = {}
    for b in mapped.blocks:
        per_tile.setdefault(b.tile, []).append(b)
        assert 0 <= b.row0 and b.row0 + b.rows <= R
        assert 0 <= b.col0 and b.col0 + b.cols <= C
    assert sorted(per_tile) == list(range(mapped.n_tiles))
    core_of_tile = {}
    for t, bl in per_tile.items():
        rows = sorted((b.row0, b.row0 + b.rows) for b in bl)
        cols = sorted((b.col0, b.col0 + b.cols) for b in bl)
        for (_a0, a1), (b0, _) in zip(rows, rows[1:], strict=False):
            assert a1 <= b0, "blocks on one tile overlap in rows"
        for (_a0, a1), (b0, _) in zip(cols, cols[1:], strict=False):
            assert a1 <= b0, "blocks on one tile overlap in columns"
        cores = {int(mapped.core[b.colgroup]) for b in bl}
        assert len(cores) == 1, "a tile spans cores"
        core_of_tile[t] = cores.pop()
    counts = np.bincount(list(core_of_tile.values()))
    assert counts.max() <= mapped.chip.tiles_per_core
    neurons = np.bincount(mapped.core, weights=[c.neurons for c in mapped.colgroups])
    assert neurons.max() <= mapped.chip.neurons_per_core


@pytest.mark.filterwarnings("ignore::neurocosim.mapping.MappingWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 160), min_size=2, max_size=4),
    rows=st.sampled_from([8, 16, 33, 64, 128]),
    cols=st.sampled_from([8, 17, 32, 64, 128]),
    mapping=st.sampled_from(["differential", "offset", "bit_sliced"]),
    share=st.booleans(),
    sparsity=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**16),
)
def test_every_weight_mapped_exactly_once(sizes, rows, cols, mapping, share, sparsity, seed):
    rng = np.random.default_rng(seed)
    ws = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(size=(n_out, n_in))
        w[rng.random(w.shape) < sparsity] = 0.0
        ws.append(w)
    net = network_from_weights(ws, dt=1e-3, neuron="IF")
    extra = {"macro__bits_per_cell": 2, "macro__slices": 2} if mapping == "bit_sliced" else {}
    if mapping == "bit_sliced" and cols < 4:
        return
    chip = chip_variant("ideal", macro__rows=rows, macro__cols=cols,
                        macro__weight_mapping=mapping, tiles_per_core=64, neurons_per_core=1 << 16,
                        cores=1 << 12, max_fan_out=1 << 12, **extra)
    mapped = map_network(net, chip, tile_sharing=share, placement="sequential")
    check_tiles(mapped)
    for op in mapped.ops:
        w = net.nodes[op].weight
        cover = np.zeros(w.shape[::-1], int)  # (rows=inputs, outputs)
        for b in mapped.blocks_of(op):
            cover[b.row_lo:b.row_hi, b.out_lo:b.out_hi] += 1
        assert (cover == 1).all()
        np.testing.assert_array_equal(mapped.rebuilt_matrix(op), w)  # exact


@pytest.mark.parametrize("regions,groups_ok", [(1, True), (3, True)])
def test_conv_lowering_rebuilds_the_convolution(rng, regions, groups_ok):
    net = all_types_network(rng)
    mapped = map_network(net, load_chip("pcm-aihwkit"), conv_regions=regions)
    check_tiles(mapped)
    for op in ("conv", "gconv"):
        x = rng.normal(size=(3, *net.in_shapes[op]))
        from neurocosim.hwsim.reference import conv2d

        np.testing.assert_allclose(mapped.op_forward(op, x), conv2d(x, net.nodes[op]),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mapped.rebuilt_matrix(op), mapped.ops[op].dense_matrix())


def _spikes_equal(net, mapped, x, steps, layers, encoding="current"):
    enc = make_encoder(encoding, x, net.input_shape, np.random.default_rng(0))
    a = simulate_reference(net, enc, steps, probes=layers)
    b = simulate_reference(net, enc, steps, probes=layers, synapses=mapped.op_forward)
    for k in layers:
        np.testing.assert_array_equal(a.probes[k], b.probes[k])
    return a


def test_mapped_digits_spikes_identical(digits_mlp):
    mlp, xtr, xte, _ = digits_mlp
    net = convert_mlp(mlp, xtr)
    mapped = map_network(net, chip_variant("ideal", macro__rows=48, macro__cols=40))
    assert mapped.report.tiles > 6  # row and column splits really happen
    a = _spikes_equal(net, mapped, xte, 64, ["if0", "if1", "if2"])
    assert a.probes["if2"].sum() > 1000


def test_mapped_conv_model_spikes_identical(rng):
    net = all_types_network(rng)
    mapped = map_network(net, chip_variant("ideal", macro__rows=12, macro__cols=16), conv_regions=2)
    x = rng.uniform(0, 1, (16, *net.input_shape))
    a = _spikes_equal(net, mapped, x, 20, ["lif_c", "cuba", "if", "ilif"], encoding="rate")
    assert a.probes["lif_c"].sum() > 100 and a.probes["ilif"].sum() > 10


def conv4(rng):
    """4-layer convolutional network, 107,712 synapses (N-MNIST-sized input)."""
    def lif(shape, th):
        return ir.LIF(tau=np.full(shape, 5e-3), r=np.ones(shape), v_leak=np.zeros(shape),
                      v_threshold=np.full(shape, th), reset="subtract")

    def conv(cin, cout, stride):
        w = rng.normal(0, 3.0 / np.sqrt(cin * 9), (cout, cin, 3, 3))
        return ir.Conv2d(weight=w, bias=np.zeros(cout), stride=stride, padding=1)

    return chain({
        "input": ir.Input(shape=(2, 34, 34)),
        "conv1": conv(2, 32, 1), "lif1": lif((32, 34, 34), 0.5),
        "conv2": conv(32, 64, 2), "lif2": lif((64, 17, 17), 0.5),
        "conv3": conv(64, 64, 2), "lif3": lif((64, 9, 9), 0.3),
        "flat": ir.Flatten(start_dim=0),
        "fc": ir.Affine(weight=rng.normal(0, 0.05, (10, 5184)), bias=np.zeros(10)),
        "lif4": lif((10,), 1.0), "output": ir.Output(),
    })


def packet_ratio():
    """Inter-core packets of the partitioned placement over the sequential baseline on a
    4-layer conv net (107,712 synapses) with firing rates from a reference run."""
    from neurocosim.pipeline import measure_rates

    rng = np.random.default_rng(0)
    net = conv4(rng)
    x = (rng.random((2, 2, 34, 34)) < 0.2).astype(float)
    rates = measure_rates(net, x, 10, "rate", 0)
    chip = chip_variant("prime-rram-40nm", name="conv-chip", cores=64, tiles_per_core=16,
                        neurons_per_core=8192, max_fan_in=8192, max_fan_out=64,
                        macro__levels=None)
    mapped = map_network(net, chip, rates=rates, conv_regions=9)
    return net, rates, mapped


def test_partition_cuts_inter_core_packets():
    net, rates, mapped = packet_ratio()
    assert net.n_synapses() >= 100_000
    assert 0.01 < np.mean(rates["lif1"]) < 0.5 and 0.01 < np.mean(rates["lif3"]) < 0.5
    rep = mapped.report
    check_tiles(mapped)
    assert rep.cores == rep.baseline_cores or rep.cores == rep.baseline_cores + 1
    assert rep.inter_core_packets <= 0.7 * rep.baseline_inter_core_packets, rep.text()
    # the estimate is recomputed independently from the placement
    from neurocosim.mapping.placement import packets

    assert packets(mapped.traffic, mapped.core) == pytest.approx(rep.inter_core_packets)


def test_multicast_packets_by_hand():
    """Two sources on core 0 sending to groups on cores 0, 1, 1, 2: 2 remote cores each."""
    from neurocosim.mapping.placement import Traffic, packets

    t = Traffic(ptr=np.array([0, 4, 5]), pins=np.array([0, 1, 2, 3, 2]),
                home=np.array([0, -1]), weight=np.array([0.5, 2.0]),
                sources=np.array(["a", "input"], dtype=object))
    core = np.array([0, 1, 1, 2])
    assert packets(t, core) == pytest.approx(0.5 * 2)
    assert packets(t, core, source="input") == pytest.approx(2.0 * 1)


def test_save_load_lossless(tmp_path, rng):
    net = all_types_network(rng)
    mapped = map_network(net, load_chip("pcm-aihwkit"), conv_regions=2, bias="row",
                         rates={"lif_c": rng.random(256)})
    out = save_mapped(mapped, tmp_path / "m")
    back = load_mapped(out)
    assert back.network == net and back.chip == mapped.chip
    assert back.blocks == mapped.blocks and back.colgroups == mapped.colgroups
    np.testing.assert_array_equal(back.core, mapped.core)
    np.testing.assert_array_equal(back.baseline_core, mapped.baseline_core)
    for k in mapped.neuron_home:
        np.testing.assert_array_equal(back.neuron_home[k], mapped.neuron_home[k])
    np.testing.assert_array_equal(back.rates["lif_c"], mapped.rates["lif_c"])
    assert back.report == mapped.report and back.options == mapped.options
    for f in ("ptr", "pins", "home", "weight"):
        np.testing.assert_array_equal(getattr(back.traffic, f), getattr(mapped.traffic, f))
    x = rng.normal(size=(2, *net.in_shapes["fc1"]))
    np.testing.assert_array_equal(back.op_forward("fc1", x), mapped.op_forward("fc1", x))
    # saving again over the directory replaces it whole
    save_mapped(back, out)
    assert json.loads((out / "report.json").read_text())["tiles"] == mapped.report.tiles


def test_bias_row_matches_digital_bias(rng):
    net = all_types_network(rng)
    a = map_network(net, load_chip("pcm-aihwkit"))
    b = map_network(net, load_chip("pcm-aihwkit"), bias="row")
    x = rng.normal(size=(2, *net.in_shapes["fc1"]))
    np.testing.assert_allclose(a.op_forward("fc1", x), b.op_forward("fc1", x), rtol=1e-12)
    assert b.ops["fc1"].groups[0].rows == a.ops["fc1"].groups[0].rows + 1


# -- one negative test per design rule ------------------------------------------------
def dense(n_in, n_out, seed=0):
    return network_from_weights([np.random.default_rng(seed).normal(size=(n_out, n_in))],
                                dt=1e-3, neuron="IF")


RULE_CASES = [
    ("tile_columns", lambda: (dense(4, 4), chip_variant(
        "ideal", macro__cols=6, macro__weight_mapping="bit_sliced", macro__bits_per_cell=1,
        macro__slices=4, macro__adcs_per_tile=1)),
     "design rule 'tile_columns': layer 'fc0' needs 8 columns per output"),
    ("fan_in", lambda: (dense(300, 4), chip_variant("ideal", max_fan_in=256)),
     "design rule 'fan_in': layer 'if0' needs a fan-in of 300 synapses per neuron, chip "
     "'ideal' allows 256: reduce the layer's inputs"),
    ("tiles_per_core", lambda: (dense(1200, 8), chip_variant("ideal", tiles_per_core=4)),
     "design rule 'tiles_per_core': layer 'fc0' needs 5 tiles on one core (the partial sums "
     "of its 1200 input rows are added on the core), chip 'ideal' allows 4: choose "
     "tiles_per_core >= 5"),
    ("neurons_per_core", lambda: (dense(8, 100), chip_variant("ideal", neurons_per_core=64)),
     "design rule 'neurons_per_core': layer 'fc0' needs 100 neurons on one core, chip 'ideal' "
     "allows 64"),
    ("synapse_memory", lambda: (dense(512, 128), chip_variant(
        "loihi2", synapse_memory_per_core=32 * 1024)),
     "design rule 'synapse_memory': layer 'fc0' needs 65536 B of synapse memory on one core, "
     "chip 'loihi2' has 32768 B"),
    ("cores", lambda: (network_from_weights([np.ones((128, 256))] * 1 + [np.ones((128, 128))] * 3,
                                            dt=1e-3, neuron="IF"),
                       chip_variant("ideal", cores=2, tiles_per_core=1)),
     "design rule 'cores': the network needs at least 4 tiles, 4 cores of 1 tiles, chip "
     "'ideal' has 2"),
    ("fan_out", lambda: (network_from_weights([np.ones((64, 64)), np.ones((512, 64))],
                                              dt=1e-3, neuron="IF"),
                         chip_variant("ideal", max_fan_out=2, neurons_per_core=128)),
     "design rule 'fan_out': layer 'if0' sends a spike to 4 cores, chip 'ideal' allows 2"),
    ("weight_precision", lambda: (network_from_weights(
        [np.r_[100.0, np.full(63, 1.0)][None, :].repeat(4, 0)], dt=1e-3, neuron="IF"),
        chip_variant("ideal", macro__levels=4)),
     "design rule 'weight_precision': layer 'fc0' loses"),
    ("dynamic_product", lambda: (ssa(), chip_variant("ideal"),
                                 {"dynamic_products": DynamicPolicy("crossbar", steps=4)}),
     "design rule 'dynamic_product': chip 'ideal' has no writable tiles"),
]


@pytest.mark.parametrize("rule,case,fragment", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_design_rule_violation_message(rule, case, fragment):
    net, chip, *kw = case()  # a third item: map_network's options
    with pytest.raises(MappingError) as err:
        map_network(net, chip, **(kw[0] if kw else {}))
    assert fragment in str(err.value), str(err.value)


def test_every_rule_has_a_negative_test():
    from neurocosim.mapping import RULES

    assert {c[0] for c in RULE_CASES} == set(RULES)


def test_soft_weight_precision_warns(rng):
    net = network_from_weights([rng.normal(size=(16, 32))], dt=1e-3, neuron="IF")
    with pytest.warns(MappingWarning, match="weight_precision.*soft"):
        mapped = map_network(net, chip_variant("ideal", macro__levels=8))
    assert mapped.report.warnings


def test_cli_map_and_misfit(tmp_path, rng):
    net = network_from_weights([rng.normal(size=(40, 30)), rng.normal(size=(10, 40))], dt=1e-3,
                               neuron="IF")
    model = save_network(net, tmp_path / "m.nir")
    np.savez(tmp_path / "d.npz", x=rng.uniform(0, 1, (8, 30)))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "neurocosim.cli", "map", str(model), "--chip",
                           "pcm-aihwkit", "--data", str(tmp_path / "d.npz"), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "report.json").read_text())
    for key in ("tiles", "cores", "tile_utilisation_mean", "inter_core_packets",
                "baseline_inter_core_packets"):
        assert key in rep
    assert (out / "placement.png").read_bytes()[:4] == b"\x89PNG"
    card = tmp_path / "small.yaml"
    from neurocosim.devices import dump_chip

    card.write_text(dump_chip(chip_variant("pcm-aihwkit", max_fan_in=16)))
    proc = subprocess.run([sys.executable, "-m", "neurocosim.cli", "map", str(model), "--chip",
                           str(card), "-o", str(tmp_path / "x")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "design rule 'fan_in'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_recurrent_network_maps_and_matches(rng):
    n = 40
    net = ir.Network(
        nodes={"in": ir.Input(shape=(12,)), "fc": ir.Linear(weight=rng.normal(0, 1, (n, 12))),
               "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=0.5, reset="subtract"),
               "rec": ir.Linear(weight=rng.normal(0, 0.3, (n, n))), "out": ir.Output()},
        edges=(("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")),
        dt=1e-3)
    mapped = map_network(net, chip_variant("ideal", macro__rows=16, macro__cols=16))
    check_tiles(mapped)
    x = rng.uniform(0, 1, (6, 12))
    a = _spikes_equal(net, mapped, x, 30, ["lif"])
    assert a.probes["lif"].sum() > 50
    # the recurrent op's source is the layer itself: its spikes are routed to its groups
    assert "lif" in set(mapped.traffic.sources)
