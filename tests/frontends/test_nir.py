"""NIR import/export: exact round trips, foreign files built with the nir package."""

import nir
import numpy as np
import pytest

from neurocosim import ir, load_network, make_encoder, save_network, simulate_reference
from neurocosim.errors import ModelError
from neurocosim.frontends.nir_io import extension_types
from tests.conftest import all_types_network, cubali_network


@pytest.mark.parametrize("builder", [all_types_network, cubali_network])
def test_round_trip_exact_every_node_type(tmp_path, rng, builder):
    net = builder(rng)
    path = save_network(net, tmp_path / "net.nir")
    back = load_network(path)  # dt comes from the file's neurocosim metadata
    assert back == net
    assert back.dt == net.dt
    for name in net.nodes:
        assert type(back.nodes[name]) is type(net.nodes[name])
    # and it computes the same
    x = rng.uniform(0, 1, (3, *net.input_shape))
    a = simulate_reference(net, make_encoder("current", x, net.input_shape), 12)
    b = simulate_reference(back, make_encoder("current", x, back.input_shape), 12)
    np.testing.assert_array_equal(a.output, b.output)


def delay_conv1d_network(rng, steps=3):
    """Input (3, 10) → Conv1d (stride 2, groups 3) → LIF → Delay(steps) → Conv1d
    ('same') → LIF, and the Delay's output fed back into the first LIF (a cycle)."""
    lif = ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=0.5, reset="zero", compare=">=")
    nodes = {"input": ir.Input(shape=(3, 10)),
             "c1": ir.Conv1d(weight=rng.normal(0, 1, (6, 1, 3)), bias=rng.normal(0, .1, 6),
                             stride=2, padding=1, groups=3),
             "s1": lif, "d": ir.Delay(steps=steps, shape=(6, 5)),
             "fb": ir.Scale(scale=0.5),
             "c2": ir.Conv1d(weight=rng.normal(0, 1, (2, 6, 3)), bias=np.zeros(2),
                             padding="same", dilation=1),
             "s2": lif, "output": ir.Output()}
    edges = [("input", "c1"), ("c1", "s1"), ("s1", "d"), ("d", "fb"), ("fb", "s1"),
             ("d", "c2"), ("c2", "s2"), ("s2", "output")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def test_delay_and_conv1d_round_trip_and_are_nirs_nodes(tmp_path, rng):
    net = delay_conv1d_network(rng)
    path = save_network(net, tmp_path / "dc.nir")
    graph = nir.read(path, type_check=False)  # plain NIR: a Delay of 3 ms, Conv1d layers
    assert isinstance(graph.nodes["d"], nir.Delay)
    np.testing.assert_array_equal(graph.nodes["d"].delay, np.full((6, 5), 3e-3))
    assert isinstance(graph.nodes["c1"], nir.Conv1d) and graph.nodes["c1"].groups == 3
    back = load_network(path)
    assert back == net and back.nodes["d"].steps == 3
    x = rng.uniform(0, 1, (2, *net.input_shape))
    a = simulate_reference(net, make_encoder("current", x, net.input_shape), 8,
                           probes=["s1", "d"])
    b = simulate_reference(back, make_encoder("current", x, net.input_shape), 8,
                           probes=["s1", "d"])
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.probes["d"][:, 3:], a.probes["s1"][:, :-3])
    assert a.probes["d"].sum() > 0


def test_foreign_delay_in_seconds(tmp_path):
    def write(delay):
        nodes = {"input": nir.Input(input_type=np.array([2])), "d": nir.Delay(delay=delay),
                 "output": nir.Output(output_type=np.array([2]))}
        return _write(tmp_path, nodes, [("input", "d"), ("d", "output")])

    net = load_network(write(np.full(2, 2e-3)), dt=5e-4)
    assert net.nodes["d"].steps == 4 and net.nodes["d"].shape == (2,)
    with pytest.raises(ModelError, match=r"node 'd': \(Delay\) 'delay' 0.0015 s is not a "
                                         r"whole number \(>= 1\) of steps of dt = 0.001 s"):
        load_network(write(np.full(2, 1.5e-3)), dt=1e-3)
    with pytest.raises(ModelError, match="only one delay per node is supported"):
        load_network(write(np.array([1e-3, 2e-3])), dt=1e-3)


