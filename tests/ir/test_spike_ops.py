"""The spike-spike primitives in the IR (issue 16, slice 3): Mul (broadcasting either
way), ReduceSum, MatMul; their validation (ModelError naming the node and the field),
their reference semantics against loops, the static binary rule, the blocks' structure
and their LIF (SpikingJelly's MultiStepLIFNode, bit for bit); the files that cannot carry
them refuse them; the mapping keeps them off the crossbar tiles."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, map_network, simulate_reference
from neurocosim.errors import MappingError, ModelError
from neurocosim.frontends import write_nir, write_npz
from neurocosim.hwsim import reference as R
from neurocosim.hwsim.encoders import SpikeEncoder
from neurocosim.ir.tensors import binary_output
from neurocosim.mapping import lowering
from tests.conftest import chip_variant


def net_of(nodes, edges):
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def product_net(a_shape, b_shape, op):
    """Input → two Reshapes ``a``, ``b`` of it → ``op`` (Mul/MatMul of a, b) → Output."""
    n = int(np.prod(a_shape))
    m = int(np.prod(b_shape))
    nodes = {"in": ir.Input(shape=(n + m,)), "fa": ir.Linear(weight=np.eye(n + m)[:n]),
             "fb": ir.Linear(weight=np.eye(n + m)[n:]), "a": ir.Reshape(shape=a_shape),
             "b": ir.Reshape(shape=b_shape), "p": op, "out": ir.Output()}
    edges = [("in", "fa"), ("in", "fb"), ("fa", "a"), ("fb", "b"), ("a", "p"), ("b", "p"),
             ("p", "out")]
    return net_of(nodes, edges)


def run(net, x, probes):
    return simulate_reference(net, SpikeEncoder(x), x.shape[1], probes=probes).probes


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("make,field", [
    (lambda: ir.Mul(operands=("a",)), "operands"),
    (lambda: ir.Mul(operands=("a", "a")), "operands"),
    (lambda: ir.MatMul(operands="ab"), "operands"),
    (lambda: ir.MatMul(operands=("a", "b"), scale=float("inf")), "scale"),
    (lambda: ir.MatMul(operands=("a", "b"), scale=[1.0, 2.0]), "scale"),
    (lambda: ir.MatMul(operands=("a", "b"), scale="x"), "scale"),
    (lambda: ir.ReduceSum(axis=1.5), "axis"),
    (lambda: ir.ReduceSum(axis=0, keepdim="yes"), "keepdim"),
])
def test_fields_are_refused_naming_the_field(make, field):
    with pytest.raises(ModelError, match=rf"(Mul|MatMul|ReduceSum): (parameter )?'?{field}'?"):
        make()


def test_non_broadcastable_mul_is_refused_naming_node_and_field():
    with pytest.raises(ModelError, match=r"node 'p' \(Mul\): 'operands' must have shapes that "
                                         r"broadcast.*a: \(2, 3\), b: \(4,\)"):
        product_net((2, 3), (4,), ir.Mul(operands=("a", "b")))


@pytest.mark.parametrize("a,b", [((2, 3, 4), (2, 3, 4)), ((3, 4), (2, 4, 5)),
                                 ((2, 3, 4), (3, 4, 5)), ((4,), (4, 2))])
def test_incompatible_matmul_shapes_are_refused_naming_node_and_field(a, b):
    with pytest.raises(ModelError, match=r"node 'p' \(MatMul\): 'operands' must be "
                                         r"\(\.\.\., M, K\) and \(\.\.\., K, N\)"):
        product_net(a, b, ir.MatMul(operands=("a", "b")))


def test_bad_reducesum_axis_and_keepdim_are_refused_naming_the_node():
    def net(node, shape=(2, 3)):
        n = int(np.prod(shape))
        return net_of({"in": ir.Input(shape=(n,)), "r": ir.Reshape(shape=shape), "s": node,
                       "out": ir.Output()}, [("in", "r"), ("r", "s"), ("s", "out")])

    with pytest.raises(ModelError, match=r"node 's' \(ReduceSum\): 'axis' 2 does not fit its "
                                         r"2-D input"):
        net(ir.ReduceSum(axis=2))
    with pytest.raises(ModelError, match=r"node 's' \(ReduceSum\): 'axis' -3"):
        net(ir.ReduceSum(axis=-3))
    with pytest.raises(ModelError, match=r"node 's' \(ReduceSum\): 'keepdim' false would leave "
                                         r"no axis"):
        net(ir.ReduceSum(axis=0, keepdim=False), shape=(6,))
    assert net(ir.ReduceSum(axis=-1, keepdim=False)).out_shapes["s"] == (2,)
    assert net(ir.ReduceSum(axis=0)).out_shapes["s"] == (1, 3)


def test_operands_must_be_the_edges_and_not_recurrent():
    net = product_net((2, 3), (2, 3), ir.Mul(operands=("a", "b")))
    data = net.to_dict()
    data["nodes"]["p"]["operands"] = ["a", "fb"]
    with pytest.raises(ModelError, match=r"node 'p' \(Mul\): 'operands' \['a', 'fb'\] must "
                                         r"name exactly its sources"):
        ir.Network.from_dict(data)


def test_round_trip_and_predecessors_in_operand_order():
    net = product_net((2, 1, 4), (2, 3, 4), ir.Mul(operands=("b", "a")))
    assert net.out_shapes["p"] == (2, 3, 4) and net.in_shapes["p"] == (8 + 24,)
    assert net.predecessors("p") == [("b", False), ("a", False)]
    back = ir.Network.from_dict(net.to_dict())
    assert back == net
    mm = product_net((3, 2, 4), (3, 4, 5), ir.MatMul(operands=("a", "b"), scale=0.125))
    assert mm.out_shapes["p"] == (3, 2, 5)
    back = ir.Network.from_dict(mm.to_dict())
    assert back == mm and back.nodes["p"].scale == 0.125


# -- reference semantics against loops ----------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(full=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=st.integers(0, 999),
       data=st.data())
def test_mul_broadcasts_either_way_as_numpy(full, seed, data):
    def operand():  # a suffix of ``full``, some sizes 1
        n = data.draw(st.integers(1, len(full)))
        return tuple(data.draw(st.sampled_from([1, s])) for s in full[len(full) - n:])

    a, b = operand(), operand()
    out = np.broadcast_shapes(a, b)
    rng = np.random.default_rng(seed)
    net = product_net(a, b, ir.Mul(operands=("a", "b")))
    x = rng.normal(size=(2, 2, int(np.prod(a)) + int(np.prod(b))))
    got = run(net, x, ["p"])["p"]
    for s in range(2):
        for t in range(2):
            xa = x[s, t, :int(np.prod(a))].reshape(a)
            xb = x[s, t, int(np.prod(a)):].reshape(b)
            want = np.empty(out)
            for idx in np.ndindex(*out):  # the broadcast read of each factor
                ia = tuple(0 if a[i] == 1 else idx[len(out) - len(a) + i] for i in range(len(a)))
                ib = tuple(0 if b[i] == 1 else idx[len(out) - len(b) + i] for i in range(len(b)))
                want[idx] = xa[ia] * xb[ib]
            np.testing.assert_array_equal(got[s, t], want)


def test_matmul_and_reducesum_are_the_definitions(rng):
    net = product_net((2, 3, 4), (2, 4, 5), ir.MatMul(operands=("a", "b"), scale=0.5))
    x = rng.integers(0, 2, (2, 3, 24 + 40)).astype(float)
    got = run(net, x, ["p"])["p"]
    for s, t in np.ndindex(2, 3):
        a = x[s, t, :24].reshape(2, 3, 4)
        b = x[s, t, 24:].reshape(2, 4, 5)
        want = np.zeros((2, 3, 5))
        for el, i, j, q in np.ndindex(2, 3, 5, 4):
            want[el, i, j] += a[el, i, q] * b[el, q, j]
        np.testing.assert_array_equal(got[s, t], 0.5 * want)
    y = rng.normal(size=(3, 2, 3, 4))
    for axis in (0, 1, 2, -1):
        for keep in (True, False):
            node = ir.ReduceSum(axis=axis, keepdim=keep)
            out = R.node_forward(node, y, (2, 3, 4), node.out_shape((2, 3, 4)))
            np.testing.assert_allclose(out, y.sum(axis=axis % 3 + 1, keepdims=keep), rtol=1e-15)


# -- the static binary rule -----------------------------------------------------------------------
def test_binary_output_rule():
    nodes = {"in": ir.Input(shape=(6,)), "fc": ir.Linear(weight=np.eye(6)),
             "lif": ir.blocks.attention_lif(1e-3),
             "ilif": ir.ILIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=0.5, max_level=3),
             "r": ir.Reshape(shape=(2, 3)), "t": ir.Transpose(axes=(1, 0)),
             "ri": ir.Reshape(shape=(2, 3)), "sum": ir.Add(), "m": ir.Mul(operands=("r", "ri")),
             "m2": ir.Mul(operands=("r", "r2")), "r2": ir.Reshape(shape=(2, 3)),
             "rs": ir.ReduceSum(axis=1), "out": ir.Output(),
             "cat": ir.Concat(operands=("f_rs", "f_m", "f_t", "f_sum", "cat2")),
             "cat2": ir.Concat(operands=("f_t", "f_m2"))}
    flat = ("rs", "m", "t", "sum", "m2")
    nodes |= {f"f_{n}": ir.Flatten() for n in flat}
    edges = [("in", "fc"), ("fc", "lif"), ("fc", "ilif"), ("lif", "r"), ("r", "t"),
             ("ilif", "ri"), ("lif", "r2"), ("r", "sum"), ("ri", "sum"), ("r", "m"),
             ("ri", "m"), ("r", "m2"), ("r2", "m2"), ("m2", "rs"), ("f_rs", "cat"),
             ("f_m", "cat"), ("f_t", "cat"), ("f_sum", "cat"), ("f_t", "cat2"),
             ("f_m2", "cat2"), ("cat2", "cat"), ("cat", "out")]
    edges += [(n, f"f_{n}") for n in flat]
    net = net_of(nodes, edges)
    got = {n: binary_output(net, n) for n in net.order}
    assert got == {"in": False, "fc": False, "lif": True, "ilif": False, "r": True, "t": True,
                   "ri": False, "r2": True, "sum": False, "m": False, "m2": True, "rs": False,
                   "f_rs": False, "f_m": False, "f_t": True, "f_sum": False, "f_m2": True,
                   "cat": False, "cat2": True, "out": False}


# -- the blocks ---------------------------------------------------------------------------------
def test_attention_lif_is_spikingjellys_multistep_lif_bit_for_bit(rng):
    node = ir.blocks.attention_lif(1e-3)
    d = ir.discretise("a", node, 1e-3)
    assert float(d.alpha) == 0.5 and float(d.gain) == 0.5
    assert node.compare == ">=" and node.reset == "zero" and float(node.v_threshold) == 0.5
    x = rng.normal(0.6, 1.0, (200, 16))
    x[::7] = 1.0  # H = 0.5 exactly from rest: the >= threshold fires
    state = {"v": np.zeros(16)}
    v = np.zeros(16)
    full = ir.LIF(tau=np.full(16, 2e-3), r=np.ones(16), v_leak=np.zeros(16),
                  v_threshold=np.full(16, 0.5), v_reset=np.zeros(16), reset="zero",
                  compare=">=")
    fired_at_half = 0
    for t in range(len(x)):
        s = R.neuron_step(full, d, state, x[t].copy())
        h = v + (x[t] - v) / 2.0  # SpikingJelly: H = V + (X - V)/tau
        want = (h >= 0.5).astype(float)
        fired_at_half += int(((h == 0.5) & (want == 1)).sum())
        v = h * (1.0 - want)  # hard reset to 0
        np.testing.assert_array_equal(s, want)
        np.testing.assert_array_equal(state["v"], v)
    assert fired_at_half > 0


@pytest.mark.parametrize("heads,shape", [(2, (6, 2, 3)), (3, (6, 4)), (1, (2, 5))])
def test_block_shapes_and_layouts(heads, shape):
    c, n = shape[0], int(np.prod(shape[1:]))
    d = c // heads
    nodes = {"in": ir.Input(shape=shape)}
    edges = []
    for s in "qkv":
        nodes[s] = ir.blocks.attention_lif(1e-3)
        edges.append(("in", s))
    blocks = [ir.blocks.sdsa("q", "k", "v", shape=shape, heads=heads),
              ir.blocks.ssa("q", "k", "v", shape=shape, heads=heads, name="r"),
              ir.blocks.ssa("q", "k", "v", shape=shape, heads=heads, name="l",
                            associate="left"),
              ir.blocks.qkta("q", "k", shape=shape, heads=heads)]
    outs = []
    for b in blocks:
        assert not set(b.nodes) & set(nodes)
        assert all("." not in name for name in b.nodes)  # probes split on '.'
        nodes |= b.nodes
        edges += b.edges
        outs.append(b.output)
    nodes["cat"] = ir.Concat(operands=tuple(outs))
    nodes["out"] = ir.Output()
    net = net_of(nodes, edges + [(o, "cat") for o in outs] + [("cat", "out")])
    sh = net.out_shapes
    assert sh["sdsa_q_tokens"] == (heads, n, d) and sh["sdsa_kv_sum"] == (heads, 1, d)
    assert sh["r_kv"] == (heads, d, d) and sh["l_qk"] == (heads, n, n)
    assert sh["r_qkv"] == sh["l_qkv"] == (heads, n, d)
    assert sh["qkta_q_sum"] == (heads, 1, n) and sh["qkta_qk"] == (heads, d, n)
    assert all(sh[o] == shape for o in outs)
    assert net.nodes["r_qkv"].scale == 0.125 and net.nodes["r_kv"].scale == 1.0
    kinds = {type(net.nodes[n]).__name__ for n in net.order}
    assert {"Mul", "ReduceSum", "MatMul", "Reshape", "Transpose", "LIF"} <= kinds


def test_block_arguments_are_checked():
    with pytest.raises(ModelError, match=r"block 'sdsa': 'heads' 4 must divide the 6 channels"):
        ir.blocks.sdsa("q", "k", "v", shape=(6, 4), heads=4)
    with pytest.raises(ModelError, match=r"block 'ssa': 'associate' must be 'left' or 'right'"):
        ir.blocks.ssa("q", "k", "v", shape=(6, 4), heads=2, associate="middle")
    with pytest.raises(ModelError, match=r"block 'qkta': 'shape' must be the \(C, H, W\)"):
        ir.blocks.qkta("q", "k", shape=(6,), heads=2)
    with pytest.raises(ModelError, match=r"block 'qkta'.*'heads' must be >= 1"):
        ir.blocks.qkta("q", "k", shape=(6, 2), heads=0)


# -- files that cannot carry them, and the mapping ----------------------------------------------
def sdsa_net():
    nodes = {"in": ir.Input(shape=(4, 2, 2))}
    edges = []
    for s in "qkv":
        nodes[f"c{s}"] = ir.Conv2d(weight=np.ones((4, 4, 1, 1)), bias=np.zeros(4))
        nodes[s] = ir.blocks.attention_lif(1e-3)
        edges += [("in", f"c{s}"), (f"c{s}", s)]
    b = ir.blocks.ssa("q", "k", "v", shape=(4, 2, 2), heads=2)
    c = ir.blocks.sdsa("q", "k", "v", shape=(4, 2, 2), heads=2)
    nodes |= b.nodes | c.nodes | {"j": ir.Add(), "out": ir.Output()}
    return net_of(nodes, edges + b.edges + c.edges + [(b.output, "j"), (c.output, "j"),
                                                      ("j", "out")])


def test_nir_and_npz_refuse_the_spike_ops(tmp_path):
    for kind, node in [("Mul", ir.Mul(operands=("a", "b"))),
                       ("MatMul", ir.MatMul(operands=("a", "b")))]:
        conv = ir.Conv2d(weight=np.ones((2, 2, 1, 1)), bias=np.zeros(2))
        net = net_of({"in": ir.Input(shape=(2, 3, 3)), "a": conv, "b": conv, "p": node,
                      "out": ir.Output()},
                     [("in", "a"), ("in", "b"), ("a", "p"), ("b", "p"), ("p", "out")])
        with pytest.raises(ModelError, match=rf"write_nir: node 'p' is a {kind}, which NIR "
                                             r"1\.0 has no node for \(it has no .*MatMul"):
            write_nir(net, tmp_path / "p.nir")
        with pytest.raises(ModelError, match=rf"write_npz: node 'p' is a {kind}"):
            write_npz(net, tmp_path / "p.npz")
    net = chain_reducesum()
    with pytest.raises(ModelError, match=r"write_nir: node 's' is a ReduceSum"):
        write_nir(net, tmp_path / "s.nir")


def chain_reducesum():
    return net_of({"in": ir.Input(shape=(2, 3)), "s": ir.ReduceSum(axis=0),
                   "out": ir.Output()}, [("in", "s"), ("s", "out")])


def test_spike_ops_are_digital_ops_never_crossbar_ops():
    assert set(ir.SPIKE_OPS) <= set(lowering.DIGITAL)
    assert not set(ir.SPIKE_OPS) & set(lowering.SYNAPTIC)
    net = sdsa_net()
    mapped = map_network(net, chip_variant("ideal"))
    spike = [n for n in net.order if isinstance(net.nodes[n], ir.SPIKE_OPS)]
    assert len(spike) == 5 and not set(spike) & set(mapped.ops)
    assert set(mapped.ops) == {"cq", "ck", "cv"}


def test_a_dynamic_product_on_tiles_is_refused_by_the_design_rule():
    net = sdsa_net()
    ops = lowering.lower_network(net)
    lowering.check_dynamic_products(net, ops)  # the weights' ops: fine
    for name in ("ssa_qkv", "sdsa_kv", "sdsa_kv_sum"):
        bad = {**ops, name: ops["cq"]}  # as if a lowering had put the product on tiles
        with pytest.raises(MappingError) as err:
            lowering.check_dynamic_products(net, bad)
        msg = str(err.value)
        assert msg.startswith(f"design rule 'dynamic_product': node '{name}' (")
        assert "written into the cells at every step" in msg and "endurance" in msg
        assert "\n" not in msg
