"""Field checks of a study file: each function validates one field (or one section) of the
raw study and returns its value; every error is a :class:`~neurocosim.errors.ConfigError`
naming the study file and the field. :func:`neurocosim.sweep.study.study_from_dict` calls
them in the order the fields are checked."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, NeurocosimError, short
from .runs import is_range

__all__ = ["METRICS", "SIM_OPTIONS", "PLACEMENTS", "DEFAULT_MAX_RUNS", "MAX_MAX_RUNS",
           "MAX_STEPS", "MAX_TEXT", "canonical_json", "check_sim_option", "check_key",
           "count", "text", "unique", "check_top_keys", "parse_grid", "parse_random",
           "parse_seeds", "parse_max_runs", "check_run_count", "parse_name", "path_field",
           "parse_dt", "parse_simulation", "parse_metrics", "parse_card", "swept_params"]

METRICS = ("accuracy", "mean_steps", "load_saving", "energy_per_inference_J",
           "latency_per_inference_s", "synaptic_events", "clipped_conversions",
           "paper_E_snn_J", "tiles", "cores", "area_mm2")
SIM_OPTIONS = {"steps": 64, "encoding": "rate", "early_stop": "none", "read_time": 0.0,
               "adc_calibration": 64, "placement": "partition", "recalibrate_thresholds": False}
PLACEMENTS = ("partition", "sequential")
#: a study with more runs is refused unless it sets ``max_runs`` higher
DEFAULT_MAX_RUNS = 10_000
#: the largest ``max_runs`` a study may set
MAX_MAX_RUNS = 10**15
#: most time steps per sample a sweep run may simulate
MAX_STEPS = 1_000_000
#: longest name / option string accepted
MAX_TEXT = 200
_KEYS = {"name", "model", "dt", "data", "samples", "chip", "card", "simulation", "grid",
         "random", "seeds", "metrics", "max_runs", "calibration_data"}
_RESERVED = ("run_id", "index", "seed", "calibrated_on", "scored_on")
_FLOAT_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*$")

Grid = list[tuple[str, tuple]]


# -- canonical form (what values are compared and hashed in) -----------------------------
def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys (mapping keys as strings; other types as ``str``)."""
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=True)


