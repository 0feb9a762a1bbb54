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
    max_runs: 10000                       # refuse studies with more runs (default 10000)

A grid key is a dotted path into the chip card (``macro.…``, ``neuron.…``, top-level
fields), several joined by ``+`` to set them to one value (``macro.rows+macro.cols``), or
``simulation.<option>``; the key ``chip`` switches presets.
Each run's seed programs the chip, draws the read noise and encodes the data
(independent streams spawned from it).

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
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..devices.overrides import apply_overrides, set_path
from ..errors import ConfigError, NeurocosimError, short

__all__ = ["Study", "RunSpec", "Runs", "load_study", "study_from_dict", "METRICS",
           "SIM_OPTIONS", "DEFAULT_MAX_RUNS", "MAX_STEPS", "canonical_json"]

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
_KEYS = {"name", "model", "dt", "data", "samples", "chip", "card", "simulation", "grid",
         "random", "seeds", "metrics", "max_runs"}
_RESERVED = ("run_id", "index", "seed")
_MAX_TEXT = 200  # longest name / option string accepted
_FLOAT_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*$")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run: its index in the study, its parameter values and seed (``draw``: the
    random sample it uses, for studies with ``random:``)."""

    index: int
    params: Mapping[str, Any]
    seed: int
    draw: int | None = None

    @property
    def run_id(self) -> str:
        body: dict[str, Any] = {"params": dict(self.params), "seed": self.seed}
        if self.draw is not None:  # two random samples may draw the same values
            body["draw"] = self.draw
        blob = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


class Runs(Sequence):
    """The runs of a study, built on demand from their index (never stored as a list)."""

    def __init__(self, grid: tuple[tuple[str, tuple], ...], random: dict | None,
                 seeds: Sequence[int]) -> None:
        self._grid = grid
        self._random = random
        self._seeds = seeds
        self._n_grid = math.prod(len(v) for _, v in grid)
        self._n_random = random["n"] if random else 1
        self._n_seeds = seeds.stop if isinstance(seeds, range) else len(seeds)
        #: the number of runs (a Python int: ``len()`` is limited to sys.maxsize)
        self.count = self._n_grid * self._n_random * self._n_seeds
        self._len = self.count

    def __len__(self) -> int:
        return self._len

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Runs):
            return NotImplemented
        return (self._grid, self._random, self._seed_key()) == (
            other._grid, other._random, other._seed_key())

    def _seed_key(self) -> object:
        return self._seeds if isinstance(self._seeds, range) else tuple(self._seeds)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._len:,} runs>"

    def __iter__(self) -> Iterator[RunSpec]:
        for i in range(self._len):
            yield self._build(i)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._build(k) for k in range(*i.indices(self._len))]
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"run indices are integers, not {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"run index {i} out of range (the study has {self._len} runs)")
        return self._build(i)

    def _build(self, i: int) -> RunSpec:
        point, s = divmod(i, self._n_seeds)
        g, j = divmod(point, self._n_random)
        values = []
        for _, vals in reversed(self._grid):  # the last grid key varies fastest
            g, r = divmod(g, len(vals))
            values.append(vals[r])
        params = {k: copy.deepcopy(v) for (k, _), v in zip(self._grid, reversed(values),
                                                            strict=True)}
        draw = None
        if self._random:
            params.update(draw_random(self._random, j))
            draw = j
        return RunSpec(index=i, params=params, seed=int(self._seeds[s]), draw=draw)


def draw_random(spec: Mapping[str, Any], j: int) -> dict[str, Any]:
    """Random sample ``j`` of a study's ``random:`` block (its own stream, so any sample
    can be drawn alone): ``[low, high]`` numbers are uniform (integers inclusive), other
    lists are choices."""
    rng = np.random.default_rng(np.random.SeedSequence(spec["seed"], spawn_key=(j,)))
    out: dict[str, Any] = {}
    for k, choice in spec["params"]:
        if _is_range(choice):
            lo, hi = choice
            out[k] = int(rng.integers(lo, hi + 1)) if isinstance(lo, int) and isinstance(hi, int) \
                else float(rng.uniform(lo, hi))
        else:
            out[k] = copy.deepcopy(choice[int(rng.integers(len(choice)))])
    return out


def _is_range(spec: Any) -> bool:
    return isinstance(spec, list) and len(spec) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)


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
    raw: Mapping[str, Any] = field(default_factory=dict)
    grid: tuple[tuple[str, tuple], ...] = ()
    random: Mapping[str, Any] | None = None
    max_runs: int = DEFAULT_MAX_RUNS
    #: validated chip cards (dicts, card overrides applied) by chip spec used in the study
    cards: Mapping[str, Any] = field(default_factory=dict)
    #: canonical semantic content (see :func:`canonical_json`)
    canonical: Mapping[str, Any] = field(default_factory=dict)

    @property
    def param_names(self) -> list[str]:
        names = [k for k, _ in self.grid]
        if self.random:
            names += [k for k, _ in self.random["params"] if k not in names]
        return names

    def columns(self) -> list[str]:
        return ["run_id", "index", "seed", *self.param_names, *self.metrics]

    @property
    def study_hash(self) -> str:
        """SHA-256 of the canonical JSON of the study's semantic content."""
        return hashlib.sha256(canonical_json(self.canonical).encode()).hexdigest()


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


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (errors name the file and the key)."""
    from .._yaml import load_yaml, read_text

    path = Path(path)
    raw = load_yaml(read_text(path, "study", ConfigError), str(path), ConfigError)
    return study_from_dict(raw, base=path.parent, source=str(path))


# -- validation helpers ------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def _count(v: Any, where: str, minimum: int = 1) -> int:
    """A positive (or non-negative) integer; an integral float is accepted."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and v >= minimum:
        v = int(v)
    if not _is_int(v) or v < minimum:
        hint = ""
        if isinstance(v, str) and _FLOAT_TEXT.match(v[:_MAX_TEXT]):
            hint = (f" (YAML reads {short(v)} as text; write the digits out or use a "
                    "decimal point, e.g. 1.0e+6)")
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{where}: must be {bound}, got {short(v)}{hint}")
    return int(v)


