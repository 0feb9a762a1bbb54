"""The model families device calibration chooses between, each with its likelihood.

Every observation has an exact or first-order likelihood, so that families are compared
by how well they predict cells they were not fitted on (:mod:`.select`):

* **read noise** — per (cell, time) group of ``n`` repeat reads, the unbiased variance
  ``s²``: ``(n − 1) s² / σ² ~ χ²(n − 1)``, σ the family's read σ at the group's
  conductance and time (a Gamma law with shape ``(n − 1)/2``);
* **programming noise** — per cell, its programmed conductance as estimated from its reads
  (extrapolated to t = 0 through its drift) minus its target: ``N(0, σ_prog(g_T)² + u)``,
  ``u`` the estimate's own variance, propagated from the fitted read noise;
* **drift** — per cell, its fitted exponent ``ν̂``: ``N(μ_ν(g_T), σ_ν(g_T)² + v)``, ``v``
  its estimation variance likewise (the fold of ``|N(·)|`` at 0 is neglected: ν ≫ σ_ν).

A family maps a parameter vector θ (log scales where a value must be positive) to its
curve, is started from moments of the data, and writes itself as a card model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from ..devices.noise import PIECEWISE_KNOTS

__all__ = ["Family", "Obs", "READ_FAMILIES", "PROGRAMMING_FAMILIES", "DRIFT_FAMILIES",
           "fit_family", "loglik", "time_factor"]

UPS = 1e6  # fitted scales in microsiemens keep θ of order one


@dataclass(frozen=True, kw_only=True, eq=False)
class Obs:
    """Observations of one kind. ``y``: s² (read), residual (programming) or ν̂ (drift);
    ``k``: (n − 1)/2 (read) or the estimate's own variance (others); ``g``: the
    conductance the family evaluates at (group mean, or target); ``gp``: the cell's
    programmed conductance (read: Q_s depends on it); ``t``: read time; ``cell``: owner."""

    kind: str
    y: np.ndarray
    k: np.ndarray
    g: np.ndarray
    cell: np.ndarray
    gp: np.ndarray | None = None
    t: np.ndarray | None = None
    g_max: float = 1.0
    t0: float = 20.0
    t_read: float = 250e-9

    def take(self, sel: np.ndarray) -> Obs:
        pick = {f: (None if getattr(self, f) is None else getattr(self, f)[sel])
                for f in ("y", "k", "g", "cell", "gp", "t")}
        return Obs(kind=self.kind, g_max=self.g_max, t0=self.t0, t_read=self.t_read, **pick)


@dataclass(frozen=True, kw_only=True, eq=False)
class Family:
    name: str
    kind: str  # "read" | "programming" | "drift"
    card_model: str
    labels: tuple[str, ...]
    curve: Callable  # (θ, Obs-like with g/gp/t) -> σ, or (μ, σ) for drift
    start: Callable  # Obs -> θ0
    card: Callable  # (θ, Obs) -> card params (SI floats)
    redraw: str = "per_read"


def time_factor(t: np.ndarray, t0: float, t_read: float) -> np.ndarray:
    """aihwkit's accumulated 1/f factor sqrt(ln((t + t0 + t_read)/(2 t_read)))."""
    return np.sqrt(np.maximum(np.log((np.asarray(t, float) + t0 + t_read) / (2 * t_read)), 0.0))


# --- read noise ----------------------------------------------------------------------
def _rel_power(th, o):
    gn = np.maximum(np.abs(o.gp) / o.g_max, 1e-9)
    return np.minimum(np.exp(th[0]) * gn ** -th[1], np.exp(th[2]))


def _read_start_power(o, timed: bool):
    rel = np.sqrt(np.maximum(o.y, 1e-300)) / np.maximum(np.abs(o.g), 1e-300)
    if timed:
        rel = rel / time_factor(o.t, o.t0, o.t_read)
    x = np.log(np.maximum(np.abs(o.gp) / o.g_max, 1e-9))
    slope, icpt = np.polyfit(x, np.log(np.maximum(rel, 1e-12)), 1)
    return np.array([icpt, -slope, np.log(2 * np.quantile(rel, 0.99))])


