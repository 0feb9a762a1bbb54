"""Hostile model and data files: the loaders are total.

Any bytes given to ``load_network`` (``.nir``, ``.npz``) or ``load_data`` end in a result
or a :class:`~neurocosim.errors.NeurocosimError` whose message is one line naming the file
and the field, within bounded time and memory. One test per known defect, then
property-based fuzzing (random bytes and mutations of valid files) with Hypothesis.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import time
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nir.serialization import hdf2dict

from neurocosim import ir, load_network, network_from_weights, save_network
from neurocosim.errors import BudgetError, DataError, ModelError, NeurocosimError
from neurocosim.frontends import nir_sandbox
from neurocosim.hwsim.encoders import load_data, validate_labels
from tests.hostile import npz_declaring, write_nir_tree

N_IN, N_HID, N_OUT, N_SAMPLES = 3, 4, 2, 6


# -- helpers ---------------------------------------------------------------------------
def refused(exc_type, fn, *args, names=(), **kw) -> str:
    """Call ``fn``; it must raise exactly ``exc_type`` with a one-line message under 600
    characters that contains every string in ``names``. Returns the message."""
    with pytest.raises(NeurocosimError) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {msg}"
    assert "\n" not in msg and 0 < len(msg) < 600, msg
    for name in names:
        assert str(name) in msg, f"{name!r} not in {msg!r}"
    return msg


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """Valid files: ``net.nir`` and ``net.npz`` (a 3-4-2 LIF network), ``data.npz``."""
    root = tmp_path_factory.mktemp("assets")
    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(size=(N_HID, N_IN)), rng.normal(size=(N_OUT, N_HID))],
                               dt=1e-3, beta=0.9)
    save_network(net, root / "net.nir")
    save_network(net, root / "net.npz")
    np.savez(root / "data.npz", x=rng.uniform(0, 1, (N_SAMPLES, N_IN)),
             y=np.arange(N_SAMPLES) % N_OUT)
    return root


def nir_tree(assets: Path) -> dict:
    """The valid NIR file's ``node`` group as nested dicts (the ``nir`` package's layout)."""
    with h5py.File(assets / "net.nir", "r") as f:
        return hdf2dict(f["node"])


write_tree = write_nir_tree


def conv_tree(**layer_changes) -> dict:
    """Input (2,6,6) → Conv2d → IF → SumPool2d → Output, every field as NIR writes it."""
    conv = {"type": "Conv2d", "weight": np.full((4, 2, 3, 3), 0.1), "bias": np.zeros(4),
            "stride": np.array([1, 1]), "padding": np.array([1, 1]),
            "dilation": np.array([1, 1]), "groups": np.int64(1),
            "input_shape": np.array([6, 6])}
    pool = {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
            "padding": np.array([0, 0])}
    for key, value in layer_changes.items():
        node, field = key.split("__")
        target = conv if node == "conv" else pool
        if value is None:
            del target[field]
        else:
            target[field] = value
    shape = (4, 6, 6)
    return {
        "type": "NIRGraph",
        "metadata": {"neurocosim_dt": 1e-3},
        "nodes": {
            "input": {"type": "Input", "shape": np.array([2, 6, 6])},
            "conv": conv,
            "if0": {"type": "IF", "r": np.ones(shape), "v_threshold": np.ones(shape),
                    "v_reset": np.zeros(shape)},
            "pool": pool,
            "output": {"type": "Output", "shape": np.array([4, 3, 3])},
        },
        "edges": np.array([[b"input", b"conv"], [b"conv", b"if0"], [b"if0", b"pool"],
                           [b"pool", b"output"]], dtype=object),
    }


def bundle(assets: Path, path: Path, **changes) -> Path:
    """The valid weight bundle with keys changed (``None`` removes a key)."""
    d = dict(np.load(assets / "net.npz", allow_pickle=False))
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    with open(path, "wb") as fh:
        np.savez(fh, **d)
    return path


def data_file(path: Path, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path




# -- valid files still load ---------------------------------------------------------------
def test_valid_files_load(assets):
    a, b = load_network(assets / "net.nir"), load_network(assets / "net.npz")
    assert a.input_shape == b.input_shape == (N_IN,)
    x, y = load_data(assets / "data.npz")
    assert x.shape == (N_SAMPLES, N_IN) and y.dtype == np.int64


# -- NIR: structure --------------------------------------------------------------------------
def test_nir_without_nodes_group(assets, tmp_path):
    tree = nir_tree(assets)
    del tree["nodes"]
    p = write_tree(tmp_path / "nonodes.nir", tree)
    refused(ModelError, load_network, p, names=(p, "node/nodes"))


def test_nir_without_edges(assets, tmp_path):
    tree = nir_tree(assets)
    del tree["edges"]
    p = write_tree(tmp_path / "noedges.nir", tree)
    refused(ModelError, load_network, p, names=(p, "node/edges"))


def test_nir_metadata_dt_not_a_number(assets, tmp_path):
    tree = nir_tree(assets)
    tree["metadata"]["neurocosim_dt"] = "abc"
    p = write_tree(tmp_path / "dtabc.nir", tree)
    refused(ModelError, load_network, p, names=(p, "neurocosim_dt", "'abc'"))


@pytest.mark.parametrize("edit,names", [
    (lambda t: t["metadata"].__setitem__("neurocosim_dt", np.ones(3)), ("neurocosim_dt",)),
    (lambda t: t["metadata"].__setitem__("neurocosim_dt", -1.0), ("neurocosim_dt",)),
    (lambda t: t["metadata"].__setitem__("neurocosim_synaptic_delay", "x"),
     ("neurocosim_synaptic_delay",)),
    (lambda t: t["metadata"].__setitem__("neurocosim_synaptic_delay", 7),
     ("neurocosim_synaptic_delay",)),
    (lambda t: t.__setitem__("metadata", np.ones(2)), ("node/metadata",)),
    (lambda t: t["nodes"]["fc0"].__setitem__("weight", {"a": np.ones(2)}), ("fc0", "weight")),
    (lambda t: t["nodes"]["fc0"].__setitem__("weight", "abc"), ("fc0", "weight")),
    (lambda t: t["nodes"]["fc0"].__setitem__("weight", np.ones((2, N_HID, N_IN))),
     ("fc0", "weight")),
    (lambda t: t["nodes"]["fc0"].__setitem__("weight", np.ones((N_HID, N_IN), complex)),
     ("fc0", "weight")),
    (lambda t: t["nodes"]["fc0"].__delitem__("bias"), ("fc0", "bias")),
    (lambda t: t["nodes"]["fc0"].__delitem__("type"), ("fc0", "type")),
    (lambda t: t["nodes"]["fc0"].__setitem__("type", np.ones(2)), ("fc0", "type")),
    (lambda t: t["nodes"]["fc0"].__setitem__("type", "X" * 200_000), ("fc0", "type")),
    (lambda t: t["nodes"].__setitem__("fc0", np.ones(3)), ("fc0",)),
    (lambda t: t["nodes"]["lif0"]["metadata"].__setitem__("neurocosim_reset", np.ones(3)),
     ("lif0", "reset")),
    (lambda t: t["nodes"]["lif0"].__setitem__("tau", "0.01"), ("lif0", "tau")),
    (lambda t: t["nodes"]["input"].__setitem__("shape", np.array([3.5])), ("input", "shape")),
    (lambda t: t["nodes"]["input"].__setitem__("shape", np.array([-3])), ("input", "shape")),
    (lambda t: t["nodes"]["input"].__setitem__("shape", np.ones(40, int)), ("input", "shape")),
    (lambda t: t.__setitem__("edges", np.array([b"input", b"fc0", b"lif0"], dtype=object)),
     ("node/edges",)),
    (lambda t: t.__setitem__("edges", np.ones((3, 2))), ("node/edges",)),
    (lambda t: t.__setitem__("edges", np.concatenate(
        [t["edges"], np.array([[b"lif1", b"ghost"]], dtype=object)])), ("ghost",)),
    (lambda t: t.__setitem__("type", "Affine"), ("NIRGraph",)),
    (lambda t: t["nodes"]["lif0"].__setitem__("metadata", {
        "neurocosim_type": "ILIF", "neurocosim_max_level": "abc"}), ("lif0", "max_level")),
])
def test_nir_nested_and_odd_types(assets, tmp_path, edit, names):
    tree = nir_tree(assets)
    edit(tree)
    p = write_tree(tmp_path / "odd.nir", tree)
    refused(ModelError, load_network, p, names=(p, *names))


@pytest.mark.parametrize("content", [b"", b"this is not HDF5\n", os.urandom(4096),
                                     b"\x89HDF\r\n\x1a\n" + os.urandom(3000)])
def test_nir_garbage_bytes(tmp_path, content):
    p = tmp_path / "garbage.nir"
    p.write_bytes(content)
    refused(ModelError, load_network, p, dt=1e-3, names=(p,))


def test_hdf5_file_that_is_not_nir(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("images", data=np.zeros((4, 4)))
    refused(ModelError, load_network, p, dt=1e-3, names=(p, "'node'"))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_nir_truncated(assets, tmp_path, keep):
    raw = (assets / "net.nir").read_bytes()
    p = tmp_path / "trunc.nir"
    p.write_bytes(raw[: int(len(raw) * keep)])
    refused(ModelError, load_network, p, names=(p,))


def test_nir_links_and_deep_nesting_refused_fast(assets, tmp_path):
    p = write_tree(tmp_path / "cycle.nir", nir_tree(assets))
    with h5py.File(p, "a") as f:  # walking node/nodes/fc0/loop would never end
        f["node/nodes/fc0/loop"] = h5py.SoftLink("/node")
    t0 = time.monotonic()
    refused(ModelError, load_network, p, names=(p, "node/nodes/fc0/loop"))
    p = write_tree(tmp_path / "deep.nir", nir_tree(assets))
    with h5py.File(p, "a") as f:
        f.create_group("node/nodes/fc0/metadata/" + "/".join(["g"] * 3000))
    refused(ModelError, load_network, p, names=(p, "nested"))
    assert time.monotonic() - t0 < 5


def test_nir_hdf5_library_hang_is_cut_off(assets, monkeypatch):
    # the HDF5 library loops for ever on some corrupt files (found by fuzzing); the reading
    # child is killed at the deadline. The forked child runs the patched function.
    monkeypatch.setattr(nir_sandbox, "READ_SECONDS", 0.5)
    monkeypatch.setattr(nir_sandbox, "_tree_payload", lambda path: time.sleep(60))
    t0 = time.monotonic()
    refused(ModelError, load_network, assets / "net.nir", names=("net.nir", "did not finish"))
    assert time.monotonic() - t0 < 3


def test_nir_hdf5_library_crash_is_caught(assets, monkeypatch):
    monkeypatch.setattr(nir_sandbox, "_tree_payload",
                        lambda path: os.kill(os.getpid(), signal.SIGSEGV))
    refused(ModelError, load_network, assets / "net.nir", names=("net.nir", "signal"))


# -- IR node checks (every frontend gets them) ----------------------------------------------
W = np.full((4, 2, 3, 3), 0.1)


@pytest.mark.parametrize("make,field", [
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), stride=0), "stride"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), stride=(1, -2)), "stride"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), stride=1.5), "stride"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), stride=np.nan), "stride"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), stride=(1, 1, 1)), "stride"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), padding=-1), "padding"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), padding="full"), "padding"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), padding="same", stride=2), "padding"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), dilation=0), "dilation"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), groups=3), "groups"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), groups=0), "groups"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(4), groups="two"), "groups"),
    (lambda: ir.Conv2d(weight=np.ones((4, 3, 3)), bias=np.zeros(4)), "weight"),
    (lambda: ir.Conv2d(weight=np.ones((4, 2, 0, 3)), bias=np.zeros(4)), "weight"),
    (lambda: ir.Conv2d(weight=W, bias=np.zeros(5)), "bias"),
    (lambda: ir.Conv2d(weight=W, bias=None), "bias"),
    (lambda: ir.SumPool2d(kernel_size=0), "kernel_size"),
    (lambda: ir.AvgPool2d(kernel_size=(2, 0)), "kernel_size"),
    (lambda: ir.SumPool2d(kernel_size=2, stride=0), "stride"),
    (lambda: ir.AvgPool2d(kernel_size=2, stride=-1), "stride"),
    (lambda: ir.SumPool2d(kernel_size=2, padding=-1), "padding"),
    (lambda: ir.SumPool2d(kernel_size=2, padding=2), "padding"),
    (lambda: ir.Affine(weight=np.ones(3), bias=np.zeros(3)), "weight"),
    (lambda: ir.Affine(weight=np.ones((3, 2)), bias=np.zeros(2)), "bias"),
    (lambda: ir.Linear(weight=np.ones((2, 3, 4))), "weight"),
    (lambda: ir.Linear(weight=[["a", "b"]]), "weight"),
    (lambda: ir.Flatten(start_dim="x"), "start_dim"),
    (lambda: ir.Input(shape=(0, 3)), "shape"),
    (lambda: ir.Input(shape=()), "shape"),
    (lambda: ir.Input(shape=(2.5,)), "shape"),
    (lambda: ir.LIF(tau={"a": 1}, r=1.0, v_leak=0.0, v_threshold=1.0), "tau"),
    (lambda: ir.LIF(tau=0.01, r=1.0, v_leak=0.0, v_threshold=1.0, reset=np.ones(2)), "reset"),
    (lambda: ir.ILIF(tau=0.01, r=1.0, v_leak=0.0, max_level=0), "max_level"),
])
def test_ir_node_constructors_check_fields(make, field):
    refused(ModelError, make, names=(field,))


@pytest.mark.parametrize("changes,field", [
    ({"conv__stride": np.array([0, 0])}, "stride"),
    ({"conv__stride": np.array([-1, 1])}, "stride"),
    ({"conv__padding": np.array([-1, 0])}, "padding"),
    ({"conv__dilation": np.array([0, 1])}, "dilation"),
    ({"conv__groups": np.int64(3)}, "groups"),
    ({"conv__weight": np.ones((4, 18))}, "weight"),
    ({"conv__padding": "full"}, "padding"),
    ({"conv__stride": "abc"}, "stride"),
    ({"conv__weight": None}, "weight"),
    ({"pool__kernel_size": np.array([0, 0])}, "kernel_size"),
    ({"pool__stride": np.array([0, 0])}, "stride"),
    ({"pool__stride": np.array([-2, 2])}, "stride"),
    ({"pool__padding": np.array([-1, 0])}, "padding"),
    ({"pool__kernel_size": {"a": np.ones(2)}}, "kernel_size"),
])
def test_nir_layer_fields_checked(tmp_path, changes, field):
    # the file is valid but for the one field (before: a kernel of 0 gave all-zero output)
    assert load_network(write_tree(tmp_path / "ok.nir", conv_tree())).output_shape == (4, 3, 3)
    p = write_tree(tmp_path / "bad.nir", conv_tree(**changes))
    node = next(iter(changes)).split("__")[0]
    refused(ModelError, load_network, p, names=(p, f"node '{node}'", field))


# -- huge declared dimensions ------------------------------------------------------------
def _huge_input_tree(shape) -> dict:
    return {
        "type": "NIRGraph", "metadata": {"neurocosim_dt": 1e-3},
        "nodes": {"input": {"type": "Input", "shape": np.array(shape, dtype=np.int64)},
                  "if0": {"type": "IF", "r": np.float64(1.0), "v_threshold": np.float64(1.0),
                          "v_reset": np.float64(0.0)},
                  "output": {"type": "Output", "shape": np.array(shape, dtype=np.int64)}},
        "edges": np.array([[b"input", b"if0"], [b"if0", b"output"]], dtype=object),
    }


def test_nir_huge_declared_dimension_refused_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "8 GiB")
    p = write_tree(tmp_path / "huge.nir", _huge_input_tree((100_000, 100_000)))
    t0 = time.monotonic()
    msg = refused(BudgetError, load_network, p, names=(p, "needs", "NEUROCOSIM_MAX_MEMORY"))
    assert time.monotonic() - t0 < 2, msg
    # scalar parameters broadcast to 10^10 neurons: the broadcast is refused, not attempted
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "100 GiB")
    refused(BudgetError, load_network, p, names=(p, "if0", "needs"))


def test_shape_product_does_not_overflow(tmp_path):
    # 2^40 x 2^40 x 2^40 wraps around in int64 arithmetic; the budget sees the true size
    p = write_tree(tmp_path / "wrap.nir", _huge_input_tree((2**40, 2**40, 2**40)))
    refused(BudgetError, load_network, p, names=(p, "needs"))
    with pytest.raises(BudgetError):
        ir.Network(nodes={"in": ir.Input(shape=(2**62, 2**62)), "out": ir.Output()},
                   edges=(("in", "out"),), dt=1e-3)


def test_nir_huge_sparse_dataset_refused_before_reading(assets, tmp_path):
    p = write_tree(tmp_path / "sparse.nir", nir_tree(assets))
    with h5py.File(p, "a") as f:  # a 10^5 x 10^5 weight declared, nothing stored
        del f["node/nodes/fc0/weight"]
        f["node/nodes/fc0"].create_dataset("weight", shape=(100_000, 100_000), dtype="f8",
                                           chunks=(1000, 1000), fillvalue=0.5)
    t0 = time.monotonic()
    refused(BudgetError, load_network, p, names=(p, "node/nodes/fc0/weight"))
    assert time.monotonic() - t0 < 2


# -- weight bundles (.npz) -----------------------------------------------------------------
@pytest.mark.parametrize("dt", [np.str_("abc"), np.array(["1e-3"]), np.float64(np.nan),
                                np.float64(np.inf), np.float64(-1e-3), np.float64(0.0),
                                np.ones(3), np.complex128(1e-3), np.bool_(True)])
def test_npz_bad_dt(assets, tmp_path, dt):
    p = bundle(assets, tmp_path / "dt.npz", dt=dt)
    refused(ModelError, load_network, p, names=(p, "'dt'"))


def test_npz_object_arrays_never_unpickled(assets, tmp_path):
    class Payload:
        def __init__(self, target):
            self.target = target

        def __reduce__(self):
            return (open, (self.target, "w"))

    target = tmp_path / "pwned"
    for key in ("dt", "weight_0"):
        p = tmp_path / f"pickled_{key}.npz"
        with open(p, "wb") as fh:
            np.savez(fh, **{**dict(np.load(assets / "net.npz")),
                            key: np.array([Payload(str(target))], dtype=object)})
        refused(ModelError, load_network, p, names=(p, key, "objects"))
        assert not target.exists()


def test_npz_truncated(assets, tmp_path):
    raw = (assets / "net.npz").read_bytes()
    for cut in (10, len(raw) // 2, len(raw) - 30):
        p = tmp_path / "trunc.npz"
        p.write_bytes(raw[:cut])
        refused(ModelError, load_network, p, names=(p,))


def test_npy_renamed_npz(tmp_path):
    p = tmp_path / "renamed.npz"
    buf = io.BytesIO()
    np.save(buf, np.ones((N_HID, N_IN)))
    p.write_bytes(buf.getvalue())
    refused(ModelError, load_network, p, names=(p, ".npy"))


def test_zip_that_is_not_npz(tmp_path):
    p = tmp_path / "docs.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    refused(ModelError, load_network, p, names=(p, "readme.txt"))


@pytest.mark.parametrize("changes,names", [
    ({"weight_0": np.full((N_HID, N_IN), np.nan)}, ("weight_0", "NaN")),
    ({"weight_1": np.full((N_OUT, N_HID), -np.inf)}, ("weight_1", "inf")),
    ({"weight_1": np.ones((N_OUT, N_HID + 1))}, ("weight_1", "weight_0")),
    ({"weight_0": np.ones((2, N_HID, N_IN))}, ("weight_0",)),
    ({"weight_0": np.ones(N_IN)}, ("weight_0",)),
    ({"weight_0": np.full((N_HID, N_IN), "w")}, ("weight_0",)),
    ({"weight_0": np.ones((N_HID, N_IN), complex)}, ("weight_0",)),
    ({"bias_0": np.ones(N_HID + 2)}, ("bias_0",)),
    ({"beta": np.array([0.9, 0.9, 0.9])}, ("beta",)),
    ({"beta": np.str_("high")}, ("beta",)),
    ({"synaptic_delay": np.int64(99)}, ("synaptic_delay",)),
    ({"synaptic_delay": np.str_("one")}, ("synaptic_delay",)),
    ({"neuron": np.str_("HodgkinHuxley")}, ("neuron",)),
    ({"neuron": np.ones(2)}, ("neuron",)),
    ({"reset": np.str_("hard")}, ("reset",)),
    ({"weight_0": None}, ("weight_0",)),
])
def test_npz_bad_weights_and_options(assets, tmp_path, changes, names):
    p = bundle(assets, tmp_path / "bad.npz", **changes)
    refused(ModelError, load_network, p, names=(p, *names))


def test_npz_huge_declared_array_refused_before_reading(tmp_path):
    p = npz_declaring(tmp_path / "hugew.npz", "weight_0", (10**6, 10**6),
                      {"dt": np.float64(1e-3)})
    t0 = time.monotonic()
    refused(BudgetError, load_network, p, names=(p, "weight_0"))
    # declared within budget but not stored: truncated, refused before allocating
    p = npz_declaring(tmp_path / "short.npz", "weight_0", (1000, 1000), {"dt": np.float64(1e-3)})
    refused(ModelError, load_network, p, names=(p, "weight_0", "truncated"))
    assert time.monotonic() - t0 < 2


# -- any path as a model -------------------------------------------------------------------
def test_any_path_as_model(assets, tmp_path):
    refused(ModelError, load_network, tmp_path / "missing.nir", names=("missing.nir",))
    refused(ModelError, load_network, tmp_path / "missing.npz", names=("missing.npz",))
    (tmp_path / "folder.nir").mkdir()
    refused(ModelError, load_network, tmp_path / "folder.nir", names=("folder.nir", "folder"))
    (tmp_path / "folder.npz").mkdir()
    refused(ModelError, load_network, tmp_path / "folder.npz", names=("folder.npz",))
    odd = tmp_path / "net.onnx"
    odd.write_bytes(b"\x08\x01")
    refused(ModelError, load_network, odd, names=("net.onnx", ".onnx"))
    refused(ModelError, load_network, "bad\0name.nir", names=("bad",))
    refused(ModelError, load_network, tmp_path / ("x" * 5000 + ".nir"), names=("xxx",))
    fifo = tmp_path / "pipe.nir"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    refused(ModelError, load_network, fifo, names=("pipe.nir", "regular file"))
    refused(DataError, load_data, fifo, names=("pipe.nir", "regular file"))
    for dt in (0, -1e-3, float("nan"), float("inf"), "1e-3", True):
        refused(ModelError, load_network, assets / "net.nir", dt=dt, names=("dt",))
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.nir"
        locked.write_bytes((assets / "net.nir").read_bytes())
        locked.chmod(0)
        refused(ModelError, load_network, locked, names=("locked.nir",))


# -- data files (load_data) ------------------------------------------------------------------
def test_data_truncated(assets, tmp_path):
    raw = (assets / "data.npz").read_bytes()
    for cut in (0, 100, 300, len(raw) - 10):
        p = tmp_path / "trunc.npz"
        p.write_bytes(raw[:cut])
        refused(DataError, load_data, p, names=(p,))


def test_data_npy_renamed(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.ones((4, N_IN)))
    p = tmp_path / "renamed.npz"
    p.write_bytes(buf.getvalue())
    refused(DataError, load_data, p, names=(p, ".npy"))


@pytest.mark.parametrize("x,names", [
    (np.zeros((0, N_IN)), ("'x'", "0 samples")),
    (np.zeros((N_SAMPLES, 0)), ("'x'", "no values")),
    (np.float64(3.0), ("'x'",)),
    (np.full((N_SAMPLES, N_IN), "a"), ("'x'", "strings")),
    (np.full((N_SAMPLES, N_IN), b"a"), ("'x'",)),
    (np.ones((N_SAMPLES, N_IN), complex), ("'x'", "complex")),
    (np.where(np.eye(N_SAMPLES, N_IN) > 0, np.nan, 0.5), ("'x'", "NaN", "x[0, 0]")),
    (np.full((N_SAMPLES, N_IN), np.inf), ("'x'", "inf")),
])
def test_data_bad_x(tmp_path, x, names):
    p = data_file(tmp_path / "bad.npz", x=x)
    refused(DataError, load_data, p, names=(p, *names))


def test_data_x_missing_object_or_huge(tmp_path):
    p = data_file(tmp_path / "nox.npz", inputs=np.ones((4, N_IN)))
    refused(DataError, load_data, p, names=(p, "'x'", "inputs"))
    p = tmp_path / "objx.npz"
    with open(p, "wb") as fh:
        np.savez(fh, x=np.array([None] * 4, dtype=object))
    refused(DataError, load_data, p, names=(p, "'x'", "objects"))
    p = npz_declaring(tmp_path / "hugex.npz", "x", (10**6, 10**6), {"y": np.zeros(3, int)})
    refused(BudgetError, load_data, p, names=(p, "'x'"))
    (tmp_path / "folder.npz").mkdir()
    refused(DataError, load_data, tmp_path / "folder.npz", names=("folder.npz",))
    refused(DataError, load_data, tmp_path / "missing.npz", names=("missing.npz",))


# -- labels --------------------------------------------------------------------------------
BAD_LABELS = {
    "strings": (np.array(list("abcabc")), "strings"),
    "float-0.5": (np.full(N_SAMPLES, 0.5), "y[0] = 0.5"),
    "nan": (np.where(np.arange(N_SAMPLES) == 3, np.nan, 1.0), "y[3] = nan"),
    "inf": (np.where(np.arange(N_SAMPLES) == 2, np.inf, 1.0), "y[2] = inf"),
    "bools": (np.arange(N_SAMPLES) % 2 == 0, "booleans"),
    "negative": (np.array([0, 1, 1, -1, 0, 1]), "y[3] = -1"),
    "ge-n-outputs": (np.array([0, 1, 2, 1, 0, 1]), "y[2] = 2"),
    "2-d": (np.zeros((N_SAMPLES, 2), int), "1-D"),
    "too-short": (np.zeros(N_SAMPLES - 1, int), "5 labels 'y' for 6 samples"),
    "complex": (np.ones(N_SAMPLES, complex), "complex"),
    "huge-uint": (np.array([0, 1, 2**64 - 1, 0, 0, 0], np.uint64), "y[2] = 18446744073709551615"),
}


@pytest.mark.parametrize("name", BAD_LABELS)
def test_validate_labels_refuses(name):
    y, shown = BAD_LABELS[name]
    msg = refused(DataError, validate_labels, y, N_OUT, N_SAMPLES, "d.npz",
                  names=("d.npz", "'y'", shown))
    if name in ("negative", "ge-n-outputs"):
        assert msg.startswith(f"d.npz: labels 'y' must be integers in [0, {N_OUT})")


def test_validate_labels_accepts_integer_valued():
    out = validate_labels(np.array([0.0, 1.0, 1.0]), 2, 3, "d.npz")
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 1]
    assert validate_labels([1, 0], 2).tolist() == [1, 0]
    assert validate_labels(np.array([5, 0], np.uint8)).tolist() == [5, 0]  # no n_classes


@pytest.mark.parametrize("name", ["strings", "float-0.5", "nan", "bools", "negative", "2-d",
                                  "too-short"])
def test_load_data_checks_labels_without_the_network(tmp_path, name):
    y, shown = BAD_LABELS[name]
    p = data_file(tmp_path / "bad_y.npz", x=np.ones((N_SAMPLES, N_IN)), y=y)
    refused(DataError, load_data, p, names=(p, "'y'", shown.replace("in [0, 2)", "")))
    # a label >= the number of outputs needs the network: load_data accepts it
    p = data_file(tmp_path / "big_y.npz", x=np.ones((N_SAMPLES, N_IN)), y=np.full(N_SAMPLES, 7.0))
    assert load_data(p)[1].tolist() == [7] * N_SAMPLES


# -- fuzzing ---------------------------------------------------------------------------------
FUZZ_BUDGET = "64 MiB"      # NEUROCOSIM_MAX_MEMORY while fuzzing
MAX_BYTES = 200 * 2**20     # what one example may allocate (parent and reading child)
MAX_SECONDS = 2.0

mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
              st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=16)),
    min_size=1, max_size=6)


def mutate(raw: bytes, ops) -> bytes:
    b = bytearray(raw)
    for op, where, data in ops:
        i = int(where * len(b)) if b else 0
        if op == "flip" and b:
            b[i] ^= 1 << (data[0] % 8)
        elif op == "set" and b:
            b[i:i + len(data)] = data
        elif op == "insert":
            b[i:i] = data
        elif op == "delete":
            del b[i:i + 1 + data[0]]
        elif op == "truncate":
            del b[i:]
    return bytes(b)


def _rss_children() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _rss_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total(load, path: Path, content: bytes) -> None:
    """``load(path)`` on ``content``: a result or a NeurocosimError (one line), within
    MAX_SECONDS and MAX_BYTES (Python-side peak by tracemalloc; the reading child by the
    growth of its peak RSS over this process's)."""
    path.write_bytes(content)
    children_before = _rss_children()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEUROCOSIM_MAX_MEMORY", FUZZ_BUDGET)
        mp.setattr(nir_sandbox, "READ_SECONDS", 0.5)
        mp.setattr(nir_sandbox, "_CHILD_SLACK", 64 << 20)
        tracing = tracemalloc.is_tracing()
        if tracing:
            tracemalloc.reset_peak()
        else:
            tracemalloc.start()
        t0 = time.monotonic()
        try:
            load(path)
        except NeurocosimError as exc:
            msg = str(exc)
            assert "\n" not in msg and len(msg) < 600, msg
        finally:
            seconds = time.monotonic() - t0
            _, peak = tracemalloc.get_traced_memory()
            if not tracing:
                tracemalloc.stop()
    assert seconds < MAX_SECONDS
    assert peak < MAX_BYTES
    # the reading child starts with this process's pages; what it adds is its growth
    children_after = _rss_children()
    if children_after > children_before:  # (else an earlier, bigger child holds the max)
        assert children_after - _rss_self() < MAX_BYTES


FUZZ = settings(deadline=2000, max_examples=60, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(content=st.binary(max_size=4096))
def test_fuzz_random_bytes(assets, content):
    for name, load in (("r.nir", load_network), ("r.npz", load_network), ("d.npz", load_data)):
        total(load, assets / "fuzz" / name, content)
        total(load, assets / "fuzz" / name, b"\x89HDF\r\n\x1a\n" + content)
        total(load, assets / "fuzz" / name, b"PK\x03\x04" + content)


@pytest.fixture(scope="module", autouse=True)
def _fuzz_folder(assets):
    (assets / "fuzz").mkdir(exist_ok=True)


@settings(FUZZ, max_examples=150)
@given(ops=mutations)
def test_fuzz_nir_mutations(assets, ops):
    total(load_network, assets / "fuzz" / "m.nir", mutate((assets / "net.nir").read_bytes(), ops))


@settings(FUZZ, max_examples=150)
@given(ops=mutations)
def test_fuzz_npz_bundle_mutations(assets, ops):
    total(load_network, assets / "fuzz" / "m.npz", mutate((assets / "net.npz").read_bytes(), ops))


@settings(FUZZ, max_examples=150)
@given(ops=mutations)
def test_fuzz_data_mutations(assets, ops):
    total(load_data, assets / "fuzz" / "d.npz", mutate((assets / "data.npz").read_bytes(), ops))


def _full(spec) -> np.ndarray:
    dtype, shape, value = spec
    with np.errstate(all="ignore"):  # NaN or 1e300 cast to integers: any value will do
        return np.full(shape, value).astype(dtype)


def _leaf_values():
    small = st.integers(0, 3)
    shapes = st.lists(small, max_size=3).map(tuple)
    numeric = st.tuples(st.sampled_from(["f8", "f4", "i8", "u1", "i2", "c16", "?"]), shapes,
                        st.sampled_from([0.0, 1.0, -1.0, 2.0, np.nan, np.inf, 1e300, 0.5]))
    return st.one_of(
        st.none(),  # remove the field
        st.text(max_size=20),
        st.sampled_from(["NIRGraph", "Input", "Output", "Affine", "LIF", "IF", "Conv2d",
                         "SumPool2d", "Flatten", "same", "zero", ">", "ILIF"]),
        numeric.map(_full),
        st.lists(st.text(max_size=5), min_size=1, max_size=6).map(
            lambda xs: np.array([x.encode() for x in xs], dtype=object)),
        st.recursive(st.dictionaries(st.sampled_from(["a", "type", "weight", "shape"]),
                                     st.floats(allow_nan=True), max_size=3),
                     lambda kids: st.dictionaries(st.sampled_from(["a", "b", "input"]), kids,
                                                  max_size=2), max_leaves=4),
    )


def _paths(tree, prefix=()):
    for k, v in tree.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_fuzz_nir_structure(assets, data):
    """Valid NIR graphs with fields replaced by values of any type and shape (nested groups,
    strings, complex, NaN, empty arrays...): the interpretation layer is total too."""
    tree = conv_tree() if data.draw(st.booleans()) else nir_tree(assets)
    paths = sorted(_paths(tree))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = tree
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        value = data.draw(_leaf_values())
        if value is None:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    p = assets / "fuzz" / "s.nir"
    try:
        write_tree(p, tree)
    except (TypeError, ValueError):  # h5py cannot store that value: nothing to test
        return
    total(load_network, p, p.read_bytes())
