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
* **each cell's drift and programmed conductance**: least squares of ln ḡ (its mean
  over repeat reads at each time) on ln((t + t0)/t0): the slope is −ν̂, the intercept
  ln ĝ_prog (its value at t = 0); a cell read at one time keeps that mean as ĝ_prog;
* **read noise** from the variance over repeat reads of every (cell, time), one of the
  families ``constant``, ``relative`` (σ = p·g), ``power_law`` (σ = min(q·(g_p/g_max)^−e,
  q_max)·g, g_p the cell's programmed conductance) and ``power_law_time`` (that times
  aihwkit's accumulated-noise factor sqrt(ln((t + t0 + t_read)/(2 t_read))), drawn once
  per inference);
* **programming noise** from ĝ_prog − g_T, the estimate's own variance (propagated from
  the read noise) taken out: ``constant``, ``multiplicative``, ``rram_linear`` (when the
  window lies in its range) or ``pcm_aihwkit`` (aihwkit's quadratic);
* **drift** from the ν̂ of cells read at two or more times, their estimation variance
  taken out: ``pooled`` (one N(μ, σ)), ``log_clipped`` (aihwkit's μ_ν(g_T), σ_ν(g_T),
  clipped linear in ln g_T) or ``piecewise`` (linear in ln g_T between knots).

Each family is fitted by maximum likelihood (:mod:`~neurocosim.calibration.families`)
and chosen by its log-likelihood on held-out cells (:mod:`~neurocosim.calibration.select`;
``--model`` fixes the programming family). Bootstrap over cells gives 95 % intervals of
every curve; :attr:`DeviceFit.curves` tabulates σ_prog, σ_read at every measured time,
μ_ν and σ_ν on a grid of g.

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
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..budget import check_time
from ..errors import ConfigError, DataError, short
from .curves import bootstrap_curves, fit_curves
from .families import DRIFT_FAMILIES, PROGRAMMING_FAMILIES, READ_FAMILIES, Family, Obs
from .measurements import COLUMNS, Measurements, read_measurements, write_measurements
from .select import Choice, cell_folds, choose

__all__ = ["Measurements", "read_measurements", "fit_device", "DeviceFit", "COLUMNS",
           "synthetic_measurements", "write_measurements"]

#: least data for a fit (see :func:`fit_device`)
MIN_CELLS_PER_BIN, MIN_BINS = 20, 3
MIN_READ_GROUPS = 10
#: observations per parameter a family of more than two parameters needs to be considered
MIN_PER_PARAM = 100
#: seconds per measurement row of the fit and of one bootstrap resample, on one core
#: (135,000 rows: 5 s and 0.35 s here), times 2 for a slower machine
FIT_OPS_PER_ROW, BOOT_OPS_PER_ROW = 8e-5, 6e-6


@dataclass(frozen=True, kw_only=True, eq=False)
class DeviceFit:
    """The chosen family of each kind (:class:`~neurocosim.calibration.select.Choice`),
    the observations it was fitted on, the stuck-at fractions, goodness and the curves
    table (with bootstrap intervals when asked for)."""

    programming: Choice
    read: Choice
    drift: Choice | None
    obs: dict[str, Obs]
    stuck_at: dict[str, float]
    goodness: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)
    times: tuple[float, ...] = ()

    def params(self, kind: str) -> dict[str, float]:
        c = {"programming": self.programming, "read": self.read, "drift": self.drift}[kind]
        return c.family.card(c.theta, self.obs[kind])

    @property
    def programming_model(self) -> str:
        return self.programming.family.card_model

    @property
    def programming_params(self) -> dict[str, float]:
        return self.params("programming")

    @property
    def read_model(self) -> str:
        return self.read.family.card_model

    @property
    def read_params(self) -> dict[str, float]:
        return self.params("read")

    @property
    def drift_params(self) -> dict[str, float] | None:
        return None if self.drift is None else self.params("drift")

    def binned(self) -> dict[str, Any]:
        """The binned data and every family's curve (:func:`~.curves.binned`)."""
        from .curves import binned

        return binned(self)

    def summary(self) -> dict[str, Any]:
        """What was chosen, with its card parameters and every family's held-out score."""
        out = {}
        for kind in ("programming", "read", "drift"):
            c = getattr(self, kind)
            if c is None:
                out[kind] = None
                continue
            out[kind] = {"family": c.family.name, "model": c.family.card_model,
                         "params": self.params(kind),
                         "heldout_loglik_per_obs": c.heldout, "observations": c.n_obs}
        out["read"]["redraw"] = self.read.family.redraw
        return out

    def card_fields(self) -> dict[str, Any]:
        """The fitted parts of a macro card, in the YAML layout."""
        from ..devices.noise import registry

        def spec(kind, key):
            c = getattr(self, kind)
            model = c.family.card_model
            units = registry(kind)[model].params
            return {"model": model, "params": {
                k: (f"{float(v)!r} {units[k].unit}" if units[k].unit else float(v))
                for k, v in self.params(kind).items()}}

        out = {"programming_noise": spec("programming", "programming"),
               "read_noise": {**spec("read", "read"), "redraw": self.read.family.redraw},
               "stuck_at": {"g_min_fraction": float(self.stuck_at["g_min_fraction"]),
                            "g_max_fraction": float(self.stuck_at["g_max_fraction"])}}
        if self.drift is not None:
            out["drift"] = spec("drift", "drift")
        return out


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
    """Per (cell, time) group of repeat reads: mean, (unbiased) variance and count."""

    times: np.ndarray
    cell_of: np.ndarray
    tk: np.ndarray  # index into ``times``
    mean: np.ndarray
    var: np.ndarray
    good: np.ndarray  # a usable cell read at least twice, no read clipped at 0
    cnt: np.ndarray


