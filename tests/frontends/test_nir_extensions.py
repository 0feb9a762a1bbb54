"""NIR files with ``neurocosim.<Kind>`` extension nodes (``write_nir(..., extensions=True)``):
every IR node NIR 1.0 has no node for is written and read back exactly, the reference
engine computes the same outputs from the read network as from the original, and a plain
NIR reader (``nir.read``) refuses such a file instead of misreading it."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest

from neurocosim import ir, make_encoder, simulate_reference, zoo
from neurocosim.errors import ModelError
from neurocosim.frontends import load_network
from neurocosim.frontends.nir_io import extension_types, read_nir, write_nir
from neurocosim.ir.nodes import NODE_TYPES
from neurocosim.ir.ternary import TernaryLIF

STEPS = 4


def lif(shape, theta=0.5):
    return ir.LIF(tau=np.full(shape, 2e-3), r=np.ones(shape), v_leak=np.zeros(shape),
                  v_threshold=np.full(shape, theta), reset="zero", compare=">=")


def bn(rng, c):
    return ir.BatchNorm(gamma=rng.uniform(0.5, 1.5, c), beta=rng.normal(0, 0.1, c),
                        running_mean=rng.normal(0, 0.1, c), running_var=rng.uniform(0.5, 2, c),
                        eps=1e-5)


def conv(rng, c_out, c_in, k=3):
    return ir.Conv2d(weight=rng.normal(0, 0.6, (c_out, c_in, k, k)), bias=np.zeros(c_out),
                     padding=(k // 2, k // 2))


def sew_ms_net(rng):
    """A stem (Conv → BN → LIF → MaxPool), a SEW block with IAND and one with ADD
    (Fang et al. 2021), an MS block (the membrane shortcut: two edges into one LIF), a
    Concat of two maps, then a classifier with a ternary-spike layer (SpikeLM)."""
    c, hw = 4, (4, 4)
    nodes = {"in": ir.Input(shape=(2, 8, 8)), "stem": conv(rng, c, 2), "stem_bn": bn(rng, c),
             "s0": lif((c, 8, 8)), "pool": ir.MaxPool2d(kernel_size=2, stride=2)}
    edges = [("in", "stem"), ("stem", "stem_bn"), ("stem_bn", "s0"), ("s0", "pool")]
    prev = "pool"
    for i, join in enumerate(("iand", "add")):
        nodes |= {f"c{i}": conv(rng, c, c), f"bn{i}": bn(rng, c), f"s{i + 1}": lif((c, *hw)),
                  f"j{i}": (ir.IAnd(operands=(f"s{i + 1}", prev)) if join == "iand"
                            else ir.Add())}
        edges += [(prev, f"c{i}"), (f"c{i}", f"bn{i}"), (f"bn{i}", f"s{i + 1}"),
                  (f"s{i + 1}", f"j{i}"), (prev, f"j{i}")]
        prev = f"j{i}"
    nodes |= {"ms_a": conv(rng, c, c), "ms_b": conv(rng, c, c, k=1), "ms": lif((c, *hw), 0.8),
              "cat": ir.Concat(operands=("ms", prev), axis=0), "flat": ir.Flatten(),
              "fc": ir.Affine(weight=rng.normal(0, 0.3, (24, 2 * c * 16)), bias=np.zeros(24)),
              "tern": TernaryLIF(tau=np.full(24, 2e-3), r=np.ones(24), v_leak=np.zeros(24),
                                 v_threshold=np.full(24, 0.4), v_threshold_neg=np.full(24, 0.6),
                                 reset="subtract", compare=">="),
              "fc2": ir.Affine(weight=rng.normal(0, 0.5, (10, 24)), bias=np.zeros(10)),
              "li": ir.LI(tau=np.full(10, 4e-3), r=np.ones(10), v_leak=np.zeros(10)),
              "out": ir.Output()}
    edges += [(prev, "ms_a"), (prev, "ms_b"), ("ms_a", "ms"), ("ms_b", "ms"), ("ms", "cat"),
              (prev, "cat"), ("cat", "flat"), ("flat", "fc"), ("fc", "tern"), ("tern", "fc2"),
              ("fc2", "li"), ("li", "out")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3, name="sew_ms")


SMALL = dict(input_hw=32, classes=10, embed_dim=32, heads=2)
NETS = {"sew_ms": sew_ms_net,
        "spikformer": lambda rng: zoo.build("zoo:spikformer-4-384-cifar", depth=1, **SMALL),
        "sdt": lambda rng: zoo.build("sdt-8-384", depth=1, **SMALL),
        "semm": lambda rng: zoo.build("spikformer-semm", depth=1, **SMALL),
        "tim": lambda rng: zoo.build("spikformer-tim", depth=1, **SMALL)}


def kinds(net):
    return {type(n).__name__ for n in net.nodes.values()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("ext")
    nets = {k: build(rng) for k, build in NETS.items()}
    return {k: (net, write_nir(net, d / f"{k}.nir", extensions=True)) for k, net in nets.items()}


def test_every_node_nir_lacks_is_covered(written):
    covered = set().union(*(kinds(net) for net, _ in written.values()))
    assert set(extension_types()) <= covered
    assert set(extension_types()) == {k for k in NODE_TYPES if k not in nir_types()}
    assert kinds(written["sew_ms"][0]) >= {"IAnd", "Add", "Concat", "MaxPool2d", "BatchNorm",
                                           "TernaryLIF"}
    assert kinds(written["semm"][0]) >= {"Gate"} and "Delay" in kinds(written["tim"][0])


def nir_types():
    """IR node kinds NIR 1.0 has nodes for (the ILIF travels as a LIF with metadata)."""
    return {"Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d",
            "AvgPool2d", "Flatten", "Delay", "IF", "LIF", "CubaLIF", "LI", "CubaLI", "ILIF"}


@pytest.mark.parametrize("key", list(NETS))
def test_round_trip_is_exact_and_computes_the_same(written, key):
    net, path = written[key]
    with h5py.File(path, "r") as f:  # the extension nodes, as the file holds them
        types = {k: g["type"][()].decode() for k, g in f["node/nodes"].items()}
    for name, node in net.nodes.items():
        kind = type(node).__name__
        if kind in extension_types():
            assert types[name] == f"neurocosim.{kind}"
        else:
            assert not types[name].startswith("neurocosim.")
    back = read_nir(path)  # dt from the file
    assert back == net and back.name == net.name
    for name, node in net.nodes.items():
        assert type(back.nodes[name]) is type(node)
        if hasattr(node, "operands"):  # operand order survives
            assert back.nodes[name].operands == node.operands
    x = np.random.default_rng(1).uniform(0, 1, (3, *net.input_shape))
    layers = net.layers()
    enc = make_encoder("current", x, net.input_shape, np.random.default_rng(2))
    a = simulate_reference(net, enc, STEPS, probes=layers)
    b = simulate_reference(back, enc, STEPS, probes=layers)
    np.testing.assert_array_equal(a.output, b.output)
    for lay in layers:
        np.testing.assert_array_equal(a.probes[lay], b.probes[lay], err_msg=lay)
    assert 0 < sum(a.probes[lay].sum() for lay in layers)
    assert np.any(a.output != 0)


def test_load_network_folds_and_keeps_the_folds(written, tmp_path):
    net, path = written["sew_ms"]
    loaded = load_network(path)  # BatchNorm folded into the convolutions at load time
    assert len(loaded.folded) == 3 and "BatchNorm" not in kinds(loaded)
    again = load_network(write_nir(loaded, tmp_path / "folded.nir", extensions=True))
    assert again == loaded and again.folded == loaded.folded  # kept in the metadata


@pytest.mark.parametrize("key", ["sew_ms", "spikformer"])
def test_plain_nir_reader_refuses_rather_than_misreads(written, key):
    """``nir.read`` has no such node types: it fails (an AssertionError in
    ``nir.ir.str2NIRNode``) on the first extension node, never returning a graph."""
    with pytest.raises(AssertionError):
        nir.read(written[key][1], type_check=False)
    with pytest.raises(AssertionError):
        nir.read(written[key][1])


def test_without_extensions_the_nodes_are_refused(written, tmp_path):
    with pytest.raises(ModelError, match=r"write_nir: node '\w+' is an? \w+, which NIR 1.0 has "
                                         r"no node for.*extensions=True"):
        write_nir(written["sew_ms"][0], tmp_path / "x.nir")
    net = written["sew_ms"][0]
    nodes = dict(net.nodes)
    edges = [e for e in net.edges if e[0] not in ("j0", "j1", "cat") and e[1] not in ("j0", "j1", "cat")]
    with pytest.raises(ModelError, match=r"node 'tern' is a TernaryLIF, which NIR 1.0 has no "
                                         r"node for.*extensions=True"):
        sub = {k: nodes[k] for k in ("fc", "tern", "fc2", "li", "out")}
        write_nir(ir.Network(nodes={"input": ir.Input(shape=(128,)), **sub},
                             edges=(("input", "fc"),) + tuple(e for e in edges if e[0] in sub),
                             dt=1e-3), tmp_path / "t.nir")
    assert not (tmp_path / "x.nir").exists() and not (tmp_path / "t.nir").exists()


def test_bad_extension_nodes_are_refused(written, tmp_path):
    net, path = written["sew_ms"]
    bad = tmp_path / "bad.nir"
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "r+") as f:
        del f["node/nodes/j1/type"]
        f["node/nodes/j1/type"] = "neurocosim.Softmax"
    with pytest.raises(ModelError, match=r"node 'j1' has unknown extension type "
                                         r"'neurocosim.Softmax'.*neurocosim.MaxPool2d"):
        read_nir(bad)
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "r+") as f:
        del f["node/nodes/j0/operands"]
        f["node/nodes/j0/operands"] = np.array(["s1", "nope"], dtype=h5py.string_dtype())
    with pytest.raises(ModelError, match=r"'operands' .* must name exactly its sources"):
        read_nir(bad)
    bad.write_bytes(path.read_bytes())
    with h5py.File(bad, "r+") as f:
        del f["node/nodes/pool/kernel_size"]
    with pytest.raises(ModelError, match=r"node 'pool' \(neurocosim.MaxPool2d\): .*missing "
                                         r"field.*kernel_size"):
        read_nir(bad)
