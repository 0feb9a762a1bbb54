"""Residual blocks and token layouts in the Numba engine (issue 16): SEW-ResNet blocks
(ADD, IAND), an MS-ResNet block (membrane shortcut), conv → LIF → tokens → dense and a
Concat, each run on the ideal card and compared with the reference spike for spike and
step for step, and with a NumPy re-implementation written here from the equations; the
digital kernels (permutation, IAnd, the stacked input of ordered operands) against their
twins; the digital counters in closed form and their energy; traffic from every source
of a node with several sources."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, make_encoder, map_network, program_chip, simulate
from neurocosim.devices import load_chip
from neurocosim.energy import estimate
from neurocosim.hwsim.kernels import digital as KD
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.kernels import oracle as O
from neurocosim.hwsim.tables import build_tables
from neurocosim.mapping.routing import neuron_reach, op_input_rates
from tests.conftest import chip_variant, engine_equals_reference

IDEAL = chip_variant("ideal", macro__rows=24, macro__cols=20)
EPS = 2.0**-20
STEPS = 6
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHAPES = dict(c=st.integers(1, 3), h=st.integers(2, 5), w=st.integers(2, 5),
              seed=st.integers(0, 2**16))


# -- building blocks (dyadic values: every sum is exact in any order) ----------------------
def dyadic(rng, shape, scale=8, lo=-2, hi=2):
    return rng.integers(lo * scale, hi * scale + 1, shape) / scale


def conv3(rng, c_in, c_out):
    """3×3 'same' convolution, mostly excitatory so that the layers after it fire."""
    return ir.Conv2d(weight=rng.integers(-4, 9, (c_out, c_in, 3, 3)) / 8,
                     bias=rng.integers(0, 9, c_out) / 8, padding=1)


def lif(rng, shape):
    return ir.LIF(tau=np.full(shape, 4e-3), r=np.full(shape, 2.0), v_leak=np.zeros(shape),
                  v_threshold=rng.uniform(0.4, 1.2, shape), reset="subtract")


def dyadic_bn(rng, c):
    """A BatchNorm whose s = γ/√(σ² + ε) and b = β − μs are exact dyadic numbers (b ≥ 0,
    so that the layers after it fire)."""
    var = rng.choice([0.25, 1.0, 4.0], c) - EPS
    return ir.BatchNorm(gamma=rng.integers(1, 9, c) / 4, beta=dyadic(rng, c, 4, 0, 1),
                        running_mean=dyadic(rng, c, 4, -1, 0), running_var=var, eps=EPS)


def net_of(nodes, edges):
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def spikes_in(rng, shape, n=3, p=0.4):
    return (rng.random((n, STEPS, *shape)) < p).astype(float)


def run_both(net, x, probes):
    return engine_equals_reference(net, x, probes, STEPS, IDEAL)


# -- the equations, written here (no project code) ------------------------------------------
def conv_same(x, node):
    """(B, C, H, W) cross-correlation with a k×k kernel, stride 1, zero padding k//2."""
    w, b = node.weight, node.bias
    k = w.shape[-1]
    p = k // 2
    bsz, _, h, wd = x.shape
    xp = np.zeros((bsz, x.shape[1], h + 2 * p, wd + 2 * p))
    xp[:, :, p:p + h, p:p + wd] = x
    out = np.zeros((bsz, w.shape[0], h, wd)) + b[None, :, None, None]
    for i in range(k):
        for j in range(k):
            out += np.einsum("oc,bchw->bohw", w[:, :, i, j], xp[:, :, i:i + h, j:j + wd])
    return out