class _Regression(NamedTuple):
    """Per cell: ĝ_prog and ν̂ (nan where not fitted); per group used (``use``): the
    weights of its ln ḡ in the cell's intercept (``c``) and slope (``d``)."""

    g_prog: np.ndarray
    nu: np.ndarray
    use: np.ndarray
    c: np.ndarray
    d: np.ndarray


def fit_device(m: Measurements, *, model: str = "auto", g_min: float, g_max: float,
               t0: float = 20.0, n_bins: int = 12, t_read: float = 250e-9, folds: int = 5,
               bootstrap: int = 0, seed: int = 0, progress: bool = False) -> DeviceFit:
    """Fit and choose the device models (see the module docstring).

    ``model`` fixes the programming family (``auto``: chosen like the others). Needs at
    least :data:`MIN_CELLS_PER_BIN` usable (not stuck) cells in each of :data:`MIN_BINS`
    target bins, repeat reads (``read`` 0 and 1) of at least :data:`MIN_READ_GROUPS`
    cells at one time, and — when the file has more than one time — at least two cells
    read at two or more times; less raises :class:`DataError` saying how much is needed.
    ``bootstrap`` resamples of the cells give 95 % intervals of the curves."""
    _check_fit_arguments(m, model, g_min, g_max, t0, n_bins)
    check_time(len(m.cell) * (FIT_OPS_PER_ROW + BOOT_OPS_PER_ROW * bootstrap),
               f"{m.source}: fitting {len(m.cell):,} rows with {bootstrap} bootstrap resamples",
               "use fewer --bootstrap resamples or fewer cells", rate=1.0)
    _check_window(m, g_min, g_max)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate data is refused below, by name
        return _fit(m, model, (g_min, g_max), t0, n_bins, t_read, folds, bootstrap,
                    np.random.default_rng(seed), progress)


def _fit(m: Measurements, model: str, window: tuple[float, float], t0: float, n_bins: int,
         t_read: float, folds: int, bootstrap: int, rng: np.random.Generator,
         progress: bool) -> DeviceFit:
    g_min, g_max = window
    cells = _stuck_at(m, g_min, g_max)
    groups = _read_groups(m, cells)
    reg = _regress(groups, cells, t0)
    fold = cell_folds(cells.n, folds, rng)
    read_obs = _read_obs(groups, reg, g_max, t0, t_read, m.source)
    read = choose(_usable(READ_FAMILIES, read_obs), read_obs, fold)
    obs = _dependent_obs(read.family, read.theta, read_obs, groups, reg, cells, g_max, t0)
    _check_bins(obs["programming"], n_bins, m.source)
    fams = [f for f in PROGRAMMING_FAMILIES if (model == "auto" and _in_range(f, g_min, g_max))
            or f.name == model]
    prog = choose(_usable(tuple(fams), obs["programming"]), obs["programming"], fold)
    drift = None
    if len(groups.times) > 1:
        _check_drift(obs["drift"], len(groups.times), m.source)
        drift = choose(_usable(DRIFT_FAMILIES, obs["drift"]), obs["drift"], fold)
    for kind, c in (("read", read), ("programming", prog), ("drift", drift)):
        if c is not None and not np.isfinite(c.heldout[c.family.name]):
            raise DataError(f"{m.source}: no {kind}-noise family fits these measurements (its "
                            "likelihood is not finite); check the values and --units")
    fit = DeviceFit(programming=prog, read=read, drift=drift,
                    obs={"read": read_obs, **obs},
                    stuck_at={"g_min_fraction": float(cells.lo.mean()),
                              "g_max_fraction": float(cells.hi.mean())},
                    goodness={"cells": int(cells.n), "folds": int(folds),
                              "drift_cells": 0 if drift is None else drift.n_obs},
                    times=tuple(float(t) for t in groups.times))
    curves = fit_curves(fit)
    if bootstrap:
        refit = lambda w: _refit(fit, w, groups, reg, cells, g_max, t0)  # noqa: E731
        curves = bootstrap_curves(fit, curves, refit, bootstrap, cells.n, rng, progress)
    return _with(fit, curves=curves)


