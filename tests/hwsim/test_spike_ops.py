"""Spike-spike operators in the engines (issue 16, slice 3): networks holding SDSA, SSA
(both associations) and QKTA blocks fed by conv/Linear → LIF q, k, v, run on the ideal
card and compared with the reference spike for spike and step for step, and with a NumPy
re-implementation of each paper's code written here (its reshapes and permutes, its
SpikingJelly LIF), not calling project code; the Mul and MatMul kernels against their
twins; the digital counters (ANDs, popcount add bits, MACs, buffer bits) in closed form
and their energy at the card's digital-unit costs."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, make_encoder, map_network, program_chip, simulate
from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.energy import estimate
from neurocosim.errors import ConfigError
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.kernels import oracle as O
from neurocosim.hwsim.tables import build_tables
from tests.conftest import chip_variant, engine_equals_reference

IDEAL = chip_variant("ideal", macro__rows=24, macro__cols=20)
STEPS = 5
FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHAPES = dict(heads=st.integers(1, 3), d=st.integers(1, 3), h=st.integers(1, 3),
              w=st.integers(1, 3), seed=st.integers(0, 2**16))
C_IN = 3


# -- the papers' code, written here in NumPy (no project code) -----------------------------
class SJLif:
    """SpikingJelly MultiStepLIFNode(tau=2.0, v_threshold=vth, v_reset=0.0,
    decay_input=True), one step per call: H = V + (X − V)/τ; S = H ≥ vth; V = H(1 − S)."""

    def __init__(self, vth):
        self.vth, self.v = vth, 0.0

    def __call__(self, x):
        h = self.v + (x - self.v) / 2.0
        s = (h >= self.vth).astype(np.float64)
        self.v = h * (1.0 - s)
        return s


def sdt_attention(q, k, v, heads, talking_heads_lif):
    """MS_SSA_Conv.forward from q, k, v (B, C, H, W) spikes of one step (T folded out)."""
    b, c, hh, ww = q.shape
    n = hh * ww

    def split(x):  # x.flatten(3).transpose(-1, -2).reshape(T, B, N, h, C//h).permute(0,1,3,2,4)
        return x.reshape(b, c, n).transpose(0, 2, 1).reshape(b, n, heads, c // heads) \
            .transpose(0, 2, 1, 3)

    q, k, v = split(q), split(k), split(v)
    kv = k * v
    kv = kv.sum(axis=-2, keepdims=True)
    kv = talking_heads_lif(kv)
    x = q * kv
    return x.transpose(0, 1, 3, 2).reshape(b, c, hh, ww)  # x.transpose(3, 4).reshape(...)


def spikformer_attention(q, k, v, heads, scale, attn_lif, left=False):
    """SSA.forward from q, k, v (B, C, N) spikes: kᵀ@v, then (q@x)·scale (the ImageNet
    code), or the CIFAR order (q@kᵀ)@v; transpose(3, 4).reshape(T, B, C, N); attn_lif."""
    b, c, n = q.shape

    def split(x):  # x.transpose(-1, -2).reshape(T, B, N, h, C//h).permute(0, 1, 3, 2, 4)
        return x.transpose(0, 2, 1).reshape(b, n, heads, c // heads).transpose(0, 2, 1, 3)

    q, k, v = split(q), split(k), split(v)
    if left:
        x = ((q @ k.transpose(0, 1, 3, 2)) @ v) * scale
    else:
        x = k.transpose(0, 1, 3, 2) @ v
        x = (q @ x) * scale
    x = x.transpose(0, 1, 3, 2).reshape(b, c, n)
    return attn_lif(x)


def qkformer_attention(q, k, heads, attn_lif):
    """Token_QK_Attention.forward from q, k (B, C, N) spikes: q, k reshaped (B, h, C//h, N);
    q summed over dim 3 (keepdim) → attn_lif; attn ⊙ k; flatten(2, 3)."""
    b, c, n = q.shape
    q = q.reshape(b, heads, c // heads, n)
    k = k.reshape(b, heads, c // heads, n)
    q = q.sum(axis=2, keepdims=True)
    attn = attn_lif(q)
    x = attn * k
    return x.reshape(b, c, n)


def conv1x1(x, wt):
    """(B, C_in, H, W) → (B, C_out, H, W) with a (C_out, C_in, 1, 1) kernel, no bias."""
    return np.einsum("oc,bchw->bohw", wt[:, :, 0, 0], x)


# -- networks ------------------------------------------------------------------------------------
def sj_lif(vth=1.0):
    """The IR LIF that is SpikingJelly's MultiStepLIFNode(tau=2.0, v_threshold=vth)."""
    return ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=vth, reset="zero", compare=">=")


