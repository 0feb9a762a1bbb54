"""Fit device models to measured conductances and write a chip card the tool loads.

Measurement CSV layout (one row per read; header required, any column order)::

    cell         integer id of the cell
    g_target_S   programmed target conductance, siemens (>= 0)
    g_measured_S measured conductance, siemens (>= 0)
    t_s          time of the read after programming, seconds (>= 0)
    read         repeat index of the read at that time (0, 1, …)

What is fitted, in order:

* **stuck-at cells**: a cell whose mean first-time reading sits within 5 % of the window
  of ``g_min`` (``g_max``) while its target is more than 20 % of the window away;
* **read noise**: per cell and time, the (unbiased) variance over repeat reads; the
  ``relative`` model (σ² = p²·g²) is kept when it explains part of their spread
  (R² > 0), else the ``constant`` model (the mean variance);
* **programming noise**: the mean over repeat reads at each cell's first time is its
  programmed conductance; binned by target, the per-bin σ is fitted by least squares with
  the requested model (``constant``, ``multiplicative``, ``rram_linear``, ``pcm_aihwkit``);
* **drift**: per cell, ν is the least-squares slope of −log g(t) against
  log((t + t0)/t0) over its time points (``t0`` given); ν_mean and ν_std over cells.

Goodness of fit: R² of the σ(g) curve against the binned σ, and their relative RMS error.

Reading is total and bounded: any bytes give :class:`Measurements` or one
:class:`~neurocosim.errors.DataError` line naming the file, line and column. The memory
the file implies is checked against the budget from its size before it is read; lines,
fields and values are bounded; each ``(cell, t_s, read)`` may appear only once (a
duplicated row would otherwise pass for a repeat read and bias the read noise low), and
a cell has one target (:mod:`neurocosim.calibration.measurements` reads and writes the
CSV). A fit with too few cells, bins, repeat reads or time points says how many it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, DataError, short
from .measurements import COLUMNS, Measurements, read_measurements, write_measurements

__all__ = ["Measurements", "read_measurements", "fit_device", "DeviceFit", "COLUMNS",
           "synthetic_measurements", "write_measurements"]

#: least data for a fit (see :func:`fit_device`)
MIN_CELLS_PER_BIN, MIN_BINS = 20, 3
MIN_READ_GROUPS = 10


@dataclass(frozen=True, kw_only=True, eq=False)
class DeviceFit:
    programming_model: str
    programming_params: dict[str, float]
    read_model: str
    read_params: dict[str, float]
    drift: dict[str, float] | None
    stuck_at: dict[str, float]
    goodness: dict[str, float]
    bins: dict[str, np.ndarray] = field(default_factory=dict)

    def card_fields(self) -> dict[str, Any]:
        """The fitted parts of a macro card, in the YAML layout."""
        def unit(k, v):
            return f"{float(v)!r} S" if k in ("sigma", "g_max") else float(v)

        prog = {"model": self.programming_model,
                "params": {k: unit(k, v) for k, v in self.programming_params.items()}}
        read = {"model": self.read_model,
                "params": {k: unit(k, v) for k, v in self.read_params.items()}}
        out = {"programming_noise": prog, "read_noise": read,
               "stuck_at": {"g_min_fraction": float(self.stuck_at["g_min_fraction"]),
                            "g_max_fraction": float(self.stuck_at["g_max_fraction"])}}
        if self.drift is not None:
            out["drift"] = {"model": "power_law",
                            "params": {"nu_mean": float(self.drift["nu_mean"]),
                                       "nu_std": float(self.drift["nu_std"]),
                                       "t0": f"{self.drift['t0']!r} s"}}
        return out


def _lstsq(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)
    return np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]


class _Cells(NamedTuple):
    """Per cell (in ``np.unique`` order): its programmed value and whether it is stuck."""

    n: int
    inv: np.ndarray  # row -> cell index
    reads: np.ndarray  # repeat reads at the cell's first time
    g_prog: np.ndarray
    target: np.ndarray
    lo: np.ndarray  # stuck at g_min
    hi: np.ndarray  # stuck at g_max
    ok: np.ndarray  # usable (not stuck)


class _Groups(NamedTuple):
    """Per (cell, time) group of repeat reads: mean and (unbiased) variance."""

    times: np.ndarray
    cell_of: np.ndarray
    tk: np.ndarray  # index into ``times``
    mean: np.ndarray
    var: np.ndarray
    good: np.ndarray  # a usable cell read at least twice


def fit_device(m: Measurements, *, model: str, g_min: float, g_max: float,
               t0: float = 20.0, n_bins: int = 12) -> DeviceFit:
    """Fit the models (see the module docstring).

    Needs at least :data:`MIN_CELLS_PER_BIN` usable (not stuck) cells in each of
    :data:`MIN_BINS` target bins for the programming noise, repeat reads (``read`` 0 and
    1) of at least :data:`MIN_READ_GROUPS` cells at one time for the read noise, and —
    when the file has more than one time — at least two cells read at two or more times
    for the drift; less raises :class:`DataError` saying how much is needed."""
    _check_fit_arguments(m, model, g_min, g_max, t0, n_bins)
    cells = _stuck_at(m, g_min, g_max)
    groups = _read_groups(m, cells)
    read_model, read_params, r2_read = _fit_read_noise(groups, m.source)
    centres, sig, wts = _programming_bins(cells, read_model, read_params, n_bins, m.source)
    params, pred, r2, rel_rms = _fit_programming(model, centres, sig, wts, g_max)
    drift = _fit_drift(groups, cells, t0, m.source)
    return DeviceFit(
        programming_model=model, programming_params=params, read_model=read_model,
        read_params=read_params, drift=drift,
        stuck_at={"g_min_fraction": float(cells.lo.mean()),
                  "g_max_fraction": float(cells.hi.mean())},
        goodness={"programming_r2": r2, "programming_sigma_rel_rms": rel_rms,
                  "read_r2": r2_read, "cells": int(cells.n)},
        bins={"g": centres, "sigma": sig, "sigma_fit": pred},
    )


def _check_fit_arguments(m: Measurements, model: str, g_min: float, g_max: float, t0: float,
                         n_bins: int) -> None:
    if model not in ("constant", "multiplicative", "rram_linear", "pcm_aihwkit"):
        raise ConfigError(f"--model must be constant, multiplicative, rram_linear or "
                          f"pcm_aihwkit, got {short(model)}")
    for name, v in (("g_min", g_min), ("g_max", g_max)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{name} must be a finite conductance, got {short(v)}")
    if not g_max > g_min:
        raise ConfigError("g_max must exceed g_min")
    if isinstance(t0, bool) or not isinstance(t0, (int, float)) or not (
            math.isfinite(t0) and t0 > 0):
        raise ConfigError(f"t0 (--t0) must be a finite time > 0 seconds, got {short(t0)}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or not (
            MIN_BINS <= n_bins <= 1000):
        raise ConfigError(f"n_bins must be a whole number in [{MIN_BINS}, 1000], got "
                          f"{short(n_bins)}")
    lengths = {len(np.asarray(a)) for a in (m.cell, m.g_target, m.g_measured, m.t, m.read)}
    if len(lengths) != 1 or 0 in lengths:
        raise DataError(f"{m.source}: the measurement columns are empty or of different lengths")


def _stuck_at(m: Measurements, g_min: float, g_max: float) -> _Cells:
    """Each cell's programmed value (mean over its repeat reads at its first time) and
    which cells look stuck; too few usable cells raise."""
    src = m.source
    window = g_max - g_min
    cells, inv = np.unique(m.cell, return_inverse=True)
    n = len(cells)
    t_first = np.full(n, np.inf)
    np.minimum.at(t_first, inv, m.t)
    first = m.t == t_first[inv]
    # programmed value per cell: mean over repeat reads at its first time
    s = np.bincount(inv[first], weights=m.g_measured[first], minlength=n)
    c = np.bincount(inv[first], minlength=n)
    g_prog = s / np.maximum(c, 1)
    target = np.zeros(n)
    target[inv] = m.g_target
    lo = (np.abs(g_prog - g_min) < 0.05 * window) & (target - g_min > 0.2 * window)
    hi = (np.abs(g_prog - g_max) < 0.05 * window) & (g_max - target > 0.2 * window)
    ok = ~(lo | hi)
    need = MIN_CELLS_PER_BIN * MIN_BINS
    if int(ok.sum()) < need:
        raise DataError(
            f"{src}: {int(ok.sum())} usable cells ({n} in the file, {n - int(ok.sum())} look "
            f"stuck); fitting programming noise needs at least {need} "
            f"({MIN_CELLS_PER_BIN} in each of {MIN_BINS} target bins)")
    return _Cells(n=n, inv=inv, reads=c, g_prog=g_prog, target=target, lo=lo, hi=hi, ok=ok)


def _read_groups(m: Measurements, cells: _Cells) -> _Groups:
    """Mean and (unbiased) variance over the repeat reads of each (cell, time)."""
    inv, ok = cells.inv, cells.ok
    times = np.unique(m.t)
    n_t = len(times)
    key = inv.astype(np.int64) * n_t + np.searchsorted(times, m.t)
    uk, kinv = np.unique(key, return_inverse=True)
    cell_of, tk = uk // n_t, uk % n_t
    cnt = np.bincount(kinv)
    mean = np.bincount(kinv, weights=m.g_measured) / cnt
    var = np.bincount(kinv, weights=(m.g_measured - mean[kinv]) ** 2) / np.maximum(cnt - 1, 1)
    good = (cnt > 1) & ok[cell_of]
    return _Groups(times=times, cell_of=cell_of, tk=tk, mean=mean, var=var, good=good)


def _fit_read_noise(groups: _Groups, src: str) -> tuple[str, dict[str, float], float]:
    """The read-noise model (``relative`` or ``constant``), its parameters and R²."""
    good = groups.good
    if int(good.sum()) < MIN_READ_GROUPS:
        raise DataError(
            f"{src}: {int(good.sum())} (cell, t_s) pair(s) have repeat reads; fitting read "
            f"noise needs at least {MIN_READ_GROUPS} cells read at least twice (read 0, 1) at "
            "the same time")
    # fit the (unbiased) variances: the std over a few repeats is biased low
    gm, vv = groups.mean[good], groups.var[good]
    g4 = float(np.sum(gm**4))
    ss = float(np.sum((vv - vv.mean()) ** 2)) or 1.0
    p2 = float(np.sum(vv * gm * gm)) / g4 if g4 > 0 else 0.0  # var ≈ p²·g²
    r2_rel = 1 - float(np.sum((vv - p2 * gm * gm) ** 2)) / ss if g4 > 0 else -math.inf
    r2_const = 0.0  # a constant variance explains none of the variance of the variances
    if r2_rel >= r2_const:
        read_model, read_params, r2_read = ("relative", {"percent": float(100 * np.sqrt(p2))},
                                            float(r2_rel))
    else:
        read_model, read_params, r2_read = ("constant", {"sigma": float(np.sqrt(vv.mean()))},
                                            float(r2_const))
    return read_model, read_params, r2_read


def _programming_bins(cells: _Cells, read_model: str, read_params: dict[str, float],
                      n_bins: int, src: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, programming σ (read noise removed) and cell count of each target bin
    that holds enough usable cells; too few such bins raise."""
    ok, c = cells.ok, cells.reads
    gt, gp = cells.target[ok], cells.g_prog[ok]
    edges = np.linspace(gt.min(), gt.max(), n_bins + 1)
    which = np.clip(np.digitize(gt, edges) - 1, 0, n_bins - 1)
    centres, sig, wts = [], [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() < MIN_CELLS_PER_BIN:
            continue
        centres.append(gt[sel].mean())
        # remove the read noise left in the mean of the first-time repeat reads
        resid_var = (gp[sel] - gt[sel]).var(ddof=1)
        if read_model == "relative":
            rv = (read_params["percent"] / 100 * gt[sel]) ** 2
        else:
            rv = np.full(sel.sum(), read_params["sigma"] ** 2)
        rv = float(np.mean(rv / np.maximum(c[ok][sel], 1)))
        sig.append(np.sqrt(max(resid_var - rv, 0.0)))
        wts.append(sel.sum())
    centres, sig, wts = np.array(centres), np.array(sig), np.array(wts, float)
    if len(centres) < MIN_BINS:
        raise DataError(
            f"{src}: only {len(centres)} of the {n_bins} target bins hold {MIN_CELLS_PER_BIN} or "
            f"more usable cells; fitting programming noise needs at least {MIN_BINS} such bins: "
            "spread the targets over the window or measure more cells")
    return centres, sig, wts


def _fit_programming(model: str, centres: np.ndarray, sig: np.ndarray, wts: np.ndarray,
                     g_max: float) -> tuple[dict[str, float], np.ndarray, float, float]:
    """Least-squares fit of σ(g) with ``model``: its parameters, the fitted σ per bin,
    R² and the relative RMS error."""
    if model == "constant":
        params = {"sigma": float(np.average(sig, weights=wts))}
        pred = np.full_like(sig, params["sigma"])
    elif model == "multiplicative":
        p = float(_lstsq(centres[:, None], sig, wts)[0])
        params = {"percent": 100 * p}
        pred = p * centres
    elif model == "rram_linear":
        a, b = _lstsq(np.stack([centres * 1e6, np.ones_like(centres)], 1), sig * 1e6, wts)
        params = {"a": float(a), "b": float(b)}
        pred = (a * centres * 1e6 + b) * 1e-6
    else:
        gn = centres / g_max
        c0, c1, c2 = _lstsq(np.stack([np.ones_like(gn), gn, gn**2], 1), sig * 1e6, wts)
        params = {"c0": float(c0), "c1": float(c1), "c2": float(c2), "g_max": float(g_max)}
        pred = (c0 + c1 * gn + c2 * gn**2) * 1e-6
    ss = np.sum(wts * (sig - np.average(sig, weights=wts)) ** 2) or 1.0
    r2 = float(1 - np.sum(wts * (sig - pred) ** 2) / ss)
    # relative error where sigma > 0 (a noiseless bin counts as exact when predicted 0)
    rel = np.divide(pred - sig, sig, out=np.where(pred == sig, 0.0, 1.0), where=sig > 0)
    rel_rms = float(np.sqrt(np.average(rel**2, weights=wts)))
    return params, pred, r2, rel_rms


def _fit_drift(groups: _Groups, cells: _Cells, t0: float, src: str) -> dict[str, float] | None:
    """Per-cell least-squares slope of -log g against log((t + t0)/t0); ``None`` for a
    file with one time."""
    times, n, ok = groups.times, cells.n, cells.ok
    cell_of, tk, mean, n_t = groups.cell_of, groups.tk, groups.mean, len(groups.times)
    if n_t < 2:
        return None
    use = ok[cell_of] & (mean > 0)
    ci = cell_of[use]
    x = np.log((times[tk[use]] + t0) / t0)
    y = -np.log(mean[use])
    k = np.bincount(ci, minlength=n).astype(float)
    kk = np.maximum(k, 1)
    xm = x - (np.bincount(ci, weights=x, minlength=n) / kk)[ci]
    ym = y - (np.bincount(ci, weights=y, minlength=n) / kk)[ci]
    sxx = np.bincount(ci, weights=xm * xm, minlength=n)
    sxy = np.bincount(ci, weights=xm * ym, minlength=n)
    fit_cells = (k >= 2) & (sxx > 0)
    if int(fit_cells.sum()) < 2:
        raise DataError(
            f"{src}: {int(fit_cells.sum())} usable cell(s) read at two or more times; the "
            f"file has {n_t} times, and fitting drift needs at least 2 cells measured at "
            "2 or more of them (or give one time only to fit no drift)")
    nus_a = sxy[fit_cells] / sxx[fit_cells]
    return {"nu_mean": float(nus_a.mean()), "nu_std": float(nus_a.std(ddof=1)),
            "t0": float(t0), "cells": int(fit_cells.sum())}


def synthetic_measurements(macro, targets: np.ndarray, times, reads: int,
                           rng: np.random.Generator) -> Measurements:
    """Measurements a macro's own models would produce (programming, stuck-at, drift, a
    draw of the read noise at every measurement, per the card's ``redraw``): the ground
    truth for testing a fit."""
    from ..devices.crossbar import measure, program

    g, nu, stuck = program(np.asarray(targets, float)[None, :], macro, rng)
    g, stuck = g[0], stuck[0]
    nu = None if nu is None else nu[0]
    rows = {k: [] for k in COLUMNS}
    n = len(g)
    for t in times:
        for r in range(reads):  # one measurement: drifted, one draw of the read noise
            rows["cell"].append(np.arange(n))
            rows["g_target_S"].append(np.asarray(targets, float))
            rows["g_measured_S"].append(measure(g, nu, stuck, t, macro, rng))
            rows["t_s"].append(np.full(n, float(t)))
            rows["read"].append(np.full(n, r))
    return Measurements(cell=np.concatenate(rows["cell"]),
                        g_target=np.concatenate(rows["g_target_S"]),
                        g_measured=np.concatenate(rows["g_measured_S"]),
                        t=np.concatenate(rows["t_s"]), read=np.concatenate(rows["read"]))
