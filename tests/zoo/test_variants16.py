"""The zoo's SEMM and TIM variants of Spikformer (issue 16): parameters in closed form
(written here from the papers' code; the TIM variant's base, Spikformer-2-256 on
CIFAR10-DVS, against Spikformer's table), their structure, small variants equal on the
reference and the Numba engine (the SEMM gates' counters equal to the routers' spikes),
and ``zoo show`` of each."""

import json

import numpy as np
import pytest

from neurocosim import (
    ir,
    zoo,
)
from neurocosim.cli import main
from tests.zoo.test_transformers import small_runs

SMALL = dict(input_hw=32, classes=10, embed_dim=64, depth=1, heads=2)
STEPS = 3


def spikformer_parameters(depth, d, classes, qkv_bias, c_in=3):
    """Spikformer (as tests/zoo/test_transformers.py counts it, with ``c_in`` input
    channels): SPS convs + BN, rpe; per block q, k, v, proj, MLP (D → 4D → D) with their
    BatchNorms; the Linear head."""
    n, c = 0, c_in
    for co in (d // 8, d // 4, d // 2, d, d):
        n += 9 * c * co + 2 * co
        c = co
    h = 4 * d
    block = 3 * (d * d + 2 * d + (d if qkv_bias else 0)) + d * d + 3 * d \
        + d * h + 3 * h + h * d + 3 * d
    return n + depth * block + d * classes + classes


def test_parameters_in_closed_form():
    d, e, depth = 384, 4, 4
    semm = zoo.info("spikformer-semm")
    # per block: a router D → E with bias and BN (D·E + 3E); the E experts split the MLP's
    # hidden width, so fc1 is unchanged and fc2 has E copies of its bias and BN (3D each)
    extra = depth * (d * e + 3 * e + (e - 1) * 3 * d)
    assert semm["parameters"] == spikformer_parameters(depth, d, 10, True) + extra
    base = zoo.info("spikformer-4-384-cifar")["parameters"]
    assert semm["parameters"] - base == extra
    tim = zoo.info("spikformer-tim")
    n = 8 * 8  # 128 / 2⁴ = 8: 64 tokens, TIM's Conv1d channels
    base = spikformer_parameters(2, 256, 10, False, c_in=2)
    assert round(base / 1e4) / 100 == 2.57  # Spikformer-2-256 CIFAR10-DVS: 2.57 M
    assert tim["parameters"] == base + 2 * (n * n * 5 + n)  # one interactor a block
    assert tim["input_shape"] == [2, 128, 128] and tim["steps"] == 10
    assert tim["parameters_folded"] > tim["parameters"]  # a copy per head is stored


@pytest.fixture(scope="module")
def small():
    return {name: zoo.build(name, **SMALL) for name in ("spikformer-semm", "spikformer-tim")}


def test_structure(small):
    semm, tim = small["spikformer-semm"], small["spikformer-tim"]
    assert set(dict(semm.predecessors("block0_add2"))) == {"block0_add1",
                                                           "block0_mlp_semm_merge"}
    gate = semm.nodes["block0_mlp_semm_gate"]
    assert isinstance(gate, ir.Gate) and gate.operands[0] == "block0_mlp_semm_enable"
    assert semm.out_shapes["block0_mlp_router_lif"] == (4, 8, 8)
    assert semm.out_shapes["block0_mlp_e3_fc1_lif"] == (64, 8, 8)  # 4·64 / 4 experts
    assert not any(isinstance(v, ir.Conv1d) for v in tim.nodes.values())  # rewritten
    conv = tim.nodes["block0_attn_tim_conv_conv2d"]
    assert conv.weight.shape == (2 * 4, 4, 1, 5) and conv.groups == 2  # N = 2×2 tokens
    assert ("block0_attn_tim_out_lif", "block0_attn_tim_prev") in tim.back_edges
    assert isinstance(tim.nodes["block0_attn_tim_prev"], ir.Delay)
    q_to = {b for a, b in tim.edges if a == "block0_attn_q_lif"}
    x_to = {b for a, b in tim.edges if a == "block0_attn_tim_merge"}
    assert all(b.startswith("block0_attn_tim_") for b in q_to)  # q feeds TIM only ...
    assert x_to and all(b.startswith("block0_attn_ssa_") for b in x_to)  # SSA reads x̃
    assert tim.nodes["block0_attn_ssa_qkv"].scale == 0.25


def test_small_variants_equal_on_reference_and_engine(small):
    for name, ref, eng in small_runs(small, STEPS):
        if name == "spikformer-semm":
            r = ref.probes["block0_mlp_router_lif"]
            assert 0 < r.sum() < r.size, "some experts run, some are skipped"
            g = eng.counts.by_gate()["block0_mlp_semm_gate"]
            assert g == {"expert_active": r.sum(), "expert_skipped": r.size - r.sum()}
        else:
            assert ref.probes["block0_attn_tim_in_lif"].sum() > 0  # the recurrence fires
            np.testing.assert_array_equal(ref.probes["block0_attn_tim_out_lif"][:, 0].ravel(),
                                          ref.probes["block0_attn_q_lif"][:, 0].ravel()
                                          .reshape(2, 2, 32, 4).transpose(0, 1, 3, 2)
                                          .ravel())  # x̃_0 = q_0, in (h·N, d) order


@pytest.mark.parametrize("name", ["spikformer-semm", "spikformer-tim"])
def test_zoo_show(name, tmp_path, capsys):
    out = tmp_path / "i.json"
    assert main(["zoo", "show", name, "--json", str(out)]) == 0
    info = json.loads(out.read_text())
    assert info["parameters"] == zoo.info(name)["parameters"]
    text = capsys.readouterr().out
    assert name in text and ("Experts Mixture" in text or "TIM" in text)