def qkv_net(rng, c, hh, ww, linear=False, names="qkv"):
    """Input spikes → three 1×1 convolutions (or Linear layers on the flat input) → LIF
    (threshold 1) named q, k, v; dyadic weights (exact sums)."""
    n = hh * ww
    nodes = {"in": ir.Input(shape=(C_IN * n,) if linear else (C_IN, hh, ww))}
    edges = []
    for s in names:
        if linear:
            nodes[f"fc_{s}"] = ir.Linear(weight=rng.integers(-2, 7, (c * n, C_IN * n)) / 4)
        else:
            nodes[f"fc_{s}"] = ir.Conv2d(weight=rng.integers(-2, 9, (c, C_IN, 1, 1)) / 4,
                                         bias=np.zeros(c))
        nodes[s] = sj_lif()
        edges += [("in", f"fc_{s}"), (f"fc_{s}", s)]
    return nodes, edges


def finish(nodes, edges, block):
    nodes = {**nodes, **block.nodes, "out": ir.Output()}
    return ir.Network(nodes=nodes, edges=tuple(edges + block.edges + [(block.output, "out")]),
                      dt=1e-3)


def spikes_in(rng, shape, n=2, p=0.6):
    return (rng.random((n, STEPS, *shape)) < p).astype(float)


def run_both(net, x, probes):
    return engine_equals_reference(net, x, probes, STEPS, IDEAL)


def paper_inputs(net, x, linear, c, hh, ww):
    """q, k, v spikes of every step by the papers' pipeline: conv1x1 (or Linear) → LIF."""
    names = [s for s in "qkv" if f"fc_{s}" in net.nodes]
    lifs = {s: SJLif(1.0) for s in names}
    out = {s: [] for s in names}
    for t in range(x.shape[1]):
        for s in names:
            wt = net.nodes[f"fc_{s}"].weight
            pre = (x[:, t] @ wt.T).reshape(len(x), c, hh, ww) if linear else conv1x1(x[:, t], wt)
            out[s].append(lifs[s](pre))
    return {s: np.stack(v, axis=1) for s, v in out.items()}  # (B, T, C, H, W)


# -- SDSA ------------------------------------------------------------------------------------
def _sdsa_case(heads, d, hh, ww, seed, linear):
    rng = np.random.default_rng(seed)
    c = heads * d
    nodes, edges = qkv_net(rng, c, hh, ww, linear)
    blk = ir.blocks.sdsa("q", "k", "v", shape=(c, hh, ww), heads=heads)
    net = finish(nodes, edges, blk)
    x = spikes_in(rng, net.input_shape)
    ref, _, _ = run_both(net, x, ["q", "k", "v", "sdsa_kv_lif", blk.output])
    qkv = paper_inputs(net, x, linear, c, hh, ww)
    lif = SJLif(0.5)
    want = np.stack([sdt_attention(qkv["q"][:, t], qkv["k"][:, t], qkv["v"][:, t], heads, lif)
                     for t in range(STEPS)], axis=1)
    np.testing.assert_array_equal(ref.probes["q"].reshape(qkv["q"].shape), qkv["q"])
    np.testing.assert_array_equal(ref.probes[blk.output].reshape(want.shape), want)
    return ref


@FAST
@given(**SHAPES, linear=st.booleans())
def test_sdsa_matches_engine_reference_and_the_papers_code(heads, d, h, w, seed, linear):
    _sdsa_case(heads, d, h, w, seed, linear)


