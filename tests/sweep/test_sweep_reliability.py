"""Sweep reliability: lazy and capped run enumeration, load-time validation, one-line
errors from workers, the study hash on resume, output-folder safety, the folder lock and
no orphan processes after a SIGKILL."""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocosim import network_from_weights, save_network
from neurocosim.cli import main
from neurocosim.errors import ConfigError, DataError, MappingError, ModelError, OutputError
from neurocosim.sweep import SweepRunError, load_study, read_table, run_sweep
from neurocosim.sweep.lock import LOCK_NAME
from neurocosim.sweep.pool import raise_remote as _raise_remote
from neurocosim.sweep.runner import _run_guarded
from neurocosim.sweep.study import Runs

BASE = {
    "name": "rel", "model": "m.nir", "data": "d.npz", "chip": "prime-rram-40nm",
    "simulation": {"steps": 12, "encoding": "rate", "adc_calibration": 10},
    "grid": {"macro.programming_noise.params.percent": [0, 10, 20]},
    "seeds": [0, 1],
    "metrics": ["accuracy", "mean_steps"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep_rel")
    rng = np.random.default_rng(0)
    net = network_from_weights([rng.normal(0, 0.6, (24, 16)), rng.normal(0, 0.6, (4, 24))],
                               dt=1e-3, neuron="IF")
    save_network(net, d / "m.nir")
    np.savez(d / "d.npz", x=rng.uniform(0, 1, (200, 16)), y=rng.integers(0, 4, 200))
    return d


def write(d: Path, stem: str, **changes) -> Path:
    study = {**BASE, **changes}
    study = {k: v for k, v in study.items() if v is not None}
    path = d / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def one_line(msg: str) -> str:
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 700, msg
    return msg


# -- (d) lazy, counted and capped ---------------------------------------------------------
def test_billion_point_grid_is_refused_at_once_without_allocating(files):
    grid = {f"macro.field{i}": list(range(10)) for i in range(9)}  # 10^9 points
    path = write(files, "huge", grid=grid, seeds=[0])
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    msg = one_line(str(exc.value))
    assert str(path) in msg and "1,000,000,000 runs" in msg and "max_runs: 1000000000" in msg
    assert elapsed < 1.0 and peak < 20 << 20


@pytest.mark.parametrize("count, match", [
    (10**12, r"1,000,000,000,000 seeds\), over max_runs = 10,000"),
    (10**20, r"100,000,000,000,000,000,000 seeds\), .*at most 1,000,000,000,000,000\)"),
    ("1e12", r"seeds.count: must be a positive integer, got '1e12' \(YAML reads"),
    ("abc", "seeds.count: must be a positive integer"),
    (-1, "seeds.count: must be a positive integer, got -1"),
    (1.5, "seeds.count: must be a positive integer, got 1.5"),
    (True, "seeds.count: must be a positive integer, got True"),
])
def test_seed_count_is_validated(files, count, match):
    with pytest.raises(ConfigError, match=match) as exc:
        load_study(write(files, "seeds", seeds={"count": count}))
    one_line(str(exc.value))


def test_max_runs_raises_the_cap_and_runs_stay_lazy(files):
    t = time.perf_counter()
    s = load_study(write(files, "big", seeds={"count": 10**9}, max_runs=3 * 10**9))
    assert time.perf_counter() - t < 1.0
    assert len(s.runs) == 3 * 10**9 and s.max_runs == 3 * 10**9
    last = s.runs[-1]
    assert last.index == 3 * 10**9 - 1 and last.seed == 10**9 - 1
    assert last.params == {"macro.programming_noise.params.percent": 20}
    assert [r.index for r in itertools.islice(iter(s.runs), 3)] == [0, 1, 2]
    with pytest.raises(ConfigError, match=r"max_runs: must be a positive integer, got 'x'"):
        load_study(write(files, "big2", max_runs="x"))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       seeds=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True))
def test_index_decoding_matches_the_cartesian_product(sizes, seeds):
    grid = tuple((f"k{i}", tuple(range(n))) for i, n in enumerate(sizes))
    runs = Runs(grid, None, seeds)
    points = [dict(zip([k for k, _ in grid], combo, strict=True))
              for combo in itertools.product(*[v for _, v in grid])]
    eager = [(p, s) for p, s in itertools.product(points, seeds)]
    assert len(runs) == len(eager)
    assert [(r.params, r.seed) for r in runs] == eager
    assert len({r.run_id for r in runs}) == len(eager)