def bn_eq(x, bn):
    """γ (x − μ)/√(σ² + ε) + β over the channel axis 1 of (B, C, ...)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (bn.gamma.reshape(shape) * (x - bn.running_mean.reshape(shape))
            / np.sqrt(bn.running_var + bn.eps).reshape(shape) + bn.beta.reshape(shape))


class Lif:
    """v ← v + (dt/τ)(−v) + (dt/τ)·r·I; spike where v > θ; v ← v − θ where it spiked."""

    def __init__(self, node, batch):
        self.a = 1e-3 / node.tau
        self.node = node
        self.v = np.zeros((batch, *node.tau.shape))

    def __call__(self, current):
        n = self.node
        self.v = self.v - self.a * self.v + self.a * n.r * current
        s = (self.v > n.v_threshold).astype(float)
        self.v = self.v - s * n.v_threshold
        return s


def run_equations(x, layer_fns):
    """Every step: ``layer_fns(t, x_t)`` → dict of this step's values; stacked over steps."""
    out = {}
    for t in range(x.shape[1]):
        for k, v in layer_fns(x[:, t]).items():
            out.setdefault(k, []).append(v)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def assert_equations(ref, want):
    for k, v in want.items():
        np.testing.assert_array_equal(ref.probes[k], v, err_msg=k)


# -- SEW-ResNet basic block: ADD and IAND ---------------------------------------------------
def sew_net(rng, c, h, w, connect):
    nodes = {"in": ir.Input(shape=(2, h, w)), "conv0": conv3(rng, 2, c),
             "lif0": lif(rng, (c, h, w)), "conv1": conv3(rng, c, c),
             "lif1": lif(rng, (c, h, w)), "conv2": conv3(rng, c, c),
             "lif2": lif(rng, (c, h, w)),
             "sew": ir.Add() if connect == "ADD" else ir.IAnd(operands=("lif2", "lif0")),
             "flat": ir.Flatten(),
             "fc": ir.Affine(weight=dyadic(rng, (5, c * h * w)), bias=dyadic(rng, 5)),
             "lif3": lif(rng, (5,)), "out": ir.Output()}
    edges = [("in", "conv0"), ("conv0", "lif0"), ("lif0", "conv1"), ("conv1", "lif1"),
             ("lif1", "conv2"), ("conv2", "lif2"), ("lif0", "sew"), ("lif2", "sew"),
             ("sew", "flat"), ("flat", "fc"), ("fc", "lif3"), ("lif3", "out")]
    return net_of(nodes, edges)


def sew_equations(net, x, connect):
    nd = net.nodes
    cells = {k: Lif(nd[k], x.shape[0]) for k in ("lif0", "lif1", "lif2", "lif3")}

    def step(xt):
        s0 = cells["lif0"](conv_same(xt, nd["conv0"]))
        s1 = cells["lif1"](conv_same(s0, nd["conv1"]))
        s2 = cells["lif2"](conv_same(s1, nd["conv2"]))
        sew = s2 + s0 if connect == "ADD" else (1.0 - s2) * s0
        flat = sew.reshape(len(sew), -1)
        s3 = cells["lif3"](flat @ nd["fc"].weight.T + nd["fc"].bias)
        return {"lif0": s0, "lif2": s2, "sew": sew, "lif3": s3}

    return run_equations(x, step)


def _sew_case(c, h, w, seed, connect):
    rng = np.random.default_rng(seed)
    net = sew_net(rng, c, h, w, connect)
    x = spikes_in(rng, (2, h, w))
    probes = ["lif0", "lif1", "lif2", "sew", "lif3", "lif2.v", "lif3.v"]
    ref, _, _ = run_both(net, x, probes)
    assert ref.probes["lif0"].sum() > 0
    assert_equations(ref, sew_equations(net, x, connect))
    return ref


@FAST
@given(**SHAPES)
def test_sew_add_block_matches_reference_and_equations(c, h, w, seed):
    ref = _sew_case(c, h, w, seed, "ADD")
    assert set(np.unique(ref.probes["sew"])) <= {0.0, 1.0, 2.0}


@FAST
@given(**SHAPES)
def test_sew_iand_block_matches_reference_and_equations(c, h, w, seed):
    ref = _sew_case(c, h, w, seed, "IAND")
    assert set(np.unique(ref.probes["sew"])) <= {0.0, 1.0}


