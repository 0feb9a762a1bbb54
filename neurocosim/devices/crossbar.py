r"""Memristive crossbar tiles: weights → conductances → programmed, drifting, noisy reads.

Orientation: a weight matrix ``W`` is ``(n_out, n_in)``; a tile's conductances are
``(rows, cols)`` with one row per input (word line) and one or more columns per output
(bit lines). A read drives the rows with voltages ``x`` and returns column currents
``I_j = Σ_i x_i G_ij`` (Kirchhoff; line resistance is not modelled).

Weight mappings (DESIGN §3.4), with :math:`Δ = g_{max} − g_{min}` and :math:`w_{max}` the
largest magnitude in the tile (or given):

* ``differential`` — two columns per output,
  :math:`G^+ = g_{min} + Δ\,\max(w,0)/w_{max}`, :math:`G^- = g_{min} + Δ\,\max(−w,0)/w_{max}`,
  :math:`y = (w_{max}/Δ)(I^+ − I^-)`;
* ``offset`` — one column per output plus one shared reference column at
  :math:`g_{min} + Δ/2`: :math:`G = g_{min} + Δ (w + w_{max})/(2 w_{max})`,
  :math:`y = (2 w_{max}/Δ)(I − I_{ref})`;
* ``bit_sliced`` — the magnitude is quantised to an integer :math:`m < B^k`
  (:math:`B = 2^b`, ``bits_per_cell`` b, ``slices`` k) whose base-B digits are stored in k
  differential pairs, least significant first: :math:`y = \frac{w_{max}}{B^k − 1}\sum_s
  B^s\,\frac{B − 1}{Δ}(I_s^+ − I_s^-)`.

Finite ``levels`` L: each target is rounded to the nearest of L uniform levels
:math:`g_{min} + kΔ/(L−1)` (ties to even), so the weight error is at most half a level
step, :math:`w_{max}/(2(L−1))` (differential) or :math:`w_{max}/(L−1)` (offset).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from .noise import PROGRAMMING_NOISE, READ_NOISE, draw_nu, pcm_inference_sigma
from .schema import MacroCard

__all__ = [
    "EncodedTile", "ProgrammedTile", "encode_weights", "quantize_levels", "program",
    "program_tile", "drift_factor", "drifted", "compensation_scale", "read_currents",
    "read_currents_per_cell", "ADC", "calibrate_adc_range", "dac_quantize", "tile_mvm",
    "expected_drift_ratio", "at_inference", "measure",
]


def quantize_levels(g: np.ndarray, g_min: float, g_max: float, levels: int | None) -> np.ndarray:
    """Round conductances to the nearest of ``levels`` uniform levels (None: unchanged)."""
    g = np.asarray(g, float)
    if levels is None:
        return g
    if levels < 2:
        raise ConfigError(f"macro.levels must be >= 2, got {levels}")
    step = (g_max - g_min) / (levels - 1)
    k = np.clip(np.round((g - g_min) / step), 0, levels - 1)
    return g_min + k * step


@dataclass(frozen=True, kw_only=True, eq=False)
class EncodedTile:
    """Target conductances of one weight block and how to read weights back.

    Attributes
    ----------
    g_target
        ``(rows, cols)`` siemens, after level quantisation.
    mapping
        ``"differential"``, ``"offset"`` or ``"bit_sliced"``.
    n_out
        Outputs (weight-matrix rows) stored.
    w_max
        Weight magnitude mapped to a full ``Δ``.
    col_weights
        ``(cols, n_out)`` matrix: output = ``(I − ref) @ col_weights`` in weight units,
        where ``ref`` is the reference column's current (offset mapping) or 0.
    ref_col
        Index of the reference column (offset mapping) or ``-1``.
    """

    g_target: np.ndarray
    mapping: str
    n_out: int
    w_max: float
    col_weights: np.ndarray
    ref_col: int = -1

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_target.shape

    def decode(self, currents: np.ndarray) -> np.ndarray:
        """Column currents ``(..., cols)`` → outputs ``(..., n_out)`` in weight units."""
        c = np.asarray(currents, float)
        if self.ref_col >= 0:
            c = c - c[..., self.ref_col : self.ref_col + 1]
        return c @ self.col_weights

    def weights(self, g: np.ndarray | None = None) -> np.ndarray:
        """The effective ``(n_out, rows)`` weights stored by conductances ``g``."""
        g = self.g_target if g is None else g
        return self.decode(g).T


def encode_weights(weights: np.ndarray, macro: MacroCard, w_max: float | None = None) -> EncodedTile:
    """Map a ``(n_out, n_in)`` weight block onto target conductances of ``macro``.

    ``n_in`` must fit the macro's rows and the needed columns its cols (the mapper splits
    larger layers). ``w_max`` defaults to the block's largest magnitude.
    """
    w = np.asarray(weights, float)
    if w.ndim != 2:
        raise DataError(f"weights must be 2-D (n_out, n_in), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise DataError("weights contain NaN or inf")
    n_out, n_in = w.shape
    wm = float(np.max(np.abs(w))) if w_max is None else float(w_max)
    if wm <= 0:
        wm = 1.0  # an all-zero block: any scale stores it exactly
    if np.max(np.abs(w), initial=0.0) > wm * (1 + 1e-12):
        raise DataError(f"w_max = {wm:g} is below the block's largest |w| = {np.abs(w).max():g}")
    g0, dg, L = macro.g_min, macro.g_range, macro.levels
    mapping = macro.weight_mapping
    if mapping == "differential":
        g = np.empty((n_in, 2 * n_out))
        g[:, 0::2] = g0 + dg * np.maximum(w, 0).T / wm
        g[:, 1::2] = g0 + dg * np.maximum(-w, 0).T / wm
        g = quantize_levels(g, g0, macro.g_max, L)
        cw = np.zeros((2 * n_out, n_out))
        cw[0::2, :] = np.eye(n_out) * wm / dg
        cw[1::2, :] = -np.eye(n_out) * wm / dg
        return EncodedTile(g_target=g, mapping=mapping, n_out=n_out, w_max=wm, col_weights=cw)
    if mapping == "offset":
        g = np.empty((n_in, n_out + 1))
        g[:, :n_out] = g0 + dg * (w.T + wm) / (2 * wm)
        g[:, n_out] = g0 + dg / 2
        g = quantize_levels(g, g0, macro.g_max, L)
        if L is not None and (L - 1) % 2:
            raise ConfigError(
                f"macro.levels = {L}: the offset mapping needs an odd number of levels so that "
                "the reference column sits exactly on a level (w = 0 exact)"
            )
        cw = np.zeros((n_out + 1, n_out))
        cw[:n_out, :] = np.eye(n_out) * 2 * wm / dg
        return EncodedTile(g_target=g, mapping=mapping, n_out=n_out, w_max=wm, col_weights=cw,
                           ref_col=n_out)
    # bit slicing: k slices of b bits, each slice a differential pair of B = 2^b levels
    b, k = macro.bits_per_cell, macro.slices
    base = 2**b
    top = base**k - 1
    m = np.round(np.abs(w) / wm * top).astype(np.int64)
    sign = np.sign(w)
    g = np.empty((n_in, 2 * k * n_out))
    cw = np.zeros((2 * k * n_out, n_out))
    for s in range(k):
        digit = (m // base**s) % base
        pos = np.where(sign > 0, digit, 0).T
        neg = np.where(sign < 0, digit, 0).T
        cols = slice(2 * s, None, 2 * k)
        g[:, cols] = g0 + dg * pos / (base - 1)
        g[:, slice(2 * s + 1, None, 2 * k)] = g0 + dg * neg / (base - 1)
        unit = wm / top * base**s * (base - 1) / dg
        cw[2 * s :: 2 * k, :] = np.eye(n_out) * unit
        cw[2 * s + 1 :: 2 * k, :] = -np.eye(n_out) * unit
    return EncodedTile(g_target=g, mapping=mapping, n_out=n_out, w_max=wm, col_weights=cw)


@dataclass(frozen=True, kw_only=True, eq=False)
class ProgrammedTile:
    """A tile after programming: conductances as written, drift exponents, stuck cells.

    ``g`` is what a read at ``t = 0`` sees; :func:`drifted` gives ``g`` at a later time.
    With read noise drawn per inference (:func:`at_inference`), ``g`` holds the noise of
    the current inference, ``g_programmed`` the conductances as written and
    ``inference_seed`` the stream the draws come from.
    """

    encoded: EncodedTile
    g: np.ndarray
    nu: np.ndarray | None = None
    t0: float = 20.0
    stuck: np.ndarray | None = None  # int8: 0 ok, -1 stuck at g_min, +1 at g_max
    pruned: np.ndarray | None = None  # bool: cells RESET by prune-on-chip (residual g)
    inference_seed: np.random.SeedSequence | None = None
    g_programmed: np.ndarray | None = None  # g without this inference's read noise
    inference_of: np.ndarray | None = None  # the g an inference drew (is g unless edited)

    @property
    def g_target(self) -> np.ndarray:
        return self.encoded.g_target


def program(g_target: np.ndarray, macro: MacroCard, rng: np.random.Generator):
    r"""Program target conductances; return ``(g, nu, stuck)``.

    Programming noise (device-to-device variation and write error together) is drawn once
    per cell, :math:`g = g_T + σ(g_T)\,ε`, from the macro's registered model, then clipped
    to the physical window ``[g_min, g_max]`` (at ``g_min`` only for models that, like
    aihwkit's PCM, let a cell overshoot ``g_max``). Stuck-at faults put a seeded fraction
    of cells at ``g_min`` and at ``g_max``. Drift exponents are drawn per cell by the drift
    model (:func:`~neurocosim.devices.noise.draw_nu`; never negative: conductance does not
    grow by drift).

    Independent streams are spawned from ``rng`` for noise, faults and drift.
    """
    g_target = np.asarray(g_target, float)
    r_noise, r_stuck, r_drift = rng.spawn(3)
    model = PROGRAMMING_NOISE[macro.programming_noise.model]
    sigma = model.sigma(g_target, macro.resolved("programming"))
    g = g_target + sigma * r_noise.standard_normal(g_target.shape)
    g = np.clip(g, macro.g_min, macro.g_max if model.clip_top else None)
    stuck = np.zeros(g.shape, np.int8)
    f_lo, f_hi = macro.stuck_at.g_min_fraction, macro.stuck_at.g_max_fraction
    if f_lo > 0 or f_hi > 0:
        u = r_stuck.random(g.shape)
        stuck[u < f_lo] = -1
        stuck[(u >= f_lo) & (u < f_lo + f_hi)] = 1
        g = np.where(stuck < 0, macro.g_min, np.where(stuck > 0, macro.g_max, g))
    nu = draw_nu(macro.drift.model, g_target, macro.resolved("drift"), r_drift)
    return g, nu, stuck


def program_tile(encoded: EncodedTile, macro: MacroCard, rng: np.random.Generator) -> ProgrammedTile:
    """:func:`program` an encoded tile, keeping what is needed to read and decode it."""
    if encoded.shape[0] > macro.rows or encoded.shape[1] > macro.cols:
        raise DataError(
            f"block needs {encoded.shape[0]} rows x {encoded.shape[1]} cols but the macro "
            f"tile is {macro.rows} x {macro.cols}; split it (the mapper does)"
        )
    g, nu, stuck = program(encoded.g_target, macro, rng)
    t0 = macro.resolved("drift").get("t0", 20.0) if macro.drift.model != "none" else 20.0
    seed = None
    if macro.read_noise.redraw == "per_inference":
        seed = rng.spawn(1)[0].bit_generator.seed_seq
    return ProgrammedTile(encoded=encoded, g=g, nu=nu, t0=t0, stuck=stuck, inference_seed=seed)


def at_inference(tile: ProgrammedTile, macro: MacroCard, t: float, draw: int = 0
                 ) -> ProgrammedTile:
    r"""The tile as inference number ``draw`` at ``t`` seconds after programming reads it,
    for read noise drawn per inference (``read_noise.redraw: per_inference``, aihwkit's
    semantics; other tiles are returned as they are). Every cell's conductance is set so
    that, drifted to ``t`` (:func:`drifted`), it reads :math:`\max(g_d + σ ε, 0)`: one
    draw per cell, :math:`g_d` the drifted conductance, σ the model's — for
    ``pcm_aihwkit`` :math:`g_d` times
    :func:`~neurocosim.devices.noise.pcm_inference_sigma` of the programmed conductance.
    The draw is reproducible: it depends on the tile's seed, ``t`` and ``draw`` only. A
    tile whose ``g`` was edited after its last draw (prune-on-chip) is taken as
    programmed as it is.
    """
    model = READ_NOISE[macro.read_noise.model]
    if (tile.inference_seed is None or macro.read_noise.redraw != "per_inference"
            or model.name == "none"):
        return tile
    if t < 0 or not np.isfinite(t):
        raise DataError(f"time after programming must be a finite value >= 0, got {t}")
    fresh = tile.g_programmed is None or tile.g is not tile.inference_of
    base = tile.g if fresh else tile.g_programmed
    s = tile.inference_seed
    key = (*s.spawn_key, int(draw), int(np.float64(t).view(np.uint64)))
    rng = np.random.default_rng(np.random.SeedSequence(s.entropy, spawn_key=key))
    kfac = np.ones_like(base) if tile.nu is None else drift_factor(t, tile.nu, tile.t0)
    if tile.stuck is not None:
        kfac = np.where(tile.stuck != 0, 1.0, kfac)
    g_d = base * kfac
    params = macro.resolved("read") | {"per_read": 1.0}
    if model.name == "pcm_aihwkit":
        sig = g_d * pcm_inference_sigma(base, t, tile.t0, params)
    else:
        sig = model.sigma(g_d, params)
    g = np.maximum(g_d + sig * rng.standard_normal(base.shape), 0.0) / kfac
    return dataclasses.replace(tile, g=g, g_programmed=base, inference_of=g)


def measure(g: np.ndarray, nu: np.ndarray | None, stuck: np.ndarray | None, t: float,
            macro: MacroCard, rng: np.random.Generator) -> np.ndarray:
    """What one measurement of programmed cells ``g`` reads ``t`` seconds after
    programming: drifted (stuck cells do not drift), plus one draw of the macro's read
    noise — per read (σ(g) of the drifted g) or, for ``redraw: per_inference``, the
    accumulated noise of one inference (aihwkit's semantics); never below 0."""
    t0 = macro.resolved("drift").get("t0", 20.0) if macro.drift.model != "none" else 20.0
    g = np.asarray(g, float)
    gd = g if nu is None else g * drift_factor(t, nu, t0)
    if stuck is not None:
        gd = np.where(stuck != 0, g, gd)
    params = macro.resolved("read")
    eps = rng.standard_normal(g.shape)
    model = READ_NOISE[macro.read_noise.model]
    if macro.read_noise.redraw == "per_inference" and model.name == "pcm_aihwkit":
        return gd * np.maximum(1.0 + pcm_inference_sigma(g, t, t0, params) * eps, 0.0)
    return np.maximum(gd + model.sigma(gd, params | {"per_read": 1.0}) * eps, 0.0)


def drift_factor(t: float, nu: np.ndarray, t0: float) -> np.ndarray:
    r"""Power-law drift :math:`((t + t_0)/t_0)^{-ν}` at ``t`` seconds after programming."""
    if t < 0:
        raise DataError(f"time after programming must be >= 0, got {t}")
    return ((t + t0) / t0) ** (-np.asarray(nu))


def expected_drift_ratio(t: float, nu_mean: float, nu_std: float, t0: float) -> float:
    r"""Closed-form mean of :math:`g(t)/g` for :math:`ν \sim N(μ, σ)`:
    :math:`k^{-μ} e^{σ^2 \ln^2 k / 2}`, :math:`k = (t + t_0)/t_0` (log-normal mean;
    exact when the clipping of ν at 0 is negligible, i.e. μ ≫ σ)."""
    lk = np.log((t + t0) / t0)
    return float(np.exp(-nu_mean * lk + 0.5 * (nu_std * lk) ** 2))


def drifted(tile: ProgrammedTile, t: float) -> np.ndarray:
    """Conductances of ``tile`` at ``t`` seconds (stuck cells do not drift)."""
    if tile.nu is None or t == 0:
        return tile.g
    g = tile.g * drift_factor(t, tile.nu, tile.t0)
    return g if tile.stuck is None else np.where(tile.stuck != 0, tile.g, g)


def compensation_scale(tile: ProgrammedTile, t: float) -> float:
    """Global drift compensation: one scale per tile from a reference read.

    The all-ones reference input is read right after programming and again at ``t``;
    the ratio of the summed column currents rescales every later output of the tile
    (as aihwkit's global drift compensation)."""
    ref = tile.g.sum()
    now = drifted(tile, t).sum()
    return float(ref / now) if now > 0 else 1.0


def dac_quantize(x: np.ndarray, bits: int, x_max: float = 1.0) -> np.ndarray:
    """Row DAC: inputs in ``[0, x_max]`` to ``2^bits`` levels (1 bit: spikes 0/1).

    Inputs outside the range are an error, not clipped: binary spikes need 1 bit,
    multi-level spikes more bits or time multiplexing."""
    x = np.asarray(x, float)
    if x.size and (x.min() < 0 or x.max() > x_max * (1 + 1e-12)):
        raise DataError(
            f"DAC input outside [0, {x_max:g}] (got [{x.min():g}, {x.max():g}]); rescale the "
            "input or use more DAC bits / time multiplexing"
        )
    levels = 2**bits - 1
    return np.round(x / x_max * levels) * x_max / levels


def read_currents(g: np.ndarray, v: np.ndarray, macro: MacroCard,
                  rng: np.random.Generator | None) -> np.ndarray:
    r"""Column currents for row voltages ``v`` ``(..., rows)`` with read noise, aggregated.

    Per-cell Gaussian read noise summed along a column is exactly
    :math:`N(\sum_i v_i g_{ij}, \sum_i v_i^2 σ_{ij}^2)`: one normal per column per read
    (DESIGN §3.4), O(cols) draws instead of O(rows·cols)."""
    v = np.asarray(v, float)
    mean = v @ g
    model = READ_NOISE[macro.read_noise.model]
    if model.name == "none":
        return mean
    if rng is None:
        raise DataError("read noise is stochastic: pass rng")
    var = (v**2) @ (model.sigma(g, macro.resolved("read")) ** 2)
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)


def read_currents_per_cell(g: np.ndarray, v: np.ndarray, macro: MacroCard,
                           rng: np.random.Generator | None) -> np.ndarray:
    """The exact path: one read-noise draw per cell per read (slow; for validation)."""
    v = np.asarray(v, float)
    model = READ_NOISE[macro.read_noise.model]
    if model.name == "none":
        return v @ g
    if rng is None:
        raise DataError("read noise is stochastic: pass rng")
    sig = model.sigma(g, macro.resolved("read"))
    lead = v.shape[:-1]
    noisy = g + sig * rng.standard_normal((*lead, *g.shape))
    return np.einsum("...i,...ij->...j", v, noisy)


@dataclass(frozen=True)
class ADC:
    """Unsigned ``bits``-bit converter of column currents over ``[0, full_scale]``.

    ``code = clip(round(I / LSB), 0, 2^bits − 1)`` with ``LSB = full_scale/(2^bits − 1)``;
    inside the range the error is at most LSB/2; outside it the value is clipped and
    counted (``convert`` returns the count).
    """

    bits: int
    full_scale: float

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 16:
            raise ConfigError(f"macro.adc_bits must lie in [1, 16], got {self.bits}")
        if not self.full_scale > 0:
            raise ConfigError(f"ADC full_scale must be > 0 A, got {self.full_scale}")

    @property
    def lsb(self) -> float:
        return self.full_scale / (2**self.bits - 1)

    def convert(self, currents: np.ndarray) -> tuple[np.ndarray, int]:
        """Quantised currents (in amperes) and the number of clipped conversions."""
        c = np.asarray(currents, float)
        code = np.round(c / self.lsb)
        top = 2**self.bits - 1
        clipped = int(np.count_nonzero((code > top) | (code < 0)))
        return np.clip(code, 0, top) * self.lsb, clipped


def calibrate_adc_range(currents: np.ndarray, percentile: float = 99.99) -> float:
    """Full-scale current from column currents seen on calibration data (a percentile).

    Reused by ``calibration/``. Raises if the data give no positive current."""
    c = np.asarray(currents, float).ravel()
    if not 0 < percentile <= 100:
        raise ConfigError(f"ADC calibration percentile must lie in (0, 100], got {percentile}")
    fs = float(np.percentile(c, percentile)) if c.size else 0.0
    if not fs > 0:
        raise DataError("ADC calibration data produce no positive column current")
    return fs


def tile_mvm(tile: ProgrammedTile, x: np.ndarray, macro: MacroCard,
             rng: np.random.Generator | None = None, *, t: float = 0.0,
             adc: ADC | None = None, compensate: bool = False) -> tuple[np.ndarray, int]:
    """One analog matrix-vector product in weight units: ``(..., rows)`` → ``(..., n_out)``.

    DAC (``macro.dac_bits`` over [0, 1]) → row voltages ``x·read_voltage`` → conductances
    at time ``t`` → aggregated read noise → ADC (if given) → decode. Returns the outputs
    and the number of clipped conversions.
    """
    xq = dac_quantize(x, macro.dac_bits)
    v = xq * macro.read_voltage
    g = drifted(tile, t)
    cur = read_currents(g, v, macro, rng)
    clipped = 0
    if adc is not None:
        cur, clipped = adc.convert(cur)
    y = tile.encoded.decode(cur) / macro.read_voltage
    if compensate and t > 0:
        y = y * compensation_scale(tile, t)
    return y, clipped

