"""Routing facts (mesh positions, packets and hops per neuron, op inputs) and the
gather markers, by hand."""

from dataclasses import replace

import numpy as np
import pytest

from neurocosim import network_from_weights, program_chip
from neurocosim.mapping import map_network
from neurocosim.mapping.lowering import GATHER_ONE, GATHER_PAD, dependency, gather_inputs
from neurocosim.mapping.routing import mesh_position, neuron_routing, op_input_rates
from tests.conftest import all_types_network, chip_variant


def test_mesh_position():
    assert [mesh_position(c, 9) for c in (0, 2, 4, 8)] == [(0, 0), (2, 0), (1, 1), (2, 2)]
    assert [mesh_position(c, 5) for c in (2, 3, 4)] == [(2, 0), (0, 1), (1, 1)]
    assert mesh_position(0, 1) == (0, 0)


def small_mapped():
    """3 inputs -> if0 (4) -> if1 (2); column groups: fc0 outputs 0-1, fc0 2-3, fc1 0-1."""
    net = network_from_weights([np.ones((4, 3)), np.ones((2, 4))], dt=1e-3, neuron="IF")
    mapped = map_network(net, chip_variant("ideal", macro__cols=4, neurons_per_core=2, cores=9),
                         placement="sequential")
    assert [(c.op, c.out_lo) for c in mapped.colgroups] == [("fc0", 0), ("fc0", 2), ("fc1", 0)]
    return mapped


@pytest.mark.parametrize("core,expect", [
    # groups on cores 0, 4, 8 of a 3x3 mesh: (0,0), (1,1), (2,2)
    ([0, 4, 8], {"input": ([2] * 3, [2] * 3, [2] * 3),  # host at core 0: to cores 0 and 4
                 "if0": ([1] * 4, [4, 4, 2, 2], [4, 4, 2, 2]),  # homes: cores 0, 0, 4, 4
                 "if1": ([0] * 2, [0] * 2, [0] * 2)}),
    # fc1 on core 0 with the first if0 neurons: their spikes stay on the core
    ([0, 4, 0], {"input": ([2] * 3, [2] * 3, [2] * 3),
                 "if0": ([0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]),
                 "if1": ([0] * 2, [0] * 2, [0] * 2)}),
])
def test_neuron_routing_by_hand(core, expect):
    mapped = replace(small_mapped(), core=np.array(core, np.int64))
    routes = neuron_routing(mapped)
    assert list(routes) == ["input", "if0", "if1"]
    for src, (pk, hops, mx) in expect.items():
        np.testing.assert_array_equal(routes[src].packets, pk)
        np.testing.assert_array_equal(routes[src].hops, hops)
        np.testing.assert_array_equal(routes[src].max_hop, mx)


def test_engine_program_uses_the_routing(rng):
    from neurocosim.hwsim.tables import build_tables

    net = all_types_network(rng)
    mapped = map_network(net, chip_variant("ideal", macro__rows=12, macro__cols=16,
                                           tiles_per_core=4, neurons_per_core=128),
                         conv_regions=2)
    routes = neuron_routing(mapped)
    a = build_tables(program_chip(mapped, np.random.default_rng(0))).arrays
    layers = net.layers()
    for key, attr in (("r_packets", "packets"), ("r_hops", "hops"), ("r_maxhop", "max_hop")):
        np.testing.assert_array_equal(a[key], np.concatenate([getattr(routes[n], attr)
                                                              for n in layers]))
    np.testing.assert_array_equal(a["in_packets"], routes["input"].packets)
    np.testing.assert_array_equal(a["in_hops"], routes["input"].hops)
    assert mapped.report.cores > 4 and routes["lif_c"].hops.sum() > routes["lif_c"].packets.sum() > 0


def test_op_input_rates_follow_digital_nodes(rng):
    net = all_types_network(rng)
    mapped = map_network(net, chip_variant("ideal"))
    r_in = rng.random(int(np.prod(net.input_shape)))
    r_lif = rng.random(int(np.prod(net.out_shapes["lif_c"])))
    got = op_input_rates(net, mapped.ops, {"input": r_in, "lif_c": r_lif})
    assert set(got) == set(mapped.ops)
    np.testing.assert_array_equal(got["conv"], r_in)
    np.testing.assert_allclose(got["gconv"], dependency(net, "sum") @ r_lif)
    np.testing.assert_array_equal(got["fc1"], np.zeros(mapped.ops["fc1"].in_size))


def test_gather_markers():
    assert (GATHER_PAD, GATHER_ONE) == (-1, -2)
    x = np.array([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    g = np.array([[0, GATHER_PAD, 2, GATHER_ONE], [1, 1, GATHER_PAD, 0]])
    np.testing.assert_array_equal(gather_inputs(x, g),
                                  [[[10, 0, 30, 1], [20, 20, 0, 10]],
                                   [[1, 0, 3, 1], [2, 2, 0, 1]]])
    np.testing.assert_array_equal(gather_inputs(x[0], g[0]), [10, 0, 30, 1])
    assert gather_inputs(np.zeros((0, 3)), g).shape == (0, 2, 4)


def test_a_loop_of_digital_nodes_through_a_delay_maps(tmp_path):
    """A synaptic current built as ``syn = α·syn + W·x`` (Scale fed by itself through a
    one-step Delay — how snnTorch's Synaptic imports) is a loop of digital nodes only: the
    routing follows it once (it used to loop forever) and the one synaptic op maps."""
    import time

    from neurocosim import ir
    from neurocosim.devices import load_chip

    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(shape=(16,)), "fc": ir.Linear(weight=rng.normal(0, 0.3, (8, 16))),
             "syn": ir.Scale(scale=np.ones(8)), "d": ir.Delay(steps=1, shape=(8,)),
             "alpha": ir.Scale(scale=np.full(8, 0.5)),
             "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0), "out": ir.Output()}
    edges = (("in", "fc"), ("fc", "syn"), ("syn", "d"), ("d", "alpha"), ("alpha", "syn"),
             ("syn", "lif"), ("lif", "out"))
    net = ir.Network(nodes=nodes, edges=edges, dt=1e-3)
    t0 = time.perf_counter()
    mapped = map_network(net, load_chip("prime-rram-40nm"))
    assert time.perf_counter() - t0 < 30
    assert set(mapped.ops) == {"fc"}