def _text(v: Any, where: str, what: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}: {what} must be a non-empty string, got {short(v)}")
    if len(v) > _MAX_TEXT:
        raise ConfigError(f"{where}: {len(v):,} characters is too long (at most {_MAX_TEXT})")
    return v


def check_sim_option(opt: str, v: Any, where: str) -> None:
    """Refuse an invalid value of ``simulation.<opt>`` (``where`` names file and field)."""
    from ..hwsim.early_stop import parse_early_stop
    from ..hwsim.encoders import ENCODINGS
    from ..units import parse_duration

    if opt == "steps":
        if isinstance(v, float) and v.is_integer():
            v = int(v) if math.isfinite(v) else v
        if not _is_int(v) or v < 1:
            raise ConfigError(f"{where}: must be a positive integer, got {short(v)}")
        if v > MAX_STEPS:
            raise ConfigError(f"{where}: {v:,} steps per sample is over the limit of "
                              f"{MAX_STEPS:,}; use fewer steps")
    elif opt == "encoding":
        if not isinstance(v, str) or v not in ENCODINGS:
            raise ConfigError(f"{where}: unknown encoding {short(v)} "
                              f"(encodings: {', '.join(ENCODINGS)})")
    elif opt == "early_stop":
        if v is None:
            return
        text = _text(v, where, "early_stop")
        try:
            parse_early_stop(text)
        except NeurocosimError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    elif opt == "read_time":
        if isinstance(v, (bool, np.bool_)) or not (_is_num(v) or isinstance(v, str)):
            raise ConfigError(f"{where}: read_time must be a duration such as '1 h' or "
                              f"seconds, got {short(v)}")
        if isinstance(v, str):
            _text(v, where, "read_time")
        try:
            t = parse_duration(v)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(f"{where}: {' '.join(str(exc).split())[:300]}") from None
        if not (math.isfinite(t) and t >= 0):
            raise ConfigError(f"{where}: read_time must be a finite duration >= 0, "
                              f"got {short(v)}")
    elif opt == "adc_calibration":
        if not _is_int(v) or v < 0:
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


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: keys must be strings, got {short(key)}")
    if len(key) > _MAX_TEXT:
        raise ConfigError(f"{where}: key {short(key)} is too long (at most {_MAX_TEXT} chars)")
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