def _power_card(th, o, timed: bool):
    q_max = float(min(np.exp(th[2]), 1.0 if timed else 10.0))
    e = float(np.clip(th[1], -3.0, 3.0))
    if timed:
        return {"q_s": float(min(np.exp(th[0]), 1.0)), "exponent": e, "q_max": q_max,
                "g_max": o.g_max, "t_read": o.t_read}
    return {"q": float(min(np.exp(th[0]), 1.0)), "exponent": e, "q_max": q_max, "g_max": o.g_max}


READ_FAMILIES = (
    Family(name="constant", kind="read", card_model="constant", labels=("ln_sigma_uS",),
           curve=lambda th, o: np.full(np.shape(o.g), np.exp(th[0]) / UPS),
           start=lambda o: np.array([0.5 * np.log(np.mean(o.y) * UPS**2)]),
           card=lambda th, o: {"sigma": float(np.exp(th[0]) / UPS)}),
    Family(name="relative", kind="read", card_model="relative", labels=("ln_p",),
           curve=lambda th, o: np.exp(th[0]) * np.abs(o.g),
           start=lambda o: np.array([0.5 * np.log(np.mean(o.y / np.maximum(o.g, 1e-300) ** 2))]),
           card=lambda th, o: {"percent": float(min(100 * np.exp(th[0]), 100.0))}),
    Family(name="power_law", kind="read", card_model="power_law",
           labels=("ln_q", "exponent", "ln_q_max"),
           curve=lambda th, o: _rel_power(th, o) * np.abs(o.g),
           start=lambda o: _read_start_power(o, False),
           card=lambda th, o: _power_card(th, o, False)),
    Family(name="power_law_time", kind="read", card_model="pcm_aihwkit",
           labels=("ln_q", "exponent", "ln_q_max"),
           curve=lambda th, o: _rel_power(th, o) * time_factor(o.t, o.t0, o.t_read) * np.abs(o.g),
           start=lambda o: _read_start_power(o, True),
           card=lambda th, o: _power_card(th, o, True), redraw="per_inference"),
)


# --- programming noise ---------------------------------------------------------------
def _prog_start(o, design) -> np.ndarray:
    """Least squares of the binned σ (own-variance removed) on the family's design."""
    edges = np.quantile(o.g, np.linspace(0, 1, 9))
    which = np.clip(np.searchsorted(edges, o.g, side="right") - 1, 0, 7)
    gc, sc = [], []
    for b in range(8):
        sel = which == b
        if sel.sum() >= 3:
            gc.append(o.g[sel].mean())
            sc.append(np.sqrt(max(np.var(o.y[sel]) - np.mean(o.k[sel]), 1e-30)) * UPS)
    return np.linalg.lstsq(design(np.array(gc)), np.array(sc), rcond=None)[0]


def _pcm_design(g, g_max):
    gn = g / g_max
    return np.stack([np.ones_like(gn), gn, gn * gn], 1)


