"""Per-sample random streams inside kernels: xoshiro256** (Blackman & Vigna, 2018).

Each sample owns a 4-word state seeded from NumPy's ``SeedSequence`` (so streams are
independent and the result of a sample does not depend on which thread runs it).
Standard normals come from the ziggurat method of Marsaglia & Tsang (2000, *J. Stat.
Softw.* 5(8)) with 128 layers on 64-bit draws (:func:`std_normal`: one draw of
:func:`next_u64` for about 99 % of the normals), or in pairs from the Marsaglia polar
method (:func:`normal_pair`, the slower textbook generator kept as a second reference).
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import njit, njit_inner

__all__ = ["seed_states", "next_u64", "uniform", "normal_pair", "std_normal", "add_noise"]


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


def _ziggurat_tables(layers: int = 128, r: float = 3.442619855899, v: float = 9.91256303526217e-3):
    """Layer tables of the normal ziggurat (Marsaglia & Tsang 2000, §2: ``r`` the right
    edge of the base layer, ``v`` the common area of every layer) for 53-bit magnitudes:
    ``k[i]``: accept a magnitude below it at once; ``w[i]``: magnitude → x; ``f[i]``:
    the density exp(-x²/2) at the layer's edge."""
    m = float(2 ** 53)
    k, w, f = np.zeros(layers), np.zeros(layers), np.zeros(layers)
    d = t = r
    q = v / math.exp(-0.5 * d * d)
    k[0], k[1] = (d / q) * m, 0.0
    w[0], w[layers - 1] = q / m, d / m
    f[0], f[layers - 1] = 1.0, math.exp(-0.5 * d * d)
    for i in range(layers - 2, 0, -1):
        d = math.sqrt(-2.0 * math.log(v / d + math.exp(-0.5 * d * d)))
        k[i + 1] = (d / t) * m
        t = d
        f[i] = math.exp(-0.5 * d * d)
        w[i] = d / m
    return k, w, f


_ZK, _ZW, _ZF = _ziggurat_tables()
_ZR = 3.442619855899


@njit
def std_normal(s):
    """One standard normal (ziggurat: 7 bits choose the layer, 1 bit the sign, 53 bits
    the magnitude; the rare rejections in :func:`_ziggurat_edge`)."""
    u = next_u64(s)
    i = int(u & np.uint64(127))
    m = float(np.int64(u >> np.uint64(11)))
    if m < _ZK[i]:
        x = m * _ZW[i]
        return -x if (u >> np.uint64(7)) & np.uint64(1) else x
    return _ziggurat_edge(s, u)


@njit_inner
def _ziggurat_edge(s, u):
    """The draw ``u`` fell outside its layer's rectangle: test the wedge (or draw the base
    layer's tail beyond r by Marsaglia's exponential method); redraw until accepted."""
    while True:
        i = int(u & np.uint64(127))
        neg = (u >> np.uint64(7)) & np.uint64(1)
        m = float(np.int64(u >> np.uint64(11)))
        x = m * _ZW[i]
        if m < _ZK[i]:
            return -x if neg else x
        if i == 0:
            while True:
                a = -math.log(1.0 - uniform(s)) / _ZR
                b = -math.log(1.0 - uniform(s))
                if b + b >= a * a:
                    break
            x = _ZR + a
            return -x if neg else x
        if _ZF[i] + uniform(s) * (_ZF[i - 1] - _ZF[i]) < math.exp(-0.5 * x * x):
            return -x if neg else x
        u = next_u64(s)


@njit_inner
def add_noise(s, curr, var, n):
    """``curr[c] += sqrt(var[c]) · z_c`` for ``c < n``, ``z_c`` the next standard normals of
    stream ``s`` — the same numbers as ``n`` calls of :func:`std_normal`, drawn with the
    stream's state kept in registers (the hot loop of a noisy read)."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for c in range(n):
        u = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)  # next_u64, inline
        t = s1 << np.uint64(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        i = int(u & np.uint64(127))
        m = float(np.int64(u >> np.uint64(11)))
        if m < _ZK[i]:
            x = m * _ZW[i]
            if (u >> np.uint64(7)) & np.uint64(1):
                x = -x
        else:
            s[0], s[1], s[2], s[3] = s0, s1, s2, s3
            x = _ziggurat_edge(s, u)
            s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
        curr[c] += math.sqrt(var[c]) * x
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