def test_sew_add_reaches_level_two_and_iand_its_operand_order(rng):
    """The fixed case the Hypothesis tests might miss: both spike (ADD gives 2) and the
    IAND's operands swapped give another result (the order is the one written)."""
    net = sew_net(np.random.default_rng(3), 2, 4, 4, "ADD")
    x = spikes_in(rng, (2, 4, 4), p=0.6)
    ref, _, _ = run_both(net, x, ["sew"])
    assert (ref.probes["sew"] == 2).any()
    iand = sew_net(np.random.default_rng(3), 2, 4, 4, "IAND")
    swapped = iand.replace(nodes={**iand.nodes, "sew": ir.IAnd(operands=("lif0", "lif2"))})
    a, _, _ = run_both(iand, x, ["sew", "lif0", "lif2"])
    b, _, _ = run_both(swapped, x, ["sew"])
    np.testing.assert_array_equal(a.probes["sew"], (1 - a.probes["lif2"]) * a.probes["lif0"])
    np.testing.assert_array_equal(b.probes["sew"], (1 - a.probes["lif0"]) * a.probes["lif2"])
    assert not np.array_equal(a.probes["sew"], b.probes["sew"])


# -- MS-ResNet block: the membrane shortcut ----------------------------------------------------
def ms_net(rng, c, h, w, shortcut):
    nodes = {"in": ir.Input(shape=(2, h, w)), "conv0": conv3(rng, 2, c),
             "lif0": lif(rng, (c, h, w)), "conv1": conv3(rng, c, c), "bn1": dyadic_bn(rng, c),
             "lif1": lif(rng, (c, h, w)), "conv2": conv3(rng, c, c), "bn2": dyadic_bn(rng, c),
             "lif_out": lif(rng, (c, h, w)), "flat": ir.Flatten(),
             "fc": ir.Affine(weight=dyadic(rng, (4, c * h * w)), bias=dyadic(rng, 4)),
             "lif3": lif(rng, (4,)), "out": ir.Output()}
    edges = [("in", "conv0"), ("conv0", "lif0"), ("lif0", "conv1"), ("conv1", "bn1"),
             ("bn1", "lif1"), ("lif1", "conv2"), ("conv2", "bn2"), ("bn2", "lif_out"),
             ("lif_out", "flat"), ("flat", "fc"), ("fc", "lif3"), ("lif3", "out")]
    if shortcut == "identity":  # the block input's pre-activation (membrane) itself
        edges.append(("conv0", "lif_out"))
    elif shortcut == "add":  # the same sum as a node of its own (to chain further blocks)
        nodes["sum"] = ir.Add()
        edges = [e for e in edges if e != ("bn2", "lif_out")]
        edges += [("bn2", "sum"), ("conv0", "sum"), ("sum", "lif_out")]
    else:  # a 1×1 convolution and BatchNorm of the block input's spikes
        nodes["sc"] = ir.Conv2d(weight=dyadic(rng, (c, c, 1, 1), 8, 0, 1),
                                bias=dyadic(rng, c, 8, 0, 1))
        nodes["sc_bn"] = dyadic_bn(rng, c)
        edges += [("lif0", "sc"), ("sc", "sc_bn"), ("sc_bn", "lif_out")]
    return net_of(nodes, edges)


def ms_equations(net, x, shortcut):
    nd = net.nodes
    cells = {k: Lif(nd[k], x.shape[0]) for k in ("lif0", "lif1", "lif_out", "lif3")}

    def step(xt):
        pre0 = conv_same(xt, nd["conv0"])
        s0 = cells["lif0"](pre0)
        s1 = cells["lif1"](bn_eq(conv_same(s0, nd["conv1"]), nd["bn1"]))
        branch = bn_eq(conv_same(s1, nd["conv2"]), nd["bn2"])
        short = pre0 if shortcut != "conv1x1" else bn_eq(conv_same(s0, nd["sc"]), nd["sc_bn"])
        s_out = cells["lif_out"](branch + short)  # pre-activations added before the LIF
        s3 = cells["lif3"](s_out.reshape(len(s_out), -1) @ nd["fc"].weight.T + nd["fc"].bias)
        return {"lif0": s0, "lif1": s1, "lif_out": s_out, "lif3": s3}

    return run_equations(x, step)


