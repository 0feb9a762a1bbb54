"""Hostile input against today's features: ``calibrate`` (--columns/--units, degenerate
data that passes reading but breaks fitting, --bootstrap budget), the model zoo (``zoo
list|show``, ``zoo:NAME`` as a MODEL) and the ``.npz`` bundle's BatchNorm keys.

Contract (notes/contract.md): bad input exits 2 with ONE stderr line naming the file or
field and the fix, never a traceback; an internal error exits 3; no user file is
overwritten without --force; big work is refused by the budget checks before it starts;
outputs are valid (a .fit.json is strict JSON: no NaN/Infinity; a written card loads).

Nine cases were bugs when this file was written (their docstrings say what happened
then: huge or tiny conductances, constant or identical reads, wrong --units, an
overflowing BatchNorm fold, a zoo simulation the time budget let through); they are fixed
and now pin the fixes; the others pin what was handled correctly from the start.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurocosim.cli import main

ENV = {"NEUROCOSIM_MAX_MEMORY": "3 GiB", "MPLBACKEND": "Agg"}


# -- helpers ----------------------------------------------------------------------------
def _cli(argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _proc(argv: list[str], cwd: Path, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    """A real process: warnings and LAPACK messages reach stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "neurocosim.cli", *map(str, argv)], cwd=cwd,
                          env={**os.environ, **ENV, **env}, capture_output=True, text=True,
                          timeout=timeout)


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def _one_line_error(code, err: str, *names: str) -> list[str]:
    problems = []
    if code != 2:
        problems.append(f"exit {code!r}, not 2")
    lines = err.splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, not 1")
    if "Traceback" in err:
        problems.append("traceback")
    first = lines[-1] if lines else ""
    if not first.startswith("neurocosim"):
        problems.append("the line does not start with 'neurocosim'")
    for n in names:
        alts = n if isinstance(n, tuple) else (n,)
        if not any(a in first for a in alts):
            problems.append(f"does not name {' or '.join(alts)}")
    return problems


def _strict_json(text: str):
    def bad(const):
        raise ValueError(f"non-standard JSON constant {const}")
    return json.loads(text, parse_constant=bad)


# -- assets ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    from neurocosim import network_from_weights, save_network
    from neurocosim.calibration.fit import synthetic_measurements, write_measurements
    from neurocosim.devices import load_chip

    root = tmp_path_factory.mktemp("hostile_new")
    rng = np.random.default_rng(0)
    macro = load_chip("pcm-aihwkit").macro  # window [0, 25 uS]
    targets = rng.uniform(6e-6, 19e-6, 400)
    m = synthetic_measurements(macro, targets, [0.0, 3600.0], 2, rng)
    write_measurements(m, root / "base.csv")
    np.savez(root / "base_arrays.npz", cell=m.cell, g_target=m.g_target,
             g_measured=m.g_measured, t=m.t, read=m.read)
    net = network_from_weights([rng.normal(0, 0.6, (8, 6)), rng.normal(0, 0.6, (3, 8))],
                               dt=1e-3, neuron="IF", reset="subtract")
    save_network(net, root / "net.npz")
    np.savez(root / "data.npz", x=rng.uniform(0, 1, (12, 6)), y=np.arange(12) % 3)
    return root


@pytest.fixture
def ws(tmp_path, assets, monkeypatch) -> Path:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    for f in ("base.csv", "net.npz", "data.npz"):
        (tmp_path / f).write_bytes((assets / f).read_bytes())
    (tmp_path / "mine.json").write_text('{"mine": true}\n')
    (tmp_path / "mycard.yaml").write_text("# my card\nname: mine\n")
    (tmp_path / "afolder").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _measurements(ws: Path, assets: Path, name: str, **changes) -> Path:
    """The base measurements with columns replaced, written as ``name``."""
    from neurocosim.calibration.measurements import Measurements, write_measurements

    d = dict(np.load(assets / "base_arrays.npz"))
    d.update(changes)
    m = Measurements(cell=np.asarray(d["cell"]), g_target=np.asarray(d["g_target"], float),
                     g_measured=np.asarray(d["g_measured"], float), t=np.asarray(d["t"], float),
                     read=np.asarray(d["read"]))
    return write_measurements(m, ws / name)


def _bundle(ws: Path, name: str, **keys) -> Path:
    d = dict(np.load(ws / "net.npz", allow_pickle=False))
    d.update(keys)
    np.savez(ws / name, **d)
    return ws / name


