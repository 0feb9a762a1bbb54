"""The column read of a programmed tile block: currents of the driven rows with the
aggregated read noise, then the ADC (DESIGN §4.4, layer 3; called by
:mod:`.crossbar`)."""

from __future__ import annotations

import numpy as np

from ..jit import njit_inner
from .rng import add_noise

__all__ = ["read_columns", "adc_convert"]


@njit_inner
def read_columns(g, goff, s2, soff, cols, act_i, act_v, nact, rstate, curr, var):
    """Column currents ``curr`` of the block at ``g[goff:]`` (each cell's current at the
    read voltage, ``cols`` per row) with rows ``act_i`` driven at ``act_v`` times the read
    voltage, plus the aggregated read noise when the block has per-read noise
    (``soff`` ≥ 0: the cells' variances at ``s2[soff:]``, float32): variance accumulated
    in the same pass over the row as the current, then one normal per column
    (:func:`~.rng.add_noise`). A binary drive (the common spike) adds the row as it is.
    Rows are taken as slices, whose indices Numba knows are non-negative, so the column
    loops vectorise."""
    for c in range(cols):
        curr[c] = 0.0
    if soff >= 0:
        for c in range(cols):
            var[c] = 0.0
        for a in range(nact):
            xv = act_v[a]
            base, sbase = goff + act_i[a] * cols, soff + act_i[a] * cols
            gi, si = g[base:base + cols], s2[sbase:sbase + cols]
            if xv == 1.0:
                for c in range(cols):
                    curr[c] += gi[c]
                    var[c] += si[c]
            else:
                xv2 = xv * xv
                for c in range(cols):
                    curr[c] += xv * gi[c]
                    var[c] += xv2 * si[c]
        add_noise(rstate, curr, var, cols)
    else:
        for a in range(nact):
            xv = act_v[a]
            base = goff + act_i[a] * cols
            gi = g[base:base + cols]
            if xv == 1.0:
                for c in range(cols):
                    curr[c] += gi[c]
            else:
                for c in range(cols):
                    curr[c] += xv * gi[c]


@njit_inner
def adc_convert(curr, cols, adc_bits, adc_fs):
    """The ADC (``adc_bits`` > 0, full scale ``adc_fs``) on the column currents ``curr``
    in place; returns the number of clipped conversions."""
    clipped = 0
    top = float((1 << adc_bits) - 1)
    lsb = adc_fs / top
    inv = 1.0 / lsb
    for c in range(cols):
        code = np.rint(curr[c] * inv)
        if code > top:
            code = top
            clipped += 1
        elif code < 0.0:
            code = 0.0
            clipped += 1
        curr[c] = code * lsb
    return clipped
