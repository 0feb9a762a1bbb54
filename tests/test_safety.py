"""The safety layer itself: output folders, the trust flag for pickles, budgets, bounded
YAML, and the exit-status contract (0 / 2 / 3)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time

import numpy as np
import pytest

from neurocosim._atomic import MARKER, check_output_file, output_dir
from neurocosim._yaml import load_yaml
from neurocosim.budget import check_memory, check_simulation, check_time, format_bytes
from neurocosim.errors import BudgetError, ConfigError, OutputError, short


def tree(root) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path → digest)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def test_folder_of_user_files_is_refused_and_untouched(tmp_path):
    work = tmp_path / "mywork"
    work.mkdir()
    (work / "thesis.tex").write_text("chapter 1")
    before = tree(tmp_path)
    with pytest.raises(OutputError, match=r"mywork.*--force"), output_dir(work) as tmp:
        (tmp / "summary.json").write_text("{}")
    assert tree(tmp_path) == before


def test_force_writes_beside_user_files_and_touches_nothing_else(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "thesis.tex").write_text("chapter 1")
    (work / "notes").mkdir()
    (work / "notes" / "a.txt").write_text("x")
    with output_dir(work, force=True, command="t") as tmp:
        (tmp / "summary.json").write_text("{}")
    assert (work / "thesis.tex").read_text() == "chapter 1"
    assert (work / "notes" / "a.txt").read_text() == "x"
    assert list(json.loads((work / MARKER).read_text())["files"]) == ["summary.json"]


def test_rerun_replaces_only_neurocosim_files(tmp_path):
    work = tmp_path / "run"
    with output_dir(work) as tmp:
        (tmp / "a.json").write_text("1")
        (tmp / "old.png").write_text("png")
    (work / "mine.txt").write_text("user")  # the user adds a file to a neurocosim folder
    with output_dir(work) as tmp:           # no --force needed: a neurocosim folder
        (tmp / "a.json").write_text("2")
    assert (work / "a.json").read_text() == "2"
    assert not (work / "old.png").exists()  # ours, not written again: removed
    assert (work / "mine.txt").read_text() == "user"
    # merge (energy into a run folder) keeps the earlier neurocosim files
    with output_dir(work, merge=True) as tmp:
        (tmp / "energy.json").write_text("{}")
    assert (work / "a.json").exists() and (work / "energy.json").exists()
    # a user's file that a new result would overwrite needs --force
    (work / "report.txt").write_text("user's report")
    with pytest.raises(OutputError, match="report.txt.*--force"), output_dir(work) as tmp:
        (tmp / "report.txt").write_text("ours")
    assert (work / "report.txt").read_text() == "user's report"


def test_hostile_marker_cannot_delete_outside_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    work = tmp_path / "w"
    work.mkdir()
    (work / "thesis.tex").write_text("mine")
    digest = hashlib.sha256(b"precious").hexdigest()
    (work / MARKER).write_text(json.dumps({"files": {"../victim.txt": digest, str(victim): digest,
                                                     "thesis.tex": "0" * 64}}))
    with output_dir(work) as tmp:
        (tmp / "new.txt").write_text("n")
    assert victim.read_text() == "precious"
    assert (work / "thesis.tex").read_text() == "mine"  # listed, but not as neurocosim wrote it


def test_output_file_changed_by_the_user_is_theirs(tmp_path):
    work = tmp_path / "run"
    with output_dir(work) as tmp:
        (tmp / "report.txt").write_text("ours")
        (tmp / "fig.png").write_text("png")
    (work / "report.txt").write_text("edited by the user")
    with pytest.raises(OutputError, match="report.txt"), output_dir(work) as tmp:
        (tmp / "report.txt").write_text("new")
    with output_dir(work) as tmp:
        (tmp / "other.json").write_text("{}")
    assert (work / "report.txt").read_text() == "edited by the user"  # not removed either
    assert not (work / "fig.png").exists()


def test_failed_run_leaves_nothing_and_file_paths_are_checked(tmp_path):
    work = tmp_path / "new"
    with pytest.raises(RuntimeError), output_dir(work) as tmp:
        (tmp / "half.json").write_text("{")
        raise RuntimeError("killed mid-way")
    assert not work.exists()
    f = tmp_path / "existing.txt"
    f.write_text("keep")
    with pytest.raises(OutputError, match="is a file"), output_dir(f):
        pass
    with pytest.raises(OutputError, match="existing.txt is a file"), output_dir(f / "sub"):
        pass
    with pytest.raises(OutputError, match="--force"):
        check_output_file(f)
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(tmp_path)
    assert f.read_text() == "keep"
    check_output_file(f, force=True)


def test_malicious_pickle_is_not_executed_without_trust_flag(tmp_path, capsys):
    from neurocosim.cli import main

    flag = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {flag}",))

    for name in ("evil.joblib", "evil.pkl"):
        (tmp_path / name).write_bytes(pickle.dumps(Payload()))
    np.savez(tmp_path / "train.npz", x=np.zeros((4, 3)))
    for name in ("evil.joblib", "evil.pkl"):
        code = main(["convert", str(tmp_path / name), "--data", str(tmp_path / "train.npz"),
                     "-o", str(tmp_path / "out.nir")])
        err = capsys.readouterr().err
        assert code == 2 and "--trust-pickle" in err and name in err
        assert len(err.strip().splitlines()) == 1
    assert not flag.exists()
    assert not (tmp_path / "out.nir").exists()
    # a .skops file is safe: a malformed one is refused, nothing runs
    (tmp_path / "bad.skops").write_bytes(pickle.dumps(Payload()))
    assert main(["convert", str(tmp_path / "bad.skops"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "out.nir")]) == 2
    assert "bad.skops" in capsys.readouterr().err
    assert not flag.exists()


def test_skops_model_converts(tmp_path, digits_mlp, capsys):
    import skops.io

    from neurocosim.cli import main

    mlp, xtr, xte, yte = digits_mlp
    skops.io.dump(mlp, tmp_path / "mlp.skops")
    np.savez(tmp_path / "train.npz", x=xtr)
    assert main(["convert", str(tmp_path / "mlp.skops"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir")]) == 0
    # the same again refuses to overwrite, then --force replaces it
    assert main(["convert", str(tmp_path / "mlp.skops"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "mlp.skops"), "--data", str(tmp_path / "train.npz"),
                 "-o", str(tmp_path / "snn.nir"), "--force"]) == 0


def test_internal_error_exits_3_with_one_line(monkeypatch, capsys):
    from neurocosim import cli

    def boom(args):
        raise RuntimeError("unexpected")

    monkeypatch.setitem(cli.COMMANDS, "chips", boom)
    assert cli.main(["chips"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bug" in err and "RuntimeError" in err
    assert "test_safety.py" in err  # where it happened


def test_budgets_refuse_before_allocating(monkeypatch):
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "1 GiB")
    with pytest.raises(BudgetError, match=r"needs 8 GiB.*1 GiB"):
        check_memory(8 * 2**30, "x")
    check_memory(2**29, "x")
    with pytest.raises(BudgetError, match="NEUROCOSIM_MAX_HOURS"):
        check_time(1e20, "y")
    with pytest.raises(BudgetError):
        check_memory(float("nan"), "z")
    t0 = time.perf_counter()
    with pytest.raises(BudgetError, match="1000000000 steps"):
        check_simulation(engine="hwsim", n_samples=450, steps=10**9, batch=256, input_size=64,
                         neurons=200, synapses=20_000, recorded=200)
    assert time.perf_counter() - t0 < 0.1
    assert format_bytes(9.3e12) == "8.46 TiB"
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "lots")
    with pytest.raises(ConfigError, match="NEUROCOSIM_MAX_MEMORY"):
        check_memory(1, "x")


def test_reference_engine_refuses_endless_run(tmp_path, capsys):
    from neurocosim import network_from_weights, save_network
    from neurocosim.cli import main

    net = network_from_weights([np.ones((4, 3))], dt=1e-3, neuron="IF")
    save_network(net, tmp_path / "m.nir")
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 3)))
    t0 = time.perf_counter()
    assert main(["simulate", str(tmp_path / "m.nir"), "--data", str(tmp_path / "d.npz"),
                 "--steps", str(10**12)]) == 2
    assert time.perf_counter() - t0 < 5
    assert "reference engine" in capsys.readouterr().err


@pytest.mark.parametrize("text,fragment", [
    ("a: &a [1,2,3,4,5,6,7,8,9]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
     "aliases"),
    ("x: " + "[" * 100_000 + "]" * 100_000, "nest"),
])
def test_yaml_bombs_are_refused_fast(text, fragment):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=fragment):
        load_yaml(text, "card.yaml")
    assert time.perf_counter() - t0 < 2


def test_expanded_size_limit_catches_few_aliases():
    # 20 aliases, each doubling: 2^20 values once expanded
    lines = ["l0: &l0 [1, 1]"] + [f"l{i}: &l{i} [*l{i-1}, *l{i-1}]" for i in range(1, 20)]
    with pytest.raises(ConfigError, match="aliases are"):
        load_yaml("\n".join(lines), "s.yaml")
    assert load_yaml("a: &x {b: 1}\nc: *x", "ok.yaml") == {"a": {"b": 1}, "c": {"b": 1}}


def test_short_never_expands_big_values():
    t0 = time.perf_counter()
    big = list(range(10**6))
    assert short(big) == "[0, 1, 2, 3, 4, 5, ...]"
    assert len(short("x" * 200_000)) < 130
    assert short([[[[[1]]]]]) == "[[[[...]]]]"
    assert len(short([["y" * 10**6] * 10**3])) < 130
    assert time.perf_counter() - t0 < 0.1
