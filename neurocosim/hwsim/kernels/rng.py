"""Per-sample random streams inside kernels: xoshiro256** (Blackman & Vigna, 2018).

Each sample owns a 4-word state seeded from NumPy's ``SeedSequence`` (so streams are
independent and the result of a sample does not depend on which thread runs it).
Normals come in pairs from the Marsaglia polar method.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import njit

__all__ = ["seed_states", "next_u64", "uniform", "normal_pair"]


def seed_states(seq: np.random.SeedSequence, n: int) -> np.ndarray:
    """``(n, 4)`` uint64 states, one independent stream per sample."""
    return np.stack([s.generate_state(4, np.uint64) for s in seq.spawn(n)]) if n else \
        np.zeros((0, 4), np.uint64)


@njit
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit
def next_u64(s):
    """Advance state ``s`` (4 uint64, in place) and return 64 random bits."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit
def uniform(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit
def normal_pair(s):
    """Two independent standard normals from one polar-method draw."""
    while True:
        u = 2.0 * uniform(s) - 1.0
        v = 2.0 * uniform(s) - 1.0
        q = u * u + v * v
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return u * f, v * f