@FAST
@given(**SHAPES, shortcut=st.sampled_from(["identity", "conv1x1", "add"]))
def test_ms_resnet_block_membrane_shortcut_matches_reference_and_equations(c, h, w, seed,
                                                                            shortcut):
    rng = np.random.default_rng(seed)
    net = ms_net(rng, c, h, w, shortcut)
    folded = ir.fold_batchnorm(net)
    want = {("bn1", "conv1"), ("bn2", "conv2")} | ({("sc_bn", "sc")} if shortcut == "conv1x1"
                                                   else set())
    assert set(folded.folded) == want
    summed = "sum" if shortcut == "add" else "lif_out"
    assert len(folded.predecessors(summed)) == 2  # the branch and the shortcut, summed
    x = spikes_in(rng, (2, h, w))
    probes = ["lif0", "lif1", "lif_out", "lif3", "lif_out.v"] + ["sum"] * (shortcut == "add")
    ref, _, _ = run_both(folded, x, probes)
    assert ref.probes["lif_out"].sum() > 0
    assert_equations(ref, ms_equations(net, x, shortcut))


# -- conv → LIF → tokens (N, D) → dense ----------------------------------------------------------
def token_net(rng, c, h, w):
    n_tok = h * w
    nodes = {"in": ir.Input(shape=(2, h, w)), "conv": conv3(rng, 2, c),
             "lif": lif(rng, (c, h, w)), "merge": ir.Reshape(shape=(c, n_tok)),
             "tokens": ir.Transpose(axes=(1, 0)), "flat": ir.Flatten(),
             "fc": ir.Affine(weight=dyadic(rng, (6, n_tok * c)), bias=dyadic(rng, 6)),
             "lif2": lif(rng, (6,)), "out": ir.Output()}
    names = list(nodes)
    return net_of(nodes, zip(names[:-1], names[1:], strict=True))


@FAST
@given(**SHAPES)
def test_conv_lif_tokens_dense_matches_reference_and_equations(c, h, w, seed):
    rng = np.random.default_rng(seed)
    net = token_net(rng, c, h, w)
    assert net.out_shapes["tokens"] == (h * w, c)  # N tokens of dimension D = C
    x = spikes_in(rng, (2, h, w))
    probes = ["lif", "merge", "tokens", "lif2", "lif2.v"]
    ref, _, _ = run_both(net, x, probes)
    nd = net.nodes
    cells = {k: Lif(nd[k], x.shape[0]) for k in ("lif", "lif2")}

    def step(xt):
        s = cells["lif"](conv_same(xt, nd["conv"]))
        tok = np.zeros((len(s), h * w, c))
        for i in range(h):  # token i·W + j holds the C channels of pixel (i, j)
            for j in range(w):
                tok[:, i * w + j, :] = s[:, :, i, j]
        flat = tok.reshape(len(s), -1)
        return {"lif": s, "tokens": tok,
                "lif2": cells["lif2"](flat @ nd["fc"].weight.T + nd["fc"].bias)}

    assert_equations(ref, run_equations(x, step))