def test_random_samples_are_drawn_per_index(files):
    path = write(files, "rnd", random={"n": 6, "seed": 3,
                                       "params": {"macro.adc_bits": [4, 8],
                                                  "simulation.encoding": ["rate", "current"]}})
    a, b = load_study(path), load_study(path)
    assert len(a.runs) == 3 * 6 * 2
    assert [r.params for r in a.runs] == [b.runs[i].params for i in range(len(b.runs))]
    assert len({r.run_id for r in a.runs}) == len(a.runs)  # equal draws still differ
    assert a.param_names == ["macro.programming_noise.params.percent", "macro.adc_bits",
                             "simulation.encoding"]
    assert all(4 <= r.params["macro.adc_bits"] <= 8 for r in a.runs)


# -- (e) every field validated at load time ----------------------------------------------
BAD = [
    ({"samples": "abc"}, "samples: must be a positive integer"),
    ({"samples": 0}, "samples: must be a positive integer"),
    ({"dt": "abc"}, "dt: must be a time step"),
    ({"dt": -1e-3}, "dt: must be a time step"),
    ({"simulation": {"steps": "abc"}}, "simulation.steps: must be a positive integer"),
    ({"simulation": {"steps": 0}}, "simulation.steps: must be a positive integer"),
    ({"simulation": {"steps": 10**12}}, "simulation.steps: 1,000,000,000,000 steps"),
    ({"simulation": {"encoding": "morse"}}, "simulation.encoding: unknown encoding 'morse'"),
    ({"simulation": {"early_stop": "confidence:abc"}}, "simulation.early_stop: early stop"),
    ({"simulation": {"early_stop": "margin:-1"}}, "simulation.early_stop: .*margin"),
    ({"simulation": {"read_time": "-1 h"}}, "simulation.read_time: "),
    ({"simulation": {"read_time": "soon"}}, "simulation.read_time: "),
    ({"simulation": {"read_time": float("nan")}}, "simulation.read_time: "),
    ({"simulation": {"read_time": float("inf")}}, "simulation.read_time: "),
    ({"simulation": {"adc_calibration": -1}}, "simulation.adc_calibration: .*>= 0"),
    ({"simulation": {"placement": "random"}}, "simulation.placement: unknown placement"),
    ({"simulation": {"speed": 1}}, "simulation: unknown option 'speed'"),
    ({"grid": {"simulation.steps": [8, "abc"]}}, r"grid: simulation.steps\[1\]: must be"),
    ({"grid": {"simulation.early_stop": ["none", "maybe"]}},
     r"grid: simulation.early_stop\[1\]: early stop"),
    ({"grid": {"simulation.read_time": [0, "-1 d"]}}, r"grid: simulation.read_time\[1\]"),
    ({"grid": {"simulation.warp": [1]}}, "simulation.warp: unknown simulation option"),
    ({"grid": {"macro.adc_bits": [4, 40]}}, "grid: macro.adc_bits = 40: macro.adc_bits"),
    ({"grid": {"chip": ["ideal", "no-such-chip"]}}, r"grid: chip\[1\]: no chip preset"),
    ({"grid": {"macro.adc_bits": [4, 4]}}, "value 4 appears twice"),
    ({"model": "missing.nir"}, "model: no such file 'missing.nir'"),
    ({"data": "missing.npz"}, "data: no such file 'missing.npz'"),
    ({"chip": "missing.yaml"}, "chip: no such chip card file 'missing.yaml'"),
    ({"chip": "no-such-chip"}, "chip: no chip preset named 'no-such-chip'"),
    ({"card": {"macro.adc_bits": 99}}, "card .*macro.adc_bits"),
    ({"seeds": [0, 0]}, "seeds: value 0 appears twice"),
    ({"seeds": [-1]}, "seeds: each seed must be an integer >= 0"),
    ({"random": {"n": 0, "params": {"macro.adc_bits": [4, 8]}}}, "random.n: must be"),
    ({"random": {"n": 2, "params": {"macro.adc_bits": [8, 4]}}}, "low <= high"),
    ({"metrics": ["accuracy", "accuracy"]}, "metrics: value 'accuracy' appears twice"),
    ({"name": "x" * 300_000}, "name: 300,000 characters is too long"),
]


@pytest.mark.parametrize("change, match", BAD, ids=[m.split(":")[0][:30] + str(i)
                                                    for i, (_, m) in enumerate(BAD)])
