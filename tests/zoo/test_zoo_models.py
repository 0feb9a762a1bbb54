"""The model zoo (issue 16): parameter counts against the papers' tables and in closed
form, multiply-accumulates per step in closed form (written here from the architectures,
not by calling project code), the block structure, and small variants that run on the
reference engine."""

import math

import numpy as np
import pytest

from neurocosim import ir, make_encoder, simulate_reference, zoo
from neurocosim.errors import ModelError
from neurocosim.frontends import load_network

#: the papers' tables: SEW-ResNet (Fang et al., NeurIPS 2021) and MS-ResNet (Hu et al.,
#: TNNLS 2024), millions of parameters with two decimals; SEW-ResNet-34's 21.79 is its
#: 21,797,672 parameters truncated (rounding gives 21.80), the others are rounded
TABLE = {"sew-resnet-18": (11.69, round), "sew-resnet-34": (21.79, math.floor),
         "ms-resnet-18": (11.69, round)}
BLOCKS = {"sew-resnet-18": (2, 2, 2, 2), "sew-resnet-34": (3, 4, 6, 3),
          "ms-resnet-18": (2, 2, 2, 2)}
WIDTHS = (64, 128, 256, 512)


@pytest.fixture(scope="module")
def built():
    return {name: zoo.build(name) for name in sorted(TABLE)}  # the ResNets (transformers:
    # tests/zoo/test_transformers.py)


def ir_parameters(net):
    """PyTorch's count from the IR: weights, BatchNorm γ and β, the Linear/Affine bias;
    every Conv2d here feeds one BatchNorm (bias=False in the papers' code)."""
    n = 0
    for name, node in net.nodes.items():
        if isinstance(node, ir.Conv2d):
            outs = [b for a, b in net.edges if a == name]
            assert len(outs) == 1 and isinstance(net.nodes[outs[0]], ir.BatchNorm), name
            assert not np.any(node.bias), name
            n += node.weight.size
        elif isinstance(node, ir.BatchNorm):
            n += node.gamma.size + node.beta.size
        elif isinstance(node, ir.Affine):
            n += node.weight.size + node.bias.size
    return n


def closed_form_parameters(blocks, ms, classes=1000):
    """Stem conv 7×7 + BN; per block two conv 3×3 + BN; a 1×1 conv + BN shortcut where
    the stride or width changes (MS-ResNet: stage 1 too, its stride is 2); the Linear."""
    n = 3 * 64 * 49 + 2 * 64 + 512 * classes + classes
    c_in = 64
    for stage, (c, b) in enumerate(zip(WIDTHS, blocks, strict=True)):
        n += 9 * c_in * c + 2 * c + (b * 2 - 1) * (9 * c * c + 2 * c)
        if stage > 0 or ms:
            n += c_in * c + 2 * c
        c_in = c
    return n


def closed_form_macs(blocks, ms, hw=224, classes=1000):
    """conv: C_out·C_in·k·k·H_out·W_out; linear: in·out. Maps: 112 after the stem, then
    56, 28, 14, 7 (SEW: max pool then stride 1 in stage 1; MS: stride 2 in stage 1)."""
    h = hw // 2
    n = 64 * 3 * 49 * h * h
    h //= 2
    c_in = 64
    for stage, (c, b) in enumerate(zip(WIDTHS, blocks, strict=True)):
        h_out = h if stage == 0 else h // 2
        n += c * c_in * 9 * h_out**2 + c * c * 9 * h_out**2 + (b - 1) * 2 * c * c * 9 * h_out**2
        if stage > 0 or ms:
            n += c * c_in * h_out**2
        h, c_in = h_out, c
    return n + 512 * classes


@pytest.mark.parametrize("name", sorted(TABLE))
def test_parameters_equal_the_papers_tables(name, built):
    net = built[name]
    paper, to_precision = TABLE[name]
    n = ir_parameters(net)
    assert to_precision(n / 1e4) / 100 == pytest.approx(paper, abs=1e-9), (name, n)
    assert n == closed_form_parameters(BLOCKS[name], name.startswith("ms"))
    info = zoo.info(name, net)
    assert info["parameters"] == n and info["paper_parameters"] == int(paper * 1e6)
    # the folded network stores each BatchNorm as a bias: 2C parameters become C
    bn = sum(v.gamma.size for v in net.nodes.values() if isinstance(v, ir.BatchNorm))
    assert info["parameters_folded"] == n - bn


def test_exact_counts_match_the_torchvision_resnets(built):
    """SEW-ResNet has exactly ResNet's layers; MS-ResNet-18 adds stage 1's 1×1 shortcut."""
    assert ir_parameters(built["sew-resnet-18"]) == 11_689_512
    assert ir_parameters(built["sew-resnet-34"]) == 21_797_672
    assert ir_parameters(built["ms-resnet-18"]) == 11_689_512 + 64 * 64 + 2 * 64