def test_sdsa_fixed_case_spikes():
    ref = _sdsa_case(2, 3, 3, 3, 5, False)
    assert ref.probes["sdsa_kv_lif"].sum() > 0 and ref.probes["sdsa_merge"].sum() > 0


# -- SSA -------------------------------------------------------------------------------------------
def _ssa_case(heads, d, hh, ww, seed, scale):
    rng = np.random.default_rng(seed)
    c, n = heads * d, hh * ww
    nodes, edges = qkv_net(rng, c, hh, ww)
    refs = {}
    for assoc in ("right", "left"):
        blk = ir.blocks.ssa("q", "k", "v", shape=(c, hh, ww), heads=heads, scale=scale,
                            associate=assoc)
        net = finish(nodes, edges, blk)
        x = spikes_in(np.random.default_rng(seed + 1), net.input_shape)
        refs[assoc], _, prog = run_both(net, x, ["q", "ssa_qkv", blk.output])
        qkv = paper_inputs(net, x, False, c, hh, ww)
        lif = SJLif(0.5)
        want = np.stack([spikformer_attention(qkv["q"][:, t].reshape(-1, c, n),
                                              qkv["k"][:, t].reshape(-1, c, n),
                                              qkv["v"][:, t].reshape(-1, c, n), heads, scale,
                                              lif, left=assoc == "left")
                         for t in range(STEPS)], axis=1)
        np.testing.assert_array_equal(refs[assoc].probes[blk.output].reshape(want.shape), want)
        tab = build_tables(prog)
        macs = tab.digital_ops[:, K.DC_MAC].sum()  # per step: the two products
        assert macs == (2 * heads * n * n * d if assoc == "left" else 2 * heads * n * d * d)
    for p in ("ssa_lif", "ssa_qkv"):  # both associations: identical values and spikes
        np.testing.assert_array_equal(refs["left"].probes[p], refs["right"].probes[p])
    return refs["right"]


@FAST
@given(**SHAPES, scale=st.sampled_from([0.125, 0.25, 0.5]))
def test_ssa_both_associations_match_engine_reference_and_the_papers_code(heads, d, h, w,
                                                                          seed, scale):
    _ssa_case(heads, d, h, w, seed, scale)


def test_ssa_fixed_case_spikes():
    ref = _ssa_case(2, 3, 3, 3, 0, 0.125)  # Spikformer's scale: some tokens fire
    assert 0 < ref.probes["ssa_lif"].sum() < ref.probes["ssa_lif"].size


# -- QKTA ------------------------------------------------------------------------------------------
def qk_attention_case(kind, paper, heads, d, hh, ww, seed, linear):
    """QKFormer's token (``kind="qkta"``) or channel (``"qkca"``) attention built by
    ``ir.blocks``, run on the reference and the engine (equal), and equal to ``paper``,
    the test's NumPy re-implementation of the paper's code, step by step."""
    rng = np.random.default_rng(seed)
    c, n = heads * d, hh * ww
    nodes, edges = qkv_net(rng, c, hh, ww, linear, names="qk")
    blk = getattr(ir.blocks, kind)("q", "k", shape=(c, hh, ww), heads=heads)
    net = finish(nodes, edges, blk)
    x = spikes_in(rng, net.input_shape)
    ref, _, _ = run_both(net, x, ["q", "k", f"{kind}_mask", blk.output])
    qkv = paper_inputs(net, x, linear, c, hh, ww)
    lif = SJLif(0.5)
    want = np.stack([paper(qkv["q"][:, t].reshape(-1, c, n), qkv["k"][:, t].reshape(-1, c, n),
                           heads, lif) for t in range(STEPS)], axis=1)
    np.testing.assert_array_equal(ref.probes[blk.output].reshape(want.shape), want)
    return ref


def _qkta_case(heads, d, hh, ww, seed, linear):
    return qk_attention_case("qkta", qkformer_attention, heads, d, hh, ww, seed, linear)


@FAST
@given(**SHAPES, linear=st.booleans())
def test_qkta_matches_engine_reference_and_the_papers_code(heads, d, h, w, seed, linear):
    _qkta_case(heads, d, h, w, seed, linear)


