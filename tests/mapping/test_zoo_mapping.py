"""The mapper's per-layer split, multi-chip placement and report, checked against hand
calculations and NumPy references written here, and on zoo models."""

import json
import math
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest

from neurocosim import ir, network_from_weights
from neurocosim.errors import MappingError
from neurocosim.frontends import save_network
from neurocosim.ir import tensors as T
from neurocosim.mapping import MappingWarning, map_network, neuron_routing
from neurocosim.mapping.chips import extent
from tests.conftest import chip_variant


def conv_net(rng, cin=3, cout=64, hw=56):
    """Input (cin, hw, hw) -> 3x3 'same' conv (cout) -> LIF: output cout x hw x hw."""
    nodes = {"in": ir.Input(shape=(cin, hw, hw)),
             "conv": ir.Conv2d(weight=rng.normal(0, 0.3, (cout, cin, 3, 3)), bias=np.zeros(cout),
                               stride=(1, 1), padding="same"),
             "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0), "out": ir.Output()}
    return ir.Network(nodes=nodes, edges=(("in", "conv"), ("conv", "lif"), ("lif", "out")),
                      dt=1e-3)


def conv_reference(x, w):
    """3x3 'same' convolution, stride 1, by shifted sums (NumPy, written here)."""
    n, cin, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    for p in range(3):
        for q in range(3):
            y += np.einsum("oc,nchw->nohw", w[:, :, p, q], xp[:, :, p:p + h, q:q + wd])
    return y


def test_conv_split_closed_form(rng):
    """64x56x56 outputs at 1024 neurons per core: ceil(64*56*56 / 1024) = 196 cores, each
    holding all 64 channels of 16 positions (196 runs of 3136 / 196 = 16), the op still
    the convolution (NumPy reference)."""
    net = conv_net(rng)
    chip = chip_variant("ideal", neurons_per_core=1024, cores=1024)
    mapped = map_network(net, chip, conv_regions="auto")
    assert math.ceil(64 * 56 * 56 / 1024) == 196
    assert mapped.report.cores == 196 and mapped.ops["conv"].regions == 196
    per_core = np.bincount(mapped.core, weights=[cg.neurons for cg in mapped.colgroups])
    assert per_core.max() <= 1024 and per_core.sum() == 64 * 56 * 56
    split = mapped.report.extent["splits"][0]
    assert (split["regions"], split["outputs"], split["segments"]) == (196, 64, 1)
    x = rng.random((2, 3, 56, 56))
    np.testing.assert_allclose(mapped.op_forward("conv", x),
                               conv_reference(x, net.nodes["conv"].weight), atol=1e-9)
    # an explicit conv_regions keeps the row bands and refuses what does not fit
    with pytest.raises(MappingError, match="design rule 'neurons_per_core'.*conv_regions 'auto'"):
        map_network(net, chip, conv_regions=1)


def test_row_segments_send_partial_sums(rng):
    """3000 inputs on 256-row tiles: 12 row blocks, 4 tiles a core: 3 segments of 4
    blocks on 3 cores; the two segments without the neurons send one partial-sum packet
    each per step; the op is still W x."""
    w = rng.normal(size=(8, 3000))
    net = network_from_weights([w], dt=1e-3, neuron="IF")
    chip = chip_variant("ideal", tiles_per_core=4)
    mapped = map_network(net, chip, conv_regions="auto")
    segs = [(cg.row_lo, cg.row_hi, cg.home, cg.neurons) for cg in mapped.colgroups]
    assert segs == [(0, 1024, -1, 8), (1024, 2048, 0, 0), (2048, 3000, 0, 0)]
    assert mapped.report.cores == 3
    ext = mapped.report.extent
    assert (ext["row_segments"], ext["partial_sum_packets"]) == (2, 2.0)
    x = rng.random((3, 3000))
    np.testing.assert_allclose(mapped.op_forward("fc0", x), x @ w.T, atol=1e-9)
    with pytest.raises(MappingError, match="design rule 'tiles_per_core'"):
        map_network(net, chip)  # without the split, as before


def two_chip_net(rng):
    return network_from_weights([rng.normal(size=(300, 100)), rng.normal(size=(10, 300))],
                                dt=1e-3, neuron="IF")


SMALL = dict(neurons_per_core=64, cores=4)


def test_multi_chip_count_by_hand(rng):
    """fc0's 300 neurons in chunks of ceil(300 / ceil(300 / 64)) = 60: 5 cores (60 + 10 >
    64, so fc1's 10 neurons take a sixth): 6 cores, ceil(6 / 4) = 2 chips of 4."""
    net = two_chip_net(rng)
    mapped = map_network(net, chip_variant("ideal", **SMALL), conv_regions="auto", chips=None)
    assert [cg.neurons for cg in mapped.colgroups] == [60] * 5 + [10]
    assert mapped.report.cores == 6 and mapped.report.extent["chips"] == 2
    assert sorted(mapped.report.extent["cores_per_chip_used"]) == [2, 4]
    with pytest.raises(MappingError, match="needs 6 cores.*2 chips"):
        map_network(net, chip_variant("ideal", **SMALL), conv_regions="auto")  # chips=1


def test_inter_chip_packets_by_hand(rng):
    """Groups fc0/0..4 on cores 0, 1, 2, 4, 5 and fc1 on core 6, 4 cores a chip: if0's
    chunks 0-2 (180 neurons, chip 0) send one packet each to chip 1, chunks 3-4 none;
    the host (chip 0) reaches chip 1 once per input (100). Hops on the 2x2 meshes side
    by side: core 0 (0,0) -> core 6 (2,1): 3; core 4 (2,0) -> core 6: 1."""
    net = two_chip_net(rng)
    mapped = map_network(net, chip_variant("ideal", **SMALL), conv_regions="auto", chips=None)
    core = np.array([0, 1, 2, 4, 5, 6], np.int64)
    mapped = replace(mapped, core=core, options={**mapped.options, "chips": 2})
    routes = neuron_routing(mapped)
    np.testing.assert_array_equal(routes["if0"].chip_packets, [1] * 180 + [0] * 120)
    np.testing.assert_array_equal(routes["input"].chip_packets, [1] * 100)
    assert routes["if0"].hops[0] == 3 and routes["if0"].hops[200] == 1
    ext = extent(net, mapped.chip, mapped.ops, mapped.colgroups, mapped.neuron_home, core,
                 mapped.traffic, held=set())
    assert (ext["chips"], ext["inter_chip_packets"], ext["inter_chip_input_packets"]) == \
        (2, 180.0, 100.0)


def test_cli_chips_too_few_is_one_line_exit_2(tmp_path, rng):
    from neurocosim.devices import dump_chip

    model = save_network(two_chip_net(rng), tmp_path / "m.nir")
    card = tmp_path / "small.yaml"
    card.write_text(dump_chip(chip_variant("ideal", **SMALL)))
    run = [sys.executable, "-m", "neurocosim.cli", "map", str(model), "--chip", str(card)]
    proc = subprocess.run(run + ["--chips", "1", "-o", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "design rule 'cores'" in lines[0] and "2 chips" in lines[0]
    assert not (tmp_path / "x").exists()
    proc = subprocess.run(run + ["-o", str(tmp_path / "ok")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((tmp_path / "ok" / "report.json").read_text())
    assert (rep["chips"], rep["cores"]) == (2, 6) and "chips 2 of 4 cores" in proc.stdout


def crossbar_cover(mapped, net):
    """Every synaptic layer's weights on crossbar blocks exactly once per region: the
    blocks of each (op, group, region) tile its (rows, outputs) rectangle."""
    for name in net.order:
        if not isinstance(net.nodes[name], (ir.Affine, ir.Linear, ir.Conv2d)):
            continue
        sop = mapped.ops[name]
        area: dict[tuple, int] = {}
        for b in mapped.blocks_of(name):
            key = (b.group, b.region)
            area[key] = area.get(key, 0) + b.rows * (b.out_hi - b.out_lo)
        regions = {int(r) for g in sop.groups for r in np.unique(g.region)}
        assert {k[1] for k in area} == regions
        for (g, _), a in area.items():
            assert a == sop.groups[g].weight.size, name


# mid-size zoo models on prime-rram-40nm; their spikes reach more cores than its
# max_fan_out of 16 (the stem's receptive fields alone), so that limit is lifted here
ZOO = {"spikformer-4-384-cifar": {}, "qkformer-10-384": {"input_hw": 64}}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_transformer_maps_whole(name):
    from neurocosim.ir.transforms import fold_batchnorm
    from neurocosim.zoo import build

    net = fold_batchnorm(build(name, seed=0, **ZOO[name]))
    chip = chip_variant("prime-rram-40nm", max_fan_out=1 << 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapped = map_network(net, chip, conv_regions="auto", chips=None)
    ext = mapped.report.extent
    synaptic = [n for n in net.order if isinstance(net.nodes[n], (ir.Affine, ir.Linear, ir.Conv2d))]
    weights = sum(net.nodes[n].weight.size for n in synaptic)
    assert ext["static_matrices_on_crossbars"] == ext["static_matrices"] == len(synaptic)
    assert ext["static_weights_on_crossbars"] == weights and ext["static_on_crossbars_fraction"] == 1.0
    crossbar_cover(mapped, net)
    products = [n for n in net.order if isinstance(net.nodes[n], T.SPIKE_OPS)]
    assert products and not set(products) & set(mapped.ops)
    assert ext["spike_spike_ops"] == ext["spike_spike_ops_digital"] == len(products)
    listed = {d["node"] for d in ext["digital_nodes"] if d["spike_spike"]}
    assert listed == set(products)
    # per core: neurons and tiles within the card; chips: the fewest holding the cores
    neurons = np.bincount(mapped.core, weights=[cg.neurons for cg in mapped.colgroups])
    assert neurons.max() <= chip.neurons_per_core
    tiles = np.bincount(mapped.tile_core())
    assert tiles.max() <= chip.tiles_per_core
    cores = int(mapped.core.max()) + 1
    assert ext["chips"] == math.ceil(cores / chip.cores) >= math.ceil(
        net.n_neurons() / (chip.neurons_per_core * chip.cores))
    assert sum(ext["cores_per_chip_used"]) == len(np.unique(mapped.core))
    # the digital units: every element of every digital node on one core
    per_core = {}
    for nodes in ext["digital_per_core"].values():
        for node, k in nodes.items():
            per_core[node] = per_core.get(node, 0) + k
    for d in ext["digital_nodes"]:
        assert per_core.get(d["node"], 0) == d["elements"], d["node"]


def test_sew_resnet_18_reports_its_fan_in():
    """SEW-ResNet-18's last stage sums 4608 synapses per neuron (3x3x512); the card allows
    4096 and a neuron's fan-in is the card's limit (DESIGN §3.4 adds partial sums before
    the neuron, not beyond max_fan_in): the rule names it."""
    from neurocosim.ir.transforms import fold_batchnorm
    from neurocosim.zoo import build

    net = fold_batchnorm(build("sew-resnet-18", seed=0, input_hw=64))
    with pytest.raises(MappingError, match="design rule 'fan_in'.*4608.*allows 4096"):
        map_network(net, chip_variant("prime-rram-40nm"), conv_regions="auto", chips=None)


def test_save_load_auto_mapping_and_a_network_nir_cannot_hold(tmp_path, rng):
    """An auto mapping on two chips, and a network with max pooling (no NIR node: the
    folder holds network.json + network_arrays.npz), load back equal."""
    from neurocosim.mapping import load_mapped, save_mapped

    net = two_chip_net(rng)
    mapped = map_network(net, chip_variant("ideal", **SMALL), conv_regions="auto", chips=None)
    back = load_mapped(save_mapped(mapped, tmp_path / "a"))
    assert back.colgroups == mapped.colgroups and back.blocks == mapped.blocks
    np.testing.assert_array_equal(back.core, mapped.core)
    assert back.report == mapped.report and back.options["chips"] == 2
    nodes = {"in": ir.Input(shape=(2, 8, 8)),
             "conv": ir.Conv2d(weight=rng.normal(size=(4, 2, 3, 3)), bias=np.zeros(4),
                               stride=(1, 1), padding="same"),
             "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
             "pool": ir.MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)),
             "flat": ir.Flatten(), "fc": ir.Linear(weight=rng.normal(size=(3, 64))),
             "lif2": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()}
    pooled = ir.Network(nodes=nodes, edges=(("in", "conv"), ("conv", "lif"), ("lif", "pool"),
                                            ("pool", "flat"), ("flat", "fc"), ("fc", "lif2"),
                                            ("lif2", "out")), dt=1e-3)
    mapped = map_network(pooled, chip_variant("ideal", neurons_per_core=64), conv_regions="auto")
    folder = save_mapped(mapped, tmp_path / "b")
    assert (folder / "network.json").exists() and not (folder / "network.nir").exists()
    back = load_mapped(folder)
    assert back.network == pooled and back.ops["conv"].regions == mapped.ops["conv"].regions > 1
    x = rng.random((2, 2, 8, 8))
    np.testing.assert_array_equal(back.op_forward("conv", x), mapped.op_forward("conv", x))
