"""Input encoders: what the Input node emits at each step, for a block of samples.

* ``current`` — the analog value itself every step (constant current injection);
* ``rate``    — Bernoulli spikes with probability = value (values must lie in [0, 1]);
* ``spikes``  — a precomputed ``(n_samples, steps, *input_shape)`` tensor.

Rate coding draws from one independent stream per sample, derived from the generator
given at construction, so a sample's spikes do not depend on batching or thread count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

__all__ = ["Encoder", "CurrentEncoder", "RateEncoder", "SpikeEncoder", "make_encoder", "ENCODINGS",
           "load_data"]

ENCODINGS = ("current", "rate", "spikes")


@dataclass(frozen=True)
class Encoder(ABC):
    """Base: ``block(lo, hi, steps)`` → ``(hi - lo, steps, *input_shape)`` float array."""

    x: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    def head(self, n: int) -> Encoder:
        """The same encoder restricted to its first ``n`` samples (same streams)."""
        import copy

        new = copy.copy(self)
        object.__setattr__(new, "x", self.x[:n])
        return new

    @abstractmethod
    def block(self, lo: int, hi: int, steps: int) -> np.ndarray:
        """Input of samples ``lo..hi-1`` for ``steps`` steps."""


@dataclass(frozen=True)
class CurrentEncoder(Encoder):
    """Constant current: sample ``x[i]`` is injected unchanged at every step."""

    def block(self, lo: int, hi: int, steps: int) -> np.ndarray:
        xs = self.x[lo:hi]
        return np.broadcast_to(xs[:, None], (xs.shape[0], steps, *xs.shape[1:]))


@dataclass(frozen=True)
class RateEncoder(Encoder):
    """Bernoulli rate coding: spike with probability ``x`` each step, per-sample streams."""

    seed: int = 0
    _seqs: tuple = field(init=False, repr=False)

    def __post_init__(self) -> None:
        seqs = np.random.SeedSequence(self.seed).spawn(self.n_samples)
        object.__setattr__(self, "_seqs", tuple(seqs))

    def block(self, lo: int, hi: int, steps: int) -> np.ndarray:
        out = np.empty((hi - lo, steps, *self.x.shape[1:]))
        for k, i in enumerate(range(lo, hi)):
            u = np.random.Generator(np.random.PCG64(self._seqs[i])).random(out.shape[1:])
            out[k] = u < self.x[i][None]
        return out


@dataclass(frozen=True)
class SpikeEncoder(Encoder):
    """Precomputed input ``x`` of shape ``(n_samples, steps, *input_shape)``."""

    def block(self, lo: int, hi: int, steps: int) -> np.ndarray:
        if steps > self.x.shape[1]:
            raise DataError(
                f"the spike data hold {self.x.shape[1]} steps, {steps} were asked for"
            )
        return self.x[lo:hi, :steps]


def make_encoder(
    kind: str,
    x: np.ndarray,
    input_shape: tuple[int, ...],
    rng: np.random.Generator | None = None,
) -> Encoder:
    """Validate ``x`` against the network's ``input_shape`` and build the encoder.

    ``x`` is ``(n_samples, *input_shape)`` for ``current``/``rate`` and
    ``(n_samples, steps, *input_shape)`` for ``spikes``; a flat feature vector is reshaped
    to ``input_shape`` when the sizes agree. ``rng`` seeds rate coding (required for it).
    """
    if kind not in ENCODINGS:
        raise DataError(f"encoding must be one of {ENCODINGS}, got {kind!r}")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"input data must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError("input data contain NaN or inf")
    lead = 2 if kind == "spikes" else 1
    if x.ndim < lead + 1:
        raise DataError(
            f"'{kind}' data must be (n_samples{', steps' if lead == 2 else ''}, *{input_shape}),"
            f" got shape {x.shape}"
        )
    feat = x.shape[lead:]
    if feat != tuple(input_shape):
        if int(np.prod(feat)) != int(np.prod(input_shape)):
            raise DataError(
                f"input data have per-sample shape {feat} but the network's Input is "
                f"{tuple(input_shape)}"
            )
        x = x.reshape(x.shape[:lead] + tuple(input_shape))
    if kind == "current":
        return CurrentEncoder(x)
    if kind == "rate":
        if x.min() < 0 or x.max() > 1:
            raise DataError(
                f"rate coding needs values in [0, 1] (spike probabilities), got range "
                f"[{x.min():g}, {x.max():g}]; rescale the data (e.g. x / x.max())"
            )
        if rng is None:
            raise DataError("rate coding is stochastic: pass rng (CLI: --seed)")
        return RateEncoder(x, seed=int(rng.integers(2**63)))
    if not np.all((x == 0) | (x == 1)) and not np.all(x == np.round(x)):
        raise DataError("spike data must hold integer spike counts (0/1 for binary spikes)")
    return SpikeEncoder(x)


def load_data(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a ``DATA.npz`` with inputs ``x`` and optional integer labels ``y``."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such data file")
    try:
        with np.load(p, allow_pickle=False) as z:
            if "x" not in z:
                raise DataError(f"{p}: a data file must hold an array 'x' (found {list(z.keys())})")
            return np.asarray(z["x"]), (np.asarray(z["y"]) if "y" in z else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot read as .npz data: {exc}") from None
