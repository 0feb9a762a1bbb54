"""The papers' energy convention extended to attention (issue 16): a product of two
activations counts R × dense operations × T SOPs at E_AC, R the rate of its spike operand
(Spikformer: SSA's Q·Kᵀ·V as R·T·2N²D; the Spike-driven Transformer: SDSA's masks and
token sums as R·T·N·D).

Reference: the closed forms below, written from the block shapes (h heads, N tokens, d
channels per head) and the layer rates given to the analytical counts."""

import numpy as np
import pytest

from neurocosim import ir, map_network, program_chip
from neurocosim.devices import load_chip
from neurocosim.energy import analytical_counts
from neurocosim.energy.paper import PAPER_PRESETS, paper_convention

STEPS, C, H, N_TOK = 3, 8, 2, 4  # channels, heads, tokens (a 2×2 map)
D = C // H
RATES = {"q": 0.3, "k": 0.2, "v": 0.1}


def _net(block: str, **kw):
    rng = np.random.default_rng(5)
    lif = dict(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="zero")
    nodes = {"in": ir.Input(shape=(C, 2, 2)), "out": ir.Output()}
    edges = []
    for s in "qkv":
        nodes[f"fc_{s}"] = ir.Conv2d(weight=rng.integers(-3, 4, (C, C, 1, 1)) / 2,
                                     bias=np.zeros(C))
        nodes[s] = ir.LIF(**lif)
        edges += [("in", f"fc_{s}"), (f"fc_{s}", s)]
    blk = getattr(ir.blocks, block)("q", "k", "v", shape=(C, 2, 2), heads=H, **kw)
    nodes.update(blk.nodes)
    edges += blk.edges + [(blk.output, "out")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def _convention(net, rates):
    prog = program_chip(map_network(net, load_chip("prime-rram-40nm")),
                        np.random.default_rng(0))
    counts = analytical_counts(prog, STEPS, {"in": 0.5, **{k: 0.25 for k in net.layers()},
                                             **rates})
    return paper_convention(net, counts, first_layer_mac=False), counts


def test_sdsa_counts_masks_and_token_sums_at_the_spike_rate():
    net = _net("sdsa")
    rates = {**RATES, "sdsa_kv_lif": 0.4}
    conv, _ = _convention(net, rates)
    want = {"sdsa_kv": 0.2 * H * N_TOK * D * STEPS,  # k ⊙ v: R_k per element
            "sdsa_kv_sum": 1.0 * H * D * (N_TOK - 1) * STEPS,  # sums of k⊙v (not spikes)
            "sdsa_qkv": 0.3 * H * N_TOK * D * STEPS}  # q ⊙ kv: R_q per element
    assert conv["attention_by_node"] == pytest.approx(want)
    assert conv["attention_sops"] == pytest.approx(sum(want.values()))


@pytest.mark.parametrize("associate", ["left", "right"])
def test_ssa_counts_both_products_at_their_spike_operand_rate(associate):
    net = _net("ssa", associate=associate)
    conv, _ = _convention(net, RATES)
    if associate == "right":  # kᵀ·v (d×N · N×d), then q·(kᵀv) (N×d · d×d)
        want = {"ssa_kv": 0.2 * H * D * N_TOK * D * STEPS,
                "ssa_qkv": 0.3 * H * N_TOK * D * D * STEPS}
    else:  # q·kᵀ (N×d · d×N), then (qkᵀ)·v: the integer map is no spike, v is
        want = {"ssa_qk": 0.3 * H * N_TOK * D * N_TOK * STEPS,
                "ssa_qkv": 0.1 * H * N_TOK * N_TOK * D * STEPS}
    assert conv["attention_by_node"] == pytest.approx(want)
    # E_snn holds them at E_AC, beside the SOPs of the crossbar reads
    p = PAPER_PRESETS["horowitz45"]
    assert conv["E_snn_J"] == pytest.approx(
        p["e_mac"] * (conv["first_layer_macs"] + conv["multilevel_macs"])
        + p["e_ac"] * (conv["sops"] + sum(want.values())))
    assert "Spikformer" in conv["attention_convention"]