PROGRAMMING_FAMILIES = (
    Family(name="constant", kind="programming", card_model="constant", labels=("ln_sigma_uS",),
           curve=lambda th, o: np.full(np.shape(o.g), np.exp(th[0]) / UPS),
           start=lambda o: np.log(np.maximum(_prog_start(o, lambda g: np.ones((len(g), 1))), 1e-6)),
           card=lambda th, o: {"sigma": float(np.exp(th[0]) / UPS)}),
    Family(name="multiplicative", kind="programming", card_model="multiplicative",
           labels=("ln_p",), curve=lambda th, o: np.exp(th[0]) * np.abs(o.g),
           start=lambda o: np.log(np.maximum(_prog_start(o, lambda g: g[:, None] * UPS), 1e-6)),
           card=lambda th, o: {"percent": float(min(100 * np.exp(th[0]), 100.0))}),
    Family(name="rram_linear", kind="programming", card_model="rram_linear", labels=("a", "b_uS"),
           curve=lambda th, o: np.maximum(th[0] * np.abs(o.g) * UPS + th[1], 0.0) / UPS,
           start=lambda o: _prog_start(o, lambda g: np.stack([g * UPS, np.ones_like(g)], 1)),
           card=lambda th, o: {"a": float(np.clip(th[0], -1, 1)), "b": float(np.clip(th[1], 0, 100))}),
    Family(name="pcm_aihwkit", kind="programming", card_model="pcm_aihwkit",
           labels=("c0_uS", "c1_uS", "c2_uS"),
           curve=lambda th, o: np.maximum(_pcm_design(np.abs(o.g), o.g_max) @ th, 0.0) / UPS,
           start=lambda o: _prog_start(o, lambda g: _pcm_design(g, o.g_max)),
           card=lambda th, o: {"c0": float(th[0]), "c1": float(th[1]), "c2": float(th[2]),
                               "g_max": o.g_max}),
)


# --- drift ---------------------------------------------------------------------------
def _x(o):
    return np.log(np.maximum(np.abs(o.g) / o.g_max, 1e-7))


