"""The curves table of a device fit, with bootstrap intervals.

For a grid of conductances ``g_S`` (log-spaced over the measured targets): ``sigma_prog_S``
(programming σ at target g), ``sigma_read_S`` per measured time (σ of one read of a cell
of conductance g, programmed at g), ``nu_mean`` and ``nu_std`` (the drift exponent's
distribution at target g). With a bootstrap, ``ci95`` holds the 2.5 % and 97.5 %
percentiles of every curve and of every card parameter over resamples of whole cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .families import Obs

__all__ = ["fit_curves", "bootstrap_curves", "GRID_POINTS"]

GRID_POINTS = 25


def _grid(fit) -> np.ndarray:
    g = fit.obs["programming"].g
    g = g[g > 0]
    g_max = fit.obs["programming"].g_max
    lo = max(float(g.min()) if g.size else g_max * 1e-3, g_max * 1e-3)
    hi = max(float(g.max()) if g.size else g_max, lo * 1.0001)
    return np.geomspace(lo, hi, GRID_POINTS)


def _at(o: Obs, g: np.ndarray, t: float | None = None) -> Obs:
    return Obs(kind=o.kind, y=g, k=g, g=g, gp=g, t=None if t is None else np.full(g.shape, t),
               cell=np.zeros(g.shape, np.int64), g_max=o.g_max, t0=o.t0, t_read=o.t_read)


def _values(fit, g: np.ndarray) -> dict[str, np.ndarray]:
    """Every curve of ``fit`` on ``g``, flat: sigma_prog_S, sigma_read_S@<t>, nu_*."""
    out = {"sigma_prog_S": fit.programming.family.curve(fit.programming.theta,
                                                        _at(fit.obs["programming"], g))}
    for t in fit.times:
        out[f"sigma_read_S@{t:g} s"] = fit.read.family.curve(fit.read.theta,
                                                            _at(fit.obs["read"], g, t))
    if fit.drift is not None:
        mu, sd = fit.drift.family.curve(fit.drift.theta, _at(fit.obs["drift"], g))
        out["nu_mean"], out["nu_std"] = mu, sd
    return out


def _table(flat: dict[str, Any], conv=lambda a: [float(v) for v in a]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in flat.items():
        name, _, t = key.partition("@")
        if t:
            out.setdefault(name, {})[t] = conv(val)
        else:
            out[name] = conv(val)
    return out


def fit_curves(fit) -> dict[str, Any]:
    g = _grid(fit)
    return {"g_S": [float(v) for v in g], **_table(_values(fit, g))}


def _flat_params(fit) -> dict[str, float]:
    out = {}
    for kind in ("programming", "read", "drift"):
        if getattr(fit, kind) is not None:
            out.update({f"{kind}.{k}": v for k, v in fit.params(kind).items()})
    return out


def bootstrap_curves(fit, curves: dict[str, Any], refit, n_boot: int, n_cells: int,
                     rng: np.random.Generator, progress: bool = False) -> dict[str, Any]:
    """``curves`` with ``ci95``: percentiles over ``n_boot`` refits (``refit(weights)``)
    on multinomial resamples of the ``n_cells`` cells."""
    g = np.asarray(curves["g_S"])
    draws: dict[str, list] = {}
    params: dict[str, list] = {}
    rounds = range(int(n_boot))
    if progress:
        from tqdm.auto import tqdm

        rounds = tqdm(rounds, desc="bootstrap", unit="resample")
    for _ in rounds:
        w = rng.multinomial(n_cells, np.full(n_cells, 1.0 / n_cells)).astype(float)
        fb = refit(w)
        for k, v in _values(fb, g).items():
            draws.setdefault(k, []).append(v)
        for k, v in _flat_params(fb).items():
            params.setdefault(k, []).append(v)
    pct = lambda a: [[float(x) for x in row] for row in np.percentile(np.asarray(a), [2.5, 97.5], axis=0)]  # noqa: E731
    ci = _table(draws, pct)
    ci["params"] = {k: [float(x) for x in np.percentile(v, [2.5, 97.5])] for k, v in params.items()}
    return {**curves, "ci95": ci, "bootstrap": int(n_boot)}


def _bins(x: np.ndarray, n: int = 12) -> list[np.ndarray]:
    if x.size == 0:
        return []
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
    return [sel for sel in (which == b for b in range(max(len(edges) - 1, 1))) if sel.sum() >= 3]


def binned(fit) -> dict[str, Any]:
    """The data behind each curve, binned, and every family's curve on the grid (the
    figure): programming σ (own variance removed), relative read σ/g per time against the
    programmed conductance, drift μ_ν and σ_ν."""
    g = np.asarray(fit.curves.get("g_S") or _grid(fit))
    po, ro = fit.obs["programming"], fit.obs["read"]
    out: dict[str, Any] = {"g": g, "programming": [
        (po.g[s].mean(), np.sqrt(max(np.var(po.y[s]) - np.mean(po.k[s]), 0.0))) for s in _bins(po.g)]}
    out["read"] = {t: [(ro.gp[s].mean(), np.sqrt(np.mean(ro.y[s] / ro.g[s] ** 2)))
                       for s in _bins(ro.gp[ro.t == t])
                       for s in [np.flatnonzero(ro.t == t)[s]]] for t in fit.times}
    out["families"] = {}
    for kind in ("programming", "read", "drift"):
        c = getattr(fit, kind)
        if c is None:
            continue
        o = fit.obs[kind]
        curves = {}
        for name, (fam, th) in (c.others or {c.family.name: (c.family, c.theta)}).items():
            if kind == "read":
                curves[name] = {t: fam.curve(th, _at(o, g, t)) for t in fit.times}
            else:
                curves[name] = fam.curve(th, _at(o, g))
        out["families"][kind] = (c.family.name, curves)
    if fit.drift is not None:
        do = fit.obs["drift"]
        out["drift"] = [(do.g[s].mean(), do.y[s].mean(),
                         np.sqrt(max(np.var(do.y[s]) - np.mean(do.k[s]), 0.0))) for s in _bins(do.g)]
    return out
