"""The IR's TernaryLIF (SpikeLM's bi-directional spikes, issue 16): fields, defaults and
validation, its place among the neuron layers (a LIF in every respect but its output),
the dict round trip, and the network's shape and discretisation rules for it."""

import numpy as np
import pytest

from neurocosim import ir
from neurocosim.errors import ModelError
from neurocosim.ir import nodes as N


def _tern(**kw):
    base = {"tau": 4e-3, "r": 2.0, "v_leak": 0.0, "v_threshold": 0.5}
    return ir.TernaryLIF(**{**base, **kw})


def test_negative_threshold_defaults_to_the_positive_one():
    t = _tern(v_threshold=np.array([0.5, 0.75]))
    np.testing.assert_array_equal(t.v_threshold_neg, [0.5, 0.75])
    assert t.v_threshold_neg.dtype == np.float64 and not t.v_threshold_neg.flags.writeable
    assert (t.reset, t.compare) == ("zero", ">")
    t2 = _tern(v_threshold_neg=0.25, reset="subtract", compare=">=")
    assert float(t2.v_threshold_neg) == 0.25 and t2.reset == "subtract" and t2.compare == ">="


def test_it_is_a_spiking_lif_layer():
    t = _tern()
    assert isinstance(t, ir.LIF) and isinstance(t, ir.Neuron) and t.spiking
    assert "v_threshold_neg" in t.arrays()
    assert N.NODE_TYPES["TernaryLIF"] is ir.TernaryLIF


@pytest.mark.parametrize("field, value", [
    ("v_threshold", 0.0), ("v_threshold", -0.5), ("v_threshold_neg", 0.0),
    ("v_threshold_neg", np.array([0.5, -1.0])), ("v_threshold_neg", np.nan),
])
def test_thresholds_must_be_positive(field, value):
    with pytest.raises(ModelError, match=f"TernaryLIF: '{field}' must be > 0"):
        _tern(**{field: value})


@pytest.mark.parametrize("field, value, match", [
    ("reset", "none", "reset"), ("compare", "<", "compare"),
    ("v_threshold_neg", "high", "v_threshold_neg"),
])
def test_modes_and_types_are_validated(field, value, match):
    with pytest.raises(ModelError, match=match):
        _tern(**{field: value})


def test_dict_round_trip_is_exact():
    t = _tern(v_threshold=np.array([0.5, 0.75, 1.0]), v_threshold_neg=np.array([0.25, 1.0, 2.0]),
              v_reset=np.array([0.0, 0.1, -0.1]), reset="subtract", compare=">=")
    d = t.to_dict()
    assert d["type"] == "TernaryLIF"
    back = N.Node.from_dict(d)
    assert type(back) is ir.TernaryLIF and back == t
    assert back != _tern(v_threshold=t.v_threshold, v_reset=t.v_reset, reset="subtract",
                         compare=">=")  # θ⁻ differs


def _net(layer, n=6):
    return ir.Network(nodes={"in": ir.Input(shape=(n,)),
                             "fc": ir.Linear(weight=np.eye(n)),
                             "t": layer, "out": ir.Output()},
                      edges=(("in", "fc"), ("fc", "t"), ("t", "out")), dt=1e-3)


def test_in_a_network_scalars_broadcast_and_the_lif_discretisation_applies():
    net = _net(_tern(v_threshold_neg=0.25))
    t = net.nodes["t"]
    assert net.layers() == ["t"] and t.v_threshold_neg.shape == (6,)
    np.testing.assert_array_equal(t.v_threshold_neg, 0.25)
    d = net.discretised("t")
    np.testing.assert_allclose(d.alpha, 1e-3 / 4e-3)
    np.testing.assert_allclose(d.gain, 2.0 * 1e-3 / 4e-3)


def test_a_negative_threshold_of_the_wrong_shape_is_refused():
    with pytest.raises(ModelError, match=r"'t' \(TernaryLIF\): parameters have shape \(4,\)"):
        _net(_tern(v_threshold_neg=np.full(4, 0.5)))


def test_a_mapping_folder_network_file_keeps_it_exactly(tmp_path):
    """NIR 1.0 has no ternary neuron: a mapping folder keeps such a network in its
    ``network.json`` files, rebuilt through ``Node.from_dict``."""
    from neurocosim.mapping.netfile import read_network_files, write_network_files

    net = _net(_tern(v_threshold=np.linspace(0.25, 1.0, 6), v_threshold_neg=0.125,
                     v_reset=0.1, reset="subtract", compare=">="))
    write_network_files(net, tmp_path)
    back = read_network_files(tmp_path)
    assert type(back.nodes["t"]) is ir.TernaryLIF and back.nodes["t"] == net.nodes["t"]
