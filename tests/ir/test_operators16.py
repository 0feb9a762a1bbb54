"""IR of issue 16's last operators: the Delay node (ordering: a Delay may close a cycle,
its incoming edges are recurrent; shapes; serialisation), the Gate's enable check, Conv1d
fields and shapes, and the load-time rewrites (expand_delays, conv1d_as_conv2d)."""

import numpy as np
import pytest

from neurocosim import ir
from neurocosim.errors import ModelError


def lif():
    return ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="zero", compare=">=")


def test_a_delay_closes_a_cycle_without_a_neuron():
    nodes = {"in": ir.Input(shape=(3,)), "add": ir.Add(), "d": ir.Delay(steps=2, shape=(3,)),
             "out": ir.Output()}
    edges = (("in", "add"), ("d", "add"), ("add", "d"), ("add", "out"))
    net = ir.Network(nodes=nodes, edges=edges, dt=1e-3)
    assert net.order[0] == "in" and net.order.index("d") < net.order.index("add")
    assert net.back_edges == {("add", "d")}
    assert net.predecessors("d") == [("add", True)]
    # y_t = x_t + y_{t−2}: an accumulator of every other step, checked in NumPy
    from neurocosim import make_encoder, simulate_reference

    x = (np.random.default_rng(0).random((2, 7, 3)) < 0.5).astype(float)
    ref = simulate_reference(net, make_encoder("spikes", x, (3,)), 7, probes=["add"])
    want = x.copy()
    for t in range(2, 7):
        want[:, t] += want[:, t - 2]
    np.testing.assert_array_equal(ref.probes["add"], want)
    assert want[:, 2:].max() > 1  # it accumulates
    nodes["d"] = ir.Reshape(shape=(3,))  # the same cycle without the Delay: refused
    with pytest.raises(ModelError, match="algebraic loop"):
        ir.Network(nodes=nodes, edges=edges, dt=1e-3)


def test_expand_delays_and_rewrite_names():
    nodes = {"in": ir.Input(shape=(2,)), "fc": ir.Linear(weight=np.eye(2)), "s": lif(),
             "d": ir.Delay(steps=3, shape=(2,)), "out": ir.Output()}
    edges = (("in", "fc"), ("fc", "s"), ("s", "d"), ("d", "out"))
    net = ir.Network(nodes=nodes, edges=edges, dt=1e-3)
    ex = ir.expand_delays(net)
    assert [ex.nodes[n].steps for n in ("d_1", "d_2", "d")] == [1, 1, 1]
    assert {("s", "d_1"), ("d_1", "d_2"), ("d_2", "d")} <= set(ex.edges)
    assert ex.back_edges == {("s", "d_1"), ("d_1", "d_2"), ("d_2", "d")}
    assert ir.expand_delays(ex) is ex and ir.engine_ready(ex) is ex
    taken = net.replace(nodes={**nodes, "d_1": ir.Scale(scale=1.0)},
                        edges=edges + (("s", "d_1"), ("d_1", "d")))
    with pytest.raises(ModelError, match="node 'd_1' exists: cannot expand Delay 'd'"):
        ir.expand_delays(taken)


def test_conv1d_rewrite_keeps_the_name_and_values():
    w = np.arange(12.0).reshape(2, 3, 2) / 4
    nodes = {"in": ir.Input(shape=(3, 5)),
             "c": ir.Conv1d(weight=w, bias=np.array([0.5, -0.5]), stride=2, padding=1),
             "out": ir.Output()}
    net = ir.Network(nodes=nodes, edges=(("in", "c"), ("c", "out")), dt=1e-3)
    assert net.out_shapes["c"] == (2, 3)  # (5 + 2 − 2) // 2 + 1
    rw = ir.conv1d_as_conv2d(net)
    assert rw.out_shapes["c"] == (2, 3) and rw.in_shapes["c_conv2d"] == (3, 1, 5)
    conv = rw.nodes["c_conv2d"]
    assert conv.stride == (1, 2) and conv.padding == (0, 1) and conv.weight.shape == (2, 3, 1, 2)
    assert set(rw.predecessors("c")) == {("c_conv2d", False)}
    back = ir.Network.from_dict(net.to_dict())
    assert back == net and back.nodes["c"].stride == 2


@pytest.mark.parametrize("bad, msg", [
    (dict(steps=1.5, shape=(2,)), "Delay: 'steps' must hold integers"),
    (dict(steps=2, shape=()), "Delay: 'shape' must have 1 to"),
    (dict(steps=10**7, shape=(2,)), "Delay: 'steps' must be at most 1000000"),
])
def test_bad_delays(bad, msg):
    with pytest.raises(ModelError, match=msg):
        ir.Delay(**bad)


def test_semm_and_tim_builders_refuse_bad_fields():
    with pytest.raises(ModelError, match="'experts' must be a list of node names"):
        ir.blocks.semm("r", "x", shape=(4, 2, 2))
    w = np.ones((4, 4, 3))
    with pytest.raises(ModelError, match=r"'weight' must be \(N, N, k\) with k odd"):
        ir.blocks.tim("q", shape=(4, 2, 2), heads=2, weight=np.ones((4, 4, 2)), bias=np.ones(4))
    with pytest.raises(ModelError, match="needs 0 < v_out <= 0.5"):
        ir.blocks.tim("q", shape=(4, 2, 2), heads=2, weight=w, bias=np.ones(4), v_out=0.7)


def test_fold_batchnorm_renames_an_ordered_successors_operand():
    """A BatchNorm folded into its conv that feeds a Concat: the Concat's operands name
    the conv afterwards (SpikeYOLO's SPPF concatenates a BatchNorm's output)."""
    z = np.zeros(2)
    nodes = {"in": ir.Input(shape=(1, 3, 3)),
             "conv": ir.Conv2d(weight=np.ones((2, 1, 1, 1)), bias=z),
             "bn": ir.BatchNorm(gamma=np.full(2, 2.0), beta=z + 1, running_mean=z,
                                running_var=np.ones(2)),
             "pool": ir.MaxPool2d(kernel_size=3, stride=1, padding=1),
             "cat": ir.Concat(operands=("bn", "pool"), axis=0), "out": ir.Output()}
    edges = (("in", "conv"), ("conv", "bn"), ("bn", "pool"), ("bn", "cat"), ("pool", "cat"),
             ("cat", "out"))
    net = ir.Network(nodes=nodes, edges=edges, dt=1e-3)
    folded = ir.fold_batchnorm(net)
    assert folded.nodes["cat"].operands == ("conv", "pool") and "bn" not in folded.nodes
    from neurocosim import make_encoder, simulate_reference

    x = np.random.default_rng(0).uniform(size=(2, 1, 3, 3))
    a, b = (simulate_reference(n, make_encoder("current", x, (1, 3, 3)), 2)
            for n in (net, folded))
    np.testing.assert_allclose(a.output, b.output, rtol=1e-12)
