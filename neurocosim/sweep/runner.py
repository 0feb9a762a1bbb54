"""Run a study: one row per run, streamed to ``OUT/results.csv`` as runs finish.

Runs go to a local process pool (default) or a ``dask.distributed`` cluster
(:mod:`~neurocosim.sweep.pool`). Every finished run is appended to the CSV as one complete
line, so an interrupted sweep loses nothing it had finished; ``resume`` reads the rows
already there (a torn last line is dropped), runs only the others and never writes a run
twice. At the end the table is rewritten sorted by run index (atomically) — the same table
whatever the executor and the order runs finished in. Each run is one call of
:func:`neurocosim.pipeline.run_on_chip`.

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
    While a sweep writes ``OUT`` it holds an exclusive lock on the folder
    (:func:`~neurocosim.sweep.lock.sweep_lock`); a second sweep on the same folder is
    refused at once naming the first one's pid. A killed sweep (even ``SIGKILL``) never
    leaves a stale lock: ``--resume`` just works.

Workers
    Local pool workers die with the sweep (see :mod:`~neurocosim.sweep.lock`), and
    multiprocessing's resource tracker (which exits when the last holder of its pipe is
    gone) follows. An exception in a worker reaches the caller as one line: a
    :class:`~neurocosim.errors.NeurocosimError` as its own class, anything else as
    :class:`~neurocosim.sweep.pool.SweepRunError` (a bug: the CLI exits 3).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, written_files
from ..errors import ConfigError, DataError, NeurocosimError, OutputError, short
from .lock import LOCK_NAME, sweep_lock
from .pool import SweepRunError, run_pending
from .study import Study
from .table import (
    STUDY_RECORD,
    TABLE,
    check_rows,
    line,
    mark,
    one_line,
    prepare,
    read_table,
    recorded_hash,
    refuse_theirs,
    study_record,
)

__all__ = ["run_sweep", "run_one", "read_table", "sweep_lock", "write_figures",
           "SweepRunError", "LOCK_NAME", "TABLE", "STUDY_RECORD"]

# -- one run -----------------------------------------------------------------------------
# A worker runs many runs of one study: it keeps the network and the data it loaded
# (reading and converting them per run would dominate small runs). The cache is keyed by
# the file's (path, mtime, size), so a long-lived (Dask) worker re-reads a file that
# changed between sweeps, and holds at most 4 of each.
def _stamp(path: str) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of ``path``; None if it cannot be read (the loader says why)."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=4)
def _cached_network(path: str, stamp: tuple[int, int] | None, dt: float | None):
    from ..frontends import load_network

    return load_network(path, dt=dt)


@functools.lru_cache(maxsize=4)
def _cached_data(path: str, stamp: tuple[int, int] | None):
    from ..hwsim.encoders import load_data

    return load_data(path)


def _network(path: str, dt: float | None):
    stamp = _stamp(path)
    if stamp is None:  # nothing to key it by: load (and fail) uncached
        return _cached_network.__wrapped__(path, None, dt)
    return _cached_network(path, stamp, dt)


def _data(path: str):
    stamp = _stamp(path)
    if stamp is None:
        return _cached_data.__wrapped__(path, None)
    return _cached_data(path, stamp)


def _chip_and_options(study: dict, params: dict, where: str) -> tuple[Any, dict]:
    """The run's chip (its card with the run's card values) and simulation options."""
    import copy

    from ..devices import apply_overrides, load_chip
    from ..devices.overrides import set_path

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
    return apply_overrides(card, overrides, source=where), sim


def _options(sim: dict):
    """The pipeline's options of a run's simulation options (one thread per worker)."""
    from ..pipeline import ChipRunOptions
    from ..units import parse_duration

    return ChipRunOptions(steps=int(sim["steps"]), encoding=sim["encoding"],
                          early_stop=sim["early_stop"],
                          read_time=parse_duration(sim["read_time"]),
                          adc_calibration=int(sim["adc_calibration"]),
                          recalibrate_thresholds=bool(sim["recalibrate_thresholds"]),
                          placement=sim["placement"], threads=1)


def _metrics(run, y, names: list[str]) -> dict[str, Any]:
    res, energy, rep = run.result, run.energy, run.mapped.report
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
    return {m: values[m] for m in names}


def run_one(study: dict, index: int, params: dict, seed: int) -> dict:
    """Run one point of a study (a pure function of its arguments; used by workers).

    The run's seed spawns the programming, read-noise, encoder and calibration-encoder
    streams; the mapping uses the seed itself. The chip is calibrated on samples the run
    does not score (:mod:`~neurocosim.sweep.split`)."""
    import numpy as np

    from ..hwsim import make_encoder
    from ..pipeline import RunStreams, calibration_samples, run_on_chip
    from .split import run_split

    where = f"{study['source']}: run {index}"
    net = _network(study["model"], study["dt"])
    x, y = _data(study["data"])
    x, y, xc, split = run_split(study, x, y, _data)
    chip, sim = _chip_and_options(study, params, where)
    opts = _options(sim)
    k = calibration_samples(chip, opts)
    split = split.first(k) if k else split
    s_prog, s_read, s_enc, s_cal = np.random.SeedSequence(seed).spawn(4)
    enc = make_encoder(sim["encoding"], x, net.input_shape, np.random.default_rng(s_enc))
    cal = make_encoder(sim["encoding"], xc[:k], net.input_shape,
                       np.random.default_rng(s_cal)) if k else None
    run = run_on_chip(net, chip, enc, opts, streams=RunStreams(s_prog, s_read),
                      map_seed=seed, calibration=cal)
    return {"index": index, "seed": seed, "params": params,
            "metrics": _metrics(run, y, study["metrics"]),
            "calibration": list(split.cells(run.extras["calibrated"]))}


def _run_guarded(study: dict, index: int, params: dict, seed: int) -> dict:
    """``run_one`` in a worker: any exception comes back as a one-line error record
    (picklable whatever the exception was; no remote traceback text)."""
    try:
        return run_one(study, index, params, seed)
    except NeurocosimError as exc:
        msg = one_line(exc)
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
                       f"{one_line(exc, 300)}{at}"}}


def _study_payload(study: Study) -> dict:
    k, adc_count = study.calibration_need
    return {"source": study.source, "model": study.model, "dt": study.dt, "data": study.data,
            "samples": study.samples, "chip": study.chip, "card": dict(study.card),
            "simulation": dict(study.simulation), "cards": dict(study.cards),
            "metrics": list(study.metrics), "calibration_data": study.calibration_data,
            "calibration_count": k, "adc_count": adc_count}


# -- the sweep --------------------------------------------------------------------------
def _preflight(study: Study, n_runs: int, executor: str, workers: int | None) -> dict:
    """Load the network and the data once here (their errors come as themselves, before
    any worker starts), check the calibration split (:func:`~.split.check_split`; its
    record is returned, for ``study.json``) and refuse a sweep over the time budget
    (spread over the local workers; not checked for a remote Dask scheduler, whose size
    is unknown here)."""
    import numpy as np

    from ..budget import check_time
    from ..frontends import load_network
    from ..hwsim import make_encoder
    from ..hwsim.encoders import load_data, validate_labels
    from .split import check_split

    net = load_network(study.model, dt=study.dt)
    x, y = load_data(study.data)
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
            raise DataError(f"{study.data}: {one_line(exc, 300)} (encoding '{enc}' of "
                            f"{study.source})") from None
    split = check_split(study, net, x, y, encodings, max(int(s) for s in steps))
    if executor.startswith("dask:"):
        return split
    n = split["scored_samples"]["count"]
    lanes = max(1, min(workers or os.cpu_count() or 1, n_runs))
    per_run = max(int(s) for s in steps) * n * max(1, net.n_synapses() + net.n_neurons())
    check_time(float(n_runs) * per_run / lanes,
               f"{n_runs:,} runs of up to {max(steps):,} steps x {n:,} samples on {lanes} "
               "workers", "sweep fewer runs (--max-runs), samples or simulation.steps")
    return split


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
    split = None
    if not (out / TABLE).exists():  # errors in the model or data before creating anything
        split = _preflight(study, min(n_total, max_runs or n_total), executor, workers)
    prepare(out, force)
    with sweep_lock(out):
        table = out / TABLE
        refuse_theirs(out, [TABLE, STUDY_RECORD])
        columns = study.columns()
        done: dict[str, list[str]] = {}
        if table.exists():
            done = _resumed_rows(study, out, columns, resume)
            pending_n = n_total - len(done)
            if pending_n and split is None:
                split = _preflight(study, min(pending_n, max_runs or pending_n), executor,
                                   workers)
        elif split is None:
            split = _preflight(study, min(n_total, max_runs or n_total), executor, workers)
        # nothing was written up to here: a refused sweep leaves the folder as it was
        try:
            _start_table(study, out, columns, done, split)
            pending_n = n_total - len(done)
            if max_runs is not None:
                pending_n = min(pending_n, max_runs)
            if pending_n:
                pending = itertools.islice((r for r in study.runs if r.run_id not in done),
                                           pending_n)
                run_pending(study, table, pending, pending_n, done, _run_guarded,
                            _study_payload(study), executor, workers, progress)
            if len(done) == n_total:
                ordered = sorted(done.values(), key=lambda r: int(r[1]))
                with atomic_path(table) as tmp:
                    tmp.write_text(line(columns) + "".join(line(r) for r in ordered))
        finally:  # record the table's digest as it is now (not possible after a SIGKILL)
            with contextlib.suppress(OSError):
                mark(out, [TABLE, STUDY_RECORD])
    return table


def _resumed_rows(study: Study, out: Path, columns: list[str],
                  resume: bool) -> dict[str, list[str]]:
    """The runs already in ``out``'s table (by run_id), which must be this study's."""
    table = out / TABLE
    if not resume:
        raise OutputError(f"{table} exists: pass --resume to continue it, or choose "
                          "another output folder")
    if not (out / STUDY_RECORD).exists():
        raise DataError(f"{out}: has {TABLE} but no {STUDY_RECORD}; not a sweep "
                        "folder neurocosim can resume: sweep into a new folder")
    theirs, their_name = recorded_hash(out)
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
    return check_rows(study, table, rows)


def _start_table(study: Study, out: Path, columns: list[str],
                 done: dict[str, list[str]], split: dict | None) -> None:
    """Rewrite a resumed table without a torn last line, or write a new one (header
    only) and the study record (with the calibration ``split``)."""
    table = out / TABLE
    if table.exists():
        with atomic_path(table) as tmp:  # drop a torn last line before appending
            tmp.write_text(line(columns) + "".join(line(r) for r in done.values()))
    else:
        mark(out, [TABLE, STUDY_RECORD])
        with atomic_path(out / STUDY_RECORD) as tmp:
            tmp.write_text(study_record(study, split))
        with atomic_path(table) as tmp:
            tmp.write_text(line(columns))


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
            mark(out, names, command, sources={n: tmp / n for n in names})
            for n in names:
                os.replace(tmp / n, out / n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in names]
