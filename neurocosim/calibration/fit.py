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
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["Measurements", "read_measurements", "fit_device", "DeviceFit", "COLUMNS",
           "synthetic_measurements", "write_measurements"]

COLUMNS = ("cell", "g_target_S", "g_measured_S", "t_s", "read")


@dataclass(frozen=True, kw_only=True, eq=False)
class Measurements:
    cell: np.ndarray
    g_target: np.ndarray
    g_measured: np.ndarray
    t: np.ndarray
    read: np.ndarray


def read_measurements(path: str | Path) -> Measurements:
    """Read and validate a measurement CSV; errors name the file, row and column."""
    path = Path(path)
    try:
        fh = open(path, newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; the layout is "
                            f"{', '.join(COLUMNS)} (see neurocosim.calibration.fit)")
        cols: dict[str, list[float]] = {c: [] for c in COLUMNS}
        for row_no, row in enumerate(reader, start=2):  # header is line 1
            for c in COLUMNS:
                raw = row[c]
                try:
                    v = float(raw)
                except (TypeError, ValueError):
                    raise DataError(f"{path}: line {row_no}, column '{c}': {raw!r} is not a "
                                    "number") from None
                if not np.isfinite(v):
                    raise DataError(f"{path}: line {row_no}, column '{c}': {raw!r} is not "
                                    "finite (NaN or inf)")
                if v < 0:
                    raise DataError(f"{path}: line {row_no}, column '{c}': {raw} is negative; "
                                    "conductances, times and indices are >= 0")
                cols[c].append(v)
    if not cols["cell"]:
        raise DataError(f"{path}: no measurement rows")
    return Measurements(cell=np.array(cols["cell"], np.int64),
                        g_target=np.array(cols["g_target_S"]),
                        g_measured=np.array(cols["g_measured_S"]), t=np.array(cols["t_s"]),
                        read=np.array(cols["read"], np.int64))


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