def _check_window(m: Measurements, g_min: float, g_max: float) -> None:
    """Conductances far outside the card's window are a unit mistake, not a device."""
    top, targets = float(m.g_measured.max()), float(m.g_target.max())
    if max(top, targets) > 100 * g_max or 0 < targets < 1e-3 * g_max:
        raise DataError(
            f"{m.source}: conductances up to {max(top, targets):.3g} S (targets up to "
            f"{targets:.3g} S) for a card whose window is [{g_min:.3g}, {g_max:.3g}] S; the "
            "values are read as siemens: give their unit with --units (e.g. --units uS)")


def _with(fit: DeviceFit, **kw) -> DeviceFit:
    import dataclasses

    return dataclasses.replace(fit, **kw)


def _in_range(fam: Family, g_min: float, g_max: float) -> bool:
    from ..devices.noise import PROGRAMMING_NOISE

    r = PROGRAMMING_NOISE[fam.card_model].g_range
    return r is None or (g_min >= r[0] * (1 - 1e-9) and g_max <= r[1] * (1 + 1e-9))


def _usable(fams: tuple[Family, ...], o: Obs) -> tuple[Family, ...]:
    """The families the data can choose between: one of more than two parameters needs
    :data:`MIN_PER_PARAM` observations per parameter."""
    out = tuple(f for f in fams if len(f.labels) <= 2 or len(o.y) >= MIN_PER_PARAM * len(f.labels))
    return out or fams[:1]