def _drift_bins(o, n: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (as ln g/g_max), mean ν̂ and σ_ν (estimation variance removed) per bin."""
    x = _x(o)
    edges = np.quantile(x, np.linspace(0, 1, n + 1))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n - 1)
    xc, mu, sd = [], [], []
    for b in range(n):
        sel = which == b
        if sel.sum() >= 3:
            xc.append(x[sel].mean())
            mu.append(o.y[sel].mean())
            sd.append(np.sqrt(max(np.var(o.y[sel]) - np.mean(o.k[sel]), 1e-8)))
    return np.array(xc), np.array(mu), np.array(sd)


def _clipped_start(o):
    xc, mu, sd = _drift_bins(o)
    a_m, b_m = np.polyfit(xc, mu, 1)
    a_s, b_s = np.polyfit(xc, sd, 1)
    return np.array([a_m, b_m, mu.min(), mu.max(), a_s, b_s, sd.min(), sd.max()])


def _clipped(th, o):
    x = _x(o)
    mu = np.clip(th[0] * x + th[1], min(th[2], th[3]), max(th[2], th[3]))
    sd = np.clip(th[4] * x + th[5], min(th[6], th[7]), max(th[6], th[7]))
    return mu, np.abs(sd)


def _clipped_card(th, o):
    c = lambda v: float(np.clip(v, -1.0, 1.0))  # noqa: E731
    p = lambda v: float(np.clip(v, 0.0, 1.0))  # noqa: E731
    return {"t0": o.t0, "g_max": o.g_max, "mu_slope": c(th[0]), "mu_offset": c(th[1]),
            "mu_min": p(min(th[2], th[3])), "mu_max": p(max(th[2], th[3])),
            "sd_slope": c(th[4]), "sd_offset": c(th[5]),
            "sd_min": p(min(abs(th[6]), abs(th[7]))), "sd_max": p(max(abs(th[6]), abs(th[7])))}


def _piecewise_start(o):
    xc, mu, sd = _drift_bins(o)
    return np.concatenate([np.interp(PIECEWISE_KNOTS, xc, mu), np.interp(PIECEWISE_KNOTS, xc, sd)])


def _piecewise(th, o):
    x = _x(o)
    return np.interp(x, PIECEWISE_KNOTS, th[:4]), np.abs(np.interp(x, PIECEWISE_KNOTS, th[4:]))


def _piecewise_card(th, o):
    out = {"t0": o.t0, "g_max": o.g_max}
    for i in range(4):
        out[f"mu_{i}"] = float(np.clip(th[i], 0.0, 1.0))
        out[f"sd_{i}"] = float(np.clip(abs(th[4 + i]), 0.0, 1.0))
    return out


DRIFT_FAMILIES = (
    Family(name="pooled", kind="drift", card_model="power_law", labels=("nu_mean", "ln_nu_std"),
           curve=lambda th, o: (np.full(np.shape(o.g), th[0]), np.full(np.shape(o.g), np.exp(th[1]))),
           start=lambda o: np.array([np.mean(o.y), 0.5 * np.log(max(np.var(o.y) - np.mean(o.k), 1e-8))]),
           card=lambda th, o: {"nu_mean": float(np.clip(th[0], 0, 1)),
                               "nu_std": float(np.clip(np.exp(th[1]), 0, 1)), "t0": o.t0}),
    Family(name="log_clipped", kind="drift", card_model="pcm_aihwkit",
           labels=("mu_slope", "mu_offset", "mu_lo", "mu_hi", "sd_slope", "sd_offset", "sd_lo",
                   "sd_hi"), curve=_clipped, start=_clipped_start, card=_clipped_card),
    Family(name="piecewise", kind="drift", card_model="piecewise",
           labels=tuple(f"{w}_{i}" for w in ("mu", "sd") for i in range(4)),
           curve=_piecewise, start=_piecewise_start, card=_piecewise_card),
)


# --- likelihood and fitting ----------------------------------------------------------
def _moments(fam: Family, th: np.ndarray, o: Obs) -> tuple[np.ndarray | float, np.ndarray]:
    """Mean and variance of every observation of ``o`` under ``fam(th)`` (read: the
    variance σ² that s² estimates; mean unused)."""
    if o.kind == "read":
        return 0.0, np.maximum(fam.curve(th, o) ** 2, 1e-300)
    if o.kind == "programming":
        mean, var = 0.0, fam.curve(th, o) ** 2 + o.k
    else:
        mean, sd = fam.curve(th, o)
        var = sd**2 + o.k
    return mean, np.maximum(var, 1e-300)


def loglik(fam: Family, th: np.ndarray, o: Obs) -> np.ndarray:
    """Log-likelihood of every observation of ``o`` under ``fam`` with parameters ``th``."""
    mean, var = _moments(fam, th, o)
    if o.kind == "read":
        k = o.k
        return (k * np.log(k / var) + (k - 1) * np.log(np.maximum(o.y, 1e-300))
                - k * o.y / var - gammaln(k))
    return -0.5 * (np.log(2 * np.pi * var) + (o.y - mean) ** 2 / var)


def _nll(fam: Family, th: np.ndarray, o: Obs, w: np.ndarray) -> float:
    """−log-likelihood up to terms free of θ (:func:`loglik` without them), weighted."""
    mean, var = _moments(fam, th, o)
    if o.kind == "read":
        return float(np.sum(w * o.k * (np.log(var) + o.y / var)))
    return 0.5 * float(np.sum(w * (np.log(var) + (o.y - mean) ** 2 / var)))


def fit_family(fam: Family, o: Obs, w: np.ndarray | None = None,
               start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood θ of ``fam`` on ``o`` (observation weights ``w``): Nelder–Mead
    from the family's moment start, restarted once from its optimum — or once from
    ``start`` (a bootstrap refit near a known optimum)."""
    w = np.ones(len(o.y)) if w is None else w
    scale = float(np.sum(w)) or 1.0

    def nll(th):
        v = _nll(fam, th, o, w) / scale
        return v if np.isfinite(v) else 1e300

    th = np.asarray(fam.start(o) if start is None else start, float)
    th = np.where(np.isfinite(th), th, 0.0)
    for _ in range(2 if start is None else 1):
        res = minimize(nll, th, method="Nelder-Mead",
                       options={"maxiter": 400 * len(th), "xatol": 1e-7, "fatol": 1e-10,
                                "adaptive": len(th) > 3})
        th = res.x
    return th
