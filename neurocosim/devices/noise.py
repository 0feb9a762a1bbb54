"""Registered device noise models, selectable by name from the chip cards.

Each model states its parameters (unit, valid range, default), cites its source, and
raises :class:`~neurocosim.errors.ConfigError` outside its valid range. Three families:

* programming noise — σ of the programmed conductance as a function of the target
  ``g`` (siemens), drawn once per cell at programming time;
* read noise — σ of one read of a cell of conductance ``g``, drawn at every read
  (``redraw: per_read``), or once per inference (``redraw: per_inference``, aihwkit's
  semantics; ``sigma`` is then 0 per read); ``pcm_aihwkit`` drawn per inference is the
  accumulated 1/f noise, relative σ Q_s(g_prog)·sqrt(ln((t + t0 + t_read)/(2 t_read)))
  of the drifted ``g`` (:func:`pcm_inference_sigma`);
* drift — the exponent ν distribution of ``g(t) = g·((t+t0)/t0)^(−ν)``: ``power_law``
  (ν ~ N(nu_mean, nu_std) clipped at 0), ``pcm_aihwkit`` (ν ~ |N(μ_ν(g_T), σ_ν(g_T))|
  in aihwkit's clipped log form) or ``piecewise`` (the same with μ_ν, σ_ν piecewise
  linear in ln g_T; :func:`draw_nu`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, short

__all__ = ["ParamSpec", "NoiseModel", "PROGRAMMING_NOISE", "READ_NOISE", "DRIFT_MODELS",
           "registry", "resolve_params", "show_key", "draw_nu", "pcm_inference_sigma",
           "pcm_nu_stats", "nu_stats", "piecewise_nu_stats", "PIECEWISE_KNOTS"]


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter: ``unit`` ("" for dimensionless), closed range, default."""

    unit: str
    lo: float
    hi: float
    default: float | None
    doc: str


@dataclass(frozen=True)
class NoiseModel:
    """A named noise model: its parameters and ``sigma(g, params)`` in siemens."""

    name: str
    kind: str  # "programming" | "read" | "drift"
    params: Mapping[str, ParamSpec]
    source: str
    sigma: Callable[[np.ndarray, Mapping[str, float]], np.ndarray] | None
    g_range: tuple[float, float] | None = None  # valid target conductances, siemens
    clip_top: bool = True  # programming: clip at g_max too (False: at g_min only, as aihwkit)

    def check_range(self, g_min: float, g_max: float, where: str) -> None:
        """Refuse a macro whose conductance window leaves the model's fitted range."""
        if self.g_range is None:
            return
        lo, hi = self.g_range
        if g_min < lo * (1 - 1e-9) or g_max > hi * (1 + 1e-9):
            raise ConfigError(
                f"{where}: model '{self.name}' is valid for conductances in "
                f"[{lo * 1e6:g}, {hi * 1e6:g}] uS ({self.source}) but the macro spans "
                f"[{g_min * 1e6:g}, {g_max * 1e6:g}] uS; set g_min/g_max inside it or choose "
                "another model"
            )


def _none(g, p):
    return np.zeros_like(np.asarray(g, float))


def _constant(g, p):  # per_read: 0 when a read model's noise is drawn per inference
    return np.full_like(np.asarray(g, float), p["sigma"] * p.get("per_read", 1.0))


def _relative(g, p):
    return p["percent"] / 100.0 * np.abs(np.asarray(g, float)) * p.get("per_read", 1.0)


def _pcm_programming(g, p):
    # aihwkit PCMLikeNoiseModel: sigma_prog = max(c0 + c1*gn + c2*gn^2, 0) uS, gn = g/g_max
    gn = np.asarray(g, float) / p["g_max"]
    return np.maximum(p["c0"] + p["c1"] * gn + p["c2"] * gn**2, 0.0) * 1e-6


def _pcm_q(g, p):
    # aihwkit PCMLikeNoiseModel: relative 1/f coefficient Q_s = min(0.0088 / gn^0.65, 0.2)
    gn = np.maximum(np.abs(np.asarray(g, float)) / p["g_max"], 1e-12)
    return np.minimum(p["q_s"] / gn ** p.get("exponent", 0.65), p["q_max"])


def _power_read(g, p):
    # relative sigma min(q / gn^exponent, q_max), per read (no time factor)
    g = np.asarray(g, float)
    gn = np.maximum(np.abs(g) / p["g_max"], 1e-12)
    return np.minimum(p["q"] / gn ** p["exponent"], p["q_max"]) * np.abs(g) * p.get("per_read", 1.0)


