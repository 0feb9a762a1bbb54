"""SpikeYOLO's backbone in the zoo (ECCV 2024): parameters in closed form written here
from snn_yolov8.yaml (scale s) and yolo_spikformer.py, its I-LIF against a NumPy
``mem_update`` written here, a small variant equal on the reference and the Numba
engine, and ``zoo show`` at the paper's 640×640."""

import json

import numpy as np

from neurocosim import (
    ir,
    make_encoder,
    map_network,
    program_chip,
    simulate,
    simulate_reference,
    zoo,
)
from neurocosim.cli import main
from tests.conftest import chip_variant


def sep_conv(c):
    """SepConv(dim=c, kernel 7): pw1 c→2c + BN, dw 7×7 + BN, SepRepConv's BN (2c),
    1×1 2c→c, dw 3×3, then bn3."""
    return 2 * c * c + 4 * c + 2 * c * 49 + 4 * c + 4 * c + 2 * c * c + 9 * c + 2 * c


def all_conv_block(c):
    return sep_conv(c) + (c * 4 * c * 9 + 8 * c) + (4 * c * c * 9 + 2 * c)


def rep_conv(cin, cout):
    """1×1 cin→cin + padded BN, dw 3×3, 1×1 cin→cout + BN."""
    return cin * cin + 2 * cin + 9 * cin + cin * cout + 2 * cout


def conv_block(c, r):
    return sep_conv(c) + rep_conv(c, r * c) + 2 * r * c + rep_conv(r * c, c) + 2 * c


def down(cin, cout, k):
    return cout * cin * k * k + cout + 2 * cout  # conv with bias + BN


def test_parameters_in_closed_form():
    # scale s: width 0.5 (64, 128, 256, 512 channels), depth 0.33 (3, 6, 9, 3 → 1, 2, 3, 1)
    want = down(3, 64, 7) + all_conv_block(64) + down(64, 128, 3) + 2 * all_conv_block(128) \
        + down(128, 256, 3) + 3 * conv_block(256, 3) + down(256, 512, 3) \
        + conv_block(512, 2) + (512 * 256 + 512) + (1024 * 512 + 1024)  # SPPF cv1, cv2
    net = zoo.build("spikeyolo-backbone", input_hw=64)
    info = zoo.info("spikeyolo-backbone", net)
    assert info["parameters"] == want == 12_625_088
    assert info["output_shape"] == [512, 2, 2] and info["neuron"] == "ILIF"


def mem_update(x):
    """SpikeYOLO's mem_update over the steps of x (T, ...): mem = (mem_old − spike)·0.25
    + x[t] (mem = x[0] first); spike = round(clamp(mem, 0, 4))."""
    out, spike, mem = np.zeros_like(x), np.zeros_like(x[0]), None
    for t in range(len(x)):
        mem = x[t] if t == 0 else (mem - spike) * 0.25 + x[t]
        spike = np.round(np.clip(mem, 0, 4))
        out[t] = spike
    return out


def test_small_backbone_equal_on_reference_and_engine_and_its_ilif_is_mem_update():
    net = ir.fold_batchnorm(zoo.build("spikeyolo-backbone", input_hw=32))
    x = np.random.default_rng(0).uniform(0, 1, (2, *net.input_shape))
    enc = make_encoder("current", x, net.input_shape, np.random.default_rng(1))
    layers = net.layers()
    steps = 4
    ref = simulate_reference(net, enc, steps, probes=layers + ["l0_conv"])
    chip = chip_variant("ideal", neurons_per_core=65536)
    eng = simulate(program_chip(map_network(net, chip), np.random.default_rng(0)), enc, steps,
                   probes=layers, rng=np.random.default_rng(1))
    for p in layers:
        np.testing.assert_array_equal(eng.probes[p], ref.probes[p], err_msg=p)
    np.testing.assert_allclose(eng.output, ref.output, rtol=1e-9, atol=1e-9)
    # the first block's I-LIF fires the downsampling's membrane (BN folded into l0_conv)
    want = mem_update(ref.probes["l0_conv"].transpose(1, 0, 2, 3, 4))
    np.testing.assert_array_equal(ref.probes["l1_sep_lif1"].transpose(1, 0, 2, 3, 4), want)
    levels = np.unique(ref.probes["l1_sep_lif1"])
    assert levels.max() >= 2 and levels.min() == 0  # integer spikes, several levels
    assert sum(ref.probes[p].any() for p in layers) >= len(layers) // 2


def test_zoo_show_at_the_papers_size(tmp_path, capsys):
    out = tmp_path / "y.json"
    assert main(["zoo", "show", "spikeyolo-backbone", "--json", str(out)]) == 0
    info = json.loads(out.read_text())
    assert info["input_shape"] == [3, 640, 640] and info["output_shape"] == [512, 20, 20]
    assert info["parameters"] == 12_625_088 and info["steps"] == 1
    assert "SpikeYOLO" in capsys.readouterr().out