def _canon(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v


# -- values ------------------------------------------------------------------------------
def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def count(v: Any, where: str, minimum: int = 1) -> int:
    """A positive (or non-negative) integer; an integral float is accepted."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and v >= minimum:
        v = int(v)
    if not is_int(v) or v < minimum:
        hint = ""
        if isinstance(v, str) and _FLOAT_TEXT.match(v[:MAX_TEXT]):
            hint = (f" (YAML reads {short(v)} as text; write the digits out or use a "
                    "decimal point, e.g. 1.0e+6)")
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{where}: must be {bound}, got {short(v)}{hint}")
    return int(v)


def text(v: Any, where: str, what: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}: {what} must be a non-empty string, got {short(v)}")
    if len(v) > MAX_TEXT:
        raise ConfigError(f"{where}: {len(v):,} characters is too long (at most {MAX_TEXT})")
    return v


def unique(values: Sequence[Any], where: str) -> None:
    seen: set[str] = set()
    for v in values:
        c = canonical_json(v)
        if c in seen:
            raise ConfigError(f"{where}: value {short(v)} appears twice; every run must differ")
        seen.add(c)


# -- simulation options ------------------------------------------------------------------
def _check_steps(v: Any, where: str) -> None:
    if isinstance(v, float) and v.is_integer():
        v = int(v) if math.isfinite(v) else v
    if not is_int(v) or v < 1:
        raise ConfigError(f"{where}: must be a positive integer, got {short(v)}")
    if v > MAX_STEPS:
        raise ConfigError(f"{where}: {v:,} steps per sample is over the limit of "
                          f"{MAX_STEPS:,}; use fewer steps")


def _check_read_time(v: Any, where: str) -> None:
    from ..units import parse_duration

    if isinstance(v, (bool, np.bool_)) or not (is_num(v) or isinstance(v, str)):
        raise ConfigError(f"{where}: read_time must be a duration such as '1 h' or "
                          f"seconds, got {short(v)}")
    if isinstance(v, str):
        text(v, where, "read_time")
    try:
        t = parse_duration(v)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{where}: {' '.join(str(exc).split())[:300]}") from None
    if not (math.isfinite(t) and t >= 0):
        raise ConfigError(f"{where}: read_time must be a finite duration >= 0, "
                          f"got {short(v)}")


def check_sim_option(opt: str, v: Any, where: str) -> None:
    """Refuse an invalid value of ``simulation.<opt>`` (``where`` names file and field)."""
    from ..hwsim.early_stop import parse_early_stop
    from ..hwsim.encoders import ENCODINGS

    if opt == "steps":
        _check_steps(v, where)
    elif opt == "encoding":
        if not isinstance(v, str) or v not in ENCODINGS:
            raise ConfigError(f"{where}: unknown encoding {short(v)} "
                              f"(encodings: {', '.join(ENCODINGS)})")
    elif opt == "early_stop":
        if v is None:
            return
        spec = text(v, where, "early_stop")
        try:
            parse_early_stop(spec)
        except NeurocosimError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    elif opt == "read_time":
        _check_read_time(v, where)
    elif opt == "adc_calibration":
        if not is_int(v) or v < 0:
            raise ConfigError(f"{where}: adc_calibration (samples used to calibrate the ADC "
                              f"ranges; 0 = off) must be an integer >= 0, got {short(v)}")
    elif opt == "placement":
        if not isinstance(v, str) or v not in PLACEMENTS:
            raise ConfigError(f"{where}: unknown placement {short(v)} "
                              f"(placements: {', '.join(PLACEMENTS)})")
    elif opt == "recalibrate_thresholds":
        if not isinstance(v, (bool, np.bool_)):
            raise ConfigError(f"{where}: recalibrate_thresholds must be true or false, "
                              f"got {short(v)}")
    else:
        raise ConfigError(f"{where}: unknown simulation option {short(opt)} "
                          f"(options: {', '.join(SIM_OPTIONS)})")


def check_key(key: Any, where: str) -> str:
    """A swept key: a dotted card path (several joined by ``+``), ``simulation.<option>``
    or ``chip``."""
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: keys must be strings, got {short(key)}")
    if len(key) > MAX_TEXT:
        raise ConfigError(f"{where}: key {short(key)} is too long (at most {MAX_TEXT} chars)")
    if key in _RESERVED:
        raise ConfigError(f"{where}: '{key}' names a column of the results table; sweep a "
                          "card field, simulation.<option> or chip")
    if key.startswith("simulation."):
        opt = key.split(".", 1)[1]
        if opt not in SIM_OPTIONS:
            raise ConfigError(f"{where}: {key}: unknown simulation option "
                              f"(options: {', '.join(SIM_OPTIONS)})")
    elif key != "chip":
        for part in key.split("+"):
            if not part or not all(part.split(".")):
                raise ConfigError(f"{where}: '{key}' is not a dotted path of card fields "
                                  "(e.g. macro.adc_bits, macro.rows+macro.cols)")
    return key


# -- the structure and the number of runs ------------------------------------------------
def check_top_keys(raw: Any, source: str) -> None:
    """A mapping of known keys holding every required one."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a study must be a mapping of keys, got "
                          f"{type(raw).__name__}")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        import difflib

        k = sorted(map(str, unknown))[0]
        close = difflib.get_close_matches(k, sorted(_KEYS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (keys: {', '.join(sorted(_KEYS))})"
        raise ConfigError(f"{source}: {short(k)[1:-1]}: unknown key{hint}")
    for req in ("model", "data", "chip", "seeds"):
        if raw.get(req) is None:
            raise ConfigError(f"{source}: {req}: required field is missing")


def parse_grid(grid_raw: Any, source: str) -> Grid:
    """``grid:`` as ``[(key, values), ...]`` in the file's order."""
    if not isinstance(grid_raw, Mapping):
        raise ConfigError(f"{source}: grid: must be a mapping of key: [values]")
    grid: Grid = []
    for k, vals in grid_raw.items():
        key = check_key(k, f"{source}: grid")
        if not isinstance(vals, list) or not vals:
            raise ConfigError(f"{source}: grid: {key}: each key needs a non-empty list of values")
        grid.append((key, tuple(vals)))
    return grid


def parse_random(rnd: Any, grid: Grid, source: str) -> dict | None:
    """``random:`` as ``{"n", "seed", "params": ((key, [spec]), ...)}`` (None: absent)."""
    if rnd is None:
        return None
    where = f"{source}: random"
    if not isinstance(rnd, Mapping) or "n" not in rnd or "params" not in rnd \
            or set(rnd) - {"n", "seed", "params"}:
        raise ConfigError(f"{where}: needs n, params (and optionally seed), e.g. "
                          "{n: 8, seed: 0, params: {macro.adc_bits: [4, 8]}}")
    n = count(rnd["n"], f"{where}.n")
    rseed = count(rnd.get("seed", 0), f"{where}.seed", minimum=0)
    if not isinstance(rnd["params"], Mapping) or not rnd["params"]:
        raise ConfigError(f"{where}: params must be a mapping of key: [low, high] or "
                          "key: [choices]")
    rparams = []
    for k, spec in rnd["params"].items():
        key = check_key(k, f"{where}.params")
        if any(key == g for g, _ in grid):
            raise ConfigError(f"{where}.params.{key}: also a grid key; sweep it in one place")
        if not isinstance(spec, list) or not spec:
            raise ConfigError(f"{where}.params.{key}: give [low, high] or a list of choices")
        if is_range(spec):
            lo, hi = spec
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(f"{where}.params.{key}: [low, high] needs finite "
                                  f"low <= high, got {short(spec)}")
        rparams.append((key, list(spec)))
    return {"n": n, "seed": rseed, "params": tuple(rparams)}


def parse_seeds(seeds_raw: Any, source: str) -> Sequence[int]:
    """``seeds:`` as a list of integers, or a ``range`` for ``{count: N}``."""
    if isinstance(seeds_raw, Mapping):
        if set(seeds_raw) != {"count"}:
            raise ConfigError(f"{source}: seeds: give a list of integers or {{count: N}}")
        return range(count(seeds_raw["count"], f"{source}: seeds.count"))
    if isinstance(seeds_raw, list) and seeds_raw:
        for s in seeds_raw:
            if not is_int(s) or s < 0:
                raise ConfigError(f"{source}: seeds: each seed must be an integer >= 0, "
                                  f"got {short(s)}")
        return [int(s) for s in seeds_raw]
    raise ConfigError(f"{source}: seeds: give a list of integers or {{count: N}}, got "
                      f"{short(seeds_raw)}")


def parse_max_runs(raw: Mapping, source: str) -> int:
    max_runs = count(raw.get("max_runs", DEFAULT_MAX_RUNS), f"{source}: max_runs")
    if max_runs > MAX_MAX_RUNS:
        raise ConfigError(f"{source}: max_runs: {max_runs:,} is over the largest allowed, "
                          f"{MAX_MAX_RUNS:,}")
    return max_runs


def check_run_count(n_runs: int, grid: Grid, random: dict | None, max_runs: int,
                    source: str) -> None:
    """Refuse a study of more than ``max_runs`` runs (counted, never enumerated)."""
    if n_runs <= max_runs:
        return
    n_grid = math.prod(len(v) for _, v in grid)
    parts = f"{n_grid:,} grid points"
    if random:
        parts += f" x {random['n']:,} random samples"
    parts += f" x {n_runs // (n_grid * (random['n'] if random else 1)):,} seeds"
    fix = (f", or allow it with 'max_runs: {n_runs}' in the study"
           if n_runs <= MAX_MAX_RUNS else f" (a study has at most {MAX_MAX_RUNS:,})")
    raise ConfigError(f"{source}: the study has {n_runs:,} runs ({parts}), over "
                      f"max_runs = {max_runs:,}; shrink the grid or the seeds{fix}")


# -- scalar fields -----------------------------------------------------------------------
def parse_name(name: Any, source: str) -> str:
    if is_num(name):
        name = str(name)
    return text(name, f"{source}: name", "name")


def path_field(raw: Mapping, key: str, base: Path, source: str, *, must_be_file: bool) -> str:
    """The path of ``raw[key]`` (relative to ``base``), which must exist."""
    p = raw[key]
    if not isinstance(p, str) or not p.strip() or len(p) > 4096 or "\x00" in p:
        raise ConfigError(f"{source}: {key}: give a file path, got {short(p)}")
    q = Path(p)
    q = q if q.is_absolute() else base / q
    try:
        ok = q.is_file() if must_be_file else q.exists()
    except OSError:
        ok = False
    if not ok:
        raise ConfigError(f"{source}: {key}: no such file {short(p)} (looked for "
                          f"{short(str(q))}; paths are relative to the study file)")
    return str(q)


def parse_dt(dt: Any, source: str) -> Any:
    if dt is not None and not (is_num(dt) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"{source}: dt: must be a time step in seconds > 0, got {short(dt)}")
    return dt


def swept_params(grid: Grid, random: dict | None) -> list[tuple[str, str, Any]]:
    """``(where, key, values)`` of every swept key: the grid's, then random's."""
    swept = [(f"grid: {k}", k, vals) for k, vals in grid]
    if random:
        swept += [(f"random.params.{k}", k, spec) for k, spec in random["params"]]
    return swept


def parse_simulation(sim_raw: Any, grid: Grid, random: dict | None,
                     source: str) -> dict[str, Any]:
    """Every simulation option (defaults filled in); swept option values are checked too."""
    sim = dict(SIM_OPTIONS)
    if not isinstance(sim_raw, Mapping):
        raise ConfigError(f"{source}: simulation: must be a mapping of option: value")
    for k, v in sim_raw.items():
        if k not in SIM_OPTIONS:
            raise ConfigError(f"{source}: simulation: unknown option {short(k)} "
                              f"(options: {', '.join(SIM_OPTIONS)})")
        check_sim_option(k, v, f"{source}: simulation.{k}")
        sim[k] = v
    for where, key, vals in swept_params(grid, random):
        if key.startswith("simulation."):
            for i, v in enumerate(vals):
                check_sim_option(key.split(".", 1)[1], v, f"{source}: {where}[{i}]")
    return sim


def parse_metrics(metrics_raw: Any, grid: Grid, random: dict | None,
                  source: str) -> tuple[str, ...]:
    if metrics_raw is None:
        metrics_raw = ["accuracy", "mean_steps", "energy_per_inference_J"]
    if not isinstance(metrics_raw, list) or not metrics_raw:
        raise ConfigError(f"{source}: metrics: give a list of metrics ({', '.join(METRICS)})")
    for m in metrics_raw:
        if not isinstance(m, str) or m not in METRICS:
            raise ConfigError(f"{source}: metrics: unknown metric {short(m)} "
                              f"(metrics: {', '.join(METRICS)})")
    unique(metrics_raw, f"{source}: metrics")
    metrics = tuple(metrics_raw)
    for _, k, _ in swept_params(grid, random):
        if k in metrics:
            raise ConfigError(f"{source}: metrics: '{k}' is also swept (a column each); drop "
                              "it from the metrics")
    return metrics


def parse_card(card_raw: Any, source: str) -> dict[str, Any]:
    """``card:``, the fixed card overrides (dotted path: value)."""
    if not isinstance(card_raw, Mapping):
        raise ConfigError(f"{source}: card: must be a mapping of dotted.path: value")
    for k in card_raw:
        if not isinstance(k, str) or not k or not all(k.split(".")) or len(k) > MAX_TEXT:
            raise ConfigError(f"{source}: card: {short(k)} is not a dotted path of card fields")
    return dict(card_raw)