def _pcm_read(g, p):
    # per read: Q_s(g)·|g| (no time factor); 0 when the noise is drawn per inference
    g = np.asarray(g, float)
    return _pcm_q(g, p) * np.abs(g) * p.get("per_read", 1.0)


def pcm_inference_sigma(g_prog, t: float, t0: float, p) -> np.ndarray:
    r"""Relative σ of the accumulated 1/f noise of one inference ``t`` seconds after
    programming (aihwkit ``PCMLikeNoiseModel``): :math:`Q_s(g_{prog})\sqrt{\ln((t + t_0
    + t_{read})/(2 t_{read}))}`; the noise is that times the drifted conductance."""
    arg = (float(t) + float(t0) + p["t_read"]) / (2.0 * p["t_read"])
    return _pcm_q(g_prog, p) * np.sqrt(max(np.log(arg), 0.0))


def pcm_nu_stats(g_target, p) -> tuple[np.ndarray, np.ndarray]:
    """μ_ν(g_T) and σ_ν(g_T) of aihwkit's PCM drift fit (log form, clipped)."""
    lg = np.log(np.maximum(np.abs(np.asarray(g_target, float)) / p["g_max"], 1e-7))
    mu = np.clip(p["mu_slope"] * lg + p["mu_offset"], p["mu_min"], p["mu_max"])
    sd = np.clip(p["sd_slope"] * lg + p["sd_offset"], p["sd_min"], p["sd_max"])
    return mu, sd


#: knots of the ``piecewise`` drift model, as ln(g_T/g_max): g_max/64, /16, /4 and g_max
PIECEWISE_KNOTS = np.log(np.array([1 / 64, 1 / 16, 1 / 4, 1.0]))


def piecewise_nu_stats(g_target, p) -> tuple[np.ndarray, np.ndarray]:
    """μ_ν(g_T), σ_ν(g_T) of the ``piecewise`` drift model: linear in ln(g_T/g_max)
    between :data:`PIECEWISE_KNOTS`, constant beyond the end knots."""
    lg = np.log(np.maximum(np.abs(np.asarray(g_target, float)) / p["g_max"], 1e-7))
    k = len(PIECEWISE_KNOTS)
    mu = np.interp(lg, PIECEWISE_KNOTS, [p[f"mu_{i}"] for i in range(k)])
    sd = np.interp(lg, PIECEWISE_KNOTS, [p[f"sd_{i}"] for i in range(k)])
    return mu, sd


def nu_stats(model: str, g_target, p) -> tuple[np.ndarray, np.ndarray]:
    """Mean and σ of the normal that drift ``model`` draws ν from at targets ``g_target``
    (``pcm_aihwkit`` and ``piecewise`` fold it at 0, ``power_law`` clips it)."""
    g_target = np.asarray(g_target, float)
    if model == "pcm_aihwkit":
        return pcm_nu_stats(g_target, p)
    if model == "piecewise":
        return piecewise_nu_stats(g_target, p)
    return np.full(g_target.shape, p["nu_mean"]), np.full(g_target.shape, p["nu_std"])


def draw_nu(model: str, g_target, p, rng: np.random.Generator) -> np.ndarray | None:
    """Per-cell drift exponents of drift ``model`` for targets ``g_target`` (None: none)."""
    g_target = np.asarray(g_target, float)
    if model == "none":
        return None
    eps = rng.standard_normal(g_target.shape)
    mu, sd = nu_stats(model, g_target, p)
    if model in ("pcm_aihwkit", "piecewise"):
        return np.abs(mu + sd * eps)
    return np.maximum(mu + sd * eps, 0.0)


def _rram_linear(g, p):
    # CrossSim RRAM fit (Milo et al.): sigma = a*G + b, G in uS, sigma in uS
    gu = np.asarray(g, float) * 1e6
    return np.maximum(p["a"] * gu + p["b"], 0.0) * 1e-6


