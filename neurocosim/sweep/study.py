"""Sweep studies: a YAML file names the model, data, chip, a grid or random samples over
card fields and simulation options, the seeds and the metrics; every run is one row.

Study file (paths relative to the study file)::

    name: robustness
    model: build/demo/digits.nir          # .nir / .npz (dt: optional)
    data: build/demo/test.npz             # x (and y for accuracy)
    samples: 200                          # first N samples (default: all)
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

A grid key is a dotted path into the chip card (``macro.…``, ``neuron.…``, top-level
fields), several joined by ``+`` to set them to one value (``macro.rows+macro.cols``), or
``simulation.<option>``; the key ``chip`` switches presets.
Each run's seed programs the chip, draws the read noise and encodes the data
(independent streams spawned from it).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ConfigError

__all__ = ["Study", "RunSpec", "load_study", "METRICS", "SIM_OPTIONS"]

METRICS = ("accuracy", "mean_steps", "load_saving", "energy_per_inference_J",
           "latency_per_inference_s", "synaptic_events", "clipped_conversions",
           "paper_E_snn_J", "tiles", "cores", "area_mm2")
SIM_OPTIONS = {"steps": 64, "encoding": "rate", "early_stop": "none", "read_time": 0.0,
               "adc_calibration": 64, "placement": "partition", "recalibrate_thresholds": False}
_KEYS = {"name", "model", "dt", "data", "samples", "chip", "card", "simulation", "grid",
         "random", "seeds", "metrics"}


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run: its index in the study, its parameter values and seed."""

    index: int
    params: Mapping[str, Any]
    seed: int

    @property
    def run_id(self) -> str:
        blob = json.dumps({"params": dict(self.params), "seed": self.seed}, sort_keys=True,
                          default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


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
    runs: tuple[RunSpec, ...]
    metrics: tuple[str, ...]
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def param_names(self) -> list[str]:
        names: list[str] = []
        for r in self.runs:
            for k in r.params:
                if k not in names:
                    names.append(k)
        return names

    def columns(self) -> list[str]:
        return ["run_id", "index", "seed", *self.param_names, *self.metrics]


def _expand_seeds(seeds: Any, where: str) -> list[int]:
    if isinstance(seeds, Mapping) and set(seeds) == {"count"}:
        return list(range(int(seeds["count"])))
    if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds) and seeds:
        return list(seeds)
    raise ConfigError(f"{where}: seeds must be a list of integers or {{count: N}}")


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (errors name the file and the key)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the study: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    return study_from_dict(raw, base=path.parent, source=str(path))


def study_from_dict(raw: Any, base: Path = Path("."), source: str = "<dict>") -> Study:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a study must be a mapping")
    unknown = set(raw) - _KEYS
    if unknown:
        import difflib

        k = sorted(unknown)[0]
        close = difflib.get_close_matches(k, sorted(_KEYS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (keys: {', '.join(sorted(_KEYS))})"
        raise ConfigError(f"{source}: {k}: unknown key{hint}")
    for req in ("model", "data", "chip", "seeds"):
        if req not in raw:
            raise ConfigError(f"{source}: {req}: required field is missing")

    def rel(p: str) -> str:
        q = Path(str(p))
        return str(q if q.is_absolute() else (base / q))

    sim = dict(SIM_OPTIONS)
    for k, v in (raw.get("simulation") or {}).items():
        if k not in SIM_OPTIONS:
            raise ConfigError(f"{source}: simulation.{k}: unknown option "
                              f"(options: {', '.join(SIM_OPTIONS)})")
        sim[k] = v
    metrics = tuple(raw.get("metrics") or ("accuracy", "mean_steps", "energy_per_inference_J"))
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"{source}: metrics: unknown metric {m!r} (metrics: {', '.join(METRICS)})")
    grid = raw.get("grid") or {}
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{source}: grid: each key needs a non-empty list of values")
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())] \
        if grid else [{}]
    rnd = raw.get("random")
    if rnd:
        if not isinstance(rnd, Mapping) or "n" not in rnd or "params" not in rnd:
            raise ConfigError(f"{source}: random: needs n, params (and optionally seed)")
        r = np.random.default_rng(int(rnd.get("seed", 0)))
        extra = []
        for _ in range(int(rnd["n"])):
            d = {}
            for k, spec in rnd["params"].items():
                if isinstance(spec, list) and len(spec) == 2 and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
                    lo, hi = spec
                    d[k] = int(r.integers(lo, hi + 1)) if isinstance(lo, int) and isinstance(hi, int) \
                        else float(r.uniform(lo, hi))
                elif isinstance(spec, list) and spec:
                    d[k] = spec[int(r.integers(len(spec)))]
                else:
                    raise ConfigError(f"{source}: random.params.{k}: give [low, high] or a list")
            extra.append(d)
        points = [{**p, **e} for p in points for e in extra]
    seeds = _expand_seeds(raw["seeds"], f"{source}: seeds")
    runs = tuple(RunSpec(index=i, params=p, seed=s)
                 for i, (p, s) in enumerate(itertools.product(points, seeds)))
    samples = raw.get("samples")
    return Study(name=str(raw.get("name", "study")), model=rel(raw["model"]),
                 dt=raw.get("dt"), data=rel(raw["data"]),
                 samples=None if samples is None else int(samples),
                 chip=rel(raw["chip"]) if str(raw["chip"]).endswith((".yaml", ".yml"))
                 else str(raw["chip"]), card=dict(raw.get("card") or {}),
                 simulation=sim, runs=runs, metrics=metrics, source=source,
                 raw=copy.deepcopy(dict(raw)))