def test_qkta_fixed_case_masks_tokens():
    ref = _qkta_case(2, 3, 2, 3, 3, False)
    mask = ref.probes["qkta_mask"]
    assert 0 < mask.sum() < mask.size  # some tokens pass, some are masked


# -- kernels against their twins ---------------------------------------------------------------
def kernel_net():
    nodes = {"in": ir.Input(shape=(2, 3, 4)), "a": ir.Reshape(shape=(2, 3, 4)),
             "b": ir.Reshape(shape=(2, 1, 4)), "c": ir.Reshape(shape=(2, 4, 3)),
             "mul": ir.Mul(operands=("a", "b")), "mul2": ir.Mul(operands=("b", "a")),
             "mm": ir.MatMul(operands=("a", "c"), scale=0.3),
             "rs": ir.ReduceSum(axis=-2, keepdim=False), "cat": ir.Concat(
                 operands=("f_mul", "f_mul2", "f_rs")), "out": ir.Output()}
    nodes["b"] = ir.ReduceSum(axis=1)
    nodes |= {f"f_{s}": ir.Flatten() for s in ("mul", "mul2", "rs")}
    edges = [("in", "a"), ("in", "b"), ("in", "c"), ("a", "mul"), ("b", "mul"), ("a", "mul2"),
             ("b", "mul2"), ("a", "mm"), ("c", "mm"), ("mm", "rs"), ("mul", "f_mul"),
             ("mul2", "f_mul2"), ("rs", "f_rs"), ("f_mul", "cat"), ("f_mul2", "cat"),
             ("f_rs", "cat"), ("cat", "out")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def test_mul_matmul_and_reducesum_kernels_are_the_equations_and_their_twins(rng):
    net = kernel_net()
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    tab = build_tables(prog)
    modes = dict(zip(tab.digital_names, tab.digital.mode.tolist(), strict=True))
    assert modes["mul"] == K.DG_MUL and modes["mm"] == K.DG_MATMUL and modes["rs"] == K.DG_SUM
    assert modes["b"] == K.DG_SUM
    stack = dict(zip(tab.digital_names, tab.digital.stack.tolist(), strict=True))
    assert stack["mul"] == stack["mm"] == 1 and stack["rs"] == stack["b"] == 0
    for dtype in (np.float64, np.float32):
        t = build_tables(prog, "float32") if dtype == np.float32 else tab
        for _ in range(3):
            a = rng.normal(size=(2, 3, 4)).astype(dtype)
            b = rng.normal(size=(2, 1, 4)).astype(dtype)
            c = rng.normal(size=(2, 4, 3)).astype(dtype)
            a[0, 1, 2] = 0.0  # a silent element: skipped by the event-driven MatMul
            cases = {"mul": (np.concatenate([a.ravel(), b.ravel()]), a * b),
                     "mul2": (np.concatenate([b.ravel(), a.ravel()]), b * a),
                     "mm": (np.concatenate([a.ravel(), c.ravel()]), None),
                     "rs": (rng.normal(size=18).astype(dtype), None),
                     "b": (a.ravel(), a.sum(axis=1, keepdims=True))}
            for name, (x, want) in cases.items():
                k = t.digital_names.index(name)
                n_out = int(np.prod(net.out_shapes[name]))
                y = np.full(n_out, np.nan, dtype)
                if name == "mm":
                    K.matmul_eval(t.digital, k, x, y)
                    twin = O.matmul_step(t.digital, k, x)
                    np.testing.assert_allclose(y, (a @ c).ravel() * 0.3,
                                               rtol=1e-5 if dtype == np.float32 else 1e-13)
                else:
                    K.csr_eval(t.digital, k, x, y)
                    twin = O.csr_step(t.digital, k, x, n_out)
                    if name in ("rs", "b"):  # sums of real values: to rounding
                        want = x.reshape(2, 3, 3).sum(axis=1) if name == "rs" else want
                        np.testing.assert_allclose(y, want.ravel(), rtol=1e-5)
                    else:
                        np.testing.assert_array_equal(y, want.ravel(), err_msg=name)
                assert y.dtype == twin.dtype
                np.testing.assert_array_equal(y, twin, err_msg=f"{name} {dtype}")


# -- counters in closed form --------------------------------------------------------------------
def popcount_bits(n):
    """Σ over the n − 1 adds of a running sum of n spikes: the k-th add (k = 1 … n − 1)
    adds to a sum of k spikes, ceil(log2(k + 1)) bits."""
    return sum(math.ceil(math.log2(k + 1)) for k in range(1, n))


def counters_of(block_fn, heads=2, d=3, hh=2, ww=3, n_samples=2, names="qkv"):
    rng = np.random.default_rng(4)
    c = heads * d
    nodes, edges = qkv_net(rng, c, hh, ww, names=names)
    blk = block_fn(c, heads, hh, ww)
    net = finish(nodes, edges, blk)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    x = spikes_in(rng, net.input_shape, n=n_samples)
    res = simulate(prog, make_encoder("spikes", x, net.input_shape), STEPS,
                   rng=np.random.default_rng(1))
    return res, build_tables(prog)


def per_step(tab, name):
    return dict(zip(("cmp", "mac", "add", "iand", "and", "add_bits", "read", "write"),
                    tab.digital_ops[tab.digital_names.index(name)].tolist(), strict=True))


def test_sdsa_counters_in_closed_form():
    h, d, n = 2, 3, 6
    res, tab = counters_of(lambda c, hd, hh, ww: ir.blocks.sdsa(
        "q", "k", "v", shape=(c, hh, ww), heads=hd))
    kv, kv_sum, qkv = (per_step(tab, f"sdsa_{s}") for s in ("kv", "kv_sum", "qkv"))
    z = dict.fromkeys(kv, 0.0)
    assert kv == z | {"and": h * n * d, "read": 2 * h * n * d, "write": h * n * d}
    # the token sum of each head's feature: h·d outputs of N spikes, 8-bit results
    assert kv_sum == z | {"add_bits": h * d * popcount_bits(n), "read": h * n * d,
                          "write": 8 * h * d}
    assert qkv == z | {"and": h * n * d, "read": h * n * d + h * d, "write": h * n * d}
    totals = res.counts.totals()
    steps = res.steps_used.sum()
    assert totals["digital_ands"] == 2 * h * n * d * steps  # k ⊙ v and q ⊙ kv
    assert totals["digital_add_bits"] == h * d * popcount_bits(n) * steps
    assert totals["digital_macs"] == 0 and totals["digital_adds"] == 0
    assert popcount_bits(6) == 1 + 2 + 2 + 3 + 3


def test_qkta_counters_in_closed_form():
    h, d, n = 2, 3, 6
    res, tab = counters_of(lambda c, hd, hh, ww: ir.blocks.qkta(
        "q", "k", shape=(c, hh, ww), heads=hd), names="qk")
    q_sum, qk = per_step(tab, "qkta_q_sum"), per_step(tab, "qkta_qk")
    z = dict.fromkeys(q_sum, 0.0)
    assert q_sum == z | {"add_bits": h * n * popcount_bits(d), "read": h * d * n,
                         "write": 8 * h * n}
    assert qk == z | {"and": h * d * n, "read": h * n + h * d * n, "write": h * d * n}
    steps = res.steps_used.sum()
    assert res.counts.totals()["digital_ands"] == h * d * n * steps


@pytest.mark.parametrize("assoc", ["right", "left"])
def test_ssa_counters_in_closed_form(assoc):
    h, d, n = 2, 3, 6
    res, tab = counters_of(lambda c, hd, hh, ww: ir.blocks.ssa(
        "q", "k", "v", shape=(c, hh, ww), heads=hd, associate=assoc))
    first = per_step(tab, "ssa_kv" if assoc == "right" else "ssa_qk")
    second = per_step(tab, "ssa_qkv")
    z = dict.fromkeys(first, 0.0)
    if assoc == "right":  # kᵀ·v (h, d, d), then q·(kᵀ v)
        assert first == z | {"mac": h * d * n * d, "read": 2 * h * n * d, "write": 8 * h * d * d}
        assert second == z | {"mac": h * n * d * d, "read": h * n * d + 8 * h * d * d,
                              "write": 8 * h * n * d}
    else:  # q·kᵀ (h, N, N), then (q kᵀ)·v
        assert first == z | {"mac": h * n * d * n, "read": 2 * h * n * d, "write": 8 * h * n * n}
        assert second == z | {"mac": h * n * n * d, "read": 8 * h * n * n + h * n * d,
                              "write": 8 * h * n * d}
    want = 2 * h * n * n * d if assoc == "left" else 2 * h * n * d * d
    assert res.counts.totals()["digital_macs"] == want * res.steps_used.sum()


def test_non_binary_operands_count_macs_and_8_bit_adds():
    """A Mul of a count (a ReduceSum) and spikes multiplies; a ReduceSum of counts adds
    8-bit values; an ILIF's multi-level spikes are not binary."""
    nodes = {"in": ir.Input(shape=(8,)), "fc": ir.Linear(weight=np.eye(8)),
             "s": sj_lif(0.25), "m": ir.ILIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=0.25,
                                              max_level=3),
             "s2": ir.Reshape(shape=(2, 4)), "m2": ir.Reshape(shape=(2, 4)),
             "sum": ir.ReduceSum(axis=1), "mul": ir.Mul(operands=("s2", "sum")),
             "mul_m": ir.Mul(operands=("s2", "m2")), "sum2": ir.ReduceSum(axis=0),
             "out": ir.Output()}
    edges = [("in", "fc"), ("fc", "s"), ("fc", "m"), ("s", "s2"), ("m", "m2"), ("s2", "sum"),
             ("s2", "mul"), ("sum", "mul"), ("s2", "mul_m"), ("m2", "mul_m"), ("mul", "sum2"),
             ("mul_m", "sum2"), ("sum2", "out")]
    net = ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)
    assert ir.tensors.binary_output(net, "s2") and not ir.tensors.binary_output(net, "m2")
    tab = build_tables(program_chip(map_network(net, IDEAL), np.random.default_rng(0)))
    z = dict.fromkeys(per_step(tab, "mul"), 0.0)
    assert per_step(tab, "mul") == z | {"mac": 8, "read": 8 + 8 * 2, "write": 64}
    assert per_step(tab, "mul_m") == z | {"mac": 8, "read": 8 + 64, "write": 64}
    assert per_step(tab, "sum") == z | {"add_bits": 2 * popcount_bits(4), "read": 8,
                                        "write": 16}
    # sum2 reads the sum of two edges (not binary): 4 outputs × one 8-bit add
    assert per_step(tab, "sum2") == z | {"add_bits": 4 * 8, "read": 64, "write": 32}


