"""Residual blocks and token layouts in the IR (issue 16): Add, IAnd, Concat, Reshape and
Transpose — validation naming the node and the field, shapes, ordered operands, the
reference's semantics against loops written here from the definitions, the membrane
shortcut (a neuron with two inputs), round trips and the NIR / weight-bundle refusals."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, simulate_reference
from neurocosim.errors import ModelError
from neurocosim.frontends import read_nir, write_nir, write_npz
from neurocosim.hwsim import reference as R
from neurocosim.hwsim.encoders import SpikeEncoder
from neurocosim.ir.describe import describe_network
from tests.conftest import chain


def net_of(nodes, edges, **kw):
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3, **kw)


def two_branches(shape_a=(2, 3, 4), shape_b=(2, 3, 4), join=None, reshape=True):
    """Input → two Affine projections ``pa``, ``pb`` (reshaped into ``a``, ``b`` of the
    given shapes; without ``reshape`` the projections themselves are ``a`` and ``b``,
    flat) → ``join`` (an Add by default) → Output."""
    n = int(np.prod(shape_a))
    m = int(np.prod(shape_b))
    proj = {"a": np.eye(n + m)[:n], "b": np.eye(n + m)[n:]}
    nodes = {"in": ir.Input(shape=(n + m,))}
    edges = []
    for k, shape in (("a", shape_a), ("b", shape_b)):
        p = f"p{k}" if reshape else k
        nodes[p] = ir.Affine(weight=proj[k], bias=np.zeros(len(proj[k])))
        edges.append(("in", p))
        if reshape:
            nodes[k] = ir.Reshape(shape=shape)
            edges.append((p, k))
        edges.append((k, "j"))
    nodes |= {"j": join if join is not None else ir.Add(), "out": ir.Output()}
    return nodes, [*edges, ("j", "out")]


# -- node fields ------------------------------------------------------------------------
@pytest.mark.parametrize("make, field", [
    (lambda: ir.IAnd(operands=("a",)), "operands"),
    (lambda: ir.IAnd(operands=("a", "b", "c")), "operands"),
    (lambda: ir.IAnd(operands=("a", "a")), "operands"),
    (lambda: ir.IAnd(operands="ab"), "operands"),
    (lambda: ir.IAnd(operands=("a", 3)), "operands"),
    (lambda: ir.IAnd(operands=("a", "")), "operands"),
    (lambda: ir.IAnd(operands=None), "operands"),
    (lambda: ir.Concat(operands=("a",)), "operands"),
    (lambda: ir.Concat(operands=("a", "b"), axis=1.5), "axis"),
    (lambda: ir.Concat(operands=("a", "b"), axis="0"), "axis"),
    (lambda: ir.Reshape(shape=(2, 0)), "shape"),
    (lambda: ir.Reshape(shape=(2, -1)), "shape"),
    (lambda: ir.Reshape(shape=()), "shape"),
    (lambda: ir.Reshape(shape="2,3"), "shape"),
    (lambda: ir.Transpose(axes=(0, 0)), "axes"),
    (lambda: ir.Transpose(axes=(1, 2)), "axes"),
    (lambda: ir.Transpose(axes=(-1, 0)), "axes"),
    (lambda: ir.Transpose(axes=(0.5, 1)), "axes"),
    (lambda: ir.Transpose(axes=()), "axes"),
    (lambda: ir.Transpose(axes="10"), "axes"),
])
def test_fields_are_refused_naming_node_and_field(make, field):
    with pytest.raises(ModelError, match=rf"^(IAnd|Concat|Reshape|Transpose): (parameter )?"
                                         rf"'{field}'"):
        make()


def test_fields_are_normalised():
    assert ir.IAnd(operands=["x", "y"]).operands == ("x", "y")
    assert ir.IAnd(operands=np.array(["x", "y"])).operands == ("x", "y")
    assert ir.Concat(operands=("x", "y", "z"), axis=np.int64(-1)).axis == -1
    assert ir.Reshape(shape=[3, 4.0]).shape == (3, 4)
    assert ir.Transpose(axes=np.array([2, 0, 1])).axes == (2, 0, 1)


# -- network validation ------------------------------------------------------------------
def test_shape_mismatch_is_refused_naming_the_node():
    nodes, edges = two_branches((2, 3, 4), (2, 4, 3))
    with pytest.raises(ModelError, match=r"node 'j': its inputs have different shapes"):
        net_of(nodes, edges)
    nodes["j"] = ir.IAnd(operands=("a", "b"))
    with pytest.raises(ModelError, match=r"node 'j' \(IAnd\): 'operands' must have one shape"):
        net_of(nodes, edges)
    nodes, edges = two_branches((2, 3, 4), (2, 4, 3), ir.Concat(operands=("a", "b"), axis=0))
    with pytest.raises(ModelError, match=r"node 'j' \(Concat\): 'operands' must agree in every "
                                         r"dimension but axis 0"):
        net_of(nodes, edges)
    nodes, edges = two_branches((2, 3, 4), (6, 4), ir.Concat(operands=("a", "b"), axis=1))
    with pytest.raises(ModelError, match=r"node 'j' \(Concat\): 'operands' must agree"):
        net_of(nodes, edges)
    nodes, edges = two_branches((2, 3, 4), (2, 3, 4), ir.Concat(operands=("a", "b"), axis=3))
    with pytest.raises(ModelError, match=r"node 'j' \(Concat\): 'axis' 3 does not fit"):
        net_of(nodes, edges)


@pytest.mark.parametrize("operands", [("a", "c"), ("b", "a", "in"), ("a", "pa")])
def test_wrong_operand_names_are_refused(operands):
    join = (ir.IAnd(operands=operands) if len(operands) == 2
            else ir.Concat(operands=operands))
    nodes, edges = two_branches(join=join)
    kind = type(join).__name__
    with pytest.raises(ModelError, match=rf"node 'j' \({kind}\): 'operands' .* must name "
                                         r"exactly its sources \['a', 'b'\]"):
        net_of(nodes, edges)


def test_an_operand_twice_along_two_edges_and_a_recurrent_operand_are_refused():
    nodes, edges = two_branches(join=ir.Concat(operands=("a", "b")))
    with pytest.raises(ModelError, match=r"'operands' \['a', 'b'\] must name exactly its "
                                         r"sources \['a', 'b', 'a'\]"):
        net_of(nodes, [*edges, ("a", "j")])
    nodes = {"in": ir.Input(shape=(3,)), "fc": ir.Affine(weight=np.eye(3), bias=np.zeros(3)),
             "lif": ir.IF(r=np.ones(3), v_threshold=np.ones(3)),
             "iand": ir.IAnd(operands=("in", "lif")), "out": ir.Output()}
    edges = [("in", "iand"), ("iand", "fc"), ("fc", "lif"), ("lif", "iand"), ("lif", "out")]
    with pytest.raises(ModelError, match=r"node 'iand' \(IAnd\): 'operands' \['lif'\] reach "
                                         "it along a recurrent edge"):
        net_of(nodes, edges)


def test_add_of_one_input_is_refused():
    with pytest.raises(ModelError, match=r"node 'add' \(Add\): an Add sums 2 or more inputs, "
                                         r"it has 1"):
        chain({"in": ir.Input(shape=(3,)), "add": ir.Add(), "out": ir.Output()})


def test_bad_permutation_axes_and_reshape_counts_are_refused():
    with pytest.raises(ModelError, match=r"node 't' \(Transpose\): 'axes' \(1, 0\) must "
                                         r"permute the 3 axes of its input \(2, 3, 4\)"):
        chain({"in": ir.Input(shape=(2, 3, 4)), "t": ir.Transpose(axes=(1, 0)),
               "out": ir.Output()})
    with pytest.raises(ModelError, match=r"node 'r' \(Reshape\): 'shape' \(5, 5\) has 25 "
                                         r"elements but the input \(2, 3, 4\) has 24"):
        chain({"in": ir.Input(shape=(2, 3, 4)), "r": ir.Reshape(shape=(5, 5)),
               "out": ir.Output()})


def test_from_dict_names_the_node_and_round_trips():
    nodes, edges = two_branches(join=ir.Concat(operands=("b", "a"), axis=-1))
    nodes["t"] = ir.Transpose(axes=(2, 0, 1))
    edges = [e for e in edges if e != ("j", "out")] + [("j", "t"), ("t", "out")]
    net = net_of(nodes, edges)
    assert net.out_shapes["j"] == (2, 3, 8) and net.out_shapes["t"] == (8, 2, 3)
    assert net.in_shapes["j"] == (48,)  # the operands stacked flat
    assert net.predecessors("j") == [("b", False), ("a", False)]  # operand order
    back = ir.Network.from_dict(net.to_dict())
    assert back == net and back.nodes["j"].operands == ("b", "a")
    data = net.to_dict()
    data["nodes"]["t"]["axes"] = [0, 0, 1]
    with pytest.raises(ModelError, match=r"node 't': Transpose: 'axes' must be a permutation"):
        ir.Network.from_dict(data)
    text = describe_network(net)
    assert "Concat" in text and "Transpose" in text


# -- the reference's semantics against loops --------------------------------------------
def run_probes(net, x, probes):
    """The reference run on real-valued inputs ``x`` ``(samples, steps, *input_shape)``."""
    return simulate_reference(net, SpikeEncoder(x), x.shape[1], probes=probes).probes


def transpose_loops(x, axes):
    out = np.empty(tuple(x.shape[a] for a in axes))
    for idx in np.ndindex(*out.shape):
        src = [0] * x.ndim
        for i, a in enumerate(axes):
            src[a] = idx[i]
        out[idx] = x[tuple(src)]
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 999),
       data=st.data())
def test_transpose_and_reshape_are_the_definitions(shape, seed, data):
    shape = tuple(shape)
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    divisors = [d for d in range(2, n) if n % d == 0]
    new = (divisors[0], n // divisors[0]) if divisors else (n,)  # another shape, same n
    net = chain({"in": ir.Input(shape=shape), "t": ir.Transpose(axes=axes),
                 "r": ir.Reshape(shape=new), "out": ir.Output()})
    x = rng.normal(size=(2, 3, *shape))
    got = run_probes(net, x, ["t", "r"])
    for s in range(2):
        for t in range(3):
            want_t = transpose_loops(x[s, t], axes)
            np.testing.assert_array_equal(got["t"][s, t], want_t)
            items = [want_t[i] for i in np.ndindex(*want_t.shape)]  # C order, one by one
            want_r = np.array(items).reshape(new)
            np.testing.assert_array_equal(got["r"][s, t], want_r)


def test_add_iand_concat_are_the_definitions(rng):
    shape = (2, 3, 4)
    for join, kind in ((ir.Add(), "add"), (ir.IAnd(operands=("b", "a")), "iand"),
                       (ir.Concat(operands=("b", "a"), axis=1), "cat")):
        nodes, edges = two_branches(shape, shape, join)
        net = net_of(nodes, edges)
        x = rng.normal(size=(2, 3, 48))  # real values: IAnd is (1 − a)·b as written
        got = run_probes(net, x, ["a", "b", "j"])
        for s in range(2):
            for t in range(3):
                a, b = x[s, t, :24].reshape(shape), x[s, t, 24:].reshape(shape)
                want = np.empty(net.out_shapes["j"])
                for idx in np.ndindex(*want.shape):
                    if kind == "add":
                        want[idx] = a[idx] + b[idx]
                    elif kind == "iand":  # first operand b, second a
                        want[idx] = (1.0 - b[idx]) * a[idx]
                    else:  # b's 3 rows, then a's
                        c, i, j = idx
                        want[idx] = b[c, i, j] if i < 3 else a[c, i - 3, j]
                np.testing.assert_array_equal(got["j"][s, t], want, err_msg=kind)


def test_iand_on_spikes_is_and_not():
    a, b = np.array([[0.0, 0.0, 1.0, 1.0]]), np.array([[0.0, 1.0, 0.0, 1.0]])
    node = ir.IAnd(operands=("a", "b"))
    np.testing.assert_array_equal(R.ordered_forward(node, [a, b]), [[0, 1, 0, 0]])


def test_add_of_three_spike_layers_counts_levels():
    nodes = {"in": ir.Input(shape=(3,))}
    edges = []
    for i in range(3):
        nodes[f"fc{i}"] = ir.Affine(weight=np.eye(3) * (i + 1), bias=np.zeros(3))
        nodes[f"if{i}"] = ir.IF(r=np.ones(3), v_threshold=np.full(3, 1.5), reset="subtract")
        edges += [("in", f"fc{i}"), (f"fc{i}", f"if{i}"), (f"if{i}", "add")]
    nodes |= {"add": ir.Add(), "out": ir.Output()}
    net = net_of(nodes, [*edges, ("add", "out")])
    got = run_probes(net, np.ones((1, 4, 3)), ["if0", "if1", "if2", "add"])
    want = got["if0"] + got["if1"] + got["if2"]
    np.testing.assert_array_equal(got["add"], want)
    assert set(np.unique(want)) == {2.0, 3.0}  # if0 fires every other step, the others always


# -- the membrane shortcut: a neuron with two inputs ------------------------------------------
def membrane_shortcut_net(rng):
    nodes = {"in": ir.Input(shape=(4,)),
             "fc0": ir.Affine(weight=rng.normal(size=(5, 4)), bias=np.zeros(5)),
             "lif0": ir.LIF(tau=np.full(5, 4e-3), r=np.ones(5), v_leak=np.zeros(5),
                            v_threshold=np.full(5, 0.3)),
             "fc1": ir.Affine(weight=rng.normal(size=(5, 5)), bias=np.zeros(5)),
             "lif1": ir.LIF(tau=np.full(5, 4e-3), r=np.ones(5), v_leak=np.zeros(5),
                            v_threshold=np.full(5, 0.3)), "out": ir.Output()}
    edges = [("in", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "lif1"),
             ("fc0", "lif1"), ("lif1", "out")]
    return net_of(nodes, edges)


def test_membrane_shortcut_sums_both_pre_activations(rng):
    net = membrane_shortcut_net(rng)
    assert net.predecessors("lif1") == [("fc1", False), ("fc0", False)]
    x = rng.normal(size=(2, 5, 4))
    got = run_probes(net, x, ["fc0", "fc1", "lif1", "lif1.v"])
    v = np.zeros((2, 5))
    a = 1e-3 / 4e-3
    for t in range(5):  # v ← v + α(0 − v) + α·r·(fc1 + fc0); spike above 0.3, reset to 0
        v = v + a * (0.0 - v) + a * (got["fc0"][:, t] + got["fc1"][:, t])
        s = v > 0.3
        v = np.where(s, 0.0, v)
        np.testing.assert_array_equal(got["lif1"][:, t], s)
        np.testing.assert_allclose(got["lif1.v"][:, t], v, rtol=1e-12, atol=1e-12)
    assert got["lif1"].any()


def test_nir_carries_the_membrane_shortcut_but_refuses_the_new_nodes(tmp_path, rng):
    net = membrane_shortcut_net(rng)
    back = read_nir(write_nir(net, tmp_path / "ms.nir"), dt=1e-3)
    assert set(back.edges) == set(net.edges)
    assert sorted(s for s, _ in back.predecessors("lif1")) == ["fc0", "fc1"]
    with pytest.raises(ModelError, match=r"write_npz: node 'lif1' is a neuron layer with 2 "
                                         "inputs"):
        write_npz(net, tmp_path / "ms.npz")
    cases = {"Add": ir.Add(), "IAnd": ir.IAnd(operands=("a", "b")),
             "Concat": ir.Concat(operands=("a", "b"))}
    for kind, join in cases.items():
        nodes, edges = two_branches((6,), (6,), join=join, reshape=False)
        net = net_of(nodes, edges)
        with pytest.raises(ModelError, match=rf"write_nir: node 'j' is an? {kind}, which NIR "
                                             "1.0 has no node for"):
            write_nir(net, tmp_path / f"{kind}.nir")
        with pytest.raises(ModelError, match=rf"write_npz: node 'j' is an? {kind}"):
            write_npz(net, tmp_path / f"{kind}.npz")
    net = chain({"in": ir.Input(shape=(2, 3)), "t": ir.Transpose(axes=(1, 0)),
                 "r": ir.Reshape(shape=(6,)), "out": ir.Output()})
    with pytest.raises(ModelError, match=r"write_nir: node '(t|r)' is a (Transpose|Reshape)"):
        write_nir(net, tmp_path / "t.nir")
    assert not list(tmp_path.glob("*.npz")) and not (tmp_path / "t.nir").exists()
