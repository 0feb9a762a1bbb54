"""MaxPool2d and BatchNorm in the IR: validation, shapes, the reference's semantics against
loops written here from the equations, and the exactness of fold_batchnorm."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim import ir, make_encoder, simulate_reference
from neurocosim.errors import ModelError
from neurocosim.frontends import load_network, network_from_weights, write_nir, write_npz
from neurocosim.hwsim import reference as R
from neurocosim.ir.describe import describe_network
from tests.conftest import chain


def bn(rng, c, **kw):
    fields = dict(gamma=rng.uniform(0.3, 2.0, c), beta=rng.normal(0, 0.5, c),
                  running_mean=rng.normal(0, 0.5, c), running_var=rng.uniform(0.05, 3.0, c),
                  eps=1e-5)
    return ir.BatchNorm(**{**fields, **kw})


# -- independent implementations (loops from the definitions) -------------------------
def maxpool_loops(x, k, s, p):
    """(C, H, W) max pooling with −inf padding, window by window."""
    c, h, w = x.shape
    ho, wo = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    out = np.empty((c, ho, wo))
    for ch in range(c):
        for i in range(ho):
            for j in range(wo):
                best = -math.inf
                for a in range(k[0]):
                    for b in range(k[1]):
                        y, xx = i * s[0] + a - p[0], j * s[1] + b - p[1]
                        v = x[ch, y, xx] if 0 <= y < h and 0 <= xx < w else -math.inf
                        best = max(best, v)
                out[ch, i, j] = best
    return out


def batchnorm_formula(x, gamma, beta, mean, var, eps):
    """y = γ (x − μ) / √(σ² + ε) + β, channel by channel (axis 0)."""
    out = np.empty_like(x)
    for ch in range(x.shape[0]):
        out[ch] = gamma[ch] * (x[ch] - mean[ch]) / math.sqrt(var[ch] + eps) + beta[ch]
    return out


# -- validation -----------------------------------------------------------------------
@pytest.mark.parametrize("kw, field", [
    ({"kernel_size": 0}, "kernel_size"),
    ({"kernel_size": (2, -1)}, "kernel_size"),
    ({"kernel_size": 2.5}, "kernel_size"),
    ({"kernel_size": "2"}, "kernel_size"),
    ({"kernel_size": (1, 2, 3)}, "kernel_size"),
    ({"kernel_size": 2, "stride": 0}, "stride"),
    ({"kernel_size": 2, "stride": (1, -2)}, "stride"),
    ({"kernel_size": 2, "padding": -1}, "padding"),
    ({"kernel_size": 2, "padding": 2}, "padding"),
    ({"kernel_size": (3, 2), "padding": (1, 2)}, "padding"),
    ({"kernel_size": 2, "dilation": 2}, "dilation"),
    ({"kernel_size": 2, "dilation": 0}, "dilation"),
])
def test_maxpool_refuses_bad_fields_naming_node_and_field(kw, field):
    with pytest.raises(ModelError, match=f"MaxPool2d: (parameter )?'{field}'"):
        ir.MaxPool2d(**kw)


def test_maxpool_defaults_and_shape_rule():
    node = ir.MaxPool2d(kernel_size=3)
    assert node.stride == (3, 3) and node.padding == (0, 0) and node.dilation == (1, 1)
    net = chain({"in": ir.Input(shape=(2, 7, 5)),
                 "pool": ir.MaxPool2d(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1)),
                 "out": ir.Output()})
    assert net.out_shapes["pool"] == (2, (7 + 2 - 3) // 2 + 1, (5 + 2 - 2) // 1 + 1)
    with pytest.raises(ModelError, match=r"node 'pool' \(MaxPool2d\).*\(C, H, W\)"):
        chain({"in": ir.Input(shape=(8,)), "pool": ir.MaxPool2d(kernel_size=2),
               "out": ir.Output()})
    with pytest.raises(ModelError, match=r"node 'pool' \(MaxPool2d\).*larger"):
        chain({"in": ir.Input(shape=(1, 2, 2)), "pool": ir.MaxPool2d(kernel_size=3),
               "out": ir.Output()})


@pytest.mark.parametrize("change, field", [
    ({"eps": 0.0}, "eps"),
    ({"eps": -1e-5}, "eps"),
    ({"eps": float("nan")}, "eps"),
    ({"eps": float("inf")}, "eps"),
    ({"eps": "1e-5"}, "eps"),
    ({"eps": [1e-5, 1e-5]}, "eps"),
    ({"beta": np.zeros(4)}, "beta"),
    ({"running_mean": np.zeros((3, 1))}, "running_mean"),
    ({"gamma": np.ones(3), "beta": np.zeros(3), "running_mean": np.zeros(3),
      "running_var": np.ones(2)}, "running_var"),
    ({"running_var": np.array([1.0, -0.5, 1.0])}, "running_var"),
    ({"gamma": 1.0}, "gamma"),
])
def test_batchnorm_refuses_bad_fields_naming_node_and_field(change, field, rng):
    fields = dict(gamma=np.ones(3), beta=np.zeros(3), running_mean=np.zeros(3),
                  running_var=np.ones(3), eps=1e-5)
    with pytest.raises(ModelError, match=f"BatchNorm: (parameter )?'{field}'"):
        ir.BatchNorm(**{**fields, **change})


def test_batchnorm_shape_rule_names_the_node(rng):
    for shape in [(3,), (3, 4, 5)]:
        net = chain({"in": ir.Input(shape=shape), "bn": bn(rng, 3), "out": ir.Output()})
        assert net.out_shapes["bn"] == shape
    for shape in [(4,), (4, 2, 2), (3, 2), (3, 2, 2, 2)]:
        with pytest.raises(ModelError, match=r"node 'bn' \(BatchNorm\): normalises 3 channels"):
            chain({"in": ir.Input(shape=shape), "bn": bn(rng, 3), "out": ir.Output()})
    with pytest.raises(ModelError, match=r"node 'bn'.*'gamma' contains NaN"):
        chain({"in": ir.Input(shape=(2,)), "bn": bn(rng, 2, gamma=[1.0, np.nan]),
               "out": ir.Output()})


def test_new_nodes_round_trip_through_dicts(rng):
    net = ir.fold_batchnorm(chain({
        "in": ir.Input(shape=(2, 4, 4)), "bn0": bn(rng, 2),
        "conv": ir.Conv2d(weight=rng.normal(size=(3, 2, 3, 3)), bias=np.zeros(3), padding=1),
        "bn1": bn(rng, 3), "pool": ir.MaxPool2d(kernel_size=2, padding=1), "out": ir.Output()}))
    back = ir.Network.from_dict(net.to_dict())
    assert back == net and back.folded == (("bn1", "conv"),)
    assert isinstance(back.nodes["pool"], ir.MaxPool2d) and back.nodes["pool"].padding == (1, 1)
    assert back.nodes["bn0"].eps == 1e-5
    with pytest.raises(ModelError, match="folded must be"):
        net.replace(folded=["ab"])


# -- reference semantics against the equations ------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4),
       kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_reference_maxpool_is_the_loop_definition(c, h, w, kh, kw, sh, sw, ph, pw, seed):
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    rng = np.random.default_rng(seed)
    node = ir.MaxPool2d(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw))
    x = rng.normal(-1.0, 1.0, (2, c, h, w))  # mostly negative: a zero padding would show
    got = R.maxpool2d(x, node)
    for b in range(2):
        np.testing.assert_array_equal(got[b], maxpool_loops(x[b], (kh, kw), (sh, sw), (ph, pw)))
    spikes = (rng.random((c, h, w)) < 0.3).astype(float)  # over spikes: OR of the window
    orr = maxpool_loops(spikes, (kh, kw), (sh, sw), (ph, pw)) > 0
    np.testing.assert_array_equal(R.maxpool2d(spikes[None], node)[0], orr.astype(float))


@pytest.mark.parametrize("shape", [(4,), (4, 3, 5)])
def test_reference_batchnorm_is_the_formula(shape, rng):
    node = bn(rng, 4, eps=1e-3)
    x = rng.normal(0, 2, (3, *shape))
    got = R.batchnorm(x, node)
    for b in range(3):
        want = batchnorm_formula(x[b], node.gamma, node.beta, node.running_mean,
                                 node.running_var, node.eps)
        np.testing.assert_allclose(got[b], want, rtol=1e-13, atol=1e-13)


# -- fold_batchnorm -------------------------------------------------------------------
def _readout(n_shape):
    return ir.LI(tau=np.full(n_shape, 5e-3), r=np.ones(n_shape), v_leak=np.zeros(n_shape))


@pytest.mark.parametrize("kind", ["conv", "affine", "linear"])
def test_fold_batchnorm_is_exact_in_float64(kind, rng):
    if kind == "conv":
        shape, out = (2, 6, 5), (3, 6, 5)
        syn = ir.Conv2d(weight=rng.normal(0, 1, (3, 2, 3, 3)), bias=rng.normal(0, 1, 3),
                        padding=1)
    else:
        shape, out = (7,), (3,)
        w = rng.normal(0, 1, (3, 7))
        syn = ir.Affine(weight=w, bias=rng.normal(0, 1, 3)) if kind == "affine" else \
            ir.Linear(weight=w)
    net = chain({"in": ir.Input(shape=shape), "syn": syn, "bn": bn(rng, 3),
                 "li": _readout(out), "out": ir.Output()})
    folded = ir.fold_batchnorm(net)
    assert "bn" not in folded.nodes and folded.folded == (("bn", "syn"),)
    assert isinstance(folded.nodes["syn"], ir.Affine if kind != "conv" else ir.Conv2d)
    assert "bn" in net.nodes  # the original is untouched
    x = rng.normal(0, 1, (5, *shape))
    enc = make_encoder("current", x, shape)
    a = simulate_reference(net, enc, 6, probes=["bn", "li.v"])
    b = simulate_reference(folded, enc, 6, probes=["syn", "li.v"])
    assert np.abs(a.probes["bn"]).max() > 0.1
    np.testing.assert_allclose(b.probes["syn"], a.probes["bn"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.probes["li.v"], a.probes["li.v"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.output, a.output, rtol=0, atol=1e-12)


def test_fold_batchnorm_keeps_what_cannot_fold(rng):
    conv = ir.Conv2d(weight=rng.normal(size=(2, 1, 3, 3)), bias=np.zeros(2), padding=1)
    net = ir.Network(nodes={
        "in": ir.Input(shape=(1, 4, 4)), "bn_in": bn(rng, 1), "conv": conv,
        "bn_a": bn(rng, 2), "bn_b": bn(rng, 2),  # a chain of two: both fold into conv
        "pool": ir.MaxPool2d(kernel_size=2), "bn_pool": bn(rng, 2),  # after a pool: stays
        "conv2": ir.Conv2d(weight=rng.normal(size=(2, 2, 1, 1)), bias=np.zeros(2)),
        "bn_fan": bn(rng, 2), "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
        "out": ir.Output()},
        edges=(("in", "bn_in"), ("bn_in", "conv"), ("conv", "bn_a"), ("bn_a", "bn_b"),
               ("bn_b", "pool"), ("pool", "bn_pool"), ("bn_pool", "conv2"),
               ("conv2", "bn_fan"), ("conv2", "lif"), ("bn_fan", "lif"),  # conv2 feeds two
               ("lif", "out")), dt=1e-3)
    folded = ir.fold_batchnorm(net)
    assert folded.folded == (("bn_a", "conv"), ("bn_b", "conv"))
    assert {"bn_in", "bn_pool", "bn_fan"} <= set(folded.nodes)
    assert ir.fold_batchnorm(folded) is folded  # nothing more to fold
    assert "folded BatchNorm: bn_a into conv, bn_b into conv" in describe_network(folded)
    x = rng.normal(0, 1, (3, 1, 4, 4))
    enc = make_encoder("current", x, (1, 4, 4))
    a = simulate_reference(net, enc, 4, probes=["bn_b", "lif.v"])
    b = simulate_reference(folded, enc, 4, probes=["conv", "lif.v"])
    np.testing.assert_allclose(b.probes["conv"], a.probes["bn_b"], rtol=0, atol=1e-12)


# -- frontends --------------------------------------------------------------------------
def test_weight_bundle_carries_batchnorm_and_load_folds_it(tmp_path, rng):
    norms = [{"gamma": rng.uniform(0.5, 2, 4), "beta": rng.normal(0, 1, 4),
              "running_mean": rng.normal(0, 1, 4), "running_var": rng.uniform(0.1, 2, 4),
              "eps": 1e-3}, None]
    net = network_from_weights([rng.normal(size=(4, 6)), rng.normal(size=(2, 4))], dt=1e-3,
                               neuron="IF", batchnorm=norms)
    assert isinstance(net.nodes["bn0"], ir.BatchNorm) and "bn1" not in net.nodes
    path = write_npz(net, tmp_path / "bn.npz")
    loaded = load_network(path)
    assert loaded.folded == (("bn0", "fc0"),) and "bn0" not in loaded.nodes
    assert "folded BatchNorm: bn0 into fc0" in describe_network(loaded)
    x = rng.normal(0, 1, (4, 6))
    a = simulate_reference(net, make_encoder("current", x, (6,)), 5, probes=["bn0"])
    b = simulate_reference(loaded, make_encoder("current", x, (6,)), 5, probes=["fc0"])
    np.testing.assert_allclose(b.probes["fc0"], a.probes["bn0"], rtol=0, atol=1e-12)
    data = dict(np.load(path))
    del data["bn_var_0"]
    np.savez(tmp_path / "part.npz", **data)
    with pytest.raises(ModelError, match="part.npz: layer 0 has .* but not bn_var_0"):
        load_network(tmp_path / "part.npz")
    data["bn_var_0"] = -np.ones(4)
    np.savez(tmp_path / "neg.npz", **data)
    with pytest.raises(ModelError, match="neg.npz: layer 0: BatchNorm: 'running_var'"):
        load_network(tmp_path / "neg.npz")


def test_nir_has_no_maxpool_or_batchnorm_node(tmp_path, rng):
    import nir

    assert not hasattr(nir, "MaxPool2d") and not hasattr(nir, "BatchNorm")
    for extra in ({"pool": ir.MaxPool2d(kernel_size=2)}, {"bn": bn(rng, 1)}):
        net = chain({"in": ir.Input(shape=(1, 4, 4)), **extra, "out": ir.Output()})
        kind = type(next(iter(extra.values()))).__name__
        with pytest.raises(ModelError, match=f"is a {kind}, which NIR 1.0 has no node for"):
            write_nir(net, tmp_path / "x.nir")
        assert not (tmp_path / "x.nir").exists()
