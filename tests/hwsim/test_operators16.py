"""The remaining operators of issue 16 in the engines: QKFormer's channel attention
(QKCA), the SEMM expert gate and its counters, the Delay node and TIM's recurrence, and
Conv1d. Each network runs on the ideal card and the reference spike for spike, and is
compared with a NumPy re-implementation of the paper's code written here (no project
code): the papers' reshapes, their SpikingJelly LIF and their loops over the steps."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from neurocosim import ir
from tests.hwsim.test_spike_ops import (
    FAST,
    SHAPES,
    STEPS,
    SJLif,
    finish,
    paper_inputs,
    qk_attention_case,
    qkv_net,
    run_both,
    spikes_in,
)


# -- QKCA ------------------------------------------------------------------------------------------
def qkformer_channel_attention(q, k, heads, attn_lif):
    """QKFormer's Q-K channel attention (paper §3.2) in the layout of its token form's
    code: q, k (B, C, N) reshaped (B, h, C//h, N); q summed over the tokens (dim 3,
    keepdim) → attn_lif: a channel mask (B, h, C//h, 1); mask ⊙ k; flatten(2, 3)."""
    b, c, n = q.shape
    q = q.reshape(b, heads, c // heads, n)
    k = k.reshape(b, heads, c // heads, n)
    attn = attn_lif(q.sum(axis=3, keepdims=True))
    return (attn * k).reshape(b, c, n)


def _qkca_case(heads, d, hh, ww, seed, linear):
    return qk_attention_case("qkca", qkformer_channel_attention, heads, d, hh, ww, seed, linear)


@FAST
@given(**SHAPES, linear=st.booleans())
def test_qkca_matches_engine_reference_and_the_papers_equations(heads, d, h, w, seed, linear):
    _qkca_case(heads, d, h, w, seed, linear)


def test_qkca_fixed_case_masks_channels():
    ref = _qkca_case(2, 3, 2, 3, 3, False)
    mask = ref.probes["qkca_mask"]
    assert mask.shape[2:] == (2, 3, 1)
    assert 0 < mask.sum() < mask.size  # some channels pass, some are masked


# -- SEMM ------------------------------------------------------------------------------------------
def spiking_experts_mixture(r, experts):
    """SEMM's output from the router's spikes r (B, E, N) and the experts' outputs
    [(B, C, N)] * E: Σ_e r[:, e] (broadcast over the channels) ⊙ expert_e."""
    return sum(r[:, e:e + 1, :] * x for e, x in enumerate(experts))


def semm_net(rng, n_exp, c, hh, ww):
    """Input spikes → router: a 1×1 conv (C_in → E, with bias: the paper's Linear) → LIF
    ``r``; E experts: 1×1 conv (C_in → C) → LIF ``x{e}``; the SEMM block."""
    n = hh * ww
    from tests.hwsim.test_spike_ops import C_IN, sj_lif

    nodes = {"in": ir.Input(shape=(C_IN, hh, ww)),
             "fc_r": ir.Conv2d(weight=rng.integers(-2, 9, (n_exp, C_IN, 1, 1)) / 4,
                               bias=rng.integers(-2, 3, n_exp) / 4), "r": sj_lif()}
    edges = [("in", "fc_r"), ("fc_r", "r")]
    for e in range(n_exp):
        nodes |= {f"fc_x{e}": ir.Conv2d(weight=rng.integers(-2, 9, (c, C_IN, 1, 1)) / 4,
                                        bias=np.zeros(c)), f"x{e}": sj_lif()}
        edges += [("in", f"fc_x{e}"), (f"fc_x{e}", f"x{e}")]
    blk = ir.blocks.semm("r", [f"x{e}" for e in range(n_exp)], shape=(c, hh, ww))
    return finish(nodes, edges, blk), blk, n


def _semm_case(n_exp, c, hh, ww, seed):
    from tests.hwsim.test_spike_ops import conv1x1

    rng = np.random.default_rng(seed)
    net, blk, n = semm_net(rng, n_exp, c, hh, ww)
    x = spikes_in(rng, net.input_shape)
    names = ["r"] + [f"x{e}" for e in range(n_exp)]
    ref, eng, _ = run_both(net, x, names + [blk.output])
    lifs = {s: SJLif(1.0) for s in names}
    for t in range(STEPS):  # the paper's pipeline: router and experts, then the mixture
        out = {}
        for s in names:
            node = net.nodes[f"fc_{s}"]
            pre = conv1x1(x[:, t], node.weight) + node.bias[None, :, None, None]
            out[s] = lifs[s](pre).reshape(len(x), -1, n)
        want = spiking_experts_mixture(out["r"], [out[f"x{e}"] for e in range(n_exp)])
        np.testing.assert_array_equal(ref.probes[blk.output][:, t].reshape(want.shape), want)
    return ref, eng, n


@FAST
@given(n_exp=st.integers(1, 4), c=st.integers(1, 4), h=st.integers(1, 3), w=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_semm_matches_engine_reference_and_the_papers_equation(n_exp, c, h, w, seed):
    _semm_case(n_exp, c, h, w, seed)


def test_semm_counts_expert_activations_and_skips_in_closed_form(tmp_path):
    from neurocosim.hwsim.counters import EventCounts

    n_exp, c, hh, ww = 4, 3, 3, 3
    ref, eng, n = _semm_case(n_exp, c, hh, ww, 11)
    r = ref.probes["r"]  # (samples, steps, E, H, W): the enables
    active = r.sum(axis=(1, 2, 3, 4))
    assert 0 < active.sum() < r.size  # some experts run, some are skipped
    counts = eng.counts
    assert counts.gate_names == ("semm_gate",)
    np.testing.assert_array_equal(counts.gate[:, 0, 0], active)
    np.testing.assert_array_equal(counts.gate[:, 0, 1], n_exp * n * STEPS - active)
    tot = counts.totals()
    assert tot["expert_active"] == active.sum()
    assert tot["expert_skipped"] == r.size - active.sum()
    assert counts.to_dict()["counters_by_gate"]["semm_gate"]["expert_active"] == active.sum()
    counts.save(tmp_path / "results.npz")
    back = EventCounts.load(tmp_path / "results.npz")
    np.testing.assert_array_equal(back.gate, counts.gate)
    assert back.gate_names == counts.gate_names


def test_a_gate_needs_spikes_as_its_enable():
    import pytest

    from neurocosim.errors import ModelError

    nodes = {"in": ir.Input(shape=(2, 3)), "a": ir.Reshape(shape=(2, 3)),
             "g": ir.Gate(operands=("a", "in")), "out": ir.Output()}
    edges = [("in", "a"), ("a", "g"), ("in", "g"), ("g", "out")]
    with pytest.raises(ModelError, match="node 'g' \\(Gate\\): its first operand 'a' must be "
                                         "the spikes of a spiking neuron layer"):
        ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


# -- Delay -------------------------------------------------------------------------------------------
def delay_net(rng, n, steps, recurrent):
    """Input → Linear → LIF ``s`` → Delay(steps) ``d``; ``recurrent``: ``d`` → Linear back
    into ``s`` (a cycle closed by the Delay), else ``d`` → Linear → LIF ``o``."""
    from tests.hwsim.test_spike_ops import sj_lif

    nodes = {"in": ir.Input(shape=(n,)), "fc": ir.Linear(weight=rng.integers(-2, 9, (n, n)) / 4),
             "s": sj_lif(), "d": ir.Delay(steps=steps, shape=(n,)),
             "fb": ir.Linear(weight=rng.integers(-4, 5, (n, n)) / 4), "out": ir.Output()}
    edges = [("in", "fc"), ("fc", "s"), ("s", "d"), ("d", "fb")]
    if recurrent:
        edges += [("fb", "s"), ("s", "out")]
    else:
        nodes["o"] = sj_lif()
        edges += [("fb", "o"), ("o", "out")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


@FAST
@given(n=st.integers(1, 6), steps=st.integers(1, 4), recurrent=st.booleans(),
       seed=st.integers(0, 2**16))
def test_delay_is_its_input_steps_before_in_both_engines(n, steps, recurrent, seed):
    from tests.hwsim.test_spike_ops import STEPS as T

    rng = np.random.default_rng(seed)
    net = delay_net(rng, n, steps, recurrent)
    assert ("s", "d") in net.back_edges
    x = spikes_in(rng, net.input_shape)
    ref, eng, prog = run_both(ir.engine_ready(net), x, ["s", "d"])
    s, d = ref.probes["s"], ref.probes["d"]  # (B, T, n)
    want = np.concatenate([np.zeros_like(s[:, :steps]), s[:, :T - steps]], axis=1)[:, :T]
    np.testing.assert_array_equal(d, want)
    from neurocosim import make_encoder, simulate_reference

    direct = simulate_reference(net, make_encoder("spikes", x, net.input_shape), T,
                                probes=["s", "d"])  # the unexpanded Delay: the same
    np.testing.assert_array_equal(direct.probes["d"], d)
    per = eng.counts.by_digital()  # d one-step stages: n bits written and read each step
    bits = sum(v["digital_buffer_write_bits"] for k, v in per.items() if k.startswith("d"))
    assert bits == steps * n * eng.steps_used.sum()
    assert bits == sum(v["digital_buffer_read_bits"] for k, v in per.items() if k.startswith("d"))


def test_delay_fixed_case_carries_spikes_and_refuses_bad_use():
    import pytest

    from neurocosim import map_network, program_chip
    from neurocosim.errors import ModelError, SimulationError
    from neurocosim.hwsim.tables import build_tables
    from tests.hwsim.test_spike_ops import IDEAL

    net = delay_net(np.random.default_rng(1), 4, 2, True)
    x = spikes_in(np.random.default_rng(2), net.input_shape)
    ref, _, _ = run_both(ir.engine_ready(net), x, ["d"])
    assert ref.probes["d"].sum() > 0
    with pytest.raises(SimulationError, match="node 'd' is a Delay of 2 steps.*engine_ready"):
        build_tables(program_chip(map_network(net, IDEAL), np.random.default_rng(0)))
    bad = {**net.nodes, "d": ir.Delay(steps=1, shape=(5,)), "fb": ir.Linear(weight=np.ones((4, 5)))}
    with pytest.raises(ModelError, match=r"recurrent edge 's' -> 'd': shape \(4,\) does not "
                                         r"match the declared shape \(5,\) of Delay 'd'"):
        net.replace(nodes=bad)
    with pytest.raises(ModelError, match="Delay: 'steps' must be >= 1"):
        ir.Delay(steps=0, shape=(3,))
    back = ir.Network.from_dict(net.to_dict())
    assert back == net and back.nodes["d"].steps == 2


# -- TIM ---------------------------------------------------------------------------------------------
def conv1d_np(x, w, b, pad, groups=1):
    """(B, C_in, L) → (B, C_out, L') cross-correlation, stride 1, zero padding ``pad``."""
    return conv1d_strided(x, w, b, 1, pad, 1, groups)


def tim_loop(q, w, b, alpha, in_lif, out_lif):
    """TIM.forward on q (T, B, h, N, d): x_tim = q[0]; then x_tim = interactor(x_tim
    flattened (B·h, N, d)) → in_lif · α + q[i] · (1 − α) → out_lif."""
    t_steps, bsz, h, n, d = q.shape
    out, x = [q[0]], q[0]
    for i in range(1, t_steps):
        y = conv1d_np(x.reshape(bsz * h, n, d), w, b, w.shape[2] // 2).reshape(bsz, h, n, d)
        x = out_lif(in_lif(y) * alpha + q[i] * (1 - alpha))
        out.append(x)
    return np.stack(out)


def _tim_case(heads, d, hh, ww, seed, k=5):
    rng = np.random.default_rng(seed)
    c, n = heads * d, hh * ww
    nodes, edges = qkv_net(rng, c, hh, ww, names="q")
    w, b = rng.integers(-3, 5, (n, n, k)) / 4, rng.integers(-1, 2, n) / 4
    blk = ir.blocks.tim("q", shape=(c, hh, ww), heads=heads, weight=w, bias=b)
    net = finish(nodes, edges, blk)
    x = spikes_in(rng, net.input_shape)
    probes = ["q", "tim_in_lif", "tim_out_lif", blk.output]
    ref, _, _ = run_both(ir.engine_ready(net), x, probes)
    from neurocosim import make_encoder, simulate_reference

    direct = simulate_reference(net, make_encoder("spikes", x, net.input_shape), STEPS,
                                probes=probes)  # Conv1d as itself: the same
    for p in probes:
        np.testing.assert_array_equal(direct.probes[p], ref.probes[p], err_msg=p)
    q = paper_inputs(net, x, False, c, hh, ww)["q"]  # (B, T, C, H, W)
    qt = q.reshape(len(x), STEPS, c, n).transpose(1, 0, 3, 2) \
        .reshape(STEPS, len(x), n, heads, d).transpose(0, 1, 3, 2, 4)  # (T, B, h, N, d)
    want = tim_loop(qt, w, b, 0.5, SJLif(0.3), SJLif(0.5))
    want = want.transpose(1, 0, 2, 4, 3).reshape(len(x), STEPS, c, hh, ww)  # back to C-major
    np.testing.assert_array_equal(ref.probes[blk.output], want)
    return ref


@FAST
@given(**SHAPES)
def test_tim_unrolled_equals_the_papers_loop_in_both_engines(heads, d, h, w, seed):
    _tim_case(heads, d, h, w, seed, k=3)


def test_tim_fixed_case_interacts_over_time():
    ref = _tim_case(2, 4, 2, 3, 9)
    out, q = ref.probes["tim_merge"], ref.probes["q"]
    np.testing.assert_array_equal(out[:, 0], q[:, 0])  # x̃_0 = q_0
    assert ref.probes["tim_in_lif"][:, 1:].sum() > 0  # the recurrence fires
    assert ref.probes["tim_in_lif"][:, 0].sum() == 0  # ... not at t = 0
    assert not np.array_equal(out[:, 1:], q[:, 1:])  # and changes x̃


# -- Conv1d ------------------------------------------------------------------------------------------
def conv1d_strided(x, w, b, stride, pad, dilation, groups):
    """PyTorch's F.conv1d on (B, C_in, L), written out: output position l reads the
    padded input at l·stride + j·dilation."""
    bsz, c_in, length = x.shape
    c_out, cg, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    lo = (length + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    og = c_out // groups
    y = np.zeros((bsz, c_out, lo))
    for o in range(c_out):
        g = o // og
        for pos in range(lo):
            for i in range(cg):
                for j in range(k):
                    y[:, o, pos] += w[o, i, j] * xp[:, g * cg + i, pos * stride + j * dilation]
    return y + b[None, :, None]


@FAST
@given(groups=st.integers(1, 3), cg=st.integers(1, 3), og=st.integers(1, 3),
       k=st.integers(1, 4), length=st.integers(4, 9), stride=st.integers(1, 3),
       pad=st.integers(0, 2), dilation=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_conv1d_is_pytorchs_conv1d_in_both_engines(groups, cg, og, k, length, stride, pad,
                                                   dilation, seed):
    from tests.hwsim.test_spike_ops import sj_lif

    if dilation * (k - 1) + 1 > length + 2 * pad:
        return
    rng = np.random.default_rng(seed)
    c_in, c_out = groups * cg, groups * og
    w, b = rng.integers(-3, 5, (c_out, cg, k)) / 4, rng.integers(-2, 3, c_out) / 4
    nodes = {"in": ir.Input(shape=(c_in, length)),
             "conv": ir.Conv1d(weight=w, bias=b, stride=stride, padding=pad,
                               dilation=dilation, groups=groups),
             "s": sj_lif(0.5), "out": ir.Output()}
    net = ir.Network(nodes=nodes, edges=(("in", "conv"), ("conv", "s"), ("s", "out")),
                     dt=1e-3)
    x = spikes_in(rng, net.input_shape)
    want = np.stack([conv1d_strided(x[:, t], w, b, stride, pad, dilation, groups)
                     for t in range(STEPS)], axis=1)
    assert net.out_shapes["conv"] == want.shape[2:]
    rewritten = ir.engine_ready(net)
    assert isinstance(rewritten.nodes["conv_conv2d"], ir.Conv2d)
    ref, _, _ = run_both(rewritten, x, ["conv", "s"])
    np.testing.assert_array_equal(ref.probes["conv"], want)  # dyadic values: exact
    from neurocosim import make_encoder, simulate_reference

    direct = simulate_reference(net, make_encoder("spikes", x, net.input_shape), STEPS,
                                probes=["conv"])
    np.testing.assert_array_equal(direct.probes["conv"], want)


def test_conv1d_same_padding_and_bad_fields():
    import pytest

    from neurocosim.errors import ModelError

    w = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5) / 8
    nodes = {"in": ir.Input(shape=(3, 7)), "c": ir.Conv1d(weight=w, bias=0.0, padding="same"),
             "out": ir.Output()}
    net = ir.Network(nodes=nodes, edges=(("in", "c"), ("c", "out")), dt=1e-3)
    assert net.out_shapes["c"] == (2, 7)
    assert net.n_synapses() == w.size and net.n_synaptic_ops() == w.size * 7
    x = np.random.default_rng(0).random((1, 3, 7))
    from neurocosim.hwsim.reference import node_forward

    got = node_forward(net.nodes["c"], x, (3, 7), (2, 7))
    np.testing.assert_allclose(got, conv1d_strided(x, w, np.zeros(2), 1, 2, 1, 1), rtol=1e-12)
    with pytest.raises(ModelError, match="Conv1d: padding='same' needs stride 1"):
        ir.Conv1d(weight=w, bias=0.0, padding="same", stride=2)
    with pytest.raises(ModelError, match="Conv1d: 'weight' must be a 3-D"):
        ir.Conv1d(weight=np.ones((2, 3)), bias=0.0)
    nodes["c"] = ir.Conv1d(weight=np.ones((2, 2, 3)), bias=0.0)
    with pytest.raises(ModelError, match=r"node 'c' \(Conv1d\): weight \(2, 2, 3\) with "
                                         "groups=1 does not fit 3 input channels"):
        ir.Network(nodes=nodes, edges=(("in", "c"), ("c", "out")), dt=1e-3)
