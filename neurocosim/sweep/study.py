"""Sweep studies: a YAML file names the model, data, chip, a grid or random samples over
card fields and simulation options, the seeds and the metrics; every run is one row.

Study file (paths relative to the study file)::

    name: robustness
    model: build/demo/digits.nir          # .nir / .npz (dt: optional)
    data: build/demo/test.npz             # x (and y for accuracy)
    calibration_data: build/demo/train.npz  # x calibrating the chips (optional, see below)
    samples: 200                          # samples scored (default: all)
    chip: prime-rram-40nm                 # preset or .yaml card
    card:                                 # fixed card overrides (dotted paths), optional
      macro.programming_noise: {model: multiplicative, params: {percent: 0}}
    simulation: {steps: 64, encoding: rate, early_stop: none, read_time: 0,
                 adc_calibration: 64, placement: partition}
    grid:                                 # cartesian product
      macro.programming_noise.params.percent: [0, 2, 5, 10, 20]
      simulation.early_stop: [none, "confidence:0.8:2"]
    random: {n: 8, seed: 0, params: {macro.adc_bits: [4, 8]}}   # optional, sampled
    seeds: [0, 1, 2]                      # or {count: 10}
    metrics: [accuracy, mean_steps, load_saving, energy_per_inference_J]
    max_runs: 10000                       # refuse studies with more runs (default 10000)

A grid key is a dotted path into the chip card (``macro.…``, ``neuron.…``, top-level
fields), several joined by ``+`` to set them to one value (``macro.rows+macro.cols``), or
``simulation.<option>``; the key ``chip`` switches presets.
Each run's seed programs the chip, draws the read noise, encodes the data and encodes
the calibration samples (independent streams spawned from it).

Calibration (ADC ranges, ``simulation.recalibrate_thresholds``) never sees a scored
sample: it runs on the first samples of ``calibration_data`` or, without it, on the
first ``K`` samples of ``data``, held out and not scored (``K``: the most calibration
samples any run may use; every run then scores ``data[K:K + samples]``; see
:mod:`neurocosim.sweep.split`). The table's last columns ``calibrated_on`` and
``scored_on`` say which samples each run used; ``study.json`` records the split.

Every field is validated when the study is loaded (:func:`load_study`), not in the
workers: the paths must exist, each simulation option and each grid / random value must
be valid, and each card value is applied to the chip card and validated (a combination
of card values can still be refused by a run). Errors are :class:`ConfigError` naming the
study file and the field.

Runs are never built as a list: :attr:`Study.runs` is a lazy sequence that decodes a run
index into its grid point, random sample and seed (mixed radix: seeds vary fastest, then
the random samples, then the last grid key). Random sample ``j`` is drawn from its own
stream (``SeedSequence(random.seed, spawn_key=(j,))``), so any run can be built alone.
The number of runs is counted first and a study with more than ``max_runs`` runs
(default :data:`DEFAULT_MAX_RUNS`) is refused; raise ``max_runs`` in the study to allow it.

:attr:`Study.study_hash` is the SHA-256 of a canonical JSON of the study's semantic
content (resolved absolute paths, every simulation option with its default, grid, random
samples, seeds, metrics; not the name, the study file's location or ``max_runs``). A run
folder records it in ``study.json`` and ``--resume`` refuses a folder of another study.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import validate as v
from .cards import chip_id, is_card_path, study_cards
from .runs import Runs, RunSpec, draw_random
from .split import COLUMNS as SPLIT_COLUMNS
from .split import check_same_file, study_count
from .validate import (
    DEFAULT_MAX_RUNS,
    MAX_STEPS,
    METRICS,
    SIM_OPTIONS,
    canonical_json,
    check_sim_option,
)

__all__ = ["Study", "RunSpec", "Runs", "load_study", "study_from_dict", "METRICS",
           "SIM_OPTIONS", "DEFAULT_MAX_RUNS", "MAX_STEPS", "canonical_json",
           "check_sim_option", "draw_random"]


@dataclass(frozen=True, kw_only=True)
class Study:
    name: str
    model: str
    dt: float | None
    data: str
    samples: int | None
    chip: str
    card: Mapping[str, Any]
    simulation: Mapping[str, Any]
    runs: Sequence[RunSpec]
    metrics: tuple[str, ...]
    source: str = "<dict>"
    #: the file whose first samples calibrate the chips (None: a slice of ``data``)
    calibration_data: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    grid: tuple[tuple[str, tuple], ...] = ()
    random: Mapping[str, Any] | None = None
    max_runs: int = DEFAULT_MAX_RUNS
    #: validated chip cards (dicts, card overrides applied) by chip spec used in the study
    cards: Mapping[str, Any] = field(default_factory=dict)
    #: canonical semantic content (see :func:`canonical_json`)
    canonical: Mapping[str, Any] = field(default_factory=dict)
    #: SHA-256 of the bytes of the model, data and calibration files (so ``--resume`` knows
    #: a changed file under the same path)
    inputs_digest: str = ""

    @property
    def param_names(self) -> list[str]:
        names = [k for k, _ in self.grid]
        if self.random:
            names += [k for k, _ in self.random["params"] if k not in names]
        return names

    def columns(self) -> list[str]:
        return ["run_id", "index", "seed", *self.param_names, *self.metrics, *SPLIT_COLUMNS]

    @property
    def calibration_need(self) -> tuple[int, int | None]:
        """(most calibration samples a run may use, the adc_calibration asking for it)."""
        return study_count(self.simulation, self.grid, self.random, self.cards)

    @property
    def study_hash(self) -> str:
        """SHA-256 of the canonical JSON of the study's semantic content and of its input
        files' bytes."""
        return hashlib.sha256((canonical_json(self.canonical) + self.inputs_digest).encode()
                              ).hexdigest()


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (errors name the file and the key)."""
    from .._yaml import load_yaml, read_text

    path = Path(path)
    raw = load_yaml(read_text(path, "study", ConfigError), str(path), ConfigError)
    return study_from_dict(raw, base=path.parent, source=str(path))


def study_from_dict(raw: Any, base: Path = Path("."), source: str = "<dict>") -> Study:
    """Validate a study given as a dict (the YAML layout); paths are relative to ``base``."""
    v.check_top_keys(raw, source)
    # structure and the number of runs, before anything else
    grid = v.parse_grid(raw.get("grid") or {}, source)
    random = v.parse_random(raw.get("random"), grid, source)
    seeds = v.parse_seeds(raw["seeds"], source)
    max_runs = v.parse_max_runs(raw, source)
    runs = Runs(tuple(grid), random, seeds)
    v.check_run_count(runs.count, grid, random, max_runs, source)
    if not isinstance(seeds, range):
        v.unique(seeds, f"{source}: seeds")
    for key, vals in grid:
        v.unique(vals, f"{source}: grid: {key}")
    # scalar fields
    name = v.parse_name(raw.get("name", "study"), source)
    model = v.path_field(raw, "model", base, source, must_be_file=False)
    data = v.path_field(raw, "data", base, source, must_be_file=True)
    cal = None if raw.get("calibration_data") is None else v.path_field(
        raw, "calibration_data", base, source, must_be_file=True)
    check_same_file(data, cal, source)
    dt = v.parse_dt(raw.get("dt"), source)
    samples = raw.get("samples")
    if samples is not None:
        samples = v.count(samples, f"{source}: samples")
    sim = v.parse_simulation(raw.get("simulation") or {}, grid, random, source)
    metrics = v.parse_metrics(raw.get("metrics"), grid, random, source)
    # chip cards: load each chip used, apply the fixed card, then each swept value
    card = v.parse_card(raw.get("card") or {}, source)
    chip_str, cards = study_cards(raw["chip"], card, grid, random, base, source)
    canonical = {  # format 2: calibration samples never scored (format 1 scored them)
        "format": 2,
        "model": str(Path(model).resolve()), "data": str(Path(data).resolve()), "dt": dt,
        "calibration_data": None if cal is None else str(Path(cal).resolve()),
        "samples": samples, "chip": chip_id(chip_str, base),
        "chips": {chip_id(c, base): cards[c] for c in cards},
        "card": dict(card), "simulation": sim,
        "grid": [[k, list(vals)] for k, vals in grid],
        "random": None if random is None else {
            "n": random["n"], "seed": random["seed"],
            "params": [[k, s] for k, s in random["params"]]},
        "seeds": _canonical_seeds(seeds),
        "metrics": list(metrics),
    }
    chip_field = str(base / chip_str) if is_card_path(chip_str) and not Path(
        chip_str).is_absolute() else chip_str
    return Study(name=name, model=model, dt=None if dt is None else float(dt), data=data,
                 samples=samples, chip=chip_field, card=card, simulation=sim,
                 runs=runs, metrics=metrics, source=source, calibration_data=cal,
                 raw=copy.deepcopy(dict(raw)),
                 grid=tuple(grid), random=random, max_runs=max_runs, cards=cards,
                 canonical=canonical, inputs_digest=_files_digest((model, data, cal)))


def _files_digest(paths) -> str:
    """SHA-256 over the bytes of ``paths`` (a missing file counts as empty: the study's
    checks name it before any run)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(b"\0file\0")
        if p is None:
            continue
        try:
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):  # noqa: B023
                    h.update(chunk)
        except OSError:
            h.update(b"\0missing\0")
    return h.hexdigest()


def _canonical_seeds(seeds: Sequence[int]) -> Any:
    """``{"count": N}`` for the seeds ``0..N-1``, else the list."""
    if isinstance(seeds, range) or list(seeds) == list(range(len(seeds))):
        return {"count": len(seeds)}
    return list(seeds)
