r"""snnTorch 1.0.0 neurons → an IR neuron plus the feedback that makes its update exact.

Every snnTorch neuron here computes, per step, ``reset = [m_{t−1} > θ]`` from the
membrane *before* the update (``SpikingNeuron.mem_reset``), a new membrane
``m_t = (1 − a)·m_{t−1} + g·I_t`` (``I_t`` its drive), the reset, and ``s_t = [m_t > θ]``
(``fire``; the IR's ``compare=">"``); ``reset`` is the previous step's spike
:math:`s_{t−1}`. The membrane maps to ``LIF(tau=dt/a, r=g/a)`` (``IF(r=g)`` when
``a = 0``) and the rest to :class:`NeuronSpec` fields wired by :mod:`.compose`:

=================================  ===================================================
snnTorch module (file)             drive, decay and reset → IR composition
=================================  ===================================================
``Leaky(β)`` (``leaky.py``)        ``I = x``, ``a = 1 − β``, ``g = 1``; zero:
                                   ``m = β(1 − s_{t−1})m + x`` = the IR's zero reset
``Lapicque(β | R, C, Δ)``          ``a = Δ/(RC)``, ``g = R·Δ/(RC)`` (``lapicque.py``
(``lapicque.py``)                  decays by ``1 − Δ/(RC)``, not by its ``β``; β
                                   alone sets ``R = 1``, ``C = Δ/ln(1/β)``)
``RLeaky(β, V)`` (``rleaky.py``)   ``I = x + V(s_{t−1})``: ``V`` an ``nn.Linear``
                                   (``linear_features``, with its bias), an
                                   ``nn.Conv2d`` (``conv2d_channels``, ``kernel_size``,
                                   padding ``k//2``) or ``x·V`` (``all_to_all=False``),
                                   on the layer's spikes through a one-step ``Delay``
``Synaptic(α, β)``                 ``syn_t = α·syn_{t−1} + x_t`` (a ``Scale(1)`` fed by
(``synaptic.py``)                  ``x`` and by itself through a ``Delay`` and a
                                   ``Scale(α)``: the same float operations), ``I = syn``
=================================  ===================================================

Resets (β ≠ 1 unless said): ``subtract`` is ``m_t = … − θ·s_{t−1}`` (θ subtracted one step
late, after the decay): the IR's immediate subtraction plus ``−θ/r·s_{t−1}`` into the
input (``late_subtract``; β = 1: the IR's subtraction alone). ``zero`` in ``Lapicque``,
``RLeaky`` and ``Synaptic`` is ``m_t = base − s_{t−1}·base`` — the whole step after a
spike is zero, its input included (``Synaptic`` keeps ``syn``): the IR's zero reset with
the input gated by ``IAnd(s_{t−1}, I) = (1 − s_{t−1})·I`` (``gate``), which leaves
``v_t = 0`` exactly. ``Alpha`` (two synaptic currents, a membrane without memory whose
``subtract`` adds back the old inhibitory current) is refused.
"""

from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...ir import nodes as N

__all__ = ["SNN_KINDS", "snntorch_spec"]

SNN_KINDS = ("Leaky", "Lapicque", "RLeaky", "Synaptic")
#: the fix suggested in a refusal
_USE = ("use reset_mechanism='zero' or 'subtract' (any beta), reset_delay=True, no "
        "inhibition or state_quant, threshold >= 0")