@pytest.mark.parametrize("name", sorted(TABLE))
def test_macs_per_step_in_closed_form(name, built):
    want = closed_form_macs(BLOCKS[name], name.startswith("ms"))
    assert zoo.info(name, built[name])["macs_per_step"] == want
    if name == "sew-resnet-18":
        assert want == 1_814_073_344  # ResNet-18's well-known 1.81 G MACs


def test_info_fields(built):
    info = zoo.info("sew-resnet-18", built["sew-resnet-18"])
    for key in ("parameters", "layers", "macs_per_step", "input_shape", "paper",
                "paper_parameters", "table", "depth", "neurons", "steps"):
        assert key in info, key
    assert info["input_shape"] == [3, 224, 224] and info["output_shape"] == [1000]
    assert info["depth"] == 18 and info["layers"] == 21  # 17 conv + fc, 3 shortcut convs
    assert zoo.info("sew-resnet-34", built["sew-resnet-34"])["depth"] == 34
    assert "NeurIPS 2021" in info["paper"] and "11.69" in info["table"]


def test_sew_block_structure(built):
    net = built["sew-resnet-18"]
    n = net.nodes
    assert isinstance(n["sn1"], ir.IF) and float(n["sn1"].v_threshold.flat[0]) == 1.0
    assert n["sn1"].compare == ">=" and n["sn1"].reset == "zero"
    assert isinstance(n["maxpool"], ir.MaxPool2d) and n["maxpool"].padding == (1, 1)
    add = dict(net.predecessors("layer2_0_add"))
    assert set(add) == {"layer2_0_sn2", "layer2_0_downsample_sn"}  # ADD of two spike maps
    assert set(dict(net.predecessors("layer1_1_add"))) == {"layer1_1_sn2", "layer1_0_add"}
    assert net.out_shapes["layer4_1_add"] == (512, 7, 7)
    assert net.nodes["avgpool"].kernel_size == (7, 7)


def test_ms_block_structure(built):
    net = built["ms-resnet-18"]
    n = net.nodes
    assert "maxpool" not in n and "sn1" not in n  # the stem is conv + BN only
    lif = n["layer1_0_sn1"]
    d = net.discretised("layer1_0_sn1")
    assert isinstance(lif, ir.LIF) and float(lif.v_threshold.flat[0]) == 0.5
    assert np.allclose(d.alpha, 0.75) and np.allclose(d.gain, 1.0)  # v = 0.25 v + x
    # the membrane shortcut: pre-activations (BN outputs) are added, not spikes
    assert set(dict(net.predecessors("layer1_1_add"))) == {"layer1_1_conv2_bn", "layer1_0_add"}
    assert set(dict(net.predecessors("layer1_0_add"))) == {"layer1_0_conv2_bn",
                                                           "layer1_0_shortcut_bn"}
    assert dict(net.predecessors("layer1_1_sn1")) == {"layer1_0_add": False}
    assert net.out_shapes["layer1_0_add"] == (64, 56, 56)


def test_load_network_builds_and_folds():
    net = load_network("zoo:sew-resnet-18")
    assert not any(isinstance(v, ir.BatchNorm) for v in net.nodes.values())
    assert len(net.folded) == 20 and net.input_shape == (3, 224, 224)
    with pytest.raises(ModelError, match="sew-resnet-18") as e:
        load_network("zoo:resnet-1000")
    assert "\n" not in str(e.value)


def test_seeded_weights():
    a = zoo.build("sew-resnet-18", seed=3, input_hw=32, classes=10)
    b = zoo.build("sew-resnet-18", seed=3, input_hw=32, classes=10)
    c = zoo.build("sew-resnet-18", seed=4, input_hw=32, classes=10)
    w = "layer3_0_conv1_conv"
    assert np.array_equal(a.nodes[w].weight, b.nodes[w].weight)
    assert not np.array_equal(a.nodes[w].weight, c.nodes[w].weight)
    std = a.nodes[w].weight.std()
    assert std == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.05)  # Kaiming, fan-out
    with pytest.raises(ModelError, match="input_hw"):
        zoo.build("sew-resnet-18", input_hw=8)


@pytest.mark.parametrize("name", ["sew-resnet-18", "ms-resnet-18"])
def test_small_variant_runs_on_the_reference_engine(name):
    net = ir.fold_batchnorm(zoo.build(name, input_hw=32, classes=10))
    assert net.output_shape == (10,)
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 32, 32))
    enc = make_encoder("current", x, net.input_shape, np.random.default_rng(1))
    layers = net.layers()
    res = simulate_reference(net, enc, 4, probes=layers)
    rates = {k: float(res.probes[k].mean()) for k in layers}
    assert all(np.isin(res.probes[k], (0.0, 1.0)).all() for k in layers)
    assert rates[layers[0]] > 0 and rates[layers[-1]] > 0, rates
    assert sum(r > 0 for r in rates.values()) >= len(layers) - 3, rates
    assert np.isfinite(res.output).all() and np.any(res.output != 0)
