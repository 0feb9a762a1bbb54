"""Hostile input through every command of the CLI (acceptance test of the reliability issue).

Every case runs ``neurocosim.cli.main(argv)`` in-process, in a folder that already holds
the user's files (``thesis.tex``, ``notes/data.csv``, ``results.json``, ``figure.png``,
``mycard.yaml`` and the input files of the case), and asserts:

1. exit status 2 (argparse's ``SystemExit(2)`` counts);
2. stderr is exactly one non-empty line starting ``neurocosim``, without "Traceback", of
   at most 1000 characters, naming the file or the field/flag concerned;
3. nothing under the folder changed: same files with the same sha256, no file or folder
   deleted, none created (a failure writes nothing);
4. for the cases marked ``fast``, the command ends within that many seconds.

Beside them: the same command lines with valid input exit 0 and write only their outputs
(the controls), a forged ``.neurocosim.json`` marker must not make a command delete the
user's files, a few cases run as real processes (``python -m neurocosim.cli``), and an
internal error exits 3 with one line saying it is a bug.

Guards, so that a command that does not refuse its input cannot take the machine (or
the test session) down with it: the address space is capped a few GiB above what the
process already uses (an unchecked 10¹⁰-element allocation ends in ``MemoryError``, an
exit 3), ``NEUROCOSIM_MAX_MEMORY`` is set below that cap so the budget checks, not the
cap, are what refuse big inputs, and an alarm interrupts a case after ``LIMIT_S`` seconds.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from neurocosim import cli
from neurocosim.cli import main
from tests.hostile import npz_declaring, write_nir_tree

pytestmark = pytest.mark.timeout(600, method="thread")  # last resort; cases have an alarm

LIMIT_S = 40            # a case still running after this is interrupted (and fails)
HEADROOM = 6 << 30      # address space a case may add to what the process already maps
BUDGET = "3 GiB"        # NEUROCOSIM_MAX_MEMORY during the cases (below HEADROOM)
N_IN, N_HID, N_OUT, N_SAMPLES = 6, 8, 3, 12

USER_FILES = {
    "thesis.tex": "\\documentclass{article}\n\\begin{document}My thesis.\\end{document}\n",
    "notes/data.csv": "a,b\n1,2\n3,4\n",
    "results.json": '{"mine": true}\n',
    "figure.png": "not really a png, but the user's\n",
    "mycard.yaml": "# my own notes about a card\nname: mine\n",
}


# -- fixtures built once per module ---------------------------------------------------
def _weights(rng):
    return [rng.normal(0, 0.6, (N_HID, N_IN)), rng.normal(0, 0.6, (N_OUT, N_HID))]


def _cli_ok(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue() + err.getvalue()


def _make_run_folder(net_path: Path, data: Path, out: Path) -> None:
    """A simulation folder as ``simulate --chip ideal -o`` writes it. Made with the CLI;
    if the CLI cannot (it is being changed), with the same public API calls, so the
    ``energy RUN`` cases still test what they are about."""
    code, text = _cli_ok(["simulate", str(net_path), "--chip", "ideal", "--data", str(data),
                          "--steps", "4", "--encoding", "rate", "-o", str(out), "-q"])
    if code == 0:
        return
    warnings.warn(f"simulate --chip failed ({code}: {text.strip()[-300:]}); run folder "
                  "for the energy cases made with the API", stacklevel=1)
    shutil.rmtree(out, ignore_errors=True)
    from neurocosim.devices import dump_chip, load_chip
    from neurocosim.devices.program import program_chip
    from neurocosim.frontends import load_network
    from neurocosim.frontends.nir_io import write_nir
    from neurocosim.hwsim import make_encoder, simulate
    from neurocosim.hwsim.encoders import load_data
    from neurocosim.mapping import map_network

    net = load_network(net_path)
    chip = load_chip("ideal")
    x, y = load_data(data)
    mapped = map_network(net, chip)
    prog = program_chip(mapped, np.random.default_rng(0))
    res = simulate(prog, make_encoder("rate", x, net.input_shape, np.random.default_rng(1)), 4,
                   rng=np.random.default_rng(2))
    from neurocosim._atomic import output_dir

    c = res.counts
    with output_dir(out, command="simulate") as tmp:
        _write_run(tmp, net, chip, mapped, res, c, x, y, dump_chip, write_nir)


def _write_run(out, net, chip, mapped, res, c, x, y, dump_chip, write_nir) -> None:
    write_nir(net, out / "network.nir")
    np.savez(out / "results.npz", output=res.output, steps_used=res.steps_used,
             predictions=res.predictions(), labels=y, block=c.block, layer=c.layer,
             input=c.input, latency_s=c.latency_s, block_op=np.array(c.block_op, dtype=str),
             block_tile=c.block_tile, block_outs=c.block_outs,
             layer_names=np.array(c.layer_names, dtype=str), adc_full_scale=np.asarray([]))
    (out / "chip.yaml").write_text(dump_chip(chip))
    (out / "summary.json").write_text(json.dumps(
        {"engine": "hwsim", "chip": chip.name, "encoding": "rate", "n_samples": len(x),
         "steps_max": 4, "mapping": mapped.report.to_dict()}, indent=2))


def _study(**changes) -> dict:
    study = {
        "name": "hostile", "model": "net.nir", "data": "data.npz", "chip": "ideal",
        "simulation": {"steps": 4, "encoding": "rate", "adc_calibration": 0},
        "grid": {"simulation.early_stop": ["none", "margin:1"]},
        "seeds": [0],
        "metrics": ["accuracy", "mean_steps"],
    }
    study.update(changes)
    return study


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """Valid inputs: a 2-layer IF network (.nir, .npz), data, a card, a study, a
    calibration CSV, a scikit-learn MLP saved with skops, a simulation folder."""
    from sklearn.neural_network import MLPClassifier

    from neurocosim import network_from_weights, save_network
    from neurocosim.calibration.fit import synthetic_measurements, write_measurements
    from neurocosim.devices import load_chip

    root = tmp_path_factory.mktemp("assets")
    rng = np.random.default_rng(0)
    net = network_from_weights(_weights(rng), dt=1e-3, neuron="IF", reset="subtract")
    save_network(net, root / "net.nir")
    save_network(net, root / "net.npz")
    x = rng.uniform(0, 1, (N_SAMPLES, N_IN))
    y = np.arange(N_SAMPLES) % N_OUT
    np.savez(root / "data.npz", x=x, y=y)
    code, card = _cli_ok(["chip", "show", "ideal", "--yaml"])
    assert code == 0, card
    (root / "card.yaml").write_text(card)
    (root / "study.yaml").write_text(yaml.safe_dump(_study(), sort_keys=False))
    targets = rng.uniform(6e-6, 19e-6, 400)  # enough cells for a fit
    m = synthetic_measurements(load_chip("pcm-aihwkit").macro, targets, [0.0, 3600.0], 2, rng)
    write_measurements(m, root / "meas.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(N_HID,), max_iter=50, random_state=0).fit(x, y)
    import skops.io

    skops.io.dump(mlp, root / "mlp.skops")
    _make_run_folder(root / "net.nir", root / "data.npz", root / "run")
    return root


@pytest.fixture(scope="module")
def sweep_folder(assets, tmp_path_factory) -> Path:
    """A sweep of study A interrupted after one of its two runs (``--max-runs 1``)."""
    root = tmp_path_factory.mktemp("sweep")
    for f in ("net.nir", "data.npz"):
        shutil.copy(assets / f, root / f)
    (root / "a.yaml").write_text(yaml.safe_dump(_study(name="a"), sort_keys=False))
    out = root / "sweep_a"
    code, text = _cli_ok(["sweep", str(root / "a.yaml"), "-o", str(out), "--workers", "1",
                          "--max-runs", "1", "-q"])
    if code != 0:
        warnings.warn(f"sweep failed ({code}: {text.strip()[-300:]}); made with run_sweep",
                      stacklevel=1)
        shutil.rmtree(out, ignore_errors=True)
        from neurocosim.sweep import load_study, run_sweep

        run_sweep(load_study(root / "a.yaml"), out, workers=1, max_runs=1)
    assert (out / "results.csv").exists()
    return out


# -- the user's folder ------------------------------------------------------------------
class WS:
    """The user's folder for one case: their files, the valid inputs, helpers to write
    hostile ones. Paths returned are absolute strings."""

    def __init__(self, root: Path, assets: Path, request, monkeypatch) -> None:
        self.root, self.assets, self._request, self._mp = root, assets, request, monkeypatch
        for rel, text in USER_FILES.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        for f in ("net.nir", "net.npz", "data.npz", "card.yaml", "study.yaml", "meas.csv",
                  "mlp.skops"):
            shutil.copy(assets / f, root / f)

    def env(self, key: str, value: str) -> None:
        """Set an environment variable for this case only."""
        self._mp.setenv(key, value)

    def p(self, rel: str) -> str:
        return str(self.root / rel)

    @property
    def run(self) -> str:
        """A copy of the simulation folder (``simulate --chip -o run``)."""
        if not (self.root / "run").exists():
            shutil.copytree(self.assets / "run", self.root / "run")
        return self.p("run")

    def study_a(self, rel: str) -> str:
        """Study A again (same semantic content: the absolute paths of its inputs)."""
        src = Path(self._request.getfixturevalue("sweep_folder")).parent
        return self.write(rel, yaml.safe_dump(_study(name="a", model=str(src / "net.nir"),
                                                     data=str(src / "data.npz")), sort_keys=False))

    @property
    def sweep_a(self) -> str:
        """A copy of an interrupted sweep of another study (same columns)."""
        if not (self.root / "sweep_a").exists():
            shutil.copytree(self._request.getfixturevalue("sweep_folder"), self.root / "sweep_a")
        return self.p("sweep_a")

    def write(self, rel: str, content: str | bytes) -> str:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        return str(p)

    def npz(self, rel: str, **arrays) -> str:
        p = self.root / rel
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)
        return str(p)

    def data(self, rel: str, x=None, y="default") -> str:
        rng = np.random.default_rng(5)
        x = rng.uniform(0, 1, (N_SAMPLES, N_IN)) if x is None else x
        arrays = {"x": x}
        if isinstance(y, str) and y == "default":
            y = np.arange(len(x)) % N_OUT
        if y is not None:
            arrays["y"] = y
        return self.npz(rel, **arrays)

    def bundle(self, rel: str, **changes) -> str:
        """The valid weight bundle with keys changed (None removes a key)."""
        d = dict(np.load(self.assets / "net.npz", allow_pickle=False))
        for k, v in changes.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return self.npz(rel, **d)

    def card_text(self) -> str:
        return (self.assets / "card.yaml").read_text()

    def card(self, rel: str, edit: Callable[[dict], None]) -> str:
        d = yaml.safe_load(self.card_text())
        edit(d)
        return self.write(rel, yaml.safe_dump(d, sort_keys=False))

    def study(self, rel: str, **changes) -> str:
        return self.write(rel, yaml.safe_dump(_study(**changes), sort_keys=False))

    def nir_dict(self) -> dict:
        from nir.serialization import hdf2dict

        with h5py.File(self.assets / "net.nir", "r") as f:
            return hdf2dict(f["node"])

    def nir(self, rel: str, graph: dict) -> str:
        """Write ``graph`` (the layout of ``hdf2dict``) as a NIR HDF5 file."""
        p = self.root / rel
        write_nir_tree(p, graph)
        return str(p)

    def csv(self, rel: str, edit: Callable[[list[str]], list[str]]) -> str:
        lines = (self.assets / "meas.csv").read_text().splitlines()
        return self.write(rel, "\n".join(edit(lines)) + "\n")


# -- hostile payloads ---------------------------------------------------------------------
def alias_bomb(levels: int = 9) -> str:
    """"Billion laughs": 9 levels of 9 references = 9⁹ ≈ 3.9·10⁸ strings once expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def alias_bomb_value(levels: int = 9) -> str:
    """The same bomb as one flow sequence, to put where a card or study expects a value."""
    items = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def nested_brackets(n: int = 100_000) -> str:
    return "name: deep\nvalue: " + "[" * n + "]" * n + "\n"