G8 = np.ones(8)
BN_OK = {"bn_gamma_0": G8, "bn_beta_0": G8 * 0, "bn_mean_0": G8 * 0, "bn_var_0": G8}


def cal(data: str, *extra: str, out: str = "fitted.yaml") -> list[str]:
    return ["calibrate", data, "-o", out, "-q", "--bootstrap", "0", *extra]


# ==================================================================================
# Handled correctly today: exit 2, one line naming the field, nothing written
# ==================================================================================
REFUSED = {
    # --columns
    "cal-columns-empty-value": (lambda ws: cal("base.csv", "--columns", "cell=,g_target=x"),
                                ("--columns", "cell=")),
    "cal-columns-duplicate-key": (lambda ws: cal("base.csv", "--columns", "cell=cell,cell=cell"),
                                  ("--columns", "twice")),
    "cal-columns-collide-with-other-column": (lambda ws: cal("base.csv", "--columns", "cell=read"),
                                              ("--columns", "read")),
    "cal-columns-only-comma": (lambda ws: cal("base.csv", "--columns", ","), ("--columns",)),
    "cal-columns-only-equals": (lambda ws: cal("base.csv", "--columns", "="), ("--columns",)),
    "cal-columns-trailing-comma": (lambda ws: cal("base.csv", "--columns", "cell=cell,"),
                                   ("--columns",)),
    "cal-columns-unicode-missing": (lambda ws: cal("base.csv", "--columns", "g_measured=Gµ☃"),
                                    ("base.csv", "Gµ☃")),
    # --units
    "cal-units-uS-uS": (lambda ws: cal("base.csv", "--units", "uS,uS"), ("--units", "uS,uS")),
    "cal-units-g-empty": (lambda ws: cal("base.csv", "--units", "g="), ("--units", "g=")),
    "cal-units-fortnight": (lambda ws: cal("base.csv", "--units", "t=fortnight"),
                            ("--units", "fortnight")),
    "cal-units-key-twice": (lambda ws: cal("base.csv", "--units", "g=uS,g=uS"), ("--units",)),
    "cal-units-greek-mu": (lambda ws: cal("base.csv", "--units", "μS"), ("--units",)),
    "cal-units-unknown-key": (lambda ws: cal("base.csv", "--units", "g=S,x=1"), ("--units", "x")),
    # degenerate data refused with a clear message
    "cal-all-cells-same-target": (
        lambda ws: cal(str(_measurements(ws, ws.assets, "same.csv", g_target=np.full(1600, 1e-5)))),
        ("same.csv", "target")),
    "cal-targets-all-zero": (
        lambda ws: cal(str(_measurements(ws, ws.assets, "t0.csv", g_target=np.zeros(1600)))),
        ("t0.csv",)),
    "cal-all-reads-zero": (
        lambda ws: cal(str(_measurements(ws, ws.assets, "z.csv", g_measured=np.zeros(1600)))),
        ("z.csv", "stuck")),
    "cal-two-reads-only": (
        lambda ws: cal(str(ws / "two.csv")) if (ws / "two.csv").write_text(
            "cell,g_target_S,g_measured_S,t_s,read\n0,1e-5,1e-5,0,0\n0,1e-5,1.1e-5,0,1\n") else None,
        ("two.csv",)),
    "cal-o-existing-user-card": (lambda ws: cal("base.csv", out="mycard.yaml"),
                                 ("mycard.yaml", "--force")),
    "cal-bootstrap-10001": (lambda ws: cal("base.csv")[:-2] + ["--bootstrap", "10001"],
                            ("bootstrap",)),
    # zoo
    "zoo-show-empty-name": (lambda ws: ["zoo", "show", ""], ("zoo",)),
    "zoo-show-path-like-name": (lambda ws: ["zoo", "show", "../../etc/passwd"], ("etc/passwd",)),
    "zoo-show-100k-name": (lambda ws: ["zoo", "show", "x" * 100_000], ("zoo",)),
    "zoo-show-json-onto-user-file": (lambda ws: ["zoo", "show", "sew-resnet-18", "--json",
                                                 "mine.json"], ("mine.json", "--force")),
    "zoo-show-json-onto-folder": (lambda ws: ["zoo", "show", "sew-resnet-18", "--json", "afolder"],
                                  ("afolder",)),
    "info-zoo-empty": (lambda ws: ["info", "zoo:"], ("zoo",)),
    "info-zoo-nul": (lambda ws: ["info", "zoo:sew-resnet-18\x00"], ("zoo",)),
    "map-zoo-unknown": (lambda ws: ["map", "zoo:nope", "--chip", "ideal", "-o", "m"], ("nope",)),
    "energy-zoo-unknown": (lambda ws: ["energy", "zoo:nope", "--chip", "ideal"], ("nope",)),
    "simulate-zoo-on-small-chip": (
        lambda ws: ["simulate", "zoo:sew-resnet-18", "--chip", "ideal", "--steps", "4", "--data",
                    "data.npz", "-o", "run", "-q"], (("neurons_per_core", "data.npz"),)),
    # BatchNorm keys
    "bn-wrong-channel-count": (lambda ws: ["info", _bundle(ws, "b.npz", **{
        k: np.ones(5) for k in BN_OK})], ("b.npz", "bn0")),
    "bn-2d": (lambda ws: ["info", _bundle(ws, "b.npz", **{k: np.ones((8, 1)) for k in BN_OK})],
              ("b.npz", "gamma")),
    "bn-scalar": (lambda ws: ["info", _bundle(ws, "b.npz", **{k: np.float64(1) for k in BN_OK})],
                  ("b.npz", "gamma")),
    "bn-negative-var": (lambda ws: ["info", _bundle(ws, "b.npz", **{**BN_OK, "bn_var_0": -G8})],
                        ("b.npz", "running_var")),
    "bn-var-nan": (lambda ws: ["info", _bundle(ws, "b.npz", **{**BN_OK, "bn_var_0": G8 * np.nan})],
                   ("b.npz", "bn_var_0")),
    "bn-eps-0": (lambda ws: ["info", _bundle(ws, "b.npz", **BN_OK, bn_eps=np.float64(0))],
                 ("b.npz", "eps")),
    "bn-eps-nan": (lambda ws: ["info", _bundle(ws, "b.npz", **BN_OK, bn_eps=np.float64("nan"))],
                   ("b.npz", "bn_eps")),
    "bn-eps-inf": (lambda ws: ["info", _bundle(ws, "b.npz", **BN_OK, bn_eps=np.float64("inf"))],
                   ("b.npz", "bn_eps")),
    "bn-eps-negative": (lambda ws: ["info", _bundle(ws, "b.npz", **BN_OK, bn_eps=np.float64(-1))],
                        ("b.npz", "eps")),
    "bn-eps-vector": (lambda ws: ["info", _bundle(ws, "b.npz", **BN_OK, bn_eps=np.ones(2))],
                      ("b.npz", "bn_eps")),
    "bn-keys-for-missing-layer": (lambda ws: ["info", _bundle(ws, "b.npz", **{
        k.replace("_0", "_9"): v for k, v in BN_OK.items()})], ("b.npz", "bn_gamma_9")),
    "bn-partial-set": (lambda ws: ["info", _bundle(ws, "b.npz", bn_gamma_0=G8, bn_beta_0=G8)],
                       ("b.npz", "bn_mean_0")),
    "bn-bool-gamma": (lambda ws: ["info", _bundle(ws, "b.npz", **{**BN_OK, "bn_gamma_0": G8 > 0})],
                      ("b.npz", "bn_gamma_0")),
}


