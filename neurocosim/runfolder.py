"""A run folder: what ``simulate --chip -o RUN/`` writes and ``energy RUN/`` reads back.

::

    RUN/summary.json   accuracy, steps, load saving, counters, mapping, energy summary,
                       calibration (what was fitted on which samples; which were scored)
    RUN/results.npz    outputs, steps used, predictions, labels, per-sample counters
    RUN/network.nir    the network; RUN/chip.yaml the card it ran on
    RUN/energy.json, energy.md, energy.png, raster.png, early_stop.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, short

__all__ = ["run_summary", "write_run_folder", "read_run_folder"]


def run_summary(run, *, model: str, encoding: str, seed: int, steps: int,
                y: np.ndarray | None, calibration: dict | None = None) -> dict[str, Any]:
    """The ``summary.json`` of a run (:class:`~neurocosim.pipeline.RunResult`);
    ``calibration``: which samples calibrated the chip and which were scored
    (:meth:`~neurocosim.calibration.split.CalibrationSplit.record`)."""
    res = run.result
    counters = res.counts.to_dict()
    summary: dict[str, Any] = {
        "engine": "hwsim", "model": model, "chip": run.chip.name, "encoding": encoding,
        "seed": seed, "early_stop": res.early_stop, "n_samples": int(len(res.output)),
        "steps_max": int(steps), "mean_steps": res.mean_steps,
        "load_saving": res.load_saving, "accuracy": None if y is None else res.accuracy(y),
        "wall_s": res.wall_s, "synaptic_events": counters.pop("synaptic_events"),
        "read_time_s": run.read_time, "adc_calibrated": run.adc_full_scale is not None,
        "calibration": calibration,
        **counters,  # latency per inference, counters in all, by op and by layer
        "mapping": run.mapped.report.to_dict(),
    }
    e = run.energy.to_dict()
    summary["energy"] = {k: e[k] for k in ("energy_per_inference_J", "latency_per_inference_s",
                                           "area_mm2", "by_component", "paper_convention")}
    return summary


def write_run_folder(folder: str | Path, run, summary: dict, raster: dict, *,
                     y: np.ndarray | None, force: bool = False) -> None:
    """Write every file of a run folder (atomically, never over a user's file)."""
    from ._atomic import output_dir
    from .devices import dump_chip
    from .frontends.nir_io import write_nir
    from .plots import early_stop_figure, energy_figure, raster_figure

    net, res, energy = run.network, run.result, run.energy
    fs = run.adc_full_scale
    with output_dir(folder, force=force, command="simulate") as tmp:
        write_nir(net, tmp / "network.nir", extensions=True)  # neurocosim.* nodes NIR lacks
        (tmp / "energy.json").write_text(json.dumps(energy.to_dict(), indent=2) + "\n")
        (tmp / "energy.md").write_text(energy.markdown())
        energy_figure(energy, tmp / "energy.png")
        res.counts.save(tmp / "results.npz", output=res.output, predictions=res.predictions(),
                        labels=np.asarray([] if y is None else y),
                        adc_full_scale=np.asarray([] if fs is None else fs))
        (tmp / "chip.yaml").write_text(dump_chip(run.chip))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if raster:
            raster_figure(raster, list(raster), f"{net.name} on {run.chip.name}: sample 0",
                          tmp / "raster.png")
        early_stop_figure(res.steps_used, summary["steps_max"], res.early_stop,
                          tmp / "early_stop.png")


def read_run_folder(src: Path, chip_override: str | None = None):
    """(network, chip card, counters, summary) of a run folder, each checked."""
    from ._yaml import read_text
    from .devices import load_chip
    from .frontends.nir_io import read_nir
    from .hwsim import EventCounts

    need = [src / f for f in ("results.npz", "chip.yaml", "summary.json", "network.nir")]
    missing = [str(p.name) for p in need if not p.is_file()]
    if missing:
        raise DataError(f"{src}: not a simulation folder (missing {', '.join(missing)}); "
                        "make one with 'neurocosim simulate ... --chip ... -o DIR'")
    _check_unchanged(src, [p.name for p in need])
    summary = _read_summary(src / "summary.json", read_text)
    chip = load_chip(chip_override or src / "chip.yaml")
    net = read_nir(src / "network.nir")
    counts = EventCounts.load(src / "results.npz")
    if not set(counts.block_op) <= set(net.nodes) or \
            not set(counts.layer_names) <= set(net.layers()):
        raise DataError(f"{src / 'results.npz'}: its counters name layers that "
                        f"{src / 'network.nir'} does not have; the two files come from "
                        "different runs")
    tiles = summary["mapping"]["tiles"]
    if counts.block_tile.size and int(counts.block_tile.max()) >= tiles:
        raise DataError(f"{src / 'results.npz'}: field 'block_tile' names tile "
                        f"{int(counts.block_tile.max())} of a {tiles}-tile mapping (summary.json)")
    return net, chip, counts, summary


def _read_summary(path: Path, read_text) -> dict:
    try:
        summary = json.loads(read_text(path, "run summary", DataError))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({short(str(exc), 80)}); re-run "
                        "'neurocosim simulate --chip' to write it again") from None
    try:
        tiles, cores = summary["mapping"]["tiles"], summary["mapping"]["cores"]
        ok = all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**40
                 for v in (tiles, cores))
    except (TypeError, KeyError):
        ok = False
    if not ok:
        raise DataError(f"{path}: field mapping.tiles/mapping.cores is missing or not a "
                        "positive integer; re-run 'neurocosim simulate --chip'")
    return summary


def _check_unchanged(src: Path, names: list[str]) -> None:
    """The run's files are as ``simulate`` wrote them (its marker's sha256): a file edited
    or swapped in from another run would give figures that belong to no run."""
    from ._atomic import marker_entries, written_files

    listed, ours = marker_entries(src) or {}, written_files(src) or set()
    changed = [n for n in names if n in listed and n not in ours]
    if changed:
        raise DataError(f"{src / changed[0]}: changed since 'neurocosim simulate' wrote it (the "
                        "run folder's files no longer belong to one run); re-run the simulation")
