"""Run a study: one row per run, streamed to ``OUT/results.csv`` as runs finish.

Runs go to a local process pool (default) or a ``dask.distributed`` cluster. Every
finished run is appended to the CSV as one complete line (a single ``write`` on a file
opened for appending, then ``fsync``), so an interrupted sweep loses nothing it had
finished; ``resume`` reads the rows already there (a torn last line is dropped), runs
only the others and never writes a run twice. At the end the table is rewritten sorted
by run index (atomically) — the same table whatever the executor and the order runs
finished in.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..errors import ConfigError, NeurocosimError
from .study import RunSpec, Study

__all__ = ["run_sweep", "run_one", "read_table"]

_CACHE: dict[str, Any] = {}


def _cached(key: str, fn):
    if key not in _CACHE:
        _CACHE[key] = fn()
    return _CACHE[key]


def _set_path(d: dict, dotted: str, value: Any, where: str) -> None:
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        if k not in cur or cur[k] is None:
            cur[k] = {}
        if not isinstance(cur[k], dict):
            raise ConfigError(f"{where}: '{dotted}': '{k}' is not a mapping in the chip card")
        cur = cur[k]
    cur[keys[-1]] = value


def run_one(study: dict, index: int, params: dict, seed: int) -> dict:
    """Run one point of a study (a pure function of its arguments; used by workers)."""
    import warnings

    import numpy as np

    from ..calibration import calibrate_adc_ranges, rebalance_thresholds
    from ..devices import chip_from_dict, load_chip
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
    card = load_chip(params.get("chip", study["chip"])).to_dict()
    for k, v in study["card"].items():
        _set_path(card, k, v, f"{study['source']}: card")
    for k, v in params.items():
        if k == "chip":
            continue
        if k.startswith("simulation."):
            opt = k.split(".", 1)[1]
            if opt not in sim:
                raise ConfigError(f"{where}: unknown simulation option '{opt}'")
            sim[opt] = v
        else:
            for part in k.split("+"):  # "macro.rows+macro.cols": one value, several fields
                _set_path(card, part, v, where)
    chip = chip_from_dict(card, source=where)
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
    """Header and complete rows of a results CSV (a torn last line is dropped)."""
    text = Path(path).read_text()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(complete)))
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    return header, [r for r in body if len(r) == len(header)]


def _study_payload(study: Study) -> dict:
    return {"source": study.source, "model": study.model, "dt": study.dt, "data": study.data,
            "samples": study.samples, "chip": study.chip, "card": dict(study.card),
            "simulation": dict(study.simulation),
            "metrics": list(study.metrics)}


def _executor(kind: str, workers: int | None):
    if kind == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                   mp_context=mp.get_context("spawn")), None
    from distributed import Client, LocalCluster

    if kind == "dask-local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    return Client(kind.removeprefix("dask:")), None


def run_sweep(study: Study, out: str | Path, *, executor: str = "local",
              workers: int | None = None, resume: bool = False, progress: bool = False,
              max_runs: int | None = None) -> Path:
    """Run every pending run of ``study`` into ``out/results.csv``; returns its path.

    ``executor``: ``"local"`` (process pool), ``"dask-local"`` (a LocalCluster) or
    ``"dask:ADDRESS"`` (an existing scheduler). ``max_runs`` stops after that many new
    runs (for tests and partial sweeps)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "results.csv"
    columns = study.columns()
    done: dict[str, list[str]] = {}
    if table.exists():
        if not resume:
            raise NeurocosimError(f"{table} exists: pass --resume to continue it, or choose "
                                  "another output directory")
        header, rows = read_table(table)
        if header != columns:
            raise NeurocosimError(f"{table}: its columns {header} are not this study's "
                                  f"{columns}; it belongs to another study")
        done = {r[0]: r for r in rows}
        with atomic_path(table) as tmp:  # drop a torn last line before appending
            tmp.write_text(_line(columns) + "".join(_line(r) for r in done.values()))
    else:
        with atomic_path(table) as tmp:
            tmp.write_text(_line(columns))
        (out / "study.json").write_text(json.dumps(study.raw, indent=2, default=str) + "\n")
    pending = [r for r in study.runs if r.run_id not in done]
    if max_runs is not None:
        pending = pending[:max_runs]
    payload = _study_payload(study)
    by_id = {r.run_id: r for r in study.runs}
    if pending:
        pool, cluster = _executor(executor, workers)
        try:
            futures = [pool.submit(run_one, payload, r.index, dict(r.params), r.seed)
                       for r in pending]
            done_iter: Iterable
            if executor == "local":
                from concurrent.futures import as_completed

                done_iter = as_completed(futures)
            else:
                from distributed import as_completed as das_completed

                done_iter = das_completed(futures)
            if progress:
                from tqdm.auto import tqdm

                done_iter = tqdm(done_iter, total=len(futures), desc=study.name, unit="run")
            fd = os.open(table, os.O_WRONLY | os.O_APPEND)
            try:
                for fut in done_iter:
                    result = fut.result()
                    spec = next(r for r in pending if r.index == result["index"])
                    line = _line(_row(study, spec, result)).encode()
                    os.write(fd, line)  # one complete line per finished run
                    os.fsync(fd)
                    done[spec.run_id] = _row(study, spec, result)
            finally:
                os.close(fd)
        finally:
            if executor == "local":
                pool.shutdown()
            else:
                pool.close()
            if cluster is not None:
                cluster.close()
    if len(done) == len(study.runs):
        ordered = sorted(done.values(), key=lambda r: by_id[r[0]].index)
        with atomic_path(table) as tmp:
            tmp.write_text(_line(columns) + "".join(_line(r) for r in ordered))
    return table
