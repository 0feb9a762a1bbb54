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
a cell has one target. A fit with too few cells, bins, repeat reads or time points says
how many it needs.
"""

from __future__ import annotations

import array
import csv
import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..budget import check_memory
from ..errors import ConfigError, DataError, short

__all__ = ["Measurements", "read_measurements", "fit_device", "DeviceFit", "COLUMNS",
           "synthetic_measurements", "write_measurements"]

COLUMNS = ("cell", "g_target_S", "g_measured_S", "t_s", "read")
_WHOLE = ("cell", "read")

#: longest line of a measurement CSV (a row is about 60 characters)
MAX_LINE_CHARS = 4096
#: longest value in one field ("1.2345678901234567e-05" is 22)
MAX_FIELD_CHARS = 64
#: fewest bytes a row takes ("0,0,0,0,0" and its newline): rows <= file size / this
MIN_ROW_BYTES = 10
#: memory one row costs: five columns read into arrays, copied to numpy, and the
#: dozen per-row arrays of :func:`fit_device`
BYTES_PER_ROW = 200
#: largest cell id or read index (int64 with room for arithmetic)
MAX_INDEX = 1 << 62

#: least data for a fit (see :func:`fit_device`)
MIN_CELLS_PER_BIN, MIN_BINS = 20, 3
MIN_READ_GROUPS = 10


@dataclass(frozen=True, kw_only=True, eq=False)
class Measurements:
    cell: np.ndarray
    g_target: np.ndarray
    g_measured: np.ndarray
    t: np.ndarray
    read: np.ndarray
    source: str = "<measurements>"  # the file, for error messages


def read_measurements(path: str | Path) -> Measurements:
    """Read and validate a measurement CSV; errors name the file, line and column."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such measurement file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the path
        raise DataError(f"{short(str(path))}: not a valid file name for a measurement "
                        "CSV") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a folder; give the measurement CSV file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
        raise DataError(f"{path}: is not a regular file; give the measurement CSV file")
    if st.st_size == 0:
        raise DataError(f"{path}: the file is empty; the first line must be the header "
                        f"{','.join(COLUMNS)}")
    max_rows = st.st_size // MIN_ROW_BYTES + 1
    check_memory(max_rows * BYTES_PER_ROW,
                 f"{path}: reading and fitting up to {max_rows:,} measurement rows "
                 f"({st.st_size:,} bytes)",
                 "split the file (by cells) or raise NEUROCOSIM_MAX_MEMORY")
    try:
        with open(path, "rb") as fh:
            return _read(fh, path, max_rows)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _lines(fh, path: Path) -> Iterator[str]:
    """Decoded lines of ``fh`` (bytes), each bounded, UTF-8 and without NUL."""
    number = 0
    limit = 4 * MAX_LINE_CHARS + 2  # bytes: a UTF-8 character takes up to four
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit:
            raise DataError(f"{path}: line {number}: longer than {MAX_LINE_CHARS:,} characters; "
                            "a measurement row is cell,g_target_S,g_measured_S,t_s,read")
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                            f"at column {exc.start + 1}); save the file as UTF-8 CSV") from None
        if "\x00" in text:
            raise DataError(f"{path}: line {number}, column {text.index(chr(0)) + 1}: a NUL byte; "
                            "this is a binary file, not a CSV")
        if len(text.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise DataError(f"{path}: line {number}: longer than {MAX_LINE_CHARS:,} characters; "
                            "a measurement row is cell,g_target_S,g_measured_S,t_s,read")
        yield text


def _show(raw: str) -> str:
    s = raw.strip()
    return s if s and s.isprintable() and len(s) <= 40 else short(raw, 40)


def _read(fh, path: Path, max_rows: int) -> Measurements:
    reader = csv.reader(_lines(fh, path))
    header: list[str] | None = None
    where: dict[str, int] = {}
    ints = {c: array.array("q") for c in _WHOLE}
    floats = {c: array.array("d") for c in COLUMNS if c not in _WHOLE}
    lines = array.array("q")
    try:
        for row in reader:
            if not row or all(not f.strip() for f in row):
                continue  # blank line
            line = reader.line_num
            if header is None:
                header = [h.strip() for h in row]
                seen: set[str] = set()
                for h in header:
                    if h in COLUMNS and h in seen:
                        raise DataError(f"{path}: line {line}: column '{h}' appears twice in "
                                        "the header")
                    seen.add(h)
                missing = [c for c in COLUMNS if c not in seen]
                if missing:
                    raise DataError(f"{path}: line {line}: missing column(s) {missing}; the "
                                    f"first line must be the header and the layout is "
                                    f"{', '.join(COLUMNS)} (see neurocosim.calibration.fit)")
                where = {c: header.index(c) for c in COLUMNS}
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: line {line}: {len(row)} values but the header names "
                                f"{len(header)} columns")
            if len(lines) >= max_rows:  # cannot happen for a regular file; keeps it bounded
                raise DataError(f"{path}: line {line}: more rows than its size allows")
            for c in COLUMNS:
                raw = row[where[c]]
                if len(raw) > MAX_FIELD_CHARS:
                    raise DataError(f"{path}: line {line}, column '{c}': a value of {len(raw):,} "
                                    f"characters (at most {MAX_FIELD_CHARS})")
                if c in _WHOLE:
                    ints[c].append(_whole(raw, path, line, c))
                else:
                    floats[c].append(_value(raw, path, line, c))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise DataError(f"{path}: no header; the first line must be {','.join(COLUMNS)}")
    if not lines:
        raise DataError(f"{path}: no measurement rows after the header")
    m = Measurements(cell=np.frombuffer(ints["cell"], np.int64).copy(),
                     g_target=np.frombuffer(floats["g_target_S"], np.float64).copy(),
                     g_measured=np.frombuffer(floats["g_measured_S"], np.float64).copy(),
                     t=np.frombuffer(floats["t_s"], np.float64).copy(),
                     read=np.frombuffer(ints["read"], np.int64).copy(), source=str(path))
    _check_unique(m, np.frombuffer(lines, np.int64), path)
    return m