def _unique(values: Sequence[Any], where: str) -> None:
    seen: set[str] = set()
    for v in values:
        c = canonical_json(v)
        if c in seen:
            raise ConfigError(f"{where}: value {short(v)} appears twice; every run must differ")
        seen.add(c)


def study_from_dict(raw: Any, base: Path = Path("."), source: str = "<dict>") -> Study:
    """Validate a study given as a dict (the YAML layout); paths are relative to ``base``."""
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

    # -- structure and the number of runs, before anything else --------------------------
    grid_raw = raw.get("grid") or {}
    if not isinstance(grid_raw, Mapping):
        raise ConfigError(f"{source}: grid: must be a mapping of key: [values]")
    grid: list[tuple[str, tuple]] = []
    for k, vals in grid_raw.items():
        key = _check_key(k, f"{source}: grid")
        if not isinstance(vals, list) or not vals:
            raise ConfigError(f"{source}: grid: {key}: each key needs a non-empty list of values")
        grid.append((key, tuple(vals)))

    rnd = raw.get("random")
    random: dict | None = None
    if rnd is not None:
        where = f"{source}: random"
        if not isinstance(rnd, Mapping) or "n" not in rnd or "params" not in rnd \
                or set(rnd) - {"n", "seed", "params"}:
            raise ConfigError(f"{where}: needs n, params (and optionally seed), e.g. "
                              "{n: 8, seed: 0, params: {macro.adc_bits: [4, 8]}}")
        n = _count(rnd["n"], f"{where}.n")
        rseed = _count(rnd.get("seed", 0), f"{where}.seed", minimum=0)
        if not isinstance(rnd["params"], Mapping) or not rnd["params"]:
            raise ConfigError(f"{where}: params must be a mapping of key: [low, high] or "
                              "key: [choices]")
        rparams = []
        for k, spec in rnd["params"].items():
            key = _check_key(k, f"{where}.params")
            if any(key == g for g, _ in grid):
                raise ConfigError(f"{where}.params.{key}: also a grid key; sweep it in one place")
            if not isinstance(spec, list) or not spec:
                raise ConfigError(f"{where}.params.{key}: give [low, high] or a list of choices")
            if _is_range(spec):
                lo, hi = spec
                if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                    raise ConfigError(f"{where}.params.{key}: [low, high] needs finite "
                                      f"low <= high, got {short(spec)}")
            rparams.append((key, list(spec)))
        random = {"n": n, "seed": rseed, "params": tuple(rparams)}

    seeds_raw = raw["seeds"]
    seeds: Sequence[int]
    if isinstance(seeds_raw, Mapping):
        if set(seeds_raw) != {"count"}:
            raise ConfigError(f"{source}: seeds: give a list of integers or {{count: N}}")
        seeds = range(_count(seeds_raw["count"], f"{source}: seeds.count"))
    elif isinstance(seeds_raw, list) and seeds_raw:
        for s in seeds_raw:
            if not _is_int(s) or s < 0:
                raise ConfigError(f"{source}: seeds: each seed must be an integer >= 0, "
                                  f"got {short(s)}")
        seeds = [int(s) for s in seeds_raw]
    else:
        raise ConfigError(f"{source}: seeds: give a list of integers or {{count: N}}, got "
                          f"{short(seeds_raw)}")

    max_runs = _count(raw.get("max_runs", DEFAULT_MAX_RUNS), f"{source}: max_runs")
    if max_runs > MAX_MAX_RUNS:
        raise ConfigError(f"{source}: max_runs: {max_runs:,} is over the largest allowed, "
                          f"{MAX_MAX_RUNS:,}")
    runs = Runs(tuple(grid), random, seeds)
    if runs.count > max_runs:
        n_grid = math.prod(len(v) for _, v in grid)
        parts = f"{n_grid:,} grid points"
        if random:
            parts += f" x {random['n']:,} random samples"
        parts += f" x {runs.count // (n_grid * (random['n'] if random else 1)):,} seeds"
        fix = (f", or allow it with 'max_runs: {runs.count}' in the study"
               if runs.count <= MAX_MAX_RUNS else f" (a study has at most {MAX_MAX_RUNS:,})")
        raise ConfigError(f"{source}: the study has {runs.count:,} runs ({parts}), over "
                          f"max_runs = {max_runs:,}; shrink the grid or the seeds{fix}")
    if not isinstance(seeds, range):
        _unique(seeds, f"{source}: seeds")
    for key, vals in grid:
        _unique(vals, f"{source}: grid: {key}")

    # -- scalar fields ---------------------------------------------------------------------
    name = raw.get("name", "study")
    if _is_num(name):
        name = str(name)
    name = _text(name, f"{source}: name", "name")

    def path_field(key: str, must_be_file: bool) -> str:
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

    model = path_field("model", must_be_file=False)
    data = path_field("data", must_be_file=True)
    dt = raw.get("dt")
    if dt is not None and not (_is_num(dt) and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"{source}: dt: must be a time step in seconds > 0, got {short(dt)}")
    samples = raw.get("samples")
    if samples is not None:
        samples = _count(samples, f"{source}: samples")

    sim = dict(SIM_OPTIONS)
    sim_raw = raw.get("simulation") or {}
    if not isinstance(sim_raw, Mapping):
        raise ConfigError(f"{source}: simulation: must be a mapping of option: value")
    for k, v in sim_raw.items():
        if k not in SIM_OPTIONS:
            raise ConfigError(f"{source}: simulation: unknown option {short(k)} "
                              f"(options: {', '.join(SIM_OPTIONS)})")
        check_sim_option(k, v, f"{source}: simulation.{k}")
        sim[k] = v
    for key, vals in grid:
        if key.startswith("simulation."):
            for i, v in enumerate(vals):
                check_sim_option(key.split(".", 1)[1], v, f"{source}: grid: {key}[{i}]")
    if random:
        for key, spec in random["params"]:
            if key.startswith("simulation."):
                for i, v in enumerate(spec):
                    check_sim_option(key.split(".", 1)[1], v,
                                     f"{source}: random.params.{key}[{i}]")

    metrics_raw = raw.get("metrics")
    if metrics_raw is None:
        metrics_raw = ["accuracy", "mean_steps", "energy_per_inference_J"]
    if not isinstance(metrics_raw, list) or not metrics_raw:
        raise ConfigError(f"{source}: metrics: give a list of metrics ({', '.join(METRICS)})")
    for m in metrics_raw:
        if not isinstance(m, str) or m not in METRICS:
            raise ConfigError(f"{source}: metrics: unknown metric {short(m)} "
                              f"(metrics: {', '.join(METRICS)})")
    _unique(metrics_raw, f"{source}: metrics")
    metrics = tuple(metrics_raw)
    swept_keys = [k for k, _ in grid] + ([k for k, _ in random["params"]] if random else [])
    for k in swept_keys:
        if k in metrics:
            raise ConfigError(f"{source}: metrics: '{k}' is also swept (a column each); drop "
                              "it from the metrics")

    # -- chip cards: load each chip used, apply the fixed card, then each swept value ------
    card_raw = raw.get("card") or {}
    if not isinstance(card_raw, Mapping):
        raise ConfigError(f"{source}: card: must be a mapping of dotted.path: value")
    for k in card_raw:
        if not isinstance(k, str) or not k or not all(k.split(".")) or len(k) > _MAX_TEXT:
            raise ConfigError(f"{source}: card: {short(k)} is not a dotted path of card fields")
    chip_str = _text(raw["chip"], f"{source}: chip", "a chip preset or .yaml card")
    cards: dict[str, Any] = {chip_str: _base_card(chip_str, base, f"{source}: chip", card_raw,
                                                  source)}
    used = [chip_str]  # the chips runs use: the grid's or random's 'chip' values replace it
    for where, key, vals in [(f"{source}: grid: chip", k, v) for k, v in grid] + (
            [(f"{source}: random.params.chip", k, s) for k, s in random["params"]]
            if random else []):
        if key != "chip":
            continue
        if _is_range(vals):
            raise ConfigError(f"{where}: give a list of chip presets or .yaml cards")
        used = []
        for i, spec in enumerate(vals):
            text = _text(spec, f"{where}[{i}]", "a chip preset or .yaml card")
            if text not in cards:
                cards[text] = _base_card(text, base, f"{where}[{i}]", card_raw, source)
            used.append(text)
    swept = [(f"{source}: grid: {k}", k, vals) for k, vals in grid]
    if random:
        swept += [(f"{source}: random.params.{k}", k, spec) for k, spec in random["params"]]
    for where, key, vals in swept:
        if key == "chip" or key.startswith("simulation."):
            continue
        for c in used:
            for v in vals:
                at = f"{where} = {short(v)}" + (f" (chip {c})" if len(used) > 1 else "")
                apply_overrides(cards[c], {key: v}, source=at)

    canonical = {
        "format": 1,
        "model": str(Path(model).resolve()), "data": str(Path(data).resolve()), "dt": dt,
        "samples": samples, "chip": _chip_id(chip_str, base),
        "chips": {_chip_id(c, base): cards[c] for c in cards},
        "card": dict(card_raw), "simulation": sim,
        "grid": [[k, list(v)] for k, v in grid],
        "random": None if random is None else {
            "n": random["n"], "seed": random["seed"],
            "params": [[k, s] for k, s in random["params"]]},
        "seeds": {"count": len(seeds)} if isinstance(seeds, range) or list(seeds) == list(
            range(len(seeds))) else list(seeds),
        "metrics": list(metrics),
    }
    chip_field = str(base / chip_str) if chip_str.endswith((".yaml", ".yml")) and not Path(
        chip_str).is_absolute() else chip_str
    return Study(name=name, model=model, dt=None if dt is None else float(dt), data=data,
                 samples=samples, chip=chip_field, card=dict(card_raw), simulation=sim,
                 runs=runs, metrics=metrics, source=source, raw=copy.deepcopy(dict(raw)),
                 grid=tuple(grid), random=random, max_runs=max_runs, cards=cards,
                 canonical=canonical)