# Path objects cannot carry attributes; the builders get a small namespace instead.
class NS:
    def __init__(self, root: Path, assets: Path) -> None:
        self.root, self.assets = root, assets

    def __truediv__(self, other):
        return self.root / other


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_one_line(name, ws, assets):
    build, names = REFUSED[name]
    argv = build(NS(ws, assets))
    before = _snapshot(ws)
    code, out, err = _cli(argv)
    problems = _one_line_error(code, err, *names)
    created = sorted(set(_snapshot(ws)) - set(before) - {"same.csv", "t0.csv", "z.csv", "two.csv",
                                                         "b.npz"})
    changed = [f for f in before if _snapshot(ws).get(f) != before[f]]
    if created or changed:
        problems.append(f"wrote {created + changed}")
    assert not problems, f"{problems}\n argv: {[a[:80] for a in map(str, argv)]}\n stderr: {err[-600:]!r}"


def test_columns_with_unicode_and_equals_in_names_work(ws):
    """Column names with '=', spaces and non-ASCII map correctly (value after the first '=')."""
    lines = (ws / "base.csv").read_text().splitlines()
    (ws / "uni.csv").write_text("\n".join(["Zelle,G=T,G µ,zeit,rep"] + lines[1:]) + "\n")
    code, out, err = _cli(cal("uni.csv", "--columns",
                              "cell=Zelle,g_target=G=T,g_measured=G µ,t=zeit,read=rep"))
    assert code == 0, err[-500:]
    assert _strict_json((ws / "fitted.fit.json").read_text())["goodness"]["cells"] == 400


