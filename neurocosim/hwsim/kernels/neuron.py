"""The neuron kernel: one step of one neuron layer (DESIGN §3.3, the float semantics of
the NumPy reference, :func:`neurocosim.hwsim.reference.node_forward`).

One loop per neuron type, each without branches in its body (the spike test selects the
new membrane and output), so the compiler vectorises it."""

from __future__ import annotations

import numpy as np

from ..jit import njit, njit_inner
from .codes import T_CUBALI, T_CUBALIF, T_IF, T_ILIF, T_LI, T_TLIF

__all__ = ["neuron_eval"]


@njit
def neuron_eval(neu, k, v, cur, x, y):
    """One step of neuron layer ``k`` of ``neu`` (state ``v``/``cur`` in place, indexed
    from the layer's first neuron); input ``x``, output into ``y`` (one per neuron).

    Returns the number of spikes (sum of integer levels for ILIF, of |s| for a ternary
    layer)."""
    ntype = neu.type[k]
    lo, n = neu.off[k], y.shape[0]
    # the layer's slices (indices known >= 0: the loops compile without wrap-around tests)
    alpha, gain, vleak = neu.alpha[lo:lo + n], neu.gain[lo:lo + n], neu.vleak[lo:lo + n]
    vth, vm = neu.vth[lo:lo + n], v[lo:lo + n]
    drive = x[:n]
    if ntype == T_CUBALIF or ntype == T_CUBALI:
        c, asyn, win = cur[lo:lo + n], neu.asyn[lo:lo + n], neu.win[lo:lo + n]
        for i in range(n):
            c[i] += asyn[i] * (win[i] * x[i] - c[i])
        drive = c
    if ntype == T_IF:
        for i in range(n):
            vm[i] += gain[i] * drive[i]
    else:
        for i in range(n):
            vm[i] += alpha[i] * (vleak[i] - vm[i]) + gain[i] * drive[i]
    if ntype == T_LI or ntype == T_CUBALI:
        for i in range(n):
            y[i] = vm[i]
        return 0.0
    if ntype == T_ILIF:
        return _levels(vm, vth, neu.maxlvl[k], y)
    if ntype == T_TLIF:
        return _fire_signed(vm, vth, neu.vthn[lo:lo + n], neu.vreset[lo:lo + n], neu.ge[k],
                            neu.reset[k], y)
    return _fire(vm, vth, neu.vreset[lo:lo + n], neu.ge[k], neu.reset[k], y)


@njit_inner
def _fire(vm, vth, vreset, ge, reset_sub, y):
    """Spike where the membrane reaches the threshold (``ge``: ``v >= θ``, else ``v > θ``),
    then reset by subtraction (``reset_sub``) or to ``vreset``; returns the spikes
    (counted as an integer: a float sum would be a serial chain of adds)."""
    n = y.shape[0]
    m = 0
    if ge:
        for i in range(n):
            f = vm[i] >= vth[i]
            y[i] = 1.0 if f else 0.0
            m += f
    else:
        for i in range(n):
            f = vm[i] > vth[i]
            y[i] = 1.0 if f else 0.0
            m += f
    if m:
        if reset_sub:
            for i in range(n):
                vm[i] = vm[i] - vth[i] if y[i] != 0.0 else vm[i]
        else:
            for i in range(n):
                vm[i] = vreset[i] if y[i] != 0.0 else vm[i]
    return float(m)


@njit_inner
def _fire_signed(vm, vth, vthn, vreset, ge, reset_sub, y):
    """Ternary spikes: +1 where ``v > θ⁺``, −1 where ``v < −θ⁻`` (``ge``: ``>=``, ``<=``),
    else 0; then, where one fired, reset to ``vreset`` or by subtraction of the side's
    threshold (``v − θ⁺`` after +1, ``v + θ⁻`` after −1); returns the spikes counted as
    ``|s|`` (an integer count)."""
    n = y.shape[0]
    m = 0
    if ge:
        for i in range(n):
            p = vm[i] >= vth[i]
            q = vm[i] <= -vthn[i]
            y[i] = 1.0 if p else (-1.0 if q else 0.0)
            m += p or q
    else:
        for i in range(n):
            p = vm[i] > vth[i]
            q = vm[i] < -vthn[i]
            y[i] = 1.0 if p else (-1.0 if q else 0.0)
            m += p or q
    if m:
        if reset_sub:
            for i in range(n):
                s = y[i]
                vm[i] = vm[i] - vth[i] if s > 0.0 else (vm[i] + vthn[i] if s < 0.0 else vm[i])
        else:
            for i in range(n):
                vm[i] = vreset[i] if y[i] != 0.0 else vm[i]
    return float(m)


@njit_inner
def _levels(vm, vth, maxlvl, y):
    """Integer spikes of an ILIF layer: round(v / θ) clipped to [0, maxlvl], subtracted
    from the membrane; returns their sum."""
    spikes = 0.0
    for i in range(y.shape[0]):
        q = vm[i] / vth[i]
        if q < 0.0:
            q = 0.0
        elif q > maxlvl:
            q = maxlvl
        s = np.rint(q)
        vm[i] -= s * vth[i]
        y[i] = s
        spikes += s
    return spikes