def _value(raw: str, path: Path, line: int, c: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not a "
                        "number") from None
    if not math.isfinite(v):
        raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not finite "
                        "(NaN or inf)")
    if v < 0:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is negative; "
                        "conductances and times are >= 0")
    return v


def _whole(raw: str, path: Path, line: int, c: str) -> int:
    try:
        v = int(raw)
    except ValueError:
        try:
            f = float(raw)
        except ValueError:
            f = math.nan
        if not (math.isfinite(f) and f.is_integer()):
            raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not a whole "
                            f"number; '{c}' is an integer index (0, 1, 2, ...)") from None
        v = int(f)
    if v < 0:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is negative; "
                        f"'{c}' is an index >= 0")
    if v >= MAX_INDEX:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is too large "
                        f"(at most {MAX_INDEX - 1})")
    return v


def _check_unique(m: Measurements, lines: np.ndarray, path: Path) -> None:
    """Each (cell, t_s, read) once; one target per cell. Errors name the first clash."""
    order = np.lexsort((lines, m.read, m.t, m.cell))  # stable: equal keys in line order
    c, t, r = m.cell[order], m.t[order], m.read[order]
    same = (c[1:] == c[:-1]) & (t[1:] == t[:-1]) & (r[1:] == r[:-1])
    if same.any():
        later = np.flatnonzero(same) + 1  # positions (sorted) of rows equal to the one before
        k = later[np.argmin(lines[order][later])]  # the duplicate met first in the file
        first = k
        while first > 0 and same[first - 1]:
            first -= 1
        a, b = int(lines[order][first]), int(lines[order][k])
        raise DataError(
            f"{path}: lines {a} and {b}: the same cell {int(c[k])}, t_s {float(t[k])!r} and read "
            f"{int(r[k])}; each (cell, t_s, read) must appear once - number repeat reads "
            f"0, 1, 2, ... ({int(same.sum())} duplicated row(s) in all)")
    order = np.lexsort((lines, m.cell))
    c, g = m.cell[order], m.g_target[order]
    clash = (c[1:] == c[:-1]) & (g[1:] != g[:-1])
    if clash.any():
        k = int(np.flatnonzero(clash)[np.argmin(lines[order][1:][clash])]) + 1
        first = int(np.searchsorted(c, c[k]))
        a, b = int(lines[order][first]), int(lines[order][k])
        raise DataError(
            f"{path}: lines {a} and {b}: cell {int(c[k])} has two targets, g_target_S "
            f"{float(g[first])!r} and {float(g[k])!r}; a cell has one programmed target "
            "(give a re-programmed cell a new id)")


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
    """Fit the models (see the module docstring).

    Needs at least :data:`MIN_CELLS_PER_BIN` usable (not stuck) cells in each of
    :data:`MIN_BINS` target bins for the programming noise, repeat reads (``read`` 0 and
    1) of at least :data:`MIN_READ_GROUPS` cells at one time for the read noise, and —
    when the file has more than one time — at least two cells read at two or more times
    for the drift; less raises :class:`DataError` saying how much is needed."""
    src = m.source
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
        raise DataError(f"{src}: the measurement columns are empty or of different lengths")
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
    # read noise: std over repeats per (cell, time)
    times = np.unique(m.t)
    n_t = len(times)
    key = inv.astype(np.int64) * n_t + np.searchsorted(times, m.t)
    uk, kinv = np.unique(key, return_inverse=True)
    cell_of, tk = uk // n_t, uk % n_t
    cnt = np.bincount(kinv)
    mean = np.bincount(kinv, weights=m.g_measured) / cnt
    var = np.bincount(kinv, weights=(m.g_measured - mean[kinv]) ** 2) / np.maximum(cnt - 1, 1)
    good = (cnt > 1) & ok[cell_of]
    if int(good.sum()) < MIN_READ_GROUPS:
        raise DataError(
            f"{src}: {int(good.sum())} (cell, t_s) pair(s) have repeat reads; fitting read "
            f"noise needs at least {MIN_READ_GROUPS} cells read at least twice (read 0, 1) at "
            "the same time")
    # fit the (unbiased) variances: the std over a few repeats is biased low
    gm, vv = mean[good], var[good]
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
    # programming noise: binned sigma against target
    gt, gp = target[ok], g_prog[ok]
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
    # drift: per-cell least-squares slope of -log g against log((t + t0)/t0)
    drift = None
    if n_t > 1:
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
        drift = {"nu_mean": float(nus_a.mean()), "nu_std": float(nus_a.std(ddof=1)),
                 "t0": float(t0), "cells": int(fit_cells.sum())}
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
