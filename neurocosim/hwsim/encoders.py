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
from ..ir.nodes import describe

__all__ = ["Encoder", "CurrentEncoder", "RateEncoder", "SpikeEncoder", "make_encoder", "ENCODINGS",
           "load_data", "validate_labels"]

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
    """Read a ``DATA.npz`` with inputs ``x`` and optional integer labels ``y``.

    Total: any file gives ``(x, y)`` or a :class:`~neurocosim.errors.DataError` naming the
    file and the field (a BudgetError for arrays beyond the memory budget). ``x`` must be
    a real, finite array of at least one sample; ``y`` (returned as ``int64``) must be one
    non-negative integer per sample. Whether the labels fit the network's outputs is
    checked by :func:`validate_labels` with ``n_classes``, once the network is known.
    Nothing is ever unpickled.
    """
    from .._yaml import input_file
    from ..frontends.npz import load_npz_arrays

    p = input_file(path, "data file", DataError, "a .npz data file (arrays 'x' and 'y')")
    arrays = load_npz_arrays(p, what="data file", error=DataError, keys=("x", "y"),
                             required=("x",))
    x = arrays["x"]
    where = f"{p}: inputs 'x'"
    if x.dtype.kind not in "biuf":
        kind = {"c": "complex numbers", "U": "strings", "S": "byte strings"}.get(
            x.dtype.kind, x.dtype.name)
        raise DataError(f"{where} must be real numbers, got {kind} (dtype {x.dtype})")
    if x.ndim == 0:
        raise DataError(f"{where} must be an array (n_samples, *input_shape), got the "
                        f"single number {describe(x.item())}")
    if x.shape[0] == 0:
        raise DataError(f"{where} hold 0 samples (shape {x.shape}); give at least one")
    if x.size == 0:
        raise DataError(f"{where} hold no values (shape {x.shape})")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{where} contain NaN or inf: x[{', '.join(map(str, idx))}] = "
                            f"{x[idx]}; clean the data")
    y = arrays.get("y")
    if y is not None:
        y = validate_labels(y, None, len(x), str(p))
    return x, y


def validate_labels(y, n_classes: int | None = None, n_samples: int | None = None,
                    source: str = "labels", field: str = "y") -> np.ndarray:
    """Labels ``y`` as a 1-D ``int64`` array, or a :class:`~neurocosim.errors.DataError`.

    Refused: strings, booleans, complex or object data, floats with a fractional part,
    NaN or inf, negative values, values ``>= n_classes`` (when given: the number of the
    network's outputs), an array that is not 1-D, or a length other than ``n_samples``
    (when given). Integer-valued floats (``3.0``) are accepted and cast. ``source`` (the
    data file) and ``field`` name the labels in the message, e.g.
    ``"data.npz: labels 'y' must be integers in [0, 10); y[3] = -1"``.
    """
    rng = f"in [0, {n_classes})" if n_classes is not None else ">= 0"
    head = f"{source}: labels '{field}' must be integers {rng}"
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{head}; got {describe(y)}") from None
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "booleans", "U": "strings", "S": "byte strings", "c": "complex numbers",
                "O": "Python objects"}.get(kind, f"{arr.dtype} values")
        first = f", e.g. {field}[0] = {describe(arr.ravel()[0].item())}" if arr.size else ""
        raise DataError(f"{head}; they are {what}{first}")
    if arr.ndim != 1:
        raise DataError(f"{head}, one per sample: a 1-D array, got shape {arr.shape}")
    if n_samples is not None and len(arr) != n_samples:
        raise DataError(f"{source}: {len(arr)} labels '{field}' for {n_samples} samples 'x'; "
                        "give one label per sample")
    if n_classes is not None and not (isinstance(n_classes, (int, np.integer))
                                      and n_classes >= 1):
        raise DataError(f"{source}: the number of classes must be a positive integer, "
                        f"got {describe(n_classes)}")
    hi = n_classes if n_classes is not None else 2**53
    if kind == "f":
        ok = np.isfinite(arr)
        ok[ok] = arr[ok] == np.floor(arr[ok])
        ok &= (arr >= 0) & (arr < hi)
    else:
        ok = arr >= 0
        if kind == "u" or n_classes is not None:
            ok &= arr < hi
    if not ok.all():
        i = int(np.argmin(ok))
        v = arr[i].item()
        why = "" if (kind != "f" or np.isfinite(arr[i])) else " (not finite)"
        raise DataError(f"{head}; {field}[{i}] = {describe(v)}{why}")
    return arr.astype(np.int64)