def test_bootstrap_10000_refused_by_time_budget_before_work(ws, monkeypatch):
    """--bootstrap 10000 against a small NEUROCOSIM_MAX_HOURS: refused before fitting."""
    import time

    monkeypatch.setenv("NEUROCOSIM_MAX_HOURS", "0.0001")
    t0 = time.monotonic()
    code, out, err = _cli(["calibrate", "base.csv", "-o", "f.yaml", "-q", "--bootstrap", "10000"])
    assert not _one_line_error(code, err, "bootstrap"), err[-500:]
    assert time.monotonic() - t0 < 5
    assert not (ws / "f.yaml").exists()


def test_zoo_list_and_show_json(ws):
    code, out, err = _cli(["zoo", "list"])
    assert code == 0 and "sew-resnet-18" in out, err
    code, out, err = _cli(["zoo", "show", "zoo:ms-resnet-18", "--json", "ms.json"])
    assert code == 0, err
    assert _strict_json((ws / "ms.json").read_text())["name"] == "ms-resnet-18"


def test_bn_eps_alone_and_gamma_zero_load(ws):
    """bn_eps without any BatchNorm, and gamma = 0 (a dead channel), are valid bundles."""
    assert _cli(["info", _bundle(ws, "e.npz", bn_eps=np.float64(1e-3))])[0] == 0
    assert _cli(["info", _bundle(ws, "g.npz", **{**BN_OK, "bn_gamma_0": G8 * 0})])[0] == 0


# ==================================================================================
# Failures found today (these fail until fixed)
# ==================================================================================
def test_cal_huge_conductances_exit_2_not_internal_error(ws, assets):
    """g values ~1e290 S pass reading (finite, >= 0) but the fit crashes: exit 3
    'LinAlgError: SVD did not converge' (families._prog_start lstsq on inf/NaN). Should be
    exit 2 naming the file: conductances far outside the card's window (check --units)."""
    d = np.load(assets / "base_arrays.npz")
    p = _measurements(ws, assets, "huge.csv", g_target=d["g_target"] * 1e295,
                      g_measured=d["g_measured"] * 1e295)
    code, out, err = _cli(cal(str(p)))
    assert not _one_line_error(code, err, "huge.csv"), err[-500:]


def test_cal_tiny_conductances_fit_json_is_strict_json(ws, assets):
    """g values ~1e-300 S: calibrate exits 0 and writes a .fit.json with '-Infinity'
    (select.choose stores held-out scores of -inf; json.dumps writes them): not JSON.
    Should refuse (exit 2, naming the file) or write only finite numbers."""
    d = np.load(assets / "base_arrays.npz")
    p = _measurements(ws, assets, "tiny.csv", g_target=d["g_target"] * 1e-295,
                      g_measured=d["g_measured"] * 1e-295)
    code, out, err = _cli(cal(str(p)))
    if code == 0:
        _strict_json((ws / "fitted.fit.json").read_text())
        assert _cli(["chip", "show", "fitted.yaml"])[0] == 0
    else:
        assert not _one_line_error(code, err, "tiny.csv"), err[-500:]


def test_cal_constant_reads_error_names_the_data_not_the_output_card(ws, assets):
    """Every read equal (1e-5 S) while targets vary: the fit yields c0 = 17.4 and the error
    is '<out>.yaml: macro.programming_noise.params.c0: ... outside [-10, 10]': it blames the
    card being written (which the user cannot fix) instead of the measurement file."""
    p = _measurements(ws, assets, "const.csv", g_measured=np.full(1600, 1e-5))
    code, out, err = _cli(cal(str(p)))
    assert not _one_line_error(code, err, "const.csv"), err[-500:]


def test_cal_wrong_units_error_names_units_not_the_output_card(ws):
    """A file in siemens read with --units uS (conductances 1e6 too small, all far below the
    card's window): the error is 'fitted.yaml: macro.programming_noise.params.c2: 3659032
    is outside ...'. It should name the data file and --units (values outside the window)."""
    code, out, err = _cli(cal("base.csv", "--units", "uS"))
    assert not _one_line_error(code, err, "base.csv", ("--units", "units")), err[-500:]


def test_cal_constant_reads_real_process_one_stderr_line(ws, assets):
    """As a real process the same refusal prints ~28 lines: numpy RuntimeWarnings (divide by
    zero in log, families.py:104/108) and 12 RankWarnings (polyfit, families.py:88) before
    the error line. The contract is one line."""
    p = _measurements(ws, assets, "const.csv", g_measured=np.full(1600, 1e-5))
    proc = _proc(cal(str(p)), ws)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr[-1500:]


