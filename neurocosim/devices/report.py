"""Device characterisation report: what a macro's models do to conductances.

Programs a large synthetic array (targets spread uniformly over the window, on the
macro's levels), then measures the programming σ at five targets against the model,
the stuck-at fractions, the drift at chosen times, and the read noise. Used by
``neurocosim device`` (text summary and plot).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..budget import check_memory
from ..errors import ConfigError, short
from .crossbar import expected_drift_ratio, program, quantize_levels
from .noise import PROGRAMMING_NOISE, READ_NOISE, nu_stats, pcm_inference_sigma
from .schema import MacroCard, StuckAtSpec

__all__ = ["DeviceReport", "characterise"]


@dataclass(frozen=True, kw_only=True)
class DeviceReport:
    """Measured statistics of one macro (SI units)."""

    g_min: float
    g_max: float
    g_target: np.ndarray  # (n,) targets of the histogram array
    g_programmed: np.ndarray  # (n,) after programming
    g_drifted: dict[float, np.ndarray]  # time (s) -> (n,) conductances
    sigma_targets: np.ndarray  # (5,)
    sigma_model: np.ndarray  # (5,)
    sigma_measured: np.ndarray  # (5,)
    sigma_curve_g: np.ndarray
    sigma_curve: np.ndarray
    read_sigma_mid: float
    stuck_min_fraction: float
    stuck_max_fraction: float
    drift_ratio_measured: dict[float, float] = field(default_factory=dict)
    drift_ratio_expected: dict[float, float] = field(default_factory=dict)
    programming_model: str = "none"
    read_model: str = "none"
    drift_model: str = "none"

    def to_dict(self) -> dict:
        return {
            "programming_model": self.programming_model,
            "read_model": self.read_model,
            "drift_model": self.drift_model,
            "sigma_at_targets": [
                {"g_target_S": float(g), "sigma_model_S": float(m), "sigma_measured_S": float(s)}
                for g, m, s in zip(self.sigma_targets, self.sigma_model, self.sigma_measured,
                                   strict=True)
            ],
            "read_sigma_at_mid_window_S": self.read_sigma_mid,
            "stuck_at_g_min_fraction": self.stuck_min_fraction,
            "stuck_at_g_max_fraction": self.stuck_max_fraction,
            "drift_mean_ratio": {str(t): {"measured": self.drift_ratio_measured[t],
                                          "expected": self.drift_ratio_expected[t]}
                                 for t in self.drift_ratio_measured},
        }


def characterise(macro: MacroCard, rng: np.random.Generator, *, n_cells: int = 100_000,
                 times: Sequence[float] = (3600.0, 86400.0, 30 * 86400.0),
                 cells_per_target: int = 20_000) -> DeviceReport:
    """Program synthetic arrays on ``macro`` and measure what its models do.

    The arrays (``n_cells`` per time, plus programming temporaries) are checked against
    the memory budget before anything is allocated."""
    for name, value, least in (("n_cells (--cells)", n_cells, 1),
                               ("cells_per_target", cells_per_target, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ConfigError(f"{name}: must be a whole number >= {least}, got {short(value)}")
    times = list(times)
    for t in times:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or not (
                math.isfinite(t) and t >= 0):
            raise ConfigError(f"times (--times): every time after programming must be a "
                              f"finite number of seconds >= 0, got {short(t)}")
    check_memory(_report_bytes(int(n_cells), len(times), int(cells_per_target)),
                 f"characterising {int(n_cells):,} cells at {len(times)} time(s)",
                 "lower --cells or give fewer --times")
    r_hist, r_sigma = rng.spawn(2)
    g_min, g_max = macro.g_min, macro.g_max
    targets = quantize_levels(r_hist.uniform(g_min, g_max, n_cells), g_min, g_max, macro.levels)
    g, nu, stuck = program(targets[None, :], macro, r_hist)
    g, stuck = g[0], stuck[0]
    drifted: dict[float, np.ndarray] = {}
    measured: dict[float, float] = {}
    expected: dict[float, float] = {}
    ok = (stuck == 0) & (g > 0)
    if nu is not None:
        p = macro.resolved("drift")
        for t in times:
            factor = ((t + p["t0"]) / p["t0"]) ** (-nu[0])
            drifted[float(t)] = np.where(stuck == 0, g * factor, g)
            measured[float(t)] = float(np.mean(factor[ok]))
            expected[float(t)] = _expected_ratio(macro.drift.model, targets[ok], t, p)
    # sigma at five targets away from the window edges, without faults
    st = np.linspace(g_min + 0.2 * macro.g_range, g_max - 0.2 * macro.g_range, 5)
    quiet = dataclasses.replace(macro, stuck_at=StuckAtSpec())
    gs, _, _ = program(np.repeat(st[:, None], cells_per_target, axis=1), quiet, r_sigma)
    model = PROGRAMMING_NOISE[macro.programming_noise.model]
    params = macro.resolved("programming")
    curve_g = np.linspace(g_min, g_max, 200)
    read = READ_NOISE[macro.read_noise.model]
    mid, rp = np.array([(g_min + g_max) / 2]), macro.resolved("read")
    read_mid = float(read.sigma(mid, rp)[0])
    if macro.read_noise.redraw == "per_inference":  # σ of the first inference, at t = 0
        t0 = macro.resolved("drift").get("t0", 20.0) if macro.drift.model != "none" else 20.0
        read_mid = float(pcm_inference_sigma(mid, 0.0, t0, rp)[0] * mid[0])
    return DeviceReport(
        g_min=g_min, g_max=g_max, g_target=targets, g_programmed=g, g_drifted=drifted,
        sigma_targets=st, sigma_model=model.sigma(st, params), sigma_measured=gs.std(axis=1, ddof=1),
        sigma_curve_g=curve_g, sigma_curve=model.sigma(curve_g, params), read_sigma_mid=read_mid,
        stuck_min_fraction=float(np.mean(stuck < 0)), stuck_max_fraction=float(np.mean(stuck > 0)),
        drift_ratio_measured=measured, drift_ratio_expected=expected,
        programming_model=macro.programming_noise.model, read_model=macro.read_noise.model,
        drift_model=macro.drift.model,
    )



def _expected_ratio(model: str, g_target: np.ndarray, t: float, p) -> float:
    """Mean of ``((t + t0)/t0)^−ν`` over cells of targets ``g_target``, in closed form:
    the log-normal mean for ν ~ N(μ, σ) (``power_law``), the folded-normal moment
    generating function for ν ~ |N(μ_ν(g), σ_ν(g))| (``pcm_aihwkit``, ``piecewise``)."""
    if model == "power_law":
        return expected_drift_ratio(t, p["nu_mean"], p["nu_std"], p["t0"])
    from scipy.special import ndtr

    a = np.log((t + p["t0"]) / p["t0"])
    mu, sd = nu_stats(model, g_target, p)
    sd = np.maximum(sd, 1e-300)  # σ = 0: ν = |μ|, the limit of the expression below
    both = np.exp(0.5 * (a * sd) ** 2)
    pos = np.exp(-a * mu) * ndtr(mu / sd - a * sd)
    neg = np.exp(a * mu) * ndtr(-mu / sd - a * sd)
    return float(np.mean(both * (pos + neg))) if g_target.size else float("nan")


def _report_bytes(n_cells: int, n_times: int, cells_per_target: int) -> float:
    """Peak bytes of :func:`characterise`: programming ``n_cells`` holds about eight float64
    arrays of that length at once (targets, σ, noise, clipped, stuck draws, masks), and
    every time adds a kept drifted array and a temporary factor; the σ measurement
    programs five targets × ``cells_per_target`` cells the same way."""
    return 8.0 * n_cells * (8 + 2 * n_times) + 8.0 * 8 * 5 * cells_per_target