_S = ParamSpec
PROGRAMMING_NOISE: dict[str, NoiseModel] = {
    m.name: m
    for m in (
        NoiseModel("none", "programming", {}, "ideal device", _none),
        NoiseModel(
            "constant", "programming",
            {"sigma": _S("S", 0.0, 1.0, None, "σ of every programmed cell")},
            "generic Gaussian programming error", _constant,
        ),
        NoiseModel(
            "multiplicative", "programming",
            {"percent": _S("", 0.0, 100.0, None, "σ as a percentage of the target")},
            "PRIME (Sci. Adv. 2025) weight-noise tests at 2 % and 20 %", _relative,
        ),
        NoiseModel(
            "pcm_aihwkit", "programming",
            {
                "c0": _S("", -10.0, 10.0, 0.26348, "σ polynomial constant term, uS"),
                "c1": _S("", -10.0, 10.0, 1.9650, "σ polynomial linear term, uS"),
                "c2": _S("", -10.0, 10.0, -1.1731, "σ polynomial quadratic term, uS"),
                "g_max": _S("S", 1e-9, 1e-3, 25e-6, "normalising conductance"),
            },
            "IBM aihwkit PCMLikeNoiseModel (Nandakumar et al. 2019 fit)", _pcm_programming,
            clip_top=False,
        ),
        NoiseModel(
            "rram_linear", "programming",
            {
                "a": _S("", -1.0, 1.0, -0.009107, "slope of σ(G), uS per uS"),
                "b": _S("", 0.0, 100.0, 4.782, "offset of σ(G), uS"),
            },
            "Sandia CrossSim RRAM fit (Milo et al. 2019), valid 50–225 uS", _rram_linear,
            g_range=(50e-6, 225e-6),
        ),
    )
}
READ_NOISE: dict[str, NoiseModel] = {
    m.name: m
    for m in (
        NoiseModel("none", "read", {}, "ideal read", _none),
        NoiseModel(
            "constant", "read",
            {"sigma": _S("S", 0.0, 1.0, None, "σ of one read of any cell")},
            "generic Gaussian read noise", _constant,
        ),
        NoiseModel(
            "relative", "read",
            {"percent": _S("", 0.0, 100.0, None, "σ as a percentage of g")},
            "generic multiplicative read noise", _relative,
        ),
        NoiseModel(
            "power_law", "read",
            {
                "q": _S("", 0.0, 1.0, None, "relative σ of one read at g = g_max"),
                "exponent": _S("", 0.0, 3.0, None, "relative σ grows as (g/g_max)^-exponent"),
                "q_max": _S("", 0.0, 10.0, 1.0, "cap on the relative σ"),
                "g_max": _S("S", 1e-9, 1e-3, None, "normalising conductance"),
            },
            "conductance-dependent read noise, relative σ min(q (g/g_max)^-exponent, q_max) "
            "(the form of aihwkit's PCM read noise without its time factor)", _power_read,
        ),
        NoiseModel(
            "pcm_aihwkit", "read",
            {
                "q_s": _S("", 0.0, 1.0, 0.0088, "relative 1/f read-noise coefficient"),
                "exponent": _S("", 0.0, 3.0, 0.65, "Q_s grows as (g/g_max)^-exponent"),
                "q_max": _S("", 0.0, 1.0, 0.2, "cap on the relative read noise"),
                "g_max": _S("S", 1e-9, 1e-3, 25e-6, "normalising conductance"),
                "t_read": _S("s", 1e-12, 1.0, 250e-9, "1/f fit's read duration (per_inference)"),
            },
            "IBM aihwkit PCMLikeNoiseModel read noise, min(0.0088/g^0.65, 0.2), times "
            "sqrt(ln((t + t0 + t_read)/(2 t_read))) when drawn per inference", _pcm_read,
        ),
    )
}
DRIFT_MODELS: dict[str, NoiseModel] = {
    m.name: m
    for m in (
        NoiseModel("none", "drift", {}, "no drift", None),
        NoiseModel(
            "power_law", "drift",
            {
                "nu_mean": _S("", 0.0, 1.0, None, "mean drift exponent ν"),
                "nu_std": _S("", 0.0, 1.0, 0.0, "device-to-device σ of ν"),
                "t0": _S("s", 1e-9, 1e9, 20.0, "reference time after programming"),
            },
            "power-law drift g(t) = g((t+t0)/t0)^-ν (aihwkit: t0 = 20 s, ν 0.049–0.1)", None,
        ),
        NoiseModel(
            "pcm_aihwkit", "drift",
            {
                "t0": _S("s", 1e-9, 1e9, 20.0, "reference time after programming"),
                "g_max": _S("S", 1e-9, 1e-3, 25e-6, "normalising conductance"),
                "mu_slope": _S("", -1.0, 1.0, -0.0155, "μ_ν per ln(g_T/g_max)"),
                "mu_offset": _S("", -1.0, 1.0, 0.0244, "μ_ν at g_T = g_max before clipping"),
                "mu_min": _S("", 0.0, 1.0, 0.049, "lower clip of μ_ν"),
                "mu_max": _S("", 0.0, 1.0, 0.1, "upper clip of μ_ν"),
                "sd_slope": _S("", -1.0, 1.0, -0.0125, "σ_ν per ln(g_T/g_max)"),
                "sd_offset": _S("", -1.0, 1.0, -0.0059, "σ_ν at g_T = g_max before clipping"),
                "sd_min": _S("", 0.0, 1.0, 0.008, "lower clip of σ_ν"),
                "sd_max": _S("", 0.0, 1.0, 0.045, "upper clip of σ_ν"),
            },
            "IBM aihwkit PCMLikeNoiseModel drift: ν ~ |N(μ_ν(g_T), σ_ν(g_T))|, μ_ν = "
            "clip(−0.0155 ln(g_T/g_max) + 0.0244, 0.049, 0.1), σ_ν = clip(−0.0125 "
            "ln(g_T/g_max) − 0.0059, 0.008, 0.045)", None,
        ),
        NoiseModel(
            "piecewise", "drift",
            {
                "t0": _S("s", 1e-9, 1e9, 20.0, "reference time after programming"),
                "g_max": _S("S", 1e-9, 1e-3, None, "normalising conductance"),
                **{f"{w}_{i}": _S("", 0.0, 1.0, None, f"{d} at g_T = g_max{f}")
                   for w, d in (("mu", "μ_ν"), ("sd", "σ_ν"))
                   for i, f in enumerate(("/64", "/16", "/4", ""))},
            },
            "drift ν ~ |N(μ_ν(g_T), σ_ν(g_T))| with μ_ν, σ_ν linear in ln(g_T/g_max) between "
            "knots at g_max/64, /16, /4 and g_max (a calibration family)", None,
        ),
    )
}


