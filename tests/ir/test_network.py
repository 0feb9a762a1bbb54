"""Network validation: every rejection names the node; shapes are inferred."""

import numpy as np
import pytest

from neurocosim import ir
from neurocosim.errors import ModelError
from tests.conftest import all_types_network, chain


def dense(n_in=4, n_out=3, **lif):
    params = dict(tau=0.01, r=1.0, v_leak=0.0, v_threshold=1.0) | lif
    return {
        "in": ir.Input(shape=(n_in,)),
        "fc": ir.Affine(weight=np.ones((n_out, n_in)), bias=np.zeros(n_out)),
        "lif": ir.LIF(**params),
        "out": ir.Output(),
    }


def test_shapes_inferred_and_scalars_broadcast(rng):
    net = all_types_network(rng)
    assert net.out_shapes["conv"] == (4, 8, 8)
    assert net.out_shapes["sum"] == (4, 4, 4)
    assert net.out_shapes["gconv"] == (4, 4, 4)
    assert net.out_shapes["avg"] == (4, 2, 2)
    assert net.out_shapes["flat"] == (16,)
    assert net.output_shape == (10,)
    small = chain(dense())
    assert small.nodes["lif"].tau.shape == (3,)
    assert small.n_neurons() == 3 and small.n_synapses() == 12


def test_order_follows_edges_not_dict_order():
    nodes = dense()
    shuffled = {k: nodes[k] for k in ("out", "lif", "in", "fc")}
    net = ir.Network(nodes=shuffled, edges=(("in", "fc"), ("fc", "lif"), ("lif", "out")), dt=1e-3)
    assert net.order == ("in", "fc", "lif", "out")


def test_wrong_shape_names_node():
    nodes = dense()
    nodes["fc"] = ir.Affine(weight=np.ones((3, 5)), bias=np.zeros(3))
    with pytest.raises(ModelError, match="node 'fc'.*expects a flat input of 5"):
        chain(nodes)


def test_nan_weight_names_node_and_parameter():
    nodes = dense()
    w = np.ones((3, 4))
    w[1, 2] = np.nan
    nodes["fc"] = ir.Affine(weight=w, bias=np.zeros(3))
    with pytest.raises(ModelError, match="node 'fc'.*'weight' contains NaN"):
        chain(nodes)


def test_inf_threshold_rejected():
    with pytest.raises(ModelError, match="node 'lif'.*'v_threshold'"):
        chain(dense(v_threshold=np.inf))


def test_dangling_node_named():
    nodes = dense() | {"stray": ir.Scale(scale=np.ones(3))}
    with pytest.raises(ModelError, match="'stray' is dangling"):
        ir.Network(nodes=nodes, edges=(("in", "fc"), ("fc", "lif"), ("lif", "out")), dt=1e-3)
    # a node fed by the network but never reaching the output
    with pytest.raises(ModelError, match="'stray' is dangling: its output never reaches"):
        ir.Network(nodes=nodes, edges=(("in", "fc"), ("fc", "lif"), ("lif", "out"),
                                       ("lif", "stray")), dt=1e-3)


def test_unknown_edge_end():
    with pytest.raises(ModelError, match="unknown node 'ghost'"):
        ir.Network(nodes=dense(), edges=(("in", "fc"), ("fc", "ghost")), dt=1e-3)


def test_algebraic_loop_refused_recurrence_through_neuron_accepted():
    nodes = dense() | {"rec": ir.Linear(weight=np.eye(3))}
    # fc -> rec -> ... no: a loop of stateless nodes
    loop = dict(nodes)
    loop["rec2"] = ir.Linear(weight=np.eye(3))
    with pytest.raises(ModelError, match="algebraic loop"):
        ir.Network(nodes={**loop, "fcx": ir.Linear(weight=np.eye(3))},
                   edges=(("in", "fc"), ("fc", "rec"), ("rec", "rec2"), ("rec2", "fcx"),
                          ("fcx", "rec"), ("rec", "lif"), ("lif", "out")), dt=1e-3)
    net = ir.Network(nodes=nodes, edges=(("in", "fc"), ("fc", "lif"), ("lif", "rec"),
                                         ("rec", "lif"), ("lif", "out")), dt=1e-3)
    assert ("rec", "lif") in net.back_edges


def test_unstable_discretisation_names_node_tau_and_dt():
    # Norse writes tau multiplied by dt: tau = 1e-5 s with dt = 1e-3 s gives dt/tau = 100
    with pytest.raises(ModelError, match=r"node 'lif': tau = 1e-05 s is shorter than dt = 0.001 s"):
        chain(dense(tau=1e-5))
    chain(dense(tau=1e-5), dt=1e-5)  # alpha = 1 is allowed


def test_cuba_tau_syn_checked():
    nodes = dense()
    nodes["lif"] = ir.CubaLIF(tau_syn=1e-4, tau_mem=1e-2, r=1.0, v_leak=0.0, v_threshold=1.0)
    with pytest.raises(ModelError, match="tau_syn"):
        chain(nodes)


def test_bad_modes_rejected():
    with pytest.raises(ModelError, match="reset must be one of"):
        ir.LIF(tau=0.01, r=1.0, v_leak=0.0, v_threshold=1.0, reset="hard")
    with pytest.raises(ModelError, match="compare must be one of"):
        ir.IF(r=1.0, v_threshold=1.0, compare="<")


def test_network_dict_round_trip(rng):
    net = all_types_network(rng)
    assert ir.Network.from_dict(net.to_dict()) == net


def test_nodes_are_immutable(rng):
    net = all_types_network(rng)
    with pytest.raises(ValueError):
        net.nodes["fc1"].weight[0, 0] = 1.0
    with pytest.raises(TypeError):
        net.nodes["fc1"] = None