def fit_device(m: Measurements, *, model: str, g_min: float, g_max: float,
               t0: float = 20.0, n_bins: int = 12) -> DeviceFit:
    """Fit the models (see the module docstring)."""
    if model not in ("constant", "multiplicative", "rram_linear", "pcm_aihwkit"):
        raise ConfigError(f"--model must be constant, multiplicative, rram_linear or "
                          f"pcm_aihwkit, got {model!r}")
    if not g_max > g_min:
        raise ConfigError("g_max must exceed g_min")
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
    # read noise: std over repeats per (cell, time)
    key = inv * 1_000_003 + np.searchsorted(np.unique(m.t), m.t)
    uk, kinv = np.unique(key, return_inverse=True)
    cnt = np.bincount(kinv)
    mean = np.bincount(kinv, weights=m.g_measured) / cnt
    var = np.bincount(kinv, weights=(m.g_measured - mean[kinv]) ** 2) / np.maximum(cnt - 1, 1)
    good = (cnt > 1) & ok[uk // 1_000_003]
    read_model, read_params, r2_read = "none", {}, 1.0
    if good.any():
        # fit the (unbiased) variances: the std over a few repeats is biased low
        gm, vv = mean[good], var[good]
        p2 = float(np.sum(vv * gm * gm) / np.sum(gm**4))  # var ≈ p²·g²
        ss = np.sum((vv - vv.mean()) ** 2) or 1.0
        r2_rel = 1 - np.sum((vv - p2 * gm * gm) ** 2) / ss
        r2_const = 0.0  # a constant variance explains none of the variance of the variances
        if r2_rel >= r2_const:
            read_model, read_params, r2_read = ("relative", {"percent": float(100 * np.sqrt(p2))},
                                                float(r2_rel))
        else:
            read_model, read_params, r2_read = ("constant", {"sigma": float(np.sqrt(vv.mean()))},
                                                float(r2_const))
    # programming noise: binned sigma against target
    gt, gp = target[ok], g_prog[ok]
    edges = np.linspace(gt.min(), gt.max(), n_bins + 1)
    which = np.clip(np.digitize(gt, edges) - 1, 0, n_bins - 1)
    centres, sig, wts = [], [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() < 20:
            continue
        centres.append(gt[sel].mean())
        # remove the read noise left in the mean of the first-time repeat reads
        resid_var = (gp[sel] - gt[sel]).var(ddof=1)
        if read_model == "relative":
            rv = (read_params["percent"] / 100 * gt[sel]) ** 2
        elif read_model == "constant":
            rv = np.full(sel.sum(), read_params["sigma"] ** 2)
        else:
            rv = np.zeros(sel.sum())
        rv = float(np.mean(rv / np.maximum(c[ok][sel], 1)))
        sig.append(np.sqrt(max(resid_var - rv, 0.0)))
        wts.append(sel.sum())
    centres, sig, wts = np.array(centres), np.array(sig), np.array(wts, float)
    if len(centres) < 3:
        raise DataError("too few cells per target bin to fit programming noise (need >= 20 "
                        "cells in at least 3 of the bins)")
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
    rel_rms = float(np.sqrt(np.average(((pred - sig) / sig) ** 2, weights=wts)))
    # drift: per-cell slope of -log g against log((t + t0)/t0)
    drift = None
    times = np.unique(m.t)
    if len(times) > 1:
        nus = []
        ci = np.flatnonzero(ok)
        tk = uk % 1_000_003
        cell_of = uk // 1_000_003
        tt = times[tk]
        for cidx in ci:
            sel = (cell_of == cidx) & (mean > 0)
            if sel.sum() < 2:
                continue
            x = np.log((tt[sel] + t0) / t0)
            yv = -np.log(mean[sel])
            xm = x - x.mean()
            if np.sum(xm * xm) <= 0:
                continue
            nus.append(float(np.sum(xm * (yv - yv.mean())) / np.sum(xm * xm)))
        if nus:
            nus_a = np.array(nus)
            drift = {"nu_mean": float(nus_a.mean()), "nu_std": float(nus_a.std(ddof=1)),
                     "t0": float(t0), "cells": len(nus)}
    return DeviceFit(
        programming_model=model, programming_params=params, read_model=read_model,
        read_params=read_params, drift=drift,
        stuck_at={"g_min_fraction": float(lo.mean()), "g_max_fraction": float(hi.mean())},
        goodness={"programming_r2": r2, "programming_sigma_rel_rms": rel_rms,
                  "read_r2": r2_read, "cells": int(n)},
        bins={"g": centres, "sigma": sig, "sigma_fit": pred},
    )


def synthetic_measurements(macro, targets: np.ndarray, times, reads: int,
                           rng: np.random.Generator) -> Measurements:
    """Measurements a macro's own models would produce (programming, stuck-at, drift,
    per-cell read noise at every read): the ground truth for testing a fit."""
    from ..devices.crossbar import drift_factor, program
    from ..devices.noise import READ_NOISE

    g, nu, stuck = program(np.asarray(targets, float)[None, :], macro, rng)
    g, stuck = g[0], stuck[0]
    nu = None if nu is None else nu[0]
    read = READ_NOISE[macro.read_noise.model]
    params = macro.resolved("read")
    t0 = macro.resolved("drift").get("t0", 20.0) if macro.drift.model != "none" else 20.0
    rows = {k: [] for k in COLUMNS}
    n = len(g)
    for t in times:
        gt = g if nu is None else np.where(stuck != 0, g, g * drift_factor(t, nu, t0))
        for r in range(reads):
            meas = gt + read.sigma(gt, params) * rng.standard_normal(n)
            rows["cell"].append(np.arange(n))
            rows["g_target_S"].append(np.asarray(targets, float))
            rows["g_measured_S"].append(np.maximum(meas, 0.0))
            rows["t_s"].append(np.full(n, float(t)))
            rows["read"].append(np.full(n, r))
    return Measurements(cell=np.concatenate(rows["cell"]),
                        g_target=np.concatenate(rows["g_target_S"]),
                        g_measured=np.concatenate(rows["g_measured_S"]),
                        t=np.concatenate(rows["t_s"]), read=np.concatenate(rows["read"]))


def write_measurements(m: Measurements, path: str | Path) -> Path:
    """Write measurements in the documented CSV layout."""
    from .._atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for row in zip(m.cell, m.g_target, m.g_measured, m.t, m.read, strict=True):
            w.writerow([int(row[0]), repr(float(row[1])), repr(float(row[2])), repr(float(row[3])),
                        int(row[4])])
    return path