def snntorch_spec(m, kind: str, dt: float, where: str, spec_type, scalar, check_step):
    """The :class:`~.neurons.NeuronSpec` of snnTorch neuron ``m`` (of type ``kind``)."""
    check_step(m.spike_grad, ">", where, "spike_grad")
    theta = scalar(m.threshold, "threshold", where)
    _refuse_modes(m, kind, theta, where, scalar)
    mech = m.reset_mechanism
    rec = None
    if kind == "Lapicque":
        ts, big_r = scalar(m.time_step, "time_step", where), scalar(m.R, "R", where)
        a = ts / (big_r * scalar(m.C, "C", where))
        if not 0.0 < a <= 1.0:
            raise ModelError(f"{where}: snnTorch Lapicque decays by 1 - time_step/(R*C) = "
                             f"{1 - a:g}, outside [0, 1); choose R*C >= time_step")
        node = _membrane(a, big_r, theta, mech, dt)
    else:
        beta = min(max(scalar(m.beta, "beta", where), 0.0), 1.0)  # clamped by snnTorch
        a = 1.0 - beta
        node = _membrane(a, 1.0 / a if a > 0 else 1.0, theta, mech, dt)
        if kind == "RLeaky":
            rec = _recurrent(m, where)
    late = None
    if mech == "subtract" and a > 0:
        late = -theta * a if kind != "Lapicque" else -theta / float(node.r)
    synapse = None
    if kind == "Synaptic":
        synapse = min(max(scalar(m.alpha, "alpha", where), 0.0), 1.0)
    outputs = 3 if kind == "Synaptic" else 2
    if m.init_hidden and not m.output:
        outputs = 1
    return spec_type(node, outputs=outputs, late_subtract=late, recurrent=rec,
                     synapse=synapse, gate=mech == "zero" and kind != "Leaky")


def _membrane(a: float, r: float, theta: float, mech: str, dt: float) -> N.Neuron:
    """``m ← (1 − a)·m + (a·r)·I`` with the spike test ``m > θ``."""
    modes = {"reset": mech, "compare": ">", "v_threshold": theta, "v_reset": 0.0}
    if a == 0.0:
        return N.IF(r=r, **modes)
    return N.LIF(tau=dt / a, r=r, v_leak=0.0, **modes)


def _refuse_modes(m, kind: str, theta: float, where: str, scalar) -> None:
    bad = []
    if m.reset_mechanism == "none":
        bad.append("reset_mechanism='none' (no IR neuron keeps its membrane after a spike)")
    if not getattr(m, "reset_delay", True):
        bad.append("reset_delay=False (snnTorch then tests the pre-reset membrane again)")
    if m.inhibition:
        bad.append("inhibition=True")
    if m.state_quant:
        bad.append("state_quant")
    if scalar(getattr(m, "graded_spikes_factor", 1.0), "graded_spikes_factor", where) != 1.0:
        bad.append("graded_spikes_factor != 1")
    if theta < 0:
        bad.append("threshold < 0 (snnTorch then resets its zero initial membrane at step 0)")
    if bad:
        raise ModelError(f"{where}: snnTorch {kind} with {'; '.join(bad)} cannot be imported "
                         f"exactly; {_USE}")


def _np(t) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _recurrent(m, where: str) -> N.Node:
    """RLeaky's ``recurrent`` module as an IR node on the previous step's spikes."""
    import torch.nn as nn

    rec = m.recurrent
    if type(rec) is nn.Linear:
        w = _np(rec.weight)
        return N.Affine(weight=w, bias=_np(rec.bias)) if rec.bias is not None else \
            N.Linear(weight=w)
    if type(rec) is nn.Conv2d:
        if rec.padding_mode != "zeros" or rec.kernel_size[0] % 2 == 0 \
                or rec.kernel_size[1] % 2 == 0:
            raise ModelError(f"{where}: snnTorch RLeaky with an even kernel_size or padding "
                             "other than zeros changes the layer's shape; use an odd kernel")
        w = _np(rec.weight)
        bias = _np(rec.bias) if rec.bias is not None else np.zeros(w.shape[0])
        return N.Conv2d(weight=w, bias=bias, stride=(1, 1), padding=tuple(rec.padding),
                        dilation=(1, 1), groups=1)
    if type(rec).__name__ == "RecurrentOneToOne":
        return N.Scale(scale=_np(rec.V) if hasattr(rec.V, "detach") else float(rec.V))
    raise ModelError(f"{where}: snnTorch RLeaky's recurrent module {type(rec).__name__} is "
                     "not supported; use linear_features, conv2d_channels or all_to_all=False")