def test_bad_field_is_a_config_error_at_load_time(files, change, match):
    path = write(files, "bad", **change)
    with pytest.raises(ConfigError, match=match) as exc:
        load_study(path)
    assert str(exc.value).startswith(str(path))
    one_line(str(exc.value))


def test_cli_bad_field_exits_2_with_one_line(files, capsys, tmp_path):
    path = write(files, "badcli", simulation={"steps": "abc"})
    assert main(["sweep", str(path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "simulation.steps: must be a positive integer" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, match", [
    ("a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "refused YAML"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "refused YAML|nest"),
    (b"name: caf\xe9\n", "not UTF-8"),
    ("name: a\x00b\n", "NUL byte"),
    ("name: [unclosed\n", "malformed YAML"),
    ("- a list\n", "a study must be a mapping"),
])
def test_hostile_study_files_are_config_errors(tmp_path, text, match):
    path = tmp_path / "s.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=match) as exc:
        load_study(path)
    one_line(str(exc.value))


def test_huge_values_are_shortened_in_messages(files):
    with pytest.raises(ConfigError) as exc:
        load_study(write(files, "long", grid={"simulation.encoding": ["y" * 200_000]}))
    assert "unknown encoding" in one_line(str(exc.value)) and len(str(exc.value)) < 500


# -- worker errors reach the user as one line ---------------------------------------------
def test_worker_error_is_its_own_class_in_one_line(files, tmp_path, capsys):
    path = write(files, "fanin", grid={"max_fan_in": [8]}, seeds=[0])
    with pytest.raises(MappingError, match=r"run 0 \(seed 0\): design rule 'fan_in'") as exc:
        run_sweep(load_study(path), tmp_path / "o", workers=1)
    one_line(str(exc.value))
    assert exc.value.__cause__ is None and exc.value.__context__ is None
    assert main(["sweep", str(path), "-o", str(tmp_path / "o2"), "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurocosim: error: ") and "\n" not in err and "fan_in" in err


def test_unexpected_worker_exception_is_one_internal_line(files, capsys, monkeypatch, tmp_path):
    payload = {"source": "s.yaml"}  # missing keys: a KeyError inside run_one
    rec = _run_guarded(payload, 7, {}, 0)
    assert rec["error"]["ours"] is False
    with pytest.raises(SweepRunError, match=r"s.yaml: run 7: KeyError: 'model' at runner.py"):
        _raise_remote(rec["error"])
    rec = _run_guarded({"source": "s.yaml", "model": str(tmp_path / "none.nir"), "dt": None,
                        "data": str(tmp_path / "none.npz")}, 3, {}, 0)
    with pytest.raises(ModelError, match=r"^s.yaml: run 3 \(seed 0\): .*none.nir"):
        _raise_remote(rec["error"])

    import neurocosim.sweep as sweep_pkg

    def boom(*a, **k):
        _raise_remote(_run_guarded(payload, 1, {}, 0)["error"])

    monkeypatch.setattr(sweep_pkg, "run_sweep", boom)
    assert main(["sweep", str(write(files, "ok")), "-o", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err.strip()
    assert "internal error" in err and "KeyError" in err and "\n" not in err
    assert "Traceback" not in err and "RemoteTraceback" not in err


# -- (c) the study hash on resume; results tables ------------------------------------------
@pytest.fixture(scope="module")
def done_folder(files):
    """A real partial sweep (2 of 6 runs), written with --force beside a user's file."""
    out = files / "done"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    study = load_study(write(files, "s1"))
    run_sweep(study, out, workers=1, max_runs=2, force=True)
    return out


def copy_of(done_folder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(done_folder, out)
    return out


def test_run_folder_records_the_hash_and_marker(files, done_folder):
    study = load_study(files / "s1.yaml")
    rec = json.loads((done_folder / "study.json").read_text())
    assert rec["hash"] == study.study_hash and rec["study"]["name"] == "rel"
    marker = json.loads((done_folder / ".neurocosim.json").read_text())
    assert {"results.csv", "study.json"} <= set(marker["files"])
    assert "notes.txt" not in marker["files"]
    assert (done_folder / "notes.txt").read_text() == "mine"
    assert len(read_table(done_folder / "results.csv")[1]) == 2
    # the hash is semantic: the name and the study file's place do not change it
    moved = files / "sub"
    moved.mkdir(exist_ok=True)
    raw = dict(BASE, name="other name", model="../m.nir", data="../d.npz")
    (moved / "s.yaml").write_text(yaml.safe_dump(raw))
    assert load_study(moved / "s.yaml").study_hash == study.study_hash


def test_resume_of_another_study_with_equal_columns_is_refused(files, done_folder, tmp_path):
    out = copy_of(done_folder, tmp_path)
    before = (out / "results.csv").read_bytes()
    other = load_study(write(files, "s2", name="s2",
                             simulation={"steps": 13, "encoding": "rate"}))
    assert other.columns() == load_study(files / "s1.yaml").columns()
    for _ in range(2):  # a second try does not mix the studies either
        with pytest.raises(DataError, match=r"belongs to study 'rel' \(hash [0-9a-f]{12}\), "
                                            r"this is 's2'") as exc:
            run_sweep(other, out, resume=True, workers=1)
        one_line(str(exc.value))
    assert (out / "results.csv").read_bytes() == before


@pytest.mark.parametrize("tamper, match", [
    (lambda t: t.write_text(t.read_text() + "0123456789abcdef,1,1,10,0.5,12.0,none,d[0:9]\n"),
     "line 4: run_id '0123456789abcdef' .*is not a run of study 'rel'"),
    (lambda t: t.write_text(t.read_text() + "x,99999999999,1,10,0.5,12.0,none,d[0:9]\n"),
     "is not a run of study"),
    (lambda t: t.write_bytes(t.read_bytes() + b"caf\xe9,1,1,1,1,1\n"), "not UTF-8"),
    (lambda t: t.write_bytes(t.read_bytes() + b"a\x00b,1,1,1,1,1\n"), "NUL byte"),
    (lambda t: t.write_text(t.read_text() + "y" * 200_000 + ",1,1,1,1,1\n"),
     "not a results table"),
    (lambda t: t.write_text(t.read_text() + "a,b\n" + t.read_text().splitlines()[1] + "\n"),
     "line 4 has 2 fields"),
    (lambda t: (t.parent / "study.json").write_text('{"name": "rel"}'), "records no study hash"),
    (lambda t: (t.parent / "study.json").write_bytes(b"\xff\xfe"), "not UTF-8"),
])
def test_bad_results_table_is_a_data_error(files, done_folder, tmp_path, tamper, match):
    out = copy_of(done_folder, tmp_path)
    tamper(out / "results.csv")
    with pytest.raises(DataError, match=match) as exc:
        run_sweep(load_study(files / "s1.yaml"), out, resume=True, workers=1)
    one_line(str(exc.value))


# -- output folder safety ------------------------------------------------------------------
def test_output_folder_of_user_files_needs_force_and_theirs_are_never_touched(files, tmp_path,
                                                                             capsys):
    study = load_study(files / "s1.yaml")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("x")
    with pytest.raises(OutputError, match="--force"):
        run_sweep(study, out)
    assert main(["sweep", str(files / "s1.yaml"), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    (out / "results.csv").write_text("my,own,table\n")
    with pytest.raises(OutputError, match="results.csv: exists and was not written by neurocosim"):
        run_sweep(study, out, force=True)
    assert (out / "results.csv").read_text() == "my,own,table\n"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "results.csv", "thesis.tex"]
    with pytest.raises(OutputError, match="exists: pass --resume"):
        run_sweep(study, files / "done")
    assert main(["sweep", str(files / "s1.yaml"), "-o", str(tmp_path / "w"), "--workers",
                 str((os.cpu_count() or 1) + 1)]) == 2
    assert "--workers" in capsys.readouterr().err


# -- (a), (b): SIGKILL, orphans, the lock -----------------------------------------------
def slow_study(files, name):
    """Runs of ~0.5-1 s each on one core: the sweep is still running when it is killed."""
    return write(files, name, simulation={"steps": 800, "encoding": "rate",
                                          "adc_calibration": 10},
                 grid={"macro.programming_noise.params.percent": [0, 5, 10, 15, 20, 25]},
                 seeds=[0, 1])


def start_sweep(study, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "neurocosim.cli", "sweep", str(study), "-o",
                             str(out), "-q", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(cond, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("timed out")


def rows(out):
    t = out / "results.csv"
    return len(read_table(t)[1]) if t.exists() else 0


@pytest.mark.timeout(120)
def test_sigkill_of_a_sweep_leaves_no_worker_or_resource_tracker(files, tmp_path):
    out = tmp_path / "k"
    proc = start_sweep(slow_study(files, "slow_a"), out, "--workers", "2")
    children = []
    try:
        wait_for(lambda: rows(out) >= 1, proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = [" ".join(c.cmdline()) for c in children]
        assert sum("spawn_main" in n for n in names) == 2, names
        assert any("resource_tracker" in n for n in names), names
        assert rows(out) < 12, "the sweep should still be running"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t = time.time()
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"still alive {time.time() - t:.1f} s after SIGKILL: {alive}"
    finally:
        for c in children:
            if c.is_running():
                c.kill()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.timeout(120)
def test_second_sweep_on_the_folder_is_refused_and_resume_works_after_sigkill(files,
                                                                               tmp_path):
    out = tmp_path / "l"
    study = slow_study(files, "slow_b")
    first = start_sweep(study, out, "--workers", "1")
    children = []
    try:
        wait_for(lambda: (out / ".neurocosim-tmp-sweep.pid").exists(), first)
        second = subprocess.run([sys.executable, "-m", "neurocosim.cli", "sweep", str(study),
                                 "-o", str(out), "--resume", "-q"], capture_output=True,
                                text=True, timeout=60)
        assert first.poll() is None, "the first sweep should still hold the lock"
        assert second.returncode == 2, second.stderr
        err = second.stderr.strip()
        assert err == (f"neurocosim: error: another sweep (pid {first.pid}) is writing {out}; "
                       "wait for it to finish (or stop it, then continue with --resume), or "
                       "choose another folder with -o"), err
        wait_for(lambda: rows(out) >= 1, first)
        children = psutil.Process(first.pid).children(recursive=True)
        first.send_signal(signal.SIGKILL)
        first.wait()
        n = rows(out)
        assert 1 <= n < 12 and (out / LOCK_NAME).exists()  # the lock file stays, unlocked
        again = subprocess.run([sys.executable, "-m", "neurocosim.cli", "sweep", str(study),
                                "-o", str(out), "--resume", "--max-runs", "1", "--workers",
                                "1", "-q"], capture_output=True, text=True, timeout=90)
        assert again.returncode == 0, again.stderr
        assert f"{n + 1} of 12 runs" in again.stdout
        header, body = read_table(out / "results.csv")
        assert len({r[0] for r in body}) == n + 1
    finally:
        for c in children:
            if c.is_running():
                c.kill()
        if first.poll() is None:
            first.kill()
        first.communicate()


def test_resume_after_the_data_file_changed_is_refused(files, tmp_path):
    """The study's hash covers its input files' bytes, not only their paths: a data file
    replaced under the same name cannot be mixed into a half-done table."""
    own = tmp_path / "inputs"
    own.mkdir()
    shutil.copy(files / "m.nir", own / "m.nir")
    shutil.copy(files / "d.npz", own / "d.npz")
    study_path = write(own, "s1")
    out = tmp_path / "run"
    run_sweep(load_study(study_path), out, workers=1, max_runs=2)
    same = load_study(study_path)
    assert same.study_hash == json.loads((out / "study.json").read_text())["hash"]
    with np.load(own / "d.npz") as d:
        x, y = d["x"].copy(), d["y"].copy()
    np.savez(own / "d.npz", x=x[::-1], y=y[::-1])  # same shape, other samples
    changed = load_study(study_path)
    assert changed.study_hash != same.study_hash
    before = (out / "results.csv").read_bytes()
    with pytest.raises(DataError, match="belongs to study"):
        run_sweep(changed, out, resume=True, workers=1)
    assert (out / "results.csv").read_bytes() == before


def test_dask_local_workers_die_with_a_killed_parent(tmp_path):
    """`--dask local` (a LocalCluster of worker processes): when the process that owns the
    cluster is SIGKILLed, every process it started is gone within seconds."""
    import psutil

    script = tmp_path / "owner.py"
    script.write_text(
        "import os, sys, time\n"
        "import psutil\n"
        "from neurocosim.sweep.pool import open_executor\n"
        "if __name__ == '__main__':\n"
        "    client, cluster = open_executor('dask-local', 2)\n"
        "    time.sleep(1)\n"
        "    kids = psutil.Process(os.getpid()).children(recursive=True)\n"
        "    print(' '.join(str(k.pid) for k in kids), flush=True)\n"
        "    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            cwd=str(Path(__file__).resolve().parents[2]))
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) >= 2  # the workers (and their helpers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(psutil.pid_exists(p) and
                                                   psutil.Process(p).status() != "zombie"
                                                   for p in pids):
            time.sleep(0.2)
        left = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert not left, left
    finally:
        if proc.poll() is None:
            proc.kill()