# -- energy ------------------------------------------------------------------------------------
def test_spike_op_counters_are_priced_at_the_cards_digital_fields():
    res, tab = counters_of(lambda c, hd, hh, ww: ir.blocks.sdsa(
        "q", "k", "v", shape=(c, hh, ww), heads=hd))
    chip = load_chip("prime-rram-40nm")
    dg = chip.digital
    e_logic, e_add, e_rd, e_wr = (dg.logic.value, dg.add.value, dg.buffer_read_bit.value,
                                  dg.buffer_write_bit.value)
    assert min(e_logic, e_add, e_rd, e_wr) > 0
    rep = estimate(res.counts, chip, tiles=4, cores=1)
    steps = res.steps_used.mean()
    for name in ("sdsa_kv", "sdsa_kv_sum", "sdsa_qkv"):
        c = per_step(tab, name)
        want = (c["and"] * e_logic + c["add_bits"] * e_add / 8 + c["read"] * e_rd
                + c["write"] * e_wr) * steps
        assert want > 0
        assert rep.by_layer[name] == pytest.approx(want, rel=1e-12), name
    fields = {c["field"] for c in rep.constants}
    assert {"digital.logic", "digital.add", "digital.buffer_read_bit",
            "digital.buffer_write_bit"} <= fields
    without = estimate(dataclasses.replace(res.counts, digital=None, digital_names=()), chip,
                       tiles=4, cores=1)
    assert rep.by_component["digital"] == pytest.approx(
        float(np.mean(rep.per_sample_J - without.per_sample_J)), rel=1e-12)