def test_cal_zero_variance_reads_no_warning_noise(ws, assets):
    """Repeat reads identical (a quantising instrument): exit 0, but stderr carries numpy
    RuntimeWarnings with source lines (families.py start of 'constant'/'relative': log(0)),
    and the card claims read noise sigma ~1e-177 S with held-out log-lik +690/obs. Expect a
    clean run (no warnings) and, better, a one-line refusal or a note on the zero variance."""
    d = dict(np.load(assets / "base_arrays.npz"))
    g = d["g_measured"].copy()
    for t in (0.0, 3600.0):
        g[(d["t"] == t) & (d["read"] == 1)] = g[(d["t"] == t) & (d["read"] == 0)]
    p = _measurements(ws, assets, "zv.csv", g_measured=g)
    proc = _proc(cal(str(p)), ws)
    assert "Warning" not in proc.stderr, proc.stderr[-1500:]


def test_cal_huge_real_process_no_lapack_noise(ws, assets):
    """The 1e290 S file as a real process: 33 stderr lines (RuntimeWarnings, LAPACK
    '** On entry to DLASCL parameter number 4 had an illegal value') then exit 3."""
    d = np.load(assets / "base_arrays.npz")
    p = _measurements(ws, assets, "huge.csv", g_target=d["g_target"] * 1e295,
                      g_measured=d["g_measured"] * 1e295)
    proc = _proc(cal(str(p)), ws)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr[-1500:]


def test_bn_overflowing_fold_is_refused_naming_the_bundle_keys(ws):
    """gamma 1e300, var 0, bn_eps 1e-300: the fold overflows to inf weights. info exits 2
    but prints RuntimeWarnings and 'node 'fc0' (Affine): parameter 'weight' contains NaN
    or inf; fix the model': no file name and no bn_* key. Should name b.npz and
    bn_gamma_0/bn_var_0/bn_eps (the folded scale overflows)."""
    p = _bundle(ws, "b.npz", **{**BN_OK, "bn_gamma_0": G8 * 1e300, "bn_var_0": G8 * 0},
                bn_eps=np.float64(1e-300))
    proc = _proc(["info", p], ws)
    assert not _one_line_error(proc.returncode, proc.stderr, "b.npz",
                               ("bn_gamma_0", "bn_eps", "bn_var_0", "layer 0: BatchNorm: gamma")
                               ), proc.stderr[-1500:]


def test_simulate_zoo_refused_by_time_budget_before_work(ws):
    """simulate zoo:sew-resnet-18 (11.7 M weights, ~1.8 GMAC per step) on 4 samples x 64
    steps with NEUROCOSIM_MAX_HOURS=0.0003 (~1 s): the time budget does not refuse it (4
    steps took 90 s here, 64 would take ~25 min). The memory check only counts the encoded
    input (4 x 64 x 150528), so it is given room (3 GiB) here. Should exit 2 at once naming
    NEUROCOSIM_MAX_HOURS."""
    _data224(ws)
    try:
        proc = _proc(["simulate", "zoo:sew-resnet-18", "--steps", "64", "--data", "data224.npz",
                      "-q"], ws, timeout=12, NEUROCOSIM_MAX_HOURS="0.0003")
    except subprocess.TimeoutExpired:
        pytest.fail("not refused: still running after 12 s under a ~1 s time budget "
                    "(no effective check_time before the zoo model's simulation)")
    assert not _one_line_error(proc.returncode, proc.stderr, "NEUROCOSIM_MAX_HOURS"), \
        proc.stderr[-800:]


def test_simulate_zoo_refused_by_memory_budget_on_input(ws):
    """The same run with 200 MiB: refused at once by the memory check (encoded input)."""
    _data224(ws)
    proc = _proc(["simulate", "zoo:sew-resnet-18", "--steps", "64", "--data", "data224.npz",
                  "-q"], ws, timeout=30, NEUROCOSIM_MAX_MEMORY="200 MiB")
    assert not _one_line_error(proc.returncode, proc.stderr, "NEUROCOSIM_MAX_MEMORY"), \
        proc.stderr[-800:]


def _data224(ws: Path) -> bool:
    rng = np.random.default_rng(0)
    np.savez(ws / "data224.npz", x=rng.uniform(0, 1, (4, 3 * 224 * 224)).astype(np.float32),
             y=np.arange(4) % 10)
    return True