def _check_fit_arguments(m: Measurements, model: str, g_min: float, g_max: float, t0: float,
                         n_bins: int) -> None:
    if model not in ("auto", *(f.name for f in PROGRAMMING_FAMILIES)):
        raise ConfigError(f"--model must be auto, constant, multiplicative, rram_linear or "
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
    zero = np.bincount(kinv, weights=(m.g_measured == 0).astype(float)) > 0  # clipped at 0
    good = (cnt > 1) & ok[cell_of] & ~zero & (mean > 0)
    return _Groups(times=times, cell_of=cell_of, tk=tk, mean=mean, var=var, good=good, cnt=cnt)


def _regress(groups: _Groups, cells: _Cells, t0: float) -> _Regression:
    """Per usable cell, least squares of ln ḡ on x = ln((t + t0)/t0) over its times:
    intercept ln ĝ_prog and slope −ν̂ (a cell read at one time: ĝ_prog = its mean)."""
    n = cells.n
    use = cells.ok[groups.cell_of] & (groups.mean > 0)
    ci = groups.cell_of[use]
    x = np.log((groups.times[groups.tk[use]] + t0) / t0)
    y = np.log(groups.mean[use])
    k = np.bincount(ci, minlength=n).astype(float)
    xbar = np.bincount(ci, weights=x, minlength=n) / np.maximum(k, 1)
    xm = x - xbar[ci]
    sxx = np.bincount(ci, weights=xm * xm, minlength=n)
    multi = (k >= 2) & (sxx > 0)
    mc = multi[ci]
    d = np.where(mc, xm / np.where(mc, sxx[ci], 1.0), 0.0)
    first = x == _first_x(ci, x, n)[ci]
    c = np.where(mc, 1.0 / np.maximum(k[ci], 1) - xbar[ci] * d, first.astype(float))
    g_prog = np.where(k > 0, np.exp(np.bincount(ci, weights=c * y, minlength=n)), np.nan)
    nu = np.where(multi, -np.bincount(ci, weights=d * y, minlength=n), np.nan)
    return _Regression(g_prog=g_prog, nu=nu, use=use, c=c, d=d)


def _first_x(ci: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.inf)
    np.minimum.at(out, ci, x)
    return out


def _read_obs(groups: _Groups, reg: _Regression, g_max: float, t0: float, t_read: float,
              src: str) -> Obs:
    good = groups.good & np.isfinite(reg.g_prog[groups.cell_of])
    if int(good.sum()) < MIN_READ_GROUPS:
        raise DataError(
            f"{src}: {int(good.sum())} (cell, t_s) pair(s) have repeat reads; fitting read "
            f"noise needs at least {MIN_READ_GROUPS} cells read at least twice (read 0, 1) at "
            "the same time")
    if not np.any(groups.var[good] > 0):
        raise DataError(f"{src}: every cell reads the same value at every repeat (no read "
                        "noise to fit); are the values rounded to the instrument's resolution? "
                        "give the reads with all their digits")
    cell = groups.cell_of[good]
    return Obs(kind="read", y=groups.var[good], k=(groups.cnt[good] - 1) / 2.0,
               g=groups.mean[good], gp=reg.g_prog[cell], t=groups.times[groups.tk[good]],
               cell=cell, g_max=g_max, t0=t0, t_read=t_read)


def _dependent_obs(fam: Family, theta: np.ndarray, read_obs: Obs, groups: _Groups,
                   reg: _Regression, cells: _Cells, g_max: float, t0: float) -> dict[str, Obs]:
    """Programming and drift observations, their own variances propagated from the read
    noise ``fam(theta)``: Var ln ḡ = σ²/(n ḡ²) per group, weighted by ``c`` and ``d``."""
    u = reg.use
    ci = groups.cell_of[u]
    at = Obs(kind="read", y=groups.mean[u], k=groups.mean[u], g=groups.mean[u],
             gp=reg.g_prog[ci], t=groups.times[groups.tk[u]], cell=ci, g_max=g_max,
             t0=t0, t_read=read_obs.t_read)
    var_y = fam.curve(theta, at) ** 2 / (groups.cnt[u] * groups.mean[u] ** 2)
    var_a = np.bincount(ci, weights=reg.c**2 * var_y, minlength=cells.n)
    var_nu = np.bincount(ci, weights=reg.d**2 * var_y, minlength=cells.n)
    ok = np.flatnonzero(cells.ok & np.isfinite(reg.g_prog))
    prog = Obs(kind="programming", y=reg.g_prog[ok] - cells.target[ok],
               k=reg.g_prog[ok] ** 2 * var_a[ok], g=cells.target[ok], cell=ok, g_max=g_max,
               t0=t0)
    dr = np.flatnonzero(cells.ok & np.isfinite(reg.nu))
    drift = Obs(kind="drift", y=reg.nu[dr], k=var_nu[dr], g=cells.target[dr], cell=dr,
                g_max=g_max, t0=t0)
    return {"programming": prog, "drift": drift}


def _refit(fit: DeviceFit, w_cell: np.ndarray, groups: _Groups, reg: _Regression,
           cells: _Cells, g_max: float, t0: float) -> DeviceFit:
    """``fit``'s chosen families refitted with cell weights ``w_cell`` (a bootstrap
    resample), warm-started from ``fit``."""
    from .families import fit_family

    ro = fit.obs["read"]
    th_r = fit_family(fit.read.family, ro, w_cell[ro.cell], fit.read.theta)
    read = _with_theta(fit.read, th_r)
    obs = _dependent_obs(read.family, th_r, ro, groups, reg, cells, g_max, t0)
    po = obs["programming"]
    prog = _with_theta(fit.programming, fit_family(fit.programming.family, po, w_cell[po.cell],
                                                   fit.programming.theta))
    drift = None
    if fit.drift is not None:
        do = obs["drift"]
        drift = _with_theta(fit.drift, fit_family(fit.drift.family, do, w_cell[do.cell],
                                                  fit.drift.theta))
    return _with(fit, read=read, programming=prog, drift=drift, obs={"read": ro, **obs})


def _with_theta(c: Choice, theta: np.ndarray) -> Choice:
    import dataclasses

    return dataclasses.replace(c, theta=theta)


def _check_bins(o: Obs, n_bins: int, src: str) -> None:
    """Programming noise needs :data:`MIN_BINS` target bins of :data:`MIN_CELLS_PER_BIN`
    usable cells."""
    edges = np.linspace(o.g.min(), o.g.max(), n_bins + 1)
    which = np.clip(np.digitize(o.g, edges) - 1, 0, n_bins - 1)
    full = int(np.sum(np.bincount(which, minlength=n_bins) >= MIN_CELLS_PER_BIN))
    if full < MIN_BINS:
        raise DataError(
            f"{src}: only {full} of the {n_bins} target bins hold {MIN_CELLS_PER_BIN} or "
            f"more usable cells; fitting programming noise needs at least {MIN_BINS} such bins: "
            "spread the targets over the window or measure more cells")


def _check_drift(o: Obs, n_t: int, src: str) -> None:
    if len(o.y) < 2:
        raise DataError(
            f"{src}: {len(o.y)} usable cell(s) read at two or more times; the "
            f"file has {n_t} times, and fitting drift needs at least 2 cells measured at "
            "2 or more of them (or give one time only to fit no drift)")


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