def test_round_trip_covers_every_supported_type(rng):
    kinds = {type(n).__name__ for n in all_types_network(rng).nodes.values()}
    kinds |= {type(n).__name__ for n in cubali_network(rng).nodes.values()}
    kinds |= {type(n).__name__ for n in delay_conv1d_network(rng).nodes.values()}
    # NIR 1.0 has no MaxPool2d, BatchNorm, Add, IAnd, Concat, Reshape, Transpose, Mul,
    # Gate, ReduceSum, MatMul or TernaryLIF node: plain write_nir refuses them (tests/ir/
    # test_maxpool_batchnorm.py, test_residual_nodes.py, test_spike_ops.py); with
    # extensions=True they are neurocosim.<Kind> nodes (tests/frontends/test_nir_extensions.py)
    assert "MaxPool2d" in extension_types() and "TernaryLIF" in extension_types()
    assert kinds == set(ir.NODE_TYPES) - set(extension_types())


def test_round_trip_keeps_modes_and_delay(tmp_path, rng):
    net = all_types_network(rng).replace(synaptic_delay=1)
    back = load_network(save_network(net, tmp_path / "d.nir"))
    assert back.synaptic_delay == 1
    assert back.nodes["lif_c"].reset == "subtract" and back.nodes["lif_c"].compare == ">="
    assert back.nodes["ilif"].max_level == 4


def test_exported_file_is_plain_nir(tmp_path, rng):
    path = save_network(all_types_network(rng), tmp_path / "n.nir")
    # another NIR tool can read it (nir's own type check mis-infers grouped convolutions'
    # input channels as weight.shape[1], hence type_check=False)
    graph = nir.read(path, type_check=False)
    assert isinstance(graph.nodes["ilif"], nir.LIF)
    assert isinstance(graph.nodes["conv"], nir.Conv2d)


def _write(tmp_path, nodes, edges, name="m.nir"):
    path = tmp_path / name
    # compression=None: h5py cannot gzip the 0-d arrays of scalar-parameter files
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), compression=None)
    return path


@pytest.mark.parametrize("shape", [(), (1,)])
def test_scalar_neuron_parameters_broadcast(tmp_path, shape):
    # Norse writes scalar parameters
    w = np.arange(12, dtype=float).reshape(3, 4) / 10

    def s(v):
        return np.full(shape, v)

    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "lin": nir.Affine(weight=w, bias=np.zeros(3)),
        "lif": nir.LIF(tau=s(0.02), r=s(1.0), v_leak=s(0.0), v_threshold=s(1.0), v_reset=s(0.0)),
        "output": nir.Output(output_type=np.array([3])),
    }
    path = _write(tmp_path, nodes, [("input", "lin"), ("lin", "lif"), ("lif", "output")])
    net = load_network(path, dt=1e-3)
    assert net.nodes["lif"].tau.shape == (3,)
    np.testing.assert_array_equal(net.nodes["lif"].tau, [0.02] * 3)


def test_nodes_ordered_by_edges_not_file_order(tmp_path):
    nodes = {
        "z_out": nir.Output(output_type=np.array([2])),
        "b_if": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
        "a_lin": nir.Linear(weight=np.eye(2)),
        "c_in": nir.Input(input_type=np.array([2])),
    }
    path = _write(tmp_path, nodes, [("a_lin", "b_if"), ("b_if", "z_out"), ("c_in", "a_lin")])
    assert load_network(path, dt=1e-3).order == ("c_in", "a_lin", "b_if", "z_out")