# -- Concat of two spiking branches along an axis ------------------------------------------------
@FAST
@given(**SHAPES, c2=st.integers(1, 3), axis=st.sampled_from([0, 1, 2, -1]))
def test_concat_of_two_branches_matches_reference_and_equations(c, h, w, seed, c2, axis):
    rng = np.random.default_rng(seed)
    sizes = {"lifa": (c, h, w), "lifb": (c2, h, w) if axis == 0 else (c, h, w)}
    nodes = {"in": ir.Input(shape=(2, h, w)), "conva": conv3(rng, 2, sizes["lifa"][0]),
             "lifa": lif(rng, sizes["lifa"]), "convb": conv3(rng, 2, sizes["lifb"][0]),
             "lifb": lif(rng, sizes["lifb"]),
             "cat": ir.Concat(operands=("lifb", "lifa"), axis=axis), "flat": ir.Flatten()}
    n_cat = int(np.prod(sizes["lifa"])) + int(np.prod(sizes["lifb"]))
    nodes |= {"fc": ir.Linear(weight=dyadic(rng, (4, n_cat))), "lif2": lif(rng, (4,)),
              "out": ir.Output()}
    edges = [("in", "conva"), ("in", "convb"), ("conva", "lifa"), ("convb", "lifb"),
             ("lifa", "cat"), ("lifb", "cat"), ("cat", "flat"), ("flat", "fc"),
             ("fc", "lif2"), ("lif2", "out")]
    net = net_of(nodes, edges)
    x = spikes_in(rng, (2, h, w))
    ref, _, _ = run_both(net, x, ["lifa", "lifb", "cat", "lif2"])
    a, b = ref.probes["lifa"], ref.probes["lifb"]
    ax = (axis % 3) + 2  # (samples, steps, C, H, W)
    want = np.zeros(a.shape[:ax] + (a.shape[ax] + b.shape[ax],) + a.shape[ax + 1:])
    idx = [slice(None)] * want.ndim
    idx[ax] = slice(0, b.shape[ax])
    want[tuple(idx)] = b  # the first operand first
    idx[ax] = slice(b.shape[ax], None)
    want[tuple(idx)] = a
    np.testing.assert_array_equal(ref.probes["cat"], want)


# -- the kernels against their twins and the equations ----------------------------------------
def kernel_net(rng):
    nodes = {"in": ir.Input(shape=(2, 3, 4)), "conv": ir.Conv2d(
                 weight=rng.normal(size=(3, 2, 1, 1)), bias=np.zeros(3)),
             "conv2": ir.Conv2d(weight=rng.normal(size=(3, 2, 1, 1)), bias=np.zeros(3)),
             "add": ir.Add(), "iand": ir.IAnd(operands=("conv2", "add")),
             "merge": ir.Reshape(shape=(3, 12)), "tok": ir.Transpose(axes=(1, 0)),
             "cat": ir.Concat(operands=("tok", "tok2"), axis=1),
             "tok2": ir.Transpose(axes=(1, 0)), "out": ir.Output()}
    edges = [("in", "conv"), ("in", "conv2"), ("conv", "add"), ("conv2", "add"),
             ("conv2", "iand"), ("add", "iand"), ("iand", "merge"), ("merge", "tok"),
             ("merge", "tok2"), ("tok", "cat"), ("tok2", "cat"), ("cat", "out")]
    return net_of(nodes, edges)


