"""Run a study: one row per run, streamed to ``OUT/results.csv`` as runs finish.

Runs go to a local process pool (default) or a ``dask.distributed`` cluster. Every
finished run is appended to the CSV as one complete line (a single ``write`` on a file
opened for appending, then ``fsync``), so an interrupted sweep loses nothing it had
finished; ``resume`` reads the rows already there (a torn last line is dropped), runs
only the others and never writes a run twice. At the end the table is rewritten sorted
by run index (atomically) — the same table whatever the executor and the order runs
finished in. Runs are submitted a few at a time (never the whole study at once).

The run folder
    ``OUT`` is written only if it does not exist, is empty or is a neurocosim folder (its
    marker ``.neurocosim.json`` lists what neurocosim wrote there: ``results.csv``,
    ``study.json``, the figures); ``force`` writes beside a user's files, never touching
    them (a user's ``results.csv`` or ``study.json`` in the way is refused even then).
    Nothing is ever deleted.

The study hash
    ``OUT/study.json`` records the study (raw, as written) and the SHA-256 of its
    canonical semantic content (:attr:`~neurocosim.sweep.study.Study.study_hash`).
    ``resume`` refuses a folder whose recorded hash differs — even when the columns are
    the same — and every row already in ``results.csv`` must be one of this study's runs
    (its ``run_id`` is checked against the run with its ``index``); anything else is a
    :class:`~neurocosim.errors.DataError`.

The lock
    While a sweep writes ``OUT`` it holds an exclusive ``flock`` (via the ``filelock``
    package) on ``OUT/.neurocosim-tmp-sweep.lock`` and writes its pid beside it; a second
    sweep on the same folder is refused at once naming that pid. The kernel releases a
    ``flock`` when its holder dies, so a killed sweep (even ``SIGKILL``) never leaves a
    stale lock: ``--resume`` just works. The lock file stays (it is empty and harmless;
    deleting a lock file others may hold breaks mutual exclusion).

Workers
    Local pool workers die with the sweep: each sets ``PR_SET_PDEATHSIG`` (Linux) and runs
    a daemon thread polling its parent, so after a ``SIGKILL`` of the sweep the workers
    exit within a second, and multiprocessing's resource tracker (which exits when the
    last holder of its pipe is gone) follows. An exception in a worker reaches the caller
    as one line: a :class:`~neurocosim.errors.NeurocosimError` as its own class, anything
    else as :class:`SweepRunError` (a bug: the CLI exits 3).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import errors as _errors
from .._atomic import atomic_path, check_output_dir, mark_written, marker_entries, written_files
from ..errors import ConfigError, DataError, NeurocosimError, OutputError, SimulationError, short
from .study import RunSpec, Study

__all__ = ["run_sweep", "run_one", "read_table", "sweep_lock", "write_figures",
           "SweepRunError", "LOCK_NAME", "TABLE", "STUDY_RECORD"]

TABLE = "results.csv"
STUDY_RECORD = "study.json"
#: the lock file; the ``.neurocosim-tmp-`` prefix keeps it out of the folder checks
LOCK_NAME = ".neurocosim-tmp-sweep.lock"
_PID_NAME = ".neurocosim-tmp-sweep.pid"
#: largest results table read back (a table of 10⁶ runs is ~200 MB)
MAX_TABLE_BYTES = 1 << 30
_CACHE: dict[str, Any] = {}


class SweepRunError(RuntimeError):
    """An unexpected exception in a sweep run (a bug), reduced to one line."""


def _cached(key: str, fn):
    if key not in _CACHE:
        _CACHE[key] = fn()
    return _CACHE[key]


def run_one(study: dict, index: int, params: dict, seed: int) -> dict:
    """Run one point of a study (a pure function of its arguments; used by workers)."""
    import copy
    import warnings

    import numpy as np

    from ..calibration import calibrate_adc_ranges, rebalance_thresholds
    from ..devices import apply_overrides, load_chip
    from ..devices.overrides import set_path
    from ..devices.program import program_chip
    from ..energy import estimate, paper_convention
    from ..frontends import load_network
    from ..hwsim import make_encoder, simulate
    from ..hwsim.encoders import load_data
    from ..mapping import MappingWarning, map_network
    from ..units import parse_duration

    where = f"{study['source']}: run {index}"
    net = _cached(f"net:{study['model']}:{study['dt']}",
                  lambda: load_network(study["model"], dt=study["dt"]))
    x, y = _cached(f"data:{study['data']}", lambda: load_data(study["data"]))
    if study["samples"]:
        x, y = x[: study["samples"]], (None if y is None else y[: study["samples"]])
    sim = dict(study["simulation"])
    chip_spec = params.get("chip", study["chip"])
    cards = study.get("cards") or {}
    if chip_spec in cards:  # validated at load time, fixed card overrides applied
        card = cards[chip_spec]
    else:
        card = load_chip(chip_spec).to_dict()
        for k, v in study["card"].items():
            set_path(card, k, copy.deepcopy(v), f"{study['source']}: card")
    overrides = {}
    for k, v in params.items():
        if k == "chip":
            continue
        if k.startswith("simulation."):
            opt = k.split(".", 1)[1]
            if opt not in sim:
                raise ConfigError(f"{where}: unknown simulation option '{short(opt)[1:-1]}'")
            sim[opt] = v
        else:
            overrides[k] = v  # "macro.rows+macro.cols": one value, several fields
    chip = apply_overrides(card, overrides, source=where)
    s_prog, s_read, s_enc = np.random.SeedSequence(seed).spawn(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapped = map_network(net, chip, placement=sim["placement"], seed=seed)
    programmed = program_chip(mapped, np.random.default_rng(s_prog))
    enc = make_encoder(sim["encoding"], x, net.input_shape, np.random.default_rng(s_enc))
    read_time = parse_duration(sim["read_time"])
    steps = int(sim["steps"])
    fs = None
    if chip.macro.adc_bits is not None and int(sim["adc_calibration"]) > 0 and not programmed.ideal:
        fs = calibrate_adc_ranges(programmed, enc, steps, read_time=read_time,
                                  max_samples=int(sim["adc_calibration"]))
    if sim["recalibrate_thresholds"]:
        programmed = rebalance_thresholds(programmed, enc, steps, rng=np.random.default_rng(s_read),
                                          read_time=read_time, adc_full_scale=fs)
    res = simulate(programmed, enc, steps, early_stop=sim["early_stop"],
                   rng=np.random.default_rng(s_read), read_time=read_time, adc_full_scale=fs,
                   threads=1)
    rep = mapped.report
    energy = estimate(res.counts, chip, tiles=rep.tiles, cores=rep.cores,
                      paper=paper_convention(net, res.counts,
                                             first_layer_mac=sim["encoding"] == "current"))
    values = {
        "accuracy": None if y is None else res.accuracy(y),
        "mean_steps": res.mean_steps, "load_saving": res.load_saving,
        "energy_per_inference_J": energy.energy_per_inference_J,
        "latency_per_inference_s": energy.latency_per_inference_s,
        "synaptic_events": res.counts.synaptic_events(),
        "clipped_conversions": res.counts.totals()["clipped_conversions"],
        "paper_E_snn_J": energy.paper_convention["E_snn_J"], "tiles": rep.tiles,
        "cores": rep.cores, "area_mm2": energy.area_mm2,
    }
    return {"index": index, "seed": seed, "params": params,
            "metrics": {m: values[m] for m in study["metrics"]}}


# -- workers -----------------------------------------------------------------------------
def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 15] + "... (cut)"


def _run_guarded(study: dict, index: int, params: dict, seed: int) -> dict:
    """``run_one`` in a worker: any exception comes back as a one-line error record
    (picklable whatever the exception was; no remote traceback text)."""
    try:
        return run_one(study, index, params, seed)
    except NeurocosimError as exc:
        msg = _one_line(exc)
        if not msg.startswith(str(study["source"])):
            msg = f"{study['source']}: run {index} (seed {seed}): {msg}"
        return {"index": index, "error": {"class": type(exc).__name__, "ours": True,
                                          "message": msg}}
    except MemoryError:
        return {"index": index, "error": {
            "class": "BudgetError", "ours": True,
            "message": f"{study['source']}: run {index}: out of memory in the worker; use "
                       "fewer --workers, fewer samples or a smaller network"}}
    except Exception as exc:  # noqa: BLE001 - a bug: reported as one line, exit 3
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "neurocosim" in f.filename] or frames
        at = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno} ({ours[-1].name})" \
            if ours else ""
        return {"index": index, "error": {
            "class": type(exc).__name__, "ours": False,
            "message": f"{study['source']}: run {index}: {type(exc).__name__}: "
                       f"{_one_line(exc, 300)}{at}"}}


def _raise_remote(err: dict) -> None:
    if err.get("ours"):
        cls = getattr(_errors, str(err.get("class")), None)
        if not (isinstance(cls, type) and issubclass(cls, NeurocosimError)):
            cls = NeurocosimError
        raise cls(err["message"])
    raise SweepRunError(err["message"])


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(parent: int) -> None:
    """Pool initializer: end this worker when the sweep process is gone (killed too)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="neurocosim-parent-watch").start()