def _is_card_path(spec: str) -> bool:
    return spec.endswith((".yaml", ".yml"))


def _chip_id(spec: str, base: Path) -> str:
    if _is_card_path(spec):
        q = Path(spec)
        return str((q if q.is_absolute() else base / q).resolve())
    return spec


def _base_card(spec: str, base: Path, where: str, overrides: Mapping[str, Any],
               source: str) -> dict:
    """The validated card dict of a chip spec with the study's fixed overrides applied."""
    from .._yaml import load_yaml, read_text
    from ..devices import chip_from_dict, load_chip

    try:
        if "\x00" in spec or "\n" in spec:
            raise ConfigError(f"{short(spec)} is not a chip preset name or a file path")
        if _is_card_path(spec):
            q = Path(spec)
            q = q if q.is_absolute() else base / q
            if not q.is_file():
                raise ConfigError(f"no such chip card file {short(spec)} (looked for "
                                  f"{short(str(q))}; paths are relative to the study file)")
            data = load_yaml(read_text(q, "chip card", ConfigError), str(q), ConfigError)
            card = chip_from_dict(data, source=str(q)).to_dict()
        else:
            card = load_chip(spec).to_dict()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for k, v in overrides.items():
        set_path(card, k, copy.deepcopy(v), f"{source}: card: {k}")
    chip_from_dict(card, source=f"{source}: card (on chip {spec})")
    return card