def test_digital_kernels_are_the_equations_and_their_twins(rng):
    net = kernel_net(rng)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    tab, tab32 = build_tables(prog), build_tables(prog, "float32")
    modes = dict(zip(tab.digital_names, tab.digital.mode.tolist(), strict=True))
    assert modes == {"add": K.DG_PERM, "iand": K.DG_IAND, "merge": K.DG_PERM,
                     "tok": K.DG_PERM, "tok2": K.DG_PERM, "cat": K.DG_PERM}
    stack = dict(zip(tab.digital_names, tab.digital.stack.tolist(), strict=True))
    assert stack == {"add": 0, "iand": 1, "merge": 0, "tok": 0, "tok2": 0, "cat": 1}
    order, topo = list(net.order), tab.topology
    for _ in range(4):
        a, b = rng.normal(size=(3, 3, 4)), rng.normal(size=(3, 3, 4))  # real values too
        t = rng.normal(size=(12, 3))
        cases = {"add": (a.ravel(), a.ravel()),
                 "iand": (np.concatenate([a.ravel(), b.ravel()]), ((1 - a) * b).ravel()),
                 "merge": (a.ravel(), a.ravel()), "tok": (a.ravel(), a.reshape(3, 12).T.ravel()),
                 "cat": (np.concatenate([t.ravel(), b.ravel()]),
                         np.hstack([t, b.reshape(12, 3)]).ravel())}
        for name, (x, want) in cases.items():
            k = tab.digital_names.index(name)
            y = np.full(want.size, np.nan)
            K.csr_eval(tab.digital, k, x, y)
            np.testing.assert_array_equal(y, want, err_msg=name)
            np.testing.assert_array_equal(y, O.csr_step(tab.digital, k, x, want.size))
        for k, name in enumerate(tab32.digital_names):  # float32 tables: the twin exactly
            x = rng.normal(size=np.prod(net.in_shapes[name])).astype(np.float32)
            y = np.full(np.prod(net.out_shapes[name]), np.nan, np.float32)
            K.csr_eval(tab32.digital, k, x, y)
            np.testing.assert_array_equal(y, O.csr_step(tab32.digital, k, x, y.size))
        val = rng.normal(size=topo.val_size)
        for name in ("iand", "cat"):  # the ordered inputs, stacked in operand order
            n = order.index(name)
            got = KD.stack_inputs(topo, n, val, val[:1], np.zeros(topo.val_size + 1))
            want = np.concatenate([val[topo.off[order.index(s)]:][:topo.size[order.index(s)]]
                                   for s in net.nodes[name].operands])
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(O.stack_inputs(topo, n, val, val[:1]), want)


# -- counters and energy ------------------------------------------------------------------------
def counter_net(rng, c=2, h=3, w=4):
    n = c * h * w
    nodes = {"in": ir.Input(shape=(2, h, w))}
    edges = []
    for i in range(3):
        nodes[f"conv{i}"] = ir.Conv2d(weight=rng.normal(size=(c, 2, 3, 3)), bias=np.zeros(c),
                                      padding=1)
        nodes[f"lif{i}"] = lif(rng, (c, h, w))
        edges += [("in", f"conv{i}"), (f"conv{i}", f"lif{i}"), (f"lif{i}", "add3")]
    nodes |= {"add3": ir.Add(), "iand": ir.IAnd(operands=("lif0", "add3")),
              "merge": ir.Reshape(shape=(c, h * w)), "tok": ir.Transpose(axes=(1, 0)),
              "cat": ir.Concat(operands=("tok", "tok_b"), axis=0),
              "tok_b": ir.Transpose(axes=(1, 0)), "flat": ir.Flatten(),
              "fc": ir.Affine(weight=rng.normal(size=(4, 2 * n)), bias=np.zeros(4)),
              "lif_o": lif(rng, (4,)), "out": ir.Output()}
    edges += [("lif0", "iand"), ("add3", "iand"), ("iand", "merge"), ("merge", "tok"),
              ("merge", "tok_b"), ("tok", "cat"), ("tok_b", "cat"), ("cat", "flat"),
              ("flat", "fc"), ("fc", "lif_o"), ("lif_o", "out")]
    return net_of(nodes, edges), n


def test_digital_counters_in_closed_form(rng):
    net, n = counter_net(rng)
    steps = STEPS
    x = spikes_in(rng, (2, 3, 4), n=4)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    res = simulate(prog, make_encoder("spikes", x, net.input_shape), steps,
                   rng=np.random.default_rng(1), early_stop="margin:0.5")
    tab = build_tables(prog)
    ops = dict(zip(tab.digital_names, tab.digital_ops.tolist(), strict=True))
    z = [0.0] * K.N_DIGITAL_COUNTERS
    want = {name: list(z) for name in ("add3", "iand", "merge", "tok", "tok_b", "cat")}
    want["add3"][K.DC_ADD] = n * (3 - 1)  # elements × (operands − 1)
    want["iand"][K.DC_IAND] = n  # elements
    assert ops == want  # Reshape, Transpose, Concat: nothing
    counts = res.counts
    assert counts.digital_names == tab.digital_names
    assert counts.digital_counters[K.DC_ADD] == "digital_adds"
    assert counts.digital_counters[K.DC_IAND] == "digital_iands"
    used = res.steps_used
    assert used.min() >= 1 and (used <= steps).all()
    j_add, j_iand = tab.digital_names.index("add3"), tab.digital_names.index("iand")
    for s in range(len(used)):  # × the steps each sample ran (early stop)
        np.testing.assert_array_equal(counts.digital[s, j_add], np.array(want["add3"]) * used[s])
        np.testing.assert_array_equal(counts.digital[s, j_iand], np.array(want["iand"]) * used[s])
        others = [j for j in range(len(tab.digital_names)) if j not in (j_add, j_iand)]
        assert not counts.digital[s, others].any()
    totals = counts.totals()
    assert totals["digital_adds"] == 2 * n * used.sum()
    assert totals["digital_iands"] == n * used.sum()