# -- the results table -------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _row(study: Study, spec: RunSpec, result: dict) -> list[str]:
    vals = [spec.run_id, str(spec.index), str(spec.seed)]
    vals += [_fmt(spec.params.get(k)) for k in study.param_names]
    vals += [_fmt(result["metrics"][m]) for m in study.metrics]
    return vals


def _line(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def read_table(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Header and complete rows of a results CSV (a torn last line is dropped).

    A file that is not UTF-8 text, holds NUL bytes, has a field over the CSV field limit
    or a row (other than a torn last one) with the wrong number of fields →
    :class:`~neurocosim.errors.DataError`."""
    from .._yaml import read_text

    path = Path(path)
    text = read_text(path, "results table", DataError, max_bytes=MAX_TABLE_BYTES)
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(complete, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: not a results table "
                        f"({_one_line(exc, 120)})") from None
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}: line {i + 2} has {len(r)} fields, the header "
                            f"{len(header)}; the table was edited or is not a sweep's "
                            "results table")
    return header, body


def _study_payload(study: Study) -> dict:
    return {"source": study.source, "model": study.model, "dt": study.dt, "data": study.data,
            "samples": study.samples, "chip": study.chip, "card": dict(study.card),
            "simulation": dict(study.simulation), "cards": dict(study.cards),
            "metrics": list(study.metrics)}


def _study_record(study: Study) -> str:
    return json.dumps({"neurocosim_study": 1, "name": study.name, "source": study.source,
                       "hash": study.study_hash, "canonical": study.canonical,
                       "study": study.raw}, indent=1, default=str) + "\n"


def _recorded_hash(out: Path) -> tuple[str, str]:
    """(hash, name) recorded in ``out/study.json``."""
    from .._yaml import read_text

    path = out / STUDY_RECORD
    text = read_text(path, "study record", DataError)
    try:
        rec = json.loads(text)
    except (ValueError, RecursionError):
        raise DataError(f"{path}: not a study record (malformed JSON)") from None
    h = rec.get("hash") if isinstance(rec, dict) else None
    if not isinstance(h, str) or not h:
        raise DataError(f"{path}: records no study hash (written by an older neurocosim, or "
                        "not a sweep folder); sweep into a new folder")
    name = rec.get("name")
    return h, name if isinstance(name, str) else "?"


def _check_rows(study: Study, table: Path, rows: list[list[str]]) -> dict[str, list[str]]:
    done: dict[str, list[str]] = {}
    n = len(study.runs)
    for line, r in enumerate(rows, start=2):
        try:
            idx = int(r[1])
        except ValueError:
            idx = -1
        spec = study.runs[idx] if 0 <= idx < n else None
        if spec is None or spec.run_id != r[0] or str(spec.seed) != r[2]:
            raise DataError(f"{table}: line {line}: run_id {short(r[0])} (index "
                            f"{short(r[1])}) is not a run of study '{study.name}' "
                            f"({study.source}); the table was edited or belongs to another "
                            "study")
        if r[0] in done:
            raise DataError(f"{table}: line {line}: run {idx} appears twice; the table was "
                            "edited")
        done[r[0]] = r
    return done


# -- folder, lock ------------------------------------------------------------------------
_HELD: dict[str, list] = {}  # resolved folder -> [lock, depth]
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def sweep_lock(out: str | Path) -> Iterator[Path]:
    """Hold the folder's sweep lock (re-entrant in one process); refuse if another
    process holds it (:class:`~neurocosim.errors.OutputError` naming its pid)."""
    import inspect
    import warnings

    from filelock import FileLock, Timeout

    out = Path(out)
    key = str(out.resolve())
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield out
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    kw: dict[str, Any] = {"timeout": 0}
    params = inspect.signature(FileLock.__init__).parameters
    if "fallback_to_soft" in params:  # a soft (existence) lock would outlive a SIGKILL
        kw["fallback_to_soft"] = False
    if "thread_local" in params:
        kw["thread_local"] = False
    lock = FileLock(str(out / LOCK_NAME), **kw)
    acquired = False
    try:
        lock.acquire()
        acquired = True
    except Timeout:
        pid = "?"
        with contextlib.suppress(OSError, ValueError):
            pid = str(int((out / _PID_NAME).read_text()[:20].strip()))
        raise OutputError(f"another sweep (pid {pid}) is writing {out}; wait for it to finish "
                          "(or stop it, then continue with --resume), or choose another "
                          "folder with -o") from None
    except (OSError, NotImplementedError) as exc:
        import errno

        if isinstance(exc, OSError) and exc.errno not in (errno.ENOSYS, errno.EOPNOTSUPP,
                                                          errno.ENOLCK):
            raise OutputError(f"{out}: cannot lock the folder for the sweep: "
                              f"{exc.strerror or _one_line(exc, 120)}") from None
        # a file system without flock (some network mounts): run, but say so
        warnings.warn(f"{out}: the file system cannot lock the folder; make sure no other "
                      "sweep writes it at the same time", stacklevel=3)
    try:
        if acquired:  # (not atomic_path: its temporary name would not be ignored)
            with contextlib.suppress(OSError):
                fd = os.open(out / _PID_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, f"{os.getpid()}\n".encode())
                finally:
                    os.close(fd)
        with _HELD_GUARD:
            _HELD[key] = [lock, 1]
        yield out
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        if acquired:
            lock.release()


def _mark(out: Path, names: list[str], command: str = "sweep",
          sources: dict[str, Path] | None = None) -> None:
    """List ``names`` in the folder's marker before they are written (a kill leaves no
    file the folder does not claim); see :func:`neurocosim._atomic.mark_written`."""
    mark_written(out, names, command, sources)


def _prepare(out: Path, force: bool) -> None:
    check_output_dir(out, force=force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder: {exc.strerror}") from None


def _refuse_theirs(out: Path, names: list[str]) -> None:
    """A sweep's own files are listed in the marker; ``results.csv`` grows while the sweep
    runs, so its recorded digest may be stale after a kill: its rows are checked instead."""
    ours = marker_entries(out) or {}
    for n in names:
        if (out / n).exists() and n not in ours:
            raise OutputError(f"{out / n}: exists and was not written by neurocosim; it is "
                              "never touched: move it away or choose another folder with -o")


# -- preflight ---------------------------------------------------------------------------
def _preflight(study: Study, n_runs: int, executor: str, workers: int | None) -> None:
    """Load the network and the data once here (their errors come as themselves, before
    any worker starts) and refuse a sweep over the time budget (spread over the local
    workers; not checked for a remote Dask scheduler, whose size is unknown here)."""
    import numpy as np

    from ..budget import check_time
    from ..frontends import load_network
    from ..hwsim import make_encoder
    from ..hwsim.encoders import load_data, validate_labels

    net = load_network(study.model, dt=study.dt)
    x, y = load_data(study.data)
    if study.samples:
        x, y = x[: study.samples], (None if y is None else y[: study.samples])
    if y is not None:  # never score labels that do not fit the network's outputs
        validate_labels(y, int(np.prod(net.output_shape)), len(x), study.data)
    encodings = {study.simulation["encoding"]}
    steps = [study.simulation["steps"]]
    swept = list(study.grid) + list(study.random["params"] if study.random else ())
    for k, vals in swept:
        if k == "simulation.encoding":
            encodings |= set(vals)
        if k == "simulation.steps":
            steps += list(vals)
    for enc in sorted(encodings):
        try:
            make_encoder(enc, x[:1], net.input_shape, np.random.default_rng(0))
        except NeurocosimError as exc:
            raise DataError(f"{study.data}: {_one_line(exc, 300)} (encoding '{enc}' of "
                            f"{study.source})") from None
    if executor.startswith("dask:"):
        return
    n = min(len(x), study.samples or len(x))
    lanes = max(1, min(workers or os.cpu_count() or 1, n_runs))
    per_run = max(int(s) for s in steps) * n * max(1, net.n_synapses() + net.n_neurons())
    check_time(float(n_runs) * per_run / lanes,
               f"{n_runs:,} runs of up to {max(steps):,} steps x {n:,} samples on {lanes} "
               "workers", "sweep fewer runs (--max-runs), samples or simulation.steps")


# -- executors ---------------------------------------------------------------------------
def _executor(kind: str, workers: int | None):
    if kind == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                   mp_context=mp.get_context("spawn"),
                                   initializer=_worker_init, initargs=(os.getpid(),)), None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--dask needs dask.distributed: pip install 'neurocosim[dask]'") from None

    if kind == "dask-local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    return Client(kind.removeprefix("dask:")), None


def _stop_local(pool, ok: bool) -> None:
    if ok:
        pool.shutdown(wait=True)
        return
    # an error or an interrupt: do not wait for the runs in flight (they are not recorded)
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_sweep(study: Study, out: str | Path, *, executor: str = "local",
              workers: int | None = None, resume: bool = False, progress: bool = False,
              max_runs: int | None = None, force: bool = False) -> Path:
    """Run every pending run of ``study`` into ``out/results.csv``; returns its path.

    ``executor``: ``"local"`` (process pool), ``"dask-local"`` (a LocalCluster) or
    ``"dask:ADDRESS"`` (an existing scheduler). ``max_runs`` stops after that many new
    runs (for tests and partial sweeps). ``force``: write into a folder holding other
    files (they are never touched)."""
    import itertools

    out = Path(out)
    if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
        raise ConfigError(f"--max-runs must be a positive integer, got {short(max_runs)}")
    n_total = len(study.runs)
    checked = False
    if not (out / TABLE).exists():  # errors in the model or data before creating anything
        _preflight(study, min(n_total, max_runs or n_total), executor, workers)
        checked = True
    _prepare(out, force)
    with sweep_lock(out):
        table = out / TABLE
        _refuse_theirs(out, [TABLE, STUDY_RECORD])
        columns = study.columns()
        done: dict[str, list[str]] = {}
        if table.exists():
            if not resume:
                raise OutputError(f"{table} exists: pass --resume to continue it, or choose "
                                  "another output folder")
            if not (out / STUDY_RECORD).exists():
                raise DataError(f"{out}: has {TABLE} but no {STUDY_RECORD}; not a sweep "
                                "folder neurocosim can resume: sweep into a new folder")
            theirs, their_name = _recorded_hash(out)
            if theirs != study.study_hash:
                raise DataError(f"{out}: belongs to study '{short(their_name)[1:-1]}' (hash "
                                f"{short(theirs[:12])[1:-1]}), this is '{study.name}' (hash "
                                f"{study.study_hash[:12]}, {study.source}); resume it with "
                                "its own study file, or sweep into another folder")
            header, rows = read_table(table)
            if header != columns:
                raise DataError(f"{table}: its columns are not this study's ({len(header)} "
                                f"vs {len(columns)}, e.g. {short(header[:4])}); it was edited "
                                "or belongs to another study")
            done = _check_rows(study, table, rows)
            pending_n = n_total - len(done)
            if pending_n and not checked:
                _preflight(study, min(pending_n, max_runs or pending_n), executor, workers)
        elif not checked:
            _preflight(study, min(n_total, max_runs or n_total), executor, workers)
        # nothing was written up to here: a refused sweep leaves the folder as it was
        try:
            if table.exists():
                with atomic_path(table) as tmp:  # drop a torn last line before appending
                    tmp.write_text(_line(columns) + "".join(_line(r) for r in done.values()))
            else:
                _mark(out, [TABLE, STUDY_RECORD])
                with atomic_path(out / STUDY_RECORD) as tmp:
                    tmp.write_text(_study_record(study))
                with atomic_path(table) as tmp:
                    tmp.write_text(_line(columns))
            pending_n = n_total - len(done)
            if max_runs is not None:
                pending_n = min(pending_n, max_runs)
            if pending_n:
                pending = itertools.islice((r for r in study.runs if r.run_id not in done),
                                           pending_n)
                _run_pending(study, table, pending, pending_n, done, executor, workers,
                             progress)
            if len(done) == n_total:
                ordered = sorted(done.values(), key=lambda r: int(r[1]))
                with atomic_path(table) as tmp:
                    tmp.write_text(_line(columns) + "".join(_line(r) for r in ordered))
        finally:  # record the table's digest as it is now (not possible after a SIGKILL)
            with contextlib.suppress(OSError):
                _mark(out, [TABLE, STUDY_RECORD])
    return table


def _run_pending(study: Study, table: Path, pending, n: int, done: dict, executor: str,
                 workers: int | None, progress: bool) -> None:
    n_workers = min(workers or os.cpu_count() or 1, n)
    payload = _study_payload(study)
    pool, cluster = _executor(executor, n_workers)
    if executor == "local":
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_any
    else:
        from distributed import wait as dask_wait

        def wait_any(fs, return_when):
            return dask_wait(list(fs), return_when=return_when)

        FIRST_COMPLETED = "FIRST_COMPLETED"  # noqa: N806
    window = max(2 * n_workers, n_workers + 2)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=study.name, unit="run")
    ok = False
    fd = os.open(table, os.O_WRONLY | os.O_APPEND)
    try:
        inflight: set = set()
        specs: dict[int, RunSpec] = {}
        exhausted = False
        while True:
            while not exhausted and len(inflight) < window:
                spec = next(pending, None)
                if spec is None:
                    exhausted = True
                    break
                specs[spec.index] = spec
                inflight.add(pool.submit(_run_guarded, payload, spec.index, dict(spec.params),
                                         spec.seed))
            if not inflight:
                break
            finished, not_done = wait_any(inflight, return_when=FIRST_COMPLETED)
            inflight = set(not_done)
            for fut in finished:
                result = _result(fut, executor)
                if "error" in result:
                    _raise_remote(result["error"])
                spec = specs.pop(result["index"])
                row = _row(study, spec, result)
                os.write(fd, _line(row).encode())  # one complete line per finished run
                os.fsync(fd)
                done[spec.run_id] = row
                if bar is not None:
                    bar.update(1)
        ok = True
    finally:
        os.close(fd)
        if bar is not None:
            bar.close()
        if executor == "local":
            _stop_local(pool, ok)
        else:
            with contextlib.suppress(Exception):
                pool.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()


def _result(fut, executor: str) -> dict:
    try:
        return fut.result()
    except NeurocosimError as exc:  # raised outside run_one (e.g. unpicklable arguments)
        raise type(exc)(_one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001
        name = type(exc).__name__
        if name in ("BrokenProcessPool", "KilledWorker"):
            raise SimulationError("a sweep worker process died abruptly (killed, or out of "
                                  "memory); continue with --resume, perhaps with fewer "
                                  "--workers") from None
        raise SweepRunError(f"sweep executor '{executor}': {name}: {_one_line(exc, 300)}") \
            from None


def write_figures(study: Study, out: str | Path, command: str = "sweep --plot") -> list[Path]:
    """The study's figures (:func:`neurocosim.plots.sweep_figure`) written into ``out``
    beside its results; a user's file in the way is refused, never overwritten."""
    import shutil
    import tempfile

    from .._atomic import _TMP_PREFIX
    from ..plots import sweep_figure

    out = Path(out)
    with sweep_lock(out):
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=out))
        try:
            made = sweep_figure(out / TABLE, study, tmp)
            names = [Path(p).relative_to(tmp).as_posix() for p in made]
            ours = written_files(out) or set()
            for n in names:
                if (out / n).exists() and n not in ours:
                    raise OutputError(f"{out / n}: exists and was not written by neurocosim; "
                                      f"the figures were not written ({TABLE} is complete): "
                                      "move it away and run again with --resume --plot")
            _mark(out, names, command, sources={n: tmp / n for n in names})
            for n in names:
                os.replace(tmp / n, out / n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in names]

