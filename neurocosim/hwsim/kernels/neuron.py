"""The neuron kernel: one step of one neuron layer (DESIGN §3.3, the float semantics of
the NumPy reference, :func:`neurocosim.hwsim.reference.node_forward`)."""

from __future__ import annotations

import numpy as np

from ..jit import njit
from .codes import T_CUBALI, T_CUBALIF, T_IF, T_ILIF, T_LI

__all__ = ["neuron_eval"]


@njit
def neuron_eval(neu, k, v, cur, x, y):
    """One step of neuron layer ``k`` of ``neu`` (state ``v``/``cur`` in place, indexed
    from the layer's first neuron); input ``x``, output into ``y`` (one per neuron).

    Returns the number of spikes (sum of integer levels for ILIF)."""
    ntype, reset_sub, ge = neu.type[k], neu.reset[k], neu.ge[k]
    maxlvl, lo, n = neu.maxlvl[k], neu.off[k], y.shape[0]
    # the layer's slices (indices known >= 0: the loop compiles without wrap-around tests)
    alpha, gain, asyn, win = neu.alpha[lo:lo + n], neu.gain[lo:lo + n], neu.asyn[lo:lo + n], \
        neu.win[lo:lo + n]
    vleak, vth, vreset = neu.vleak[lo:lo + n], neu.vth[lo:lo + n], neu.vreset[lo:lo + n]
    v, cur = v[lo:lo + n], cur[lo:lo + n]
    spikes = 0.0
    for i in range(n):
        j = i
        drive = x[i]
        if ntype == T_CUBALIF or ntype == T_CUBALI:
            cur[j] += asyn[j] * (win[j] * drive - cur[j])
            drive = cur[j]
        if ntype == T_IF:
            v[j] += gain[j] * drive
        else:
            v[j] += alpha[j] * (vleak[j] - v[j]) + gain[j] * drive
        if ntype == T_LI or ntype == T_CUBALI:
            y[i] = v[j]
        elif ntype == T_ILIF:
            q = v[j] / vth[j]
            if q < 0.0:
                q = 0.0
            elif q > maxlvl:
                q = maxlvl
            s = np.rint(q)
            v[j] -= s * vth[j]
            y[i] = s
            spikes += s
        else:
            fire = v[j] >= vth[j] if ge else v[j] > vth[j]
            if fire:
                if reset_sub:
                    v[j] -= vth[j]
                else:
                    v[j] = vreset[j]
                y[i] = 1.0
                spikes += 1.0
            else:
                y[i] = 0.0
    return spikes