def test_new_digital_counters_are_costed_like_the_other_digital_ops(rng):
    net, n = counter_net(rng)
    x = spikes_in(rng, (2, 3, 4), n=2)
    prog = program_chip(map_network(net, IDEAL), np.random.default_rng(0))
    res = simulate(prog, make_encoder("spikes", x, net.input_shape), STEPS,
                   rng=np.random.default_rng(1))
    chip = load_chip("prime-rram-40nm")  # the card's digital-unit costs of an add, a gate
    e_add, e_logic = chip.digital.add.value, chip.digital.logic.value
    assert e_add > 0 and e_logic > 0
    with_d = estimate(res.counts, chip, tiles=4, cores=1)
    without = estimate(dataclasses.replace(res.counts, digital=None, digital_names=()), chip,
                       tiles=4, cores=1)
    per_sample = (2 * n * e_add + n * e_logic) * STEPS
    assert with_d.by_component["digital"] == pytest.approx(per_sample, rel=1e-12)
    assert with_d.by_layer["add3"] == pytest.approx(2 * n * STEPS * e_add, rel=1e-12)
    assert with_d.by_layer["iand"] == pytest.approx(n * STEPS * e_logic, rel=1e-12)
    for name in ("merge", "tok", "tok_b", "cat"):  # moves cost nothing
        assert with_d.by_layer.get(name, 0.0) == 0.0
    np.testing.assert_allclose(with_d.per_sample_J - without.per_sample_J, per_sample,
                               rtol=1e-12)


# -- mapping: traffic from every source ------------------------------------------------------------
def test_every_source_of_a_multi_source_node_is_routed_and_counted(rng):
    net, n = counter_net(rng)
    mapped = map_network(net, IDEAL)
    rates = {"in": np.zeros(24), "lif0": np.full(n, 1.0), "lif1": np.full(n, 10.0),
             "lif2": np.full(n, 100.0), "lif_o": np.zeros(4)}
    fc_in = op_input_rates(net, mapped.ops, rates)["fc"]
    # fc reads cat = [tok; tok_b] (both the tokens of iand = (1 − lif0)·(lif0+lif1+lif2)):
    # every fc input depends on lif0 (twice: through the add and as operand a), lif1, lif2
    np.testing.assert_array_equal(fc_in, np.full(2 * n, 1.0 + 1.0 + 10.0 + 100.0))
    reach = neuron_reach(net, mapped.ops, list(mapped.colgroups))
    fc_groups = {cg.id for cg in mapped.colgroups if cg.op == "fc"}
    for src in ("lif0", "lif1", "lif2"):  # each source's spikes travel to fc's groups
        got = reach[src].tocsr()
        for i in range(n):
            assert set(got.indices[got.indptr[i]:got.indptr[i + 1]]) == fc_groups, (src, i)
    res = simulate(program_chip(mapped, np.random.default_rng(0)),
                   make_encoder("spikes", spikes_in(rng, (2, 3, 4), n=2), net.input_shape),
                   STEPS, rng=np.random.default_rng(1))
    by_layer = res.counts.by_layer()
    assert all(by_layer[f"lif{i}"]["spikes"] > 0 for i in range(3))