def registry(kind: str) -> dict[str, NoiseModel]:
    return {"programming": PROGRAMMING_NOISE, "read": READ_NOISE, "drift": DRIFT_MODELS}[kind]


def show_key(key: object, limit: int = 40) -> str:
    """A key as it may appear in a dotted path: as is when short and printable, else
    shortened with ``repr`` (a key can be a number, hold a newline or be 10⁵ characters)."""
    if isinstance(key, str) and key.isprintable() and 0 < len(key) <= limit:
        return key
    return short(key, limit)


def resolve_params(kind: str, name: str, given: Mapping[str, float], where: str) -> dict[str, float]:
    """Check ``given`` against model ``name`` of ``kind``; return all params (SI floats).

    Unknown model or parameter, missing required parameter, or a value outside its range
    raises :class:`ConfigError` naming ``where`` (file and dotted path) and the fix.
    """
    from ..units import parse_quantity

    models = registry(kind)
    if not isinstance(name, str) or name not in models:
        raise ConfigError(
            f"{where}.model: unknown {kind} model {short(name, 60)}; available: "
            f"{', '.join(models)}"
        )
    model = models[name]
    if not isinstance(given, Mapping):
        raise ConfigError(f"{where}.params: expected a mapping of parameter names to values, "
                          f"got {type(given).__name__}")
    unknown = [k for k in given if k not in model.params]
    if unknown:
        import difflib

        u = min(unknown, key=lambda k: (not isinstance(k, str), str(k)[:100]))
        close = difflib.get_close_matches(u[:100], list(model.params), n=1) if isinstance(
            u, str) else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ConfigError(
            f"{where}.params.{show_key(u)}: unknown parameter of '{name}'{hint} "
            f"(parameters: {', '.join(model.params) or 'none'}){more}"
        )
    out: dict[str, float] = {}
    for pname, spec in model.params.items():
        path = f"{where}.params.{pname}"
        if pname not in given:
            if spec.default is None:
                raise ConfigError(f"{path}: required by model '{name}' ({spec.doc})")
            out[pname] = float(spec.default)
            continue
        raw = given[pname]
        try:
            if spec.unit:
                val = parse_quantity(raw, spec.unit)
            elif isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise ValueError(f"expected a number, got {short(raw)}")
            else:
                val = float(raw)
        except OverflowError:
            val = float("inf")  # reported as out of range below
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if not (spec.lo <= val <= spec.hi) or not np.isfinite(val):
            unit = f" {spec.unit}" if spec.unit else ""
            raise ConfigError(
                f"{path}: {short(raw)} is outside the valid range [{spec.lo:g}, {spec.hi:g}]{unit} "
                f"of model '{name}' ({spec.doc})"
            )
        out[pname] = val
    return out
