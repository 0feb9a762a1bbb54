"""Second hostile pass: links, folders spelled two ways, other commands' results,
interrupted writes, unwritable or unreadable places, odd flag values."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from neurocosim import network_from_weights, save_network
from neurocosim._atomic import MARKER, output_dir, written_files
from neurocosim.cli import main


@pytest.fixture
def ws(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(0, .5, (8, 6)), rng.normal(0, .5, (3, 8))],
                               dt=1e-3, neuron="IF")
    save_network(net, tmp_path / "net.nir")
    np.savez(tmp_path / "data.npz", x=rng.uniform(0, 1, (12, 6)), y=rng.integers(0, 3, 12))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(args, capsys):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse refuses a flag value: status 2, one line
        code = exc.code
    return code, capsys.readouterr().err.strip()


def test_forged_marker_under_a_linked_subfolder_deletes_nothing_outside(ws, capsys):
    outside = ws / "outside" / "sub"
    outside.mkdir(parents=True)
    (outside / "summary.json").write_text("precious")
    out = ws / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    digest = hashlib.sha256(b"precious").hexdigest()
    (out / MARKER).write_text(json.dumps({"files": {"sub/summary.json": digest}}))
    assert written_files(out) == set()  # not provably ours: it lies outside once linked
    code, _ = _run(["map", "net.nir", "--chip", "ideal", "-o", out], capsys)
    assert code == 0 and (outside / "summary.json").read_text() == "precious"


def test_energy_into_its_own_run_folder_spelled_otherwise_keeps_the_run(ws, capsys):
    assert _run(["simulate", "net.nir", "--chip", "ideal", "--data", "data.npz", "--steps", 4,
                 "--encoding", "rate", "-o", "run"], capsys)[0] == 0
    os.symlink(ws / "run", ws / "runlink")
    for spelling in (ws / "run", "runlink"):
        assert _run(["energy", "run", "-o", spelling], capsys)[0] == 0
        assert (ws / "run" / "results.npz").exists() and (ws / "run" / "summary.json").exists()


def test_another_commands_results_need_force(ws, capsys):
    assert _run(["simulate", "net.nir", "--chip", "ideal", "--data", "data.npz", "--steps", 4,
                 "--encoding", "rate", "-o", "run"], capsys)[0] == 0
    code, err = _run(["map", "net.nir", "--chip", "ideal", "-o", "run"], capsys)
    assert code == 2 and "neurocosim simulate" in err and "--force" in err
    assert (ws / "run" / "results.npz").exists()


def test_broken_link_and_unreadable_files_are_refused_or_skipped(ws, capsys):
    os.symlink(ws / "nowhere" / "deeper", ws / "out")
    code, err = _run(["map", "net.nir", "--chip", "ideal", "-o", "out"], capsys)
    assert code == 2 and "broken symbolic link" in err
    (ws / "d").mkdir()
    with output_dir(ws / "d") as tmp:
        (tmp / "a.txt").write_text("1")
    (ws / "d" / "a.txt").chmod(0)
    try:
        assert written_files(ws / "d") is not None  # no PermissionError escapes
    finally:
        (ws / "d" / "a.txt").chmod(0o644)


def test_interrupted_write_leaves_a_folder_that_reruns_without_force(ws):
    with output_dir(ws / "o", command="t") as tmp:
        (tmp / "a.txt").write_text("old a")
        (tmp / "b.txt").write_text("old b")
    real = os.replace
    calls = []

    def dies_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # the marker, then a.txt, then: killed before b.txt
            raise KeyboardInterrupt
        return real(src, dst)

    os.replace = dies_on_second
    try:
        with pytest.raises(KeyboardInterrupt), output_dir(ws / "o", command="t") as tmp:
            (tmp / "a.txt").write_text("new a")
            (tmp / "b.txt").write_text("new b")
    finally:
        os.replace = real
    assert {p.name for p in (ws / "o").iterdir()} >= {"a.txt", "b.txt"}
    with output_dir(ws / "o", command="t") as tmp:  # no --force needed
        (tmp / "a.txt").write_text("a3")
        (tmp / "b.txt").write_text("b3")
    assert (ws / "o" / "b.txt").read_text() == "b3"
    assert not [p for p in (ws / "o").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("args,fragment", [
    (["simulate", "net.nir", "--data", "data.npz", "--steps", 4, "--set", "macro.adc_bits=6"],
     "--set"),
    (["simulate", "net.nir", "--chip", "ideal", "--data", "data.npz", "--steps", 4, "-o", "r",
      "--json", "r.json"], "--json"),
    (["prune", "random:7-8-3", "--chip", "prime-rram-40nm", "--data", "data.npz", "-o", "p"],
     "data.npz"),
    (["prune", "random:6-8-3", "--chip", "prime-rram-40nm", "--data", "data.npz", "--lr", "inf",
      "-o", "p"], "--lr"),
    (["device", "ideal", "--json", "o.png", "--plot", "o.png"], "same file"),
    (["chip", "show", "ideal", "--set", "name=\udcff"], "UTF-8"),
    (["prune", "random:6-8-3", "--chip", "prime-rram-40nm", "--data", "data.npz", "--epochs", 1,
      "--steps", 10**9, "-o", "p"], "prune"),
])
def test_odd_flags_exit_2_naming_them(ws, capsys, args, fragment):
    code, err = _run(args, capsys)
    assert code == 2 and fragment in err and len(err.splitlines()) == 1, err


def test_set_reads_exponent_floats_as_numbers(ws, capsys):
    assert _run(["chip", "show", "ideal", "--set", "clock=1e8 Hz", "--set",
                 "neuron.threshold_mismatch=1e-2"], capsys)[0] == 0


def test_a_killed_runs_temporary_files_are_cleared_by_the_next_write(tmp_path):
    """A run killed mid-write leaves `.neurocosim-tmp-<pid>-…` behind; the next write into
    the same folder removes those of dead processes only — not a live process's, not a
    name without a pid, nothing else."""
    import subprocess
    import sys

    from neurocosim._atomic import atomic_path

    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = proc.pid
    stale_dir = out / f".neurocosim-tmp-{dead}-abc123"
    stale_dir.mkdir()
    (stale_dir / "results.npz").write_bytes(b"partial")
    stale_file = out / f".neurocosim-tmp-{dead}-summary.json.x1y2.tmp"
    stale_file.write_text("{")
    live = out / f".neurocosim-tmp-{os.getpid()}-in-progress"
    live.mkdir()
    no_pid = out / ".neurocosim-tmp-notes"
    no_pid.mkdir()
    users = out / "my-notes.txt"
    users.write_text("mine")
    with output_dir(out, force=True) as tmp:
        (tmp / "a.txt").write_text("a")
    assert not stale_dir.exists() and not stale_file.exists()
    assert live.is_dir() and no_pid.is_dir() and users.read_text() == "mine"
    assert (out / "a.txt").read_text() == "a"
    side = tmp_path / "side"
    side.mkdir()
    (side / f".neurocosim-tmp-{dead}-card.yaml.zz.tmp").write_text("x")
    with atomic_path(side / "card.yaml") as p:
        p.write_text("ok")
    assert sorted(f.name for f in side.iterdir()) == ["card.yaml"]