class _Payload:
    """Unpickling this creates a file (the attack a model file can carry)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (builtins.open, (self.target, "w"))


class NotAModel:
    """A plain object of a type skops does not trust."""

    def __init__(self) -> None:
        self.weights = [1, 2, 3]


def _nir_conv(ws: WS, rel: str, *, stride=(1, 1), kernel_nodes: str = "conv",
              pool_kernel=(2, 2)) -> str:
    """Input (1,4,4) → Conv2d or SumPool2d → IF → Output."""
    if kernel_nodes == "conv":
        layer = {"type": "Conv2d", "weight": np.ones((2, 1, 3, 3)) * 0.1, "bias": np.zeros(2),
                 "stride": np.array(stride), "padding": np.array([1, 1]),
                 "dilation": np.array([1, 1]), "groups": np.int64(1),
                 "input_shape": np.array([4, 4])}
        shape = (2, 4, 4)
    else:
        layer = {"type": "SumPool2d", "kernel_size": np.array(pool_kernel),
                 "stride": np.array([2, 2]), "padding": np.array([0, 0])}
        # the output a kernel of 0 would give by the usual formula (4 - 0) // 2 + 1 = 3, so
        # that the kernel is the only thing wrong with the file
        shape = (1, 2, 2) if min(pool_kernel) > 0 else (1, 3, 3)
    graph = {
        "type": "NIRGraph",
        "metadata": {"neurocosim_dt": 1e-3},
        "nodes": {
            "input": {"type": "Input", "shape": np.array([1, 4, 4])},
            "layer": layer,
            "if0": {"type": "IF", "r": np.ones(shape), "v_threshold": np.ones(shape),
                    "v_reset": np.zeros(shape)},
            "output": {"type": "Output", "shape": np.array(shape)},
        },
        "edges": np.array([[b"input", b"layer"], [b"layer", b"if0"], [b"if0", b"output"]],
                          dtype=object),
    }
    return ws.nir(rel, graph)


# -- the cases -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[WS], list[str]]
    names: tuple  # each: a substring, or a tuple of alternatives (one must appear)
    fast: float | None = None  # must end within this many seconds


CASES: list[Case] = []


def case(id: str, *names, fast: float | None = None):
    def deco(fn):
        CASES.append(Case(id, fn, names, fast))
        return fn
    return deco


def sim(ws: WS, *extra: str, model: str = "net.nir", data: str = "data.npz") -> list[str]:
    return ["simulate", ws.p(model), "--steps", "4", "--data", ws.p(data), "-q", *extra]


def chip_sim(ws: WS, *extra: str, model: str = "net.nir", data: str = "data.npz",
             chip: str = "ideal", out: str = "out_run") -> list[str]:
    return ["simulate", ws.p(model), "--chip", chip, "--steps", "4", "--data", ws.p(data),
            "--encoding", "rate", "-o", ws.p(out) if out != "." else ".", "-q", *extra]


def prune(ws: WS, *extra: str, data: str = "data.npz", out: str = "pruned") -> list[str]:
    return ["prune", ws.p("net.nir"), "--chip", PRUNE_CHIP, "--data", ws.p(data), "--epochs", "1",
            "--steps", "4", "-o", ws.p(out) if out != "." else ".", "-q", *extra]


PRUNE_CHIP = "prime-rram-40nm"  # prune-on-chip needs programmed conductances
BAD_LABELS = {
    "strings": lambda: np.array(list("abcabcabcabc")),
    "float-0.5": lambda: np.full(N_SAMPLES, 0.5),
    "nan": lambda: np.where(np.arange(N_SAMPLES) == 3, np.nan, np.arange(N_SAMPLES) % N_OUT),
    "negative": lambda: np.arange(N_SAMPLES) % N_OUT - 1,
    "ge-n-outputs": lambda: np.arange(N_SAMPLES) % N_OUT + 1,
}

# ---- info ----
case("info-missing-model", "nope.nir")(lambda ws: ["info", ws.p("nope.nir")])
case("info-folder-as-model", "folder.nir")(
    lambda ws: (os.mkdir(ws.p("folder.nir")), ["info", ws.p("folder.nir")])[1])
case("info-text-file-as-nir", "text.nir")(
    lambda ws: ["info", ws.write("text.nir", "this is not HDF5\n")])
case("info-empty-nir", "empty.nir")(lambda ws: ["info", ws.write("empty.nir", b"")])
case("info-unknown-suffix", "net.onnx")(
    lambda ws: ["info", ws.write("net.onnx", b"\x08\x01")])
case("info-dt-inf", "dt")(lambda ws: ["info", ws.p("net.nir"), "--dt", "inf"])
case("info-dt-nan", "dt")(lambda ws: ["info", ws.p("net.nir"), "--dt", "nan"])


@case("info-nir-no-node-group", "nonode.nir")
def _(ws):
    with h5py.File(ws.p("nonode.nir"), "w") as f:
        f.create_dataset("version", data="1.0", dtype=h5py.string_dtype())
    return ["info", ws.p("nonode.nir")]


@case("info-nir-without-nodes", "nonodes.nir", "nodes")
def _(ws):
    g = ws.nir_dict()
    del g["nodes"]
    return ["info", ws.nir("nonodes.nir", g)]


@case("info-nir-without-edges", "noedges.nir", "edges")
def _(ws):
    g = ws.nir_dict()
    del g["edges"]
    return ["info", ws.nir("noedges.nir", g)]


@case("info-nir-metadata-dt-abc", "dtabc.nir", "dt")
def _(ws):
    g = ws.nir_dict()
    g["metadata"]["neurocosim_dt"] = "abc"
    return ["info", ws.nir("dtabc.nir", g)]


@case("info-nir-edge-to-unknown-node", "dangling.nir", "ghost")
def _(ws):
    g = ws.nir_dict()
    g["edges"] = np.concatenate([g["edges"], np.array([[b"if1", b"ghost"]], dtype=object)])
    return ["info", ws.nir("dangling.nir", g)]


@case("info-nir-node-without-type", "notype.nir", "fc0")
def _(ws):
    g = ws.nir_dict()
    del g["nodes"]["fc0"]["type"]
    return ["info", ws.nir("notype.nir", g)]


@case("info-nir-200k-char-type", "longtype.nir")
def _(ws):
    g = ws.nir_dict()
    g["nodes"]["fc0"]["type"] = "X" * 200_000
    return ["info", ws.nir("longtype.nir", g)]


@case("info-nir-affine-weight-string", "strweight.nir", "fc0")
def _(ws):
    g = ws.nir_dict()
    g["nodes"]["fc0"]["weight"] = "abc"
    return ["info", ws.nir("strweight.nir", g)]


@case("info-nir-weight-nan", "nanweight.nir", "fc0")
def _(ws):
    g = ws.nir_dict()
    g["nodes"]["fc0"]["weight"][0, 0] = np.nan
    return ["info", ws.nir("nanweight.nir", g)]


@case("info-nir-conv2d-stride-0", "stride0.nir", "stride")
def _(ws):
    return ["info", _nir_conv(ws, "stride0.nir", stride=(0, 0))]


@case("info-nir-sumpool-kernel-0", "pool0.nir", "kernel")
def _(ws):
    return ["info", _nir_conv(ws, "pool0.nir", kernel_nodes="pool", pool_kernel=(0, 0))]


@case("info-nir-huge-declared-input-shape", "hugeshape.nir", fast=5)
def _(ws):
    shape = (100_000, 100_000)  # 10^10 neurons; scalar parameters broadcast to them
    graph = {
        "type": "NIRGraph", "metadata": {"neurocosim_dt": 1e-3},
        "nodes": {"input": {"type": "Input", "shape": np.array(shape)},
                  "if0": {"type": "IF", "r": np.float64(1.0), "v_threshold": np.float64(1.0),
                          "v_reset": np.float64(0.0)},
                  "output": {"type": "Output", "shape": np.array(shape)}},
        "edges": np.array([[b"input", b"if0"], [b"if0", b"output"]], dtype=object),
    }
    return ["info", ws.nir("hugeshape.nir", graph)]


@case("info-nir-huge-sparse-dataset", "sparse.nir", fast=5)
def _(ws):
    path = ws.nir("sparse.nir", ws.nir_dict())
    with h5py.File(path, "a") as f:  # a 10^5 x 10^5 weight declared, nothing stored
        grp = f["node/nodes/fc0"]
        del grp["weight"]
        grp.create_dataset("weight", shape=(100_000, 100_000), dtype="f8", chunks=(1000, 1000),
                           fillvalue=0.5)
    return ["info", path]


@case("info-nir-edges-odd-shape", "oddedges.nir", "edges")
def _(ws):
    g = ws.nir_dict()
    g["edges"] = np.array([b"input", b"fc0", b"if0"], dtype=object)
    return ["info", ws.nir("oddedges.nir", g)]


@case("info-nir-link-cycle", "cycle.nir", fast=5)
def _(ws):
    path = ws.nir("cycle.nir", ws.nir_dict())
    with h5py.File(path, "a") as f:  # node/nodes/fc0/loop -> /node: walking it never ends
        f["node/nodes/fc0/metadata/loop"] = h5py.SoftLink("/node")
    return ["info", path]


@case("info-nir-5000-nested-groups", "nested.nir", fast=5)
def _(ws):
    path = ws.nir("nested.nir", ws.nir_dict())
    with h5py.File(path, "a") as f:
        f.create_group("node/nodes/fc0/metadata/" + "/".join(["g"] * 5000))
    return ["info", path]


_npz_declaring = npz_declaring


case("info-npz-huge-declared-weight", "hugew.npz", fast=5)(
    lambda ws: ["info", _npz_declaring(ws.p("hugew.npz"), "weight_0", (10**6, 10**6),
                                       {"dt": np.float64(1e-3)})])
case("sim-data-huge-declared-x", "hugex.npz", fast=5)(
    lambda ws: sim(ws, data=_npz_declaring(ws.p("hugex.npz"), "x", (10**6, 10**6),
                                           {"y": np.zeros(3, int)})))
case("info-npz-nonnumeric-dt", "dtabc.npz", "dt")(
    lambda ws: ["info", ws.bundle("dtabc.npz", dt=np.str_("abc"))])
case("info-npz-unknown-neuron", "neuron.npz", "neuron")(
    lambda ws: ["info", ws.bundle("neuron.npz", neuron=np.str_("HodgkinHuxley"))])
case("info-npz-3d-weight", "w3d.npz", ("weight_0", "fc0"))(
    lambda ws: ["info", ws.bundle("w3d.npz", weight_0=np.ones((2, N_HID, N_IN)))])
case("info-npz-weight-shape-mismatch", "mismatch.npz", ("weight_1", "fc1"))(
    lambda ws: ["info", ws.bundle("mismatch.npz", weight_1=np.ones((N_OUT, N_HID + 1)))])
case("info-npz-weight-strings", "wstr.npz", "weight_0")(
    lambda ws: ["info", ws.bundle("wstr.npz", weight_0=np.full((N_HID, N_IN), "w"))])
case("info-npz-synaptic-delay-99", "delay.npz", "synaptic_delay")(
    lambda ws: ["info", ws.bundle("delay.npz", synaptic_delay=np.int64(99))])


@case("info-npz-truncated", "trunc.npz")
def _(ws):
    raw = (ws.assets / "net.npz").read_bytes()
    return ["info", ws.write("trunc.npz", raw[: len(raw) // 2])]


@case("info-npy-renamed-npz", "renamed.npz")
def _(ws):
    buf = io.BytesIO()
    np.save(buf, np.ones((N_HID, N_IN)))
    return ["info", ws.write("renamed.npz", buf.getvalue())]


@case("info-npz-object-array", "pickled.npz")
def _(ws):
    buf = io.BytesIO()
    np.savez(buf, weight_0=np.array([{"a": 1}], dtype=object), dt=np.float64(1e-3))
    return ["info", ws.write("pickled.npz", buf.getvalue())]


# ---- simulate (reference engine) ----
case("sim-missing-model", "nope.nir")(lambda ws: sim(ws, model="nope.nir"))
case("sim-missing-data", "nope.npz")(lambda ws: sim(ws, data="nope.npz"))
case("sim-data-is-a-folder", "notes")(
    lambda ws: ["simulate", ws.p("net.nir"), "--steps", "4", "--data", ws.p("notes"), "-q"])
case("sim-data-truncated", "trunc.npz")(
    lambda ws: sim(ws, data="trunc.npz") if ws.write(
        "trunc.npz", (ws.assets / "data.npz").read_bytes()[:300]) else None)
@case("sim-data-npy-renamed", "renamed.npz")
def _(ws):
    buf = io.BytesIO()
    np.save(buf, np.ones((4, N_IN)))
    return sim(ws, data=ws.write("renamed.npz", buf.getvalue()))



case("sim-data-object-x", "objx.npz")(
    lambda ws: sim(ws, data="objx.npz") if ws.npz(
        "objx.npz", x=np.array([None] * 4, dtype=object)) else None)
case("sim-empty-x", "empty.npz", "x")(
    lambda ws: sim(ws, data="empty.npz") if ws.data(
        "empty.npz", x=np.zeros((0, N_IN)), y=np.zeros(0, int)) else None)
case("sim-x-wrong-shape", "shape.npz", "x")(
    lambda ws: sim(ws, data="shape.npz") if ws.data(
        "shape.npz", x=np.ones((N_SAMPLES, N_IN + 1)) * 0.5) else None)
case("sim-x-nan", "xnan.npz", "x")(
    lambda ws: sim(ws, data="xnan.npz") if ws.data(
        "xnan.npz", x=np.full((N_SAMPLES, N_IN), np.nan)) else None)
case("sim-x-strings", "xstr.npz", "x")(
    lambda ws: sim(ws, data="xstr.npz") if ws.data(
        "xstr.npz", x=np.full((N_SAMPLES, N_IN), "a")) else None)
case("sim-spikes-encoding-without-time-axis", "data.npz", ("spikes", "x"))(
    lambda ws: sim(ws, "--encoding", "spikes"))
case("sim-spikes-fewer-steps-than-asked", "spk.npz", ("steps", "x"))(
    lambda ws: sim(ws, "--encoding", "spikes", data=ws.data(
        "spk.npz", x=np.ones((N_SAMPLES, 2, N_IN)))))
case("sim-y-2d", "y2d.npz", "y")(
    lambda ws: sim(ws, data="y2d.npz") if ws.data(
        "y2d.npz", y=np.zeros((N_SAMPLES, 2), int)) else None)
case("sim-negative-seed", "seed")(lambda ws: sim(ws, "--encoding", "rate", "--seed", "-1"))
case("sim-steps-1e12-reference", "steps", fast=5)(
    lambda ws: ["simulate", ws.p("net.nir"), "--steps", "1000000000000", "--data",
                ws.p("data.npz"), "-q"])
case("sim-json-onto-existing-file", "results.json", "--force")(
    lambda ws: sim(ws, "--json", ws.p("results.json")))
case("sim-json-under-a-file", "thesis.tex")(
    lambda ws: sim(ws, "--json", ws.p("thesis.tex/out.json")))
case("sim-json-onto-folder", "notes")(lambda ws: sim(ws, "--json", ws.p("notes")))
case("sim-json-symlink-to-user-file", "link.json", "--force")(
    lambda ws: (os.symlink(ws.p("thesis.tex"), ws.p("link.json")),
                sim(ws, "--json", ws.p("link.json")))[1])
case("sim-output-without-chip", ("--chip", "-o"))(lambda ws: sim(ws, "-o", ws.p("out")))
case("sim-model-npz-dt-abc", "dtabc.npz", "dt")(
    lambda ws: sim(ws, model="dtabc.npz") if ws.bundle(
        "dtabc.npz", dt=np.str_("abc")) else None)

for _name, _y in BAD_LABELS.items():
    case(f"sim-labels-{_name}", "y")(
        lambda ws, _y=_y: sim(ws, data="bad_y.npz") if ws.data("bad_y.npz", y=_y()) else None)
    case(f"chip-labels-{_name}", "y")(
        lambda ws, _y=_y: chip_sim(ws, data="bad_y.npz") if ws.data("bad_y.npz", y=_y())
        else None)
    case(f"prune-labels-{_name}", "y")(
        lambda ws, _y=_y: prune(ws, data="bad_y.npz") if ws.data("bad_y.npz", y=_y())
        else None)

# ---- simulate --chip ----
case("chip-o-user-folder", "notes", "--force")(lambda ws: chip_sim(ws, out="notes"))
case("chip-o-existing-file", "thesis.tex")(lambda ws: chip_sim(ws, out="thesis.tex"))
case("chip-o-under-a-file", "thesis.tex")(lambda ws: chip_sim(ws, out="thesis.tex/run"))
case("chip-o-dot-in-user-folder", "--force")(lambda ws: chip_sim(ws, out="."))
case("chip-steps-1e9", "steps", fast=5)(
    lambda ws: ["simulate", ws.p("net.nir"), "--chip", "ideal", "--steps", "1000000000",
                "--data", ws.p("data.npz"), "--encoding", "rate", "-o", ws.p("out_run"), "-q"])
case("chip-early-stop-margin-nan", "early")(
    lambda ws: chip_sim(ws, "--early-stop", "margin:nan"))
case("chip-early-stop-confidence-2", "early")(
    lambda ws: chip_sim(ws, "--early-stop", "confidence:2:1"))
case("chip-early-stop-garbage", "early")(
    lambda ws: chip_sim(ws, "--early-stop", "whenever"))
case("chip-adc-calibration-negative", ("adc-calibration", "adc_calibration"))(
    lambda ws: chip_sim(ws, "--adc-calibration", "-5", chip="prime-rram-40nm"))
case("chip-read-time-negative", ("read-time", "read_time"))(
    lambda ws: chip_sim(ws, "--read-time=-1d", chip="prime-rram-40nm"))
case("chip-read-time-1e400s", ("read-time", "read_time"))(
    lambda ws: chip_sim(ws, "--read-time", "1e400s", chip="prime-rram-40nm"))
case("chip-threads-10000", "threads")(lambda ws: chip_sim(ws, "--threads", "10000"))
case("chip-negative-seed", "seed")(lambda ws: chip_sim(ws, "--seed", "-3"))
case("chip-unknown-preset", "no-such-chip")(lambda ws: chip_sim(ws, chip="no-such-chip"))
case("chip-missing-card", "missing.yaml")(lambda ws: chip_sim(ws, chip=ws.p("missing.yaml")))
case("chip-card-misspelt-key", "typo.yaml", "g_maxx")(
    lambda ws: chip_sim(ws, chip=ws.write(
        "typo.yaml", ws.card_text().replace("  g_max:", "  g_maxx:"))))
case("chip-card-alias-bomb", "bomb.yaml", fast=5)(
    lambda ws: chip_sim(ws, chip=ws.write("bomb.yaml", ws.card_text().replace(
        "description:", "description: " + alias_bomb_value() + "\nx:"))))
case("chip-card-100k-brackets", "deep.yaml", fast=5)(
    lambda ws: chip_sim(ws, chip=ws.write("deep.yaml", nested_brackets())))
case("chip-card-non-utf8", "latin1.yaml")(
    lambda ws: chip_sim(ws, chip=ws.write(
        "latin1.yaml", ws.card_text().replace("Ideal", "Idéal").encode("latin-1"))))

# ---- convert ----


def convert(ws: WS, model: str, *extra: str, data: str = "data.npz", out: str = "snn.nir"):
    return ["convert", ws.p(model), "--data", ws.p(data), "-o", ws.p(out), *extra]


@case("convert-malicious-pickle", "evil.pkl", ("--trust-pickle", "skops"))
def _(ws):
    ws.write("evil.pkl", pickle.dumps(_Payload(ws.p("pwned.txt"))))
    return convert(ws, "evil.pkl")


@case("convert-malicious-joblib", "evil.joblib", ("--trust-pickle", "skops"))
def _(ws):
    import joblib

    joblib.dump(_Payload(ws.p("pwned.txt")), ws.p("evil.joblib"))
    return convert(ws, "evil.joblib")


@case("convert-skops-untrusted-type", "untrusted.skops")
def _(ws):
    import skops.io

    skops.io.dump(NotAModel(), ws.p("untrusted.skops"))
    return convert(ws, "untrusted.skops")


@case("convert-skops-not-an-mlp", "logreg.skops", ("MLPClassifier", "MLP"))
def _(ws):
    import skops.io
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).uniform(0, 1, (N_SAMPLES, N_IN))
    skops.io.dump(LogisticRegression().fit(x, np.arange(N_SAMPLES) % N_OUT), ws.p("logreg.skops"))
    return convert(ws, "logreg.skops")


case("convert-skops-garbage", "garbage.skops")(
    lambda ws: convert(ws, "garbage.skops") if ws.write("garbage.skops", "PK\x03\x04 nope")
    else None)
case("convert-missing-model", "nope.skops")(lambda ws: convert(ws, "nope.skops"))
case("convert-model-is-a-folder", "notes")(lambda ws: convert(ws, "notes"))
case("convert-output-existing-file", "mine.nir", "--force")(
    lambda ws: (shutil.copy(ws.p("net.nir"), ws.p("mine.nir")),
                convert(ws, "mlp.skops", out="mine.nir"))[1])
case("convert-output-under-a-file", "thesis.tex")(
    lambda ws: convert(ws, "mlp.skops", out="thesis.tex/snn.nir"))
case("convert-output-folder", "notes")(lambda ws: convert(ws, "mlp.skops", out="notes"))
case("convert-output-unknown-suffix", "snn.txt")(
    lambda ws: convert(ws, "mlp.skops", out="snn.txt"))
case("convert-data-wrong-features", "wide.npz")(
    lambda ws: convert(ws, "mlp.skops", data="wide.npz") if ws.data(
        "wide.npz", x=np.ones((N_SAMPLES, N_IN + 3))) else None)
case("convert-data-empty-x", "empty.npz", "x")(
    lambda ws: convert(ws, "mlp.skops", data="empty.npz") if ws.data(
        "empty.npz", x=np.zeros((0, N_IN)), y=None) else None)
case("convert-percentile-200", "percentile")(
    lambda ws: convert(ws, "mlp.skops", "--percentile", "200"))
case("convert-percentile-nan", "percentile")(
    lambda ws: convert(ws, "mlp.skops", "--percentile", "nan"))

# ---- chips / chip show ----
case("chips-extra-argument", "bogus")(lambda ws: ["chips", "bogus"])
case("chips-unknown-flag", "--yaml")(lambda ws: ["chips", "--yaml"])
case("chip-without-subcommand", ("show", "chip_command", "required"))(lambda ws: ["chip"])
case("show-unknown-preset", "prime-rram-40")(lambda ws: ["chip", "show", "prime-rram-40"])
case("show-missing-card", "missing.yaml")(lambda ws: ["chip", "show", ws.p("missing.yaml")])
case("show-folder-as-card", "folder.yaml")(
    lambda ws: (os.mkdir(ws.p("folder.yaml")), ["chip", "show", ws.p("folder.yaml")])[1])
case("show-misspelt-key", "typo.yaml", "adc_bitz")(
    lambda ws: ["chip", "show", ws.write("typo.yaml",
                                         ws.card_text().replace("  adc_bits:", "  adc_bitz:"))])
case("show-alias-bomb", "bomb.yaml", fast=5)(
    lambda ws: ["chip", "show", ws.write("bomb.yaml", ws.card_text() + alias_bomb())])
case("show-alias-bomb-in-a-value", "bomb2.yaml", fast=5)(
    lambda ws: ["chip", "show", ws.write(
        "bomb2.yaml", ws.card_text().replace("name: ideal", "name: " + alias_bomb_value()))])
case("show-alias-bomb-in-macro", "bomb3.yaml", fast=5)(
    lambda ws: ["chip", "show", ws.write(
        "bomb3.yaml", ws.card_text().replace("  rows: 256", "  rows: " + alias_bomb_value()))])
case("show-100k-brackets", "deep.yaml", fast=5)(
    lambda ws: ["chip", "show", ws.write("deep.yaml", nested_brackets())])
case("show-non-utf8", "latin1.yaml")(
    lambda ws: ["chip", "show", ws.write(
        "latin1.yaml", ws.card_text().replace("Ideal", "Idéal").encode("latin-1"))])
case("show-nul-byte", "nul.yaml")(
    lambda ws: ["chip", "show", ws.write("nul.yaml", ws.card_text().replace("Ideal", "Id\0eal"))])
case("show-empty-card", "empty.yaml")(lambda ws: ["chip", "show", ws.write("empty.yaml", "")])
case("show-list-card", "list.yaml")(lambda ws: ["chip", "show", ws.write("list.yaml", "- 1\n- 2\n")])
case("show-rows-not-a-number", "rows.yaml", "rows")(
    lambda ws: ["chip", "show", ws.card("rows.yaml", lambda d: d["macro"].update(rows="many"))])
case("show-rows-negative", "negrows.yaml", "rows")(
    lambda ws: ["chip", "show", ws.card("negrows.yaml", lambda d: d["macro"].update(rows=-5))])
case("show-g-max-bad-unit", "unit.yaml", "g_max")(
    lambda ws: ["chip", "show", ws.card("unit.yaml",
                                        lambda d: d["macro"].update(g_max="1 parsec"))])
case("show-clock-inf", "inf.yaml", "clock")(
    lambda ws: ["chip", "show", ws.card("inf.yaml", lambda d: d.update(clock=".inf Hz"))])
case("show-20k-item-list-as-name", "longname.yaml", "name")(
    lambda ws: ["chip", "show", ws.write("longname.yaml", ws.card_text().replace(
        "name: ideal", "name: [" + "x, " * 20_000 + "x]"))])
case("show-200k-char-description", "longdesc.yaml", "description")(
    lambda ws: ["chip", "show", ws.write("longdesc.yaml", ws.card_text().replace(
        "description: Ideal", "description: 42\nbogus: " + "y" * 200_000 + "\nx: Ideal"))])
case("show-python-tag", "tag.yaml")(
    lambda ws: ["chip", "show", ws.write(
        "tag.yaml", "!!python/object/apply:builtins.open ['pwned.txt', 'w']\n")])
case("show-huge-file", "huge.yaml", fast=5)(
    lambda ws: ["chip", "show", ws.write("huge.yaml", ws.card_text() + "#" * (17 << 20) + "\n")])

# ---- map ----


def map_(ws: WS, *extra: str, chip: str = "ideal", out: str = "mapping") -> list[str]:
    return ["map", ws.p("net.nir"), "--chip", chip, "-o", ws.p(out) if out != "." else ".",
            *extra]


case("map-o-user-folder", "notes", "--force")(lambda ws: map_(ws, out="notes"))
case("map-o-existing-file", "thesis.tex")(lambda ws: map_(ws, out="thesis.tex"))
case("map-o-under-a-file", "thesis.tex")(lambda ws: map_(ws, out="thesis.tex/mapping"))
case("map-o-dot-in-user-folder", "--force")(lambda ws: map_(ws, out="."))
case("map-o-symlink-to-user-folder", "--force")(
    lambda ws: (os.symlink(ws.p("notes"), ws.p("out_link")), map_(ws, out="out_link"))[1])
case("map-missing-model", "nope.npz")(
    lambda ws: ["map", ws.p("nope.npz"), "--chip", "ideal", "-o", ws.p("mapping")])
case("map-unknown-chip", "no-such-chip")(lambda ws: map_(ws, chip="no-such-chip"))
case("map-data-wrong-shape", "shape.npz", "x")(
    lambda ws: map_(ws, "--data", ws.data("shape.npz", x=np.ones((4, N_IN + 2)) * 0.5)))
case("map-data-missing", "nope.npz")(lambda ws: map_(ws, "--data", ws.p("nope.npz")))
case("map-steps-1e12-with-data", "steps", fast=5)(
    lambda ws: map_(ws, "--data", ws.p("data.npz"), "--steps", "1000000000000"))
case("map-negative-seed", "seed")(lambda ws: map_(ws, "--seed", "-1"))
case("map-card-does-not-fit", ("cores", "neurons_per_core"))(
    lambda ws: map_(ws, "--chips", "1", chip=ws.card("tiny.yaml", lambda d: d.update(
        cores=1, neurons_per_core=2))))

# ---- energy ----
case("energy-run-o-user-folder", "notes", "--force")(
    lambda ws: ["energy", ws.run, "-o", ws.p("notes")])
case("energy-run-o-dot-in-user-folder", "--force")(lambda ws: ["energy", ws.run, "-o", "."])
case("energy-run-o-existing-file", "thesis.tex")(
    lambda ws: ["energy", ws.run, "-o", ws.p("thesis.tex")])
case("energy-missing-source", "nope_run")(lambda ws: ["energy", ws.p("nope_run")])
case("energy-run-corrupt-summary", "summary.json")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write("run/summary.json", "{not json") else None)
case("energy-run-summary-without-mapping", "summary.json")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write("run/summary.json", "{}") else None)
case("energy-run-summary-is-a-list", "summary.json")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write("run/summary.json", "[1, 2]") else None)
case("energy-run-summary-non-utf8", "summary.json")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write("run/summary.json", b'{"x": "\xe9\xff"}')
    else None)
case("energy-run-corrupt-results", "results.npz")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write(
        "run/results.npz", (Path(ws.run) / "results.npz").read_bytes()[:200]) else None)
case("energy-run-results-missing-array", "results.npz", ("block", "changed since"))(
    lambda ws: ["energy", ws.run] if ws.run and ws.npz("run/results.npz", output=np.zeros((2, 3)))
    else None)
case("energy-run-chip-yaml-alias-bomb", "chip.yaml", fast=5)(
    lambda ws: ["energy", ws.run] if ws.run and ws.write(
        "run/chip.yaml", ws.card_text().replace("name: ideal", "name: " + alias_bomb_value()))
    else None)
case("energy-run-corrupt-network", "network.nir")(
    lambda ws: ["energy", ws.run] if ws.run and ws.write("run/network.nir", "garbage") else None)


def energy_model(ws: WS, *extra: str) -> list[str]:
    return ["energy", ws.p("net.nir"), "--chip", "ideal", "--steps", "8", *extra]


case("energy-model-without-chip", "chip")(lambda ws: ["energy", ws.p("net.nir")])
case("energy-model-unknown-chip", "no-such-chip")(
    lambda ws: ["energy", ws.p("net.nir"), "--chip", "no-such-chip"])
case("energy-model-rate-nan", "rate")(lambda ws: energy_model(ws, "--rate", "nan"))
case("energy-model-rate-negative", "rate")(lambda ws: energy_model(ws, "--rate", "-1"))
case("energy-model-o-user-folder", "notes", "--force")(
    lambda ws: energy_model(ws, "-o", ws.p("notes")))
case("energy-model-unknown-paper-preset", "nopreset")(
    lambda ws: energy_model(ws, "--paper-preset", "nopreset"))

# ---- deploy ----


def deploy(ws: WS, *extra: str, model: str = "net.nir", out: str = "deployed") -> list[str]:
    return ["deploy", ws.p(model), "--target", "lava", "-o", ws.p(out) if out != "." else ".",
            *extra]


case("deploy-o-user-folder", "notes", "--force")(lambda ws: deploy(ws, out="notes"))
case("deploy-o-dot-in-user-folder", "--force")(lambda ws: deploy(ws, out="."))
case("deploy-o-existing-file", "thesis.tex")(lambda ws: deploy(ws, out="thesis.tex"))
case("deploy-missing-model", "nope.nir")(lambda ws: deploy(ws, model="nope.nir"))
case("deploy-weights-times-1e200", ("huge.npz", "weight"))(
    lambda ws: deploy(ws, model="huge.npz") if ws.bundle(
        "huge.npz", **{k: v * 1e200 for k, v in np.load(ws.assets / "net.npz").items()
                       if k.startswith("weight_")}) else None)
case("deploy-num-weight-bits-0", ("num-weight-bits", "num_weight_bits", "weight bits"))(
    lambda ws: deploy(ws, "--num-weight-bits", "0"))
case("deploy-num-weight-bits-99", ("num-weight-bits", "num_weight_bits", "weight bits"))(
    lambda ws: deploy(ws, "--num-weight-bits", "99"))
case("deploy-negative-seed", "seed")(
    lambda ws: deploy(ws, "--run", "--data", ws.p("data.npz"), "--steps", "4", "--samples", "2",
                      "--seed", "-1"))
case("deploy-run-data-x-nan", "xnan.npz", "x")(
    lambda ws: deploy(ws, "--run", "--data", ws.data("xnan.npz", x=np.full((4, N_IN), np.nan)),
                      "--steps", "4", "--samples", "2"))
case("deploy-run-steps-1e12", "steps", fast=5)(
    lambda ws: deploy(ws, "--run", "--data", ws.p("data.npz"), "--steps", "1000000000000",
                      "--samples", "2"))

# ---- sweep ----


def sweep(ws: WS, study: str = "study.yaml", *extra: str, out: str = "sweep_out") -> list[str]:
    return ["sweep", ws.p(study), "-o", ws.p(out) if out != "." else ".", "--workers", "1",
            "--max-runs", "1", "-q", *extra]


case("sweep-o-user-folder", "notes", "--force")(lambda ws: sweep(ws, out="notes"))
case("sweep-o-dot-in-user-folder", "--force")(lambda ws: sweep(ws, out="."))
case("sweep-o-existing-file", "thesis.tex")(lambda ws: sweep(ws, out="thesis.tex"))
case("sweep-o-under-a-file", "thesis.tex")(lambda ws: sweep(ws, out="thesis.tex/sweep"))
case("sweep-missing-study", "nope.yaml")(lambda ws: sweep(ws, "nope.yaml"))
case("sweep-study-is-a-folder", "notes")(lambda ws: sweep(ws, "notes"))
case("sweep-study-alias-bomb", "bomb.yaml", fast=5)(
    lambda ws: sweep(ws, "bomb.yaml") if ws.write(
        "bomb.yaml", (ws.root / "study.yaml").read_text() + alias_bomb()) else None)
case("sweep-study-alias-bomb-in-grid", "bomb2.yaml", fast=5)(
    lambda ws: sweep(ws, "bomb2.yaml") if ws.write("bomb2.yaml", yaml.safe_dump(
        _study(grid={"simulation.early_stop": "BOMB"}), sort_keys=False).replace(
            "BOMB", alias_bomb_value())) else None)
case("sweep-study-100k-brackets", "deep.yaml", fast=5)(
    lambda ws: sweep(ws, "deep.yaml") if ws.write("deep.yaml", nested_brackets()) else None)
case("sweep-study-non-utf8", "latin1.yaml")(
    lambda ws: sweep(ws, "latin1.yaml") if ws.write(
        "latin1.yaml", (ws.root / "study.yaml").read_text().replace(
            "hostile", "hostilé").encode("latin-1")) else None)
case("sweep-grid-1e9-points", "grid", fast=5)(
    lambda ws: sweep(ws, "grid.yaml") if ws.study("grid.yaml", grid={
        "simulation.steps": list(range(1, 1001)),
        "simulation.adc_calibration": list(range(1000)),
        "simulation.read_time": list(range(1000))}) else None)
case("sweep-seeds-count-1e12", "seeds", fast=5)(
    lambda ws: sweep(ws, "seeds.yaml") if ws.study(
        "seeds.yaml", seeds={"count": 1_000_000_000_000}) else None)
case("sweep-seeds-count-abc", "seeds")(
    lambda ws: sweep(ws, "seeds.yaml") if ws.study("seeds.yaml", seeds={"count": "abc"})
    else None)
case("sweep-seeds-count-negative", "seeds")(
    lambda ws: sweep(ws, "seeds.yaml") if ws.study("seeds.yaml", seeds={"count": -5}) else None)
case("sweep-random-n-1e12", "random", fast=5)(
    lambda ws: sweep(ws, "rnd.yaml") if ws.study("rnd.yaml", random={
        "n": 1_000_000_000_000, "seed": 0,
        "params": {"simulation.steps": [2, 4]}}) else None)
case("sweep-samples-abc", "samples")(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", samples="abc") else None)
case("sweep-dt-abc", "dt")(lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", dt="abc") else None)
case("sweep-steps-1e12", "steps", fast=5)(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", simulation={
        "steps": 1_000_000_000_000, "encoding": "rate", "adc_calibration": 0}) else None)
case("sweep-study-model-missing", "ghost.nir")(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", model="ghost.nir") else None)
case("sweep-study-unknown-card-field", "macro.no_such_field")(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", grid={
        "macro.no_such_field": [1, 2]}) else None)
case("sweep-study-misspelt-key", "grdi")(
    lambda ws: sweep(ws, "s.yaml") if ws.write("s.yaml", (ws.root / "study.yaml").read_text()
                                                .replace("grid:", "grdi:")) else None)
case("sweep-resume-another-studys-folder", "sweep_a")(
    lambda ws: (ws.sweep_a, sweep(ws, "s.yaml", "--resume", out="sweep_a"))[1] if ws.study(
        "s.yaml", name="b", model="net.npz", simulation={"steps": 5, "encoding": "rate",
                                                         "adc_calibration": 0}) else None)


case("sweep-study-chip-card-alias-bomb", "bomb.yaml", fast=5)(
    lambda ws: sweep(ws, "s.yaml") if ws.write("bomb.yaml", ws.card_text().replace(
        "name: ideal", "name: " + alias_bomb_value())) and ws.study(
            "s.yaml", chip="bomb.yaml") else None)
case("sweep-study-card-override-typo", "macro.g_maxx")(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", card={"macro.g_maxx": "10 uS"})
    else None)
case("sweep-study-early-stop-nan", "early_stop")(
    lambda ws: sweep(ws, "s.yaml") if ws.study("s.yaml", grid={
        "simulation.early_stop": ["margin:nan"]}) else None)


@case("sweep-resume-study-json-corrupt", "study.json")
def _(ws):
    (Path(ws.sweep_a) / "study.json").write_text("{garbage")
    return sweep(ws, ws.study_a("a.yaml"), "--resume", out="sweep_a")


@case("sweep-resume-results-csv-200k-char-field", "results.csv")
def _(ws):
    table = Path(ws.sweep_a) / "results.csv"
    table.write_text(table.read_text() + "x" * 200_000 + ",1,0,none,0.5,4\n")
    return sweep(ws, ws.study_a("a.yaml"), "--resume", out="sweep_a")


@case("sweep-resume-results-csv-non-utf8", "results.csv")
def _(ws):
    folder = Path(ws.sweep_a)
    (folder / "results.csv").write_bytes((folder / "results.csv").read_bytes() + b"\xff\xfe,\xe9\n")
    return sweep(ws, ws.study_a("a.yaml"), "--resume", out="sweep_a")


@case("sweep-resume-results-csv-nul", "results.csv")
def _(ws):
    folder = Path(ws.sweep_a)
    (folder / "results.csv").write_bytes((folder / "results.csv").read_bytes() + b"ab\0cd,1\n")
    return sweep(ws, ws.study_a("a.yaml"), "--resume", out="sweep_a")


# ---- calibrate ----


def calibrate(ws: WS, data: str = "meas.csv", *extra: str, out: str = "fitted.yaml"):
    return ["calibrate", ws.p(data), "--model", "multiplicative", "-o", ws.p(out), *extra]


case("cal-duplicated-rows", "dup.csv")(
    lambda ws: calibrate(ws, ws.csv("dup.csv", lambda ls: ls + ls[1:])))
case("cal-non-utf8", "latin1.csv")(
    lambda ws: calibrate(ws, ws.write("latin1.csv", (ws.assets / "meas.csv").read_bytes()
                                      + b"7,1e-05,\xe9,0.0,0\n")))
case("cal-nul-byte", "nul.csv")(
    lambda ws: calibrate(ws, ws.csv("nul.csv", lambda ls: ls[:5] + ["1,1e-5,1e-5\0,0,0"]
                                    + ls[5:])))
case("cal-200k-char-field", "long.csv")(
    lambda ws: calibrate(ws, ws.csv("long.csv", lambda ls: ls[:3] + ["1," + "9" * 200_000
                                                                     + ",1e-5,0,0"] + ls[3:])))
case("cal-cell-id-1e300", "cell.csv", "cell")(
    lambda ws: calibrate(ws, ws.csv("cell.csv", lambda ls: ls + ["1e300,1e-5,1e-5,0,0"])))
case("cal-single-row", "one.csv")(lambda ws: calibrate(ws, ws.csv("one.csv", lambda ls: ls[:2])))
case("cal-missing-csv", "nope.csv")(lambda ws: calibrate(ws, "nope.csv"))
case("cal-csv-is-a-folder", "notes")(lambda ws: calibrate(ws, "notes"))
case("cal-o-existing-file", "mycard.yaml", "--force")(lambda ws: calibrate(ws, out="mycard.yaml"))
case("cal-fit-json-beside-o-exists", "fitted.fit.json", "--force")(
    lambda ws: calibrate(ws) if ws.write("fitted.fit.json", '{"my": "own file"}\n') else None)
case("cal-fit-png-beside-o-exists", "fitted.fit.png", "--force")(
    lambda ws: calibrate(ws) if ws.write("fitted.fit.png", "my own figure\n") else None)
case("cal-o-under-a-file", "thesis.tex")(lambda ws: calibrate(ws, out="thesis.tex/card.yaml"))
case("cal-o-folder", "notes")(lambda ws: calibrate(ws, out="notes"))
case("cal-base-unknown", "no-such-base")(lambda ws: calibrate(ws, "meas.csv", "--base",
                                                              "no-such-base"))
case("cal-t0-inf", "t0")(lambda ws: calibrate(ws, "meas.csv", "--t0", "inf"))
case("cal-columns-not-pairs", "--columns", "KEY=VALUE")(
    lambda ws: calibrate(ws, "meas.csv", "--columns", "cell_id"))
case("cal-columns-unknown-key", "--columns", "voltage")(
    lambda ws: calibrate(ws, "meas.csv", "--columns", "voltage=V"))
case("cal-columns-same-column-twice", "--columns", "g_target_S")(
    lambda ws: calibrate(ws, "meas.csv", "--columns", "g_measured=g_target_S"))
case("cal-columns-missing-in-file", "meas.csv", "G_uS", "--columns")(
    lambda ws: calibrate(ws, "meas.csv", "--columns", "g_measured=G_uS"))
case("cal-units-unknown", "--units", "furlong")(
    lambda ws: calibrate(ws, "meas.csv", "--units", "furlong"))
case("cal-units-overflow", "big.csv", "--units")(
    lambda ws: calibrate(ws, ws.csv("big.csv", lambda ls: ls + ["99999,1e-5,1e-5,1e305,0"]),
                         "--units", "g=uS,t=d"))
case("cal-bootstrap-negative", "--bootstrap")(
    lambda ws: calibrate(ws, "meas.csv", "--bootstrap", "-1"))

# ---- prune ----
case("prune-o-user-folder", "notes", "--force")(lambda ws: prune(ws, out="notes"))
case("prune-o-dot-in-user-folder", "--force")(lambda ws: prune(ws, out="."))
case("prune-o-existing-file", "thesis.tex")(lambda ws: prune(ws, out="thesis.tex"))
case("prune-chip-without-devices", "ideal")(
    lambda ws: [("ideal" if a == PRUNE_CHIP else a) for a in prune(ws)])
case("prune-three-layer-model", "deep.npz")(
    lambda ws: [(ws.bundle("deep.npz", weight_2=np.ones((2, N_OUT)),
                                     beta=np.float64(1.0), v_threshold=np.float64(1.0)) if a == ws.p("net.nir")
                 else a) for a in prune(ws)])
case("prune-one-member-class", "single.npz", ("class", "y"))(
    lambda ws: prune(ws, data="single.npz") if ws.data(
        "single.npz", y=np.array([0, 1] * 5 + [0, 2])) else None)
case("prune-data-without-labels", "nolabels.npz", "y")(
    lambda ws: prune(ws, data="nolabels.npz") if ws.data("nolabels.npz", y=None) else None)
case("prune-missing-data", "nope.npz")(lambda ws: prune(ws, data="nope.npz"))
case("prune-missing-test", "nope_test.npz")(lambda ws: prune(ws, "--test", ws.p("nope_test.npz")))
case("prune-missing-model", "nope.nir")(
    lambda ws: ["prune", ws.p("nope.nir"), "--chip", PRUNE_CHIP, "--data", ws.p("data.npz"),
                "-o", ws.p("pruned")])
case("prune-sparsity-1.5", "sparsity")(lambda ws: prune(ws, "--sparsity", "1.5"))
case("prune-sparsity-nan", "sparsity")(lambda ws: prune(ws, "--sparsity", "nan"))
case("prune-beta-negative", "beta")(lambda ws: prune(ws, "--beta", "-1"))
case("prune-read-noise-negative", ("read-noise", "read_noise"))(lambda ws: prune(ws, "--read-noise", "-0.5"))
case("prune-negative-seed", "seed")(lambda ws: prune(ws, "--seed", "-7"))
case("prune-random-spec-garbage", "random:abc")(
    lambda ws: ["prune", "random:abc", "--chip", PRUNE_CHIP, "--data", ws.p("data.npz"),
                "-o", ws.p("pruned")])
case("prune-random-spec-huge", "random:", fast=5)(
    lambda ws: ["prune", "random:100000-1000000-100000", "--chip", PRUNE_CHIP, "--data",
                ws.p("data.npz"), "-o", ws.p("pruned"), "-q"])

# ---- device ----


def device(ws: WS, *extra: str, card: str = "ideal") -> list[str]:
    return ["device", card, "--cells", "1000", *extra]


case("device-cells-1e12", "cells", fast=5)(
    lambda ws: ["device", "prime-rram-40nm", "--cells", "1000000000000"])
case("device-times-negative", "times")(lambda ws: device(ws, "--times=-1d", card="pcm-aihwkit"))
case("device-times-1e400s", "times")(lambda ws: device(ws, "--times", "1e400s",
                                                         card="pcm-aihwkit"))
case("device-times-garbage", "times")(lambda ws: device(ws, "--times", "1h,soon"))
case("device-unknown-preset", "no-such-chip")(lambda ws: device(ws, card="no-such-chip"))
case("device-missing-card", "nope.yaml")(lambda ws: device(ws, card=ws.p("nope.yaml")))
case("device-card-non-utf8", "latin1.yaml")(
    lambda ws: device(ws, card=ws.write(
        "latin1.yaml", ws.card_text().replace("Ideal", "Idéal").encode("latin-1"))))
case("device-card-alias-bomb", "bomb.yaml", fast=5)(
    lambda ws: device(ws, card=ws.write("bomb.yaml", ws.card_text().replace(
        "  cols: 256", "  cols: " + alias_bomb_value()))))
case("device-negative-seed", "seed")(lambda ws: device(ws, "--seed", "-1"))
case("device-json-onto-existing-file", "results.json", "--force")(
    lambda ws: device(ws, "--json", ws.p("results.json")))
case("device-plot-onto-existing-file", "figure.png", "--force")(
    lambda ws: device(ws, "--plot", ws.p("figure.png")))
case("device-json-under-a-file", "thesis.tex")(
    lambda ws: device(ws, "--json", ws.p("thesis.tex/dev.json")))
case("device-plot-onto-folder", "notes")(lambda ws: device(ws, "--plot", ws.p("notes")))

# ---- the command line itself ----
case("device-env-max-memory-garbage", "NEUROCOSIM_MAX_MEMORY")(
    lambda ws: ws.env("NEUROCOSIM_MAX_MEMORY", "lots") or device(ws))
case("sim-env-max-hours-negative", "NEUROCOSIM_MAX_HOURS")(
    lambda ws: ws.env("NEUROCOSIM_MAX_HOURS", "-1") or sim(ws))
case("no-command", ("command", "required"))(lambda ws: [])
case("unknown-command", "frobnicate")(lambda ws: ["frobnicate"])
case("simulate-steps-not-a-number", "steps")(
    lambda ws: ["simulate", ws.p("net.nir"), "--steps", "many", "--data", ws.p("data.npz")])


# -- the test ------------------------------------------------------------------------------
class _Hung(BaseException):
    """Raised by the alarm in a case that ran too long."""


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def _guarded(seconds: int):
    """Cap the address space a few GiB above the current size and interrupt after
    ``seconds`` (both restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    state = {"hung": False}

    def alarm(signum, frame):
        state["hung"] = True
        raise _Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(seconds)
    try:
        yield state
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _snapshot(root: Path) -> tuple[dict[str, str], set[str]]:
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            dirs.add((Path(dirpath) / d).relative_to(root).as_posix())
        for f in filenames:
            p = Path(dirpath) / f
            files[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return files, dirs


def _changes(before, after) -> list[str]:
    (fb, db), (fa, da) = before, after
    out = [f"deleted {f}" for f in sorted(set(fb) - set(fa))]
    out += [f"changed {f}" for f in sorted(set(fb) & set(fa)) if fb[f] != fa[f]]
    out += [f"created {f}" for f in sorted(set(fa) - set(fb))]
    out += [f"deleted folder {d}/" for d in sorted(db - da)]
    out += [f"created folder {d}/" for d in sorted(da - db)]
    return out


def _check_stderr(err: str, names: tuple) -> list[str]:
    problems = []
    lines = err.splitlines()
    if len(lines) != 1:
        problems.append(f"stderr has {len(lines)} lines, not 1")
    first = lines[0] if lines else ""
    if not first.strip() or not first.startswith("neurocosim"):
        problems.append("stderr does not start with 'neurocosim'")
    if "Traceback" in err:
        problems.append("stderr holds a traceback")
    if len(first) > 1000:
        problems.append(f"the line is {len(first)} characters long")
    for name in names:
        alts = name if isinstance(name, tuple) else (name,)
        if not any(a in first for a in alts):
            problems.append(f"the line does not name {' or '.join(map(repr, alts))}")
    return problems


@pytest.fixture
def ws(tmp_path, assets, request, monkeypatch) -> WS:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)  # anything written relative to the working folder shows up
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", BUDGET)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return WS(home, assets, request, monkeypatch)


def _run(argv: list[str]) -> tuple[object, float, bool]:
    t0 = time.monotonic()
    with _guarded(LIMIT_S) as state:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, time.monotonic() - t0, state["hung"]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hostile_input_exits_2_and_changes_nothing(c: Case, ws: WS, capsys):
    argv = c.build(ws)
    assert isinstance(argv, list), "the case did not build its command line"
    before = _snapshot(ws.root)
    capsys.readouterr()
    code, elapsed, hung = _run(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    print(f"exit {code!r} in {elapsed:.2f} s: {lines[0][:300] if lines else ''}")
    problems = []
    if hung:
        problems.append(f"interrupted: still running after {LIMIT_S} s")
    if code != 2:
        problems.append(f"exit status {code!r}, not 2")
    problems += _check_stderr(err, c.names)
    if c.fast is not None and elapsed > c.fast:
        problems.append(f"took {elapsed:.1f} s (limit {c.fast} s)")
    problems += _changes(before, _snapshot(ws.root))
    if problems:
        shown = [str(ws.root) + "/" if a == ws.root.as_posix() else a for a in argv]
        pytest.fail("; ".join(problems) + f"\n  argv: neurocosim {' '.join(shown)}"
                    f"\n  stderr: {err.strip()[:700]!r}\n  ({elapsed:.2f} s)", pytrace=False)


def test_there_are_enough_cases():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
    covered = {c.id.split("-")[0] for c in CASES}
    assert {"info", "sim", "chip", "convert", "chips", "show", "map", "energy", "deploy",
            "sweep", "cal", "prune", "device"} <= covered


# -- the same commands with valid input work and write only their outputs ----------------------
VALID = {
    "simulate": (lambda ws: sim(ws, "--json", ws.p("out.json")), ["out.json"]),
    "simulate-chip": (lambda ws: chip_sim(ws), ["out_run/"]),
    "convert": (lambda ws: convert(ws, "mlp.skops"), ["snn.nir"]),
    "chip-show": (lambda ws: ["chip", "show", ws.p("card.yaml")], []),
    "map": (lambda ws: map_(ws), ["mapping/"]),
    "energy-run": (lambda ws: ["energy", ws.run], ["run/"]),
    "energy-model": (lambda ws: energy_model(ws, "-o", ws.p("energy_out")), ["energy_out/"]),
    "deploy": (lambda ws: deploy(ws), ["deployed/"]),
    "calibrate": (lambda ws: calibrate(ws), ["fitted."]),
    "prune": (lambda ws: prune(ws), ["pruned/"]),
    "device": (lambda ws: device(ws, "--json", ws.p("dev.json"), "--plot", ws.p("dev.png")),
               ["dev.json", "dev.png"]),
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_input_works_and_writes_only_its_output(name, ws, capsys):
    """The controls of the hostile cases: the same command lines with valid input."""
    build, outputs = VALID[name]
    argv = build(ws)
    before = _snapshot(ws.root)
    code, elapsed, hung = _run(argv)
    err = capsys.readouterr().err
    assert code == 0 and not hung, f"exit {code} ({elapsed:.1f} s): {err.strip()[-700:]}"
    changes = [c for c in _changes(before, _snapshot(ws.root))
               if not (c.startswith(("created", "changed")) and any(
                   c.split(" ")[-1].startswith(o) for o in outputs))]
    assert changes == [], changes


def test_a_forged_marker_does_not_delete_user_files(ws, capsys):
    """A folder whose neurocosim marker claims the user's files (copied from elsewhere, or
    hand-edited): writing into it may fail or succeed, but must not delete or change them."""
    from neurocosim._atomic import MARKER

    ws.write(MARKER, json.dumps({"written_by": "neurocosim", "command": "map",
                                 "files": ["thesis.tex", "notes/data.csv", "results.json"]}))
    before = _snapshot(ws.root)
    code, _, _ = _run(map_(ws, out="."))
    capsys.readouterr()
    assert code in (0, 2)
    lost = [c for c in _changes(before, _snapshot(ws.root))
            if c.split(" ")[-1] in ("thesis.tex", "notes/data.csv", "results.json")]
    assert lost == [], lost


# -- real processes -------------------------------------------------------------------------
SUBPROCESS_CASES = {
    "info-missing-model": (lambda ws: ["info", ws.p("nope.nir")], "nope.nir"),
    "show-alias-bomb": (lambda ws: ["chip", "show", ws.write("bomb.yaml", ws.card_text().replace(
        "name: ideal", "name: " + alias_bomb_value()))], "bomb.yaml"),
    "sim-labels-strings": (lambda ws: sim(ws, data=ws.data("s.npz", y=BAD_LABELS["strings"]())),
                           "y"),
    "sweep-o-user-folder": (lambda ws: sweep(ws, out="notes"), "--force"),
    "bad-flag": (lambda ws: ["simulate", ws.p("net.nir"), "--steps", "-4", "--data",
                             ws.p("data.npz")], "steps"),
}


@pytest.mark.parametrize("name", list(SUBPROCESS_CASES))
def test_real_process_exits_2_without_traceback(name, ws):
    build, fragment = SUBPROCESS_CASES[name]
    argv = build(ws)
    before = _snapshot(ws.root)
    env = {**os.environ, "NEUROCOSIM_MAX_MEMORY": BUDGET, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "neurocosim.cli", *argv], cwd=ws.root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurocosim"), proc.stderr[-2000:]
    assert fragment in lines[0]
    assert _changes(before, _snapshot(ws.root)) == []


# -- an internal error is a bug: exit 3, one line -----------------------------------------------
def test_internal_error_exits_3_with_one_line(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("something inside went wrong")

    monkeypatch.setitem(cli.COMMANDS, "chips", boom)
    try:
        code = main(["chips"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 3
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurocosim"), err
    assert "bug" in lines[0] and "RuntimeError" in lines[0] and "Traceback" not in err