@pytest.mark.parametrize("bad", [
    nir.Threshold(threshold=np.ones(2)),
    nir.I(r=np.ones(2)),
])
def test_unsupported_node_clear_error(tmp_path, bad):
    nodes = {"input": nir.Input(input_type=np.array([2])), "odd": bad,
             "output": nir.Output(output_type=np.array([2]))}
    path = _write(tmp_path, nodes, [("input", "odd"), ("odd", "output")])
    kind = type(bad).__name__
    with pytest.raises(ModelError) as err:
        load_network(path, dt=1e-3)
    msg = str(err.value)
    assert f"node 'odd' has unsupported NIR type '{kind}'" in msg
    assert "supported types: Input, Output, Affine" in msg and "CubaLI" in msg
    assert str(path) in msg


def test_missing_dt_for_foreign_file(tmp_path):
    nodes = {"input": nir.Input(input_type=np.array([2])), "lin": nir.Linear(weight=np.eye(2)),
             "output": nir.Output(output_type=np.array([2]))}
    path = _write(tmp_path, nodes, [("input", "lin"), ("lin", "output")])
    with pytest.raises(ModelError, match="store no time step; pass dt"):
        load_network(path)


def test_norse_style_tau_times_dt_refused(tmp_path):
    nodes = {"input": nir.Input(input_type=np.array([2])), "lin": nir.Linear(weight=np.eye(2)),
             "lif": nir.LIF(tau=np.full(2, 1e-2 * 1e-3), r=np.ones(2), v_leak=np.zeros(2),
                            v_threshold=np.ones(2), v_reset=np.zeros(2)),
             "output": nir.Output(output_type=np.array([2]))}
    path = _write(tmp_path, nodes, [("input", "lin"), ("lin", "lif"), ("lif", "output")])
    with pytest.raises(ModelError, match=r"node 'lif': tau = 1e-05 s is shorter than dt = 0.001 s"):
        load_network(path, dt=1e-3)
    assert load_network(path, dt=1e-6).dt == 1e-6


def test_not_a_nir_file(tmp_path):
    p = tmp_path / "junk.nir"
    p.write_text("hello")
    with pytest.raises(ModelError, match="cannot read as a NIR"):
        load_network(p, dt=1e-3)


def test_snntorch_style_file_matches_beta_update(tmp_path, rng):
    """snnTorch exports Leaky as dt = 1e-4, tau = dt/(1-beta), r = tau/dt, v_leak = 0."""
    dt, beta, theta = 1e-4, 0.9, 1.0
    n_in, n_out = 12, 7
    w, b = rng.normal(0, 0.6, (n_out, n_in)), rng.normal(0, 0.05, n_out)
    tau = dt / (1 - beta)
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Affine(weight=w, bias=b),
        "lif": nir.LIF(tau=np.full(n_out, tau), r=np.full(n_out, tau / dt),
                       v_leak=np.zeros(n_out), v_threshold=np.full(n_out, theta),
                       v_reset=np.zeros(n_out)),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    path = _write(tmp_path, nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = load_network(path, dt=dt)
    steps, n = 60, 5
    x = (rng.random((n, steps, n_in)) < 0.3).astype(float)
    res = simulate_reference(net, make_encoder("spikes", x, net.input_shape), steps,
                             probes=["lif", "lif.v"])
    # the update snnTorch computes: v <- beta v + I; spike if v > theta; reset to 0
    v = np.zeros((n, n_out))
    for t in range(steps):
        v = beta * v + x[:, t] @ w.T + b
        s = v > theta
        v = np.where(s, 0.0, v)
        np.testing.assert_array_equal(res.probes["lif"][:, t], s)
        np.testing.assert_allclose(res.probes["lif.v"][:, t], v, rtol=0, atol=1e-12)
    assert res.probes["lif"].sum() > 20  # the test exercises spikes