def test_a_card_without_the_digital_section_refuses_naming_the_field():
    res, _ = counters_of(lambda c, hd, hh, ww: ir.blocks.sdsa(
        "q", "k", "v", shape=(c, hh, ww), heads=hd))
    data = load_chip("prime-rram-40nm").to_dict()
    del data["digital"]
    chip = chip_from_dict(data, source="x.yaml")
    with pytest.raises(ConfigError, match=r"digital\.logic is not given but the run counted "
                                          r"[0-9.e+]+ digital ands"):
        estimate(res.counts, chip, tiles=4, cores=1)
    data = load_chip("prime-rram-40nm").to_dict()
    del data["digital"]["buffer_write_bit"]
    with pytest.raises(ConfigError, match=r"digital\.buffer_write_bit is not given"):
        estimate(res.counts, chip_from_dict(data, source="x.yaml"), tiles=4, cores=1)


# -- traffic through a block into the projection -------------------------------------------------
def test_traffic_reaches_the_projection_through_the_products():
    """QKFormer feeds mask ⊙ k straight into its projection convolution: k's spikes and the
    mask's reach the projection's column groups, and its input rate at (c, n) is k's rate
    there plus the mask's of (head of c, n)."""
    from neurocosim.mapping.routing import neuron_reach, op_input_rates

    heads, d, hh, ww = 2, 3, 2, 3
    c, n = heads * d, hh * ww
    nodes, edges = qkv_net(np.random.default_rng(0), c, hh, ww, names="qk")
    blk = ir.blocks.qkta("q", "k", shape=(c, hh, ww), heads=heads)
    nodes |= blk.nodes | {"proj": ir.Conv2d(weight=np.ones((c, c, 1, 1)), bias=np.zeros(c)),
                          "lif_p": sj_lif(), "out": ir.Output()}
    net = ir.Network(nodes=nodes, edges=tuple(edges + blk.edges + [
        (blk.output, "proj"), ("proj", "lif_p"), ("lif_p", "out")]), dt=1e-3)
    mapped = map_network(net, IDEAL)
    rk, rm = np.arange(1.0, c * n + 1), 100.0 * np.arange(1.0, heads * n + 1)
    rates = op_input_rates(net, mapped.ops, {"k": rk, "qkta_mask": rm, "q": np.zeros(c * n)})
    want = rk.reshape(heads, d, n) + rm.reshape(heads, 1, n)
    np.testing.assert_array_equal(rates["proj"], want.ravel())
    reach = neuron_reach(net, mapped.ops, list(mapped.colgroups))
    proj = {cg.id for cg in mapped.colgroups if cg.op == "proj"}
    for src in ("k", "qkta_mask"):
        got = reach[src].tocsr()
        assert {int(g) for g in got.indices} == proj, src
    assert reach["q"].nnz == 0  # q reaches the mask's neurons only, no op


def test_results_files_keep_the_spike_op_counters(tmp_path):
    from neurocosim.errors import DataError
    from neurocosim.hwsim.counters import DIGITAL_COUNTERS, EventCounts

    res, _ = counters_of(lambda c, hd, hh, ww: ir.blocks.sdsa(
        "q", "k", "v", shape=(c, hh, ww), heads=hd))
    assert res.counts.digital.shape[2] == len(DIGITAL_COUNTERS) == 8
    res.counts.save(tmp_path / "results.npz")
    back = EventCounts.load(tmp_path / "results.npz")
    assert back.digital_counters == DIGITAL_COUNTERS
    np.testing.assert_array_equal(back.digital, res.counts.digital)
    assert back.totals() == res.counts.totals()
    data = dict(np.load(tmp_path / "results.npz"))
    data["digital"] = data["digital"][:, :, :4]  # a damaged file: counters missing
    np.savez(tmp_path / "short.npz", **data)
    with pytest.raises(DataError, match="short.npz: field 'digital' has shape"):
        EventCounts.load(tmp_path / "short.npz")
