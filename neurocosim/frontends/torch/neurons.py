r"""Framework neuron modules → IR neurons, each by its exact discrete-time update.

Notation: :math:`x_t` the module's input at step ``t``, :math:`\theta` its threshold,
:math:`s_t` its spike. The IR's update (:func:`neurocosim.hwsim.reference.neuron_step`,
``α = dt/τ``, state starting at 0) is

.. math:: v \leftarrow v + \alpha (v_{leak} - v) + \alpha r I, \qquad
          s = [v \gtrless \theta], \qquad v \leftarrow v_{reset}\ \text{(zero)} \ \text{or}\
          v - s\theta\ \text{(subtract)}

(IF: :math:`v \leftarrow v + rI`). Side by side (SpikingJelly 2.0.0:
``spikingjelly/_ops/{if_,lif,plif}/reference.py`` and ``_ops/reset.py``, called by
``activation_based/neuron/{integrate_and_fire,lif,plif}.py``; snnTorch 1.0.0:
``snntorch/_neurons/leaky.py`` and ``neurons.py``):

==============================  ================================================  =========================================
framework module                framework update (per step)                       IR neuron
==============================  ================================================  =========================================
SJ ``IFNode(θ, v_r)``           ``h = v + x``; ``s = [h − θ ≥ 0]``;               ``IF(r=1, v_threshold=θ − v_r,
                                ``v = s·v_r + (1−s)·h``; ``v₀ = v_r``             reset="zero", compare=">=")``
SJ ``IFNode(θ, v_reset=None)``  ``h = v + x``; ``s = [h ≥ θ]``; ``v = h − sθ``    ``IF(r=1, θ, reset="subtract", ">=")``
SJ ``LIFNode(τ, decay_input)``  ``h = v + (x − (v − v_r))/τ`` (decay_input)       ``LIF(tau=τ·dt, r=1, v_leak=0, …)``
                                ``h = v − (v − v_r)/τ + x`` (not decay_input)     ``LIF(tau=τ·dt, r=τ, v_leak=0, …)``
                                fire/reset as ``IFNode`` (``v_r`` 0 if soft)
SJ ``ParametricLIFNode(w)``     as ``LIFNode`` with ``1/τ = sigmoid(w)``          ``LIF(tau=dt/sigmoid(w), …)``
SJ ``ILIFNode(τ, θ, D)``        ``h = (1 − 1/τ)v + x``;                           ``ILIF(tau=τ·dt, r=τ, v_leak=0,
(``neuron/ilif.py``)            ``c = round(clamp(h/θ, 0, D))``; ``v = h − cθ``   v_threshold=θ, max_level=D)``
SJ ``TernaryLIFNode(τ, θ,       ``h`` as ``LIFNode``;                             ``TernaryLIF(θ⁺=θ − v_r, θ⁻=θ + v_r,
v_r)`` (``neuron/ternary.py``)  ``s = [h − θ ≥ 0] − [−h − θ ≥ 0]``;               compare=">=", reset="zero"`` (hard)
                                hard: ``v = v_r`` where ``s ≠ 0``;                or ``"subtract"`` (soft)``)``
                                soft: ``v = h − θs``
snnTorch ``Leaky(β, θ,          ``m = β(1 − s_{t−1})m + x``; ``s = [m − θ > 0]``  ``LIF(tau=dt/(1−β), r=1/(1−β),
reset_mechanism="zero")``       (``s_{t−1} = [m_{t−1} > θ]``)                     v_leak=0, reset="zero", compare=">")``;
                                                                                  ``IF(r=1, …)`` when β = 1
snnTorch ``Leaky(β=1, θ,        ``m = m + x − θ s_{t−1}``; ``s = [m > θ]``        ``IF(r=1, θ, reset="subtract", ">")``
reset_mechanism="subtract")``
snnTorch ``Lapicque``,          see :mod:`.snntorch_neurons`: a late              the IR neuron plus a one-step ``Delay``
``RLeaky``, ``Synaptic``        subtraction, a recurrent ``V(s_{t−1})``, a zero   of its spikes into ``Scale``, ``Affine``,
                                reset that drops the next step's input, a         ``Conv2d`` or ``IAnd`` (:mod:`.compose`);
                                synaptic current ``syn = α·syn + x``              ``syn``: a ``Scale(1)`` loop
==============================  ================================================  =========================================

snnTorch's default ``Leaky(β < 1, reset_mechanism="subtract")`` subtracts θ one step
late, *after* the next decay: :math:`m_t = βm_{t−1} + x_t − θs_{t−1}` (``_base_sub``:
``reset`` is the previous step's spike, ``reset_delay=True``), where the IR's subtraction
comes at once and is then decayed, :math:`v_t = β(v_{t−1} − θs_{t−1}) + x_t`. The two
differ by :math:`(1 − β)θs_{t−1}`, so the import is the IR LIF with ``reset="subtract"``
plus a feedback of its own spikes through a one-step ``Delay`` and a ``Scale`` of
:math:`−(1 − β)θ` into its input (gain ``α·r = 1``): :math:`v_t = βv_{t−1} − βθs_{t−1}
− (1 − β)θs_{t−1} + x_t`, snnTorch's recursion (the same spikes up to float64
rounding).

A hard reset to :math:`v_r \ne 0` (SpikingJelly starts such a membrane at :math:`v_r`)
is imported in the shifted variable :math:`v' = v - v_r`, which starts at 0, resets to 0
and fires at :math:`\theta - v_r`: the same spikes, up to float64 rounding.
``detach_reset`` and surrogate functions act only on gradients; their forward is
checked to be the framework's step (``[x ≥ 0]``, ``[x > 0]``) on values around 0.
snnTorch's own surrogates return float32 spikes (``.float()``), so a ``model.double()``
with a layer after a neuron fails in snnTorch itself; a ``spike_grad`` that keeps the
dtype, e.g. ``lambda x: (x > 0).to(x.dtype)``, runs it in float64.

Refused, with one line saying why and what to use instead (the IR cannot express them
exactly; DESIGN's bar is the framework's spikes):

* snnTorch ``reset_mechanism="none"``, ``reset_delay=False`` (its extra test of the
  pre-reset membrane), ``inhibition``, ``state_quant`` and ``graded_spikes_factor ≠ 1``;
* SpikingJelly neurons other than IF/LIF/ParametricLIF/ILIF/TernaryLIF/TernaryIF; snnTorch
  ``Alpha`` and the other snnTorch neurons (``RSynaptic``, ``SLSTM``, …).

SpikingJelly's ``TernaryIFNode`` has no leak, which the IR's TernaryLIF cannot give
(``α = dt/τ > 0``); it is imported as a TernaryLIF with ``τ = dt`` (``α = 1``:
``v ← v + (0 − v) + I = I`` exactly, no memory) fed by an accumulator ``A`` that holds
the membrane (:mod:`.compose`): ``A_t = x_t + A_{t−1} − θs_{t−1}`` (soft reset) or
``A_t = x_t + (1 − s_{t−1}²)·A_{t−1}`` (hard, shifted by ``v_r``), a ``Scale(1)`` fed by
``x`` and by itself through a one-step ``Delay``.

A signed spike (TernaryLIF) counts as one spike, :math:`|s|`; an I-LIF's output is its
integer count :math:`c \in \{0, …, D\}` (SpikingJelly's ``_ops/ilif/reference.py``,
round half to even as ``numpy.round``).

Float64 rounding: the IR evaluates ``v + α(v_leak − v) + (α·r)·I`` where SpikingJelly
evaluates ``v + (x − v)/τ`` and snnTorch ``β·m + x``; the two agree bit for bit when τ
is a power of two (SpikingJelly's default τ = 2) and otherwise to within a few ulps, so
a spike can differ only where the membrane lies within rounding of the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import ModelError
from ...ir import nodes as N
from ...ir.ternary import TernaryLIF
from .snntorch_neurons import SNN_KINDS, snntorch_spec

__all__ = ["NeuronSpec", "neuron_spec", "is_neuron"]

_SJ = ("IFNode", "LIFNode", "ParametricLIFNode", "ILIFNode", "TernaryLIFNode",
       "TernaryIFNode")
_SNN = SNN_KINDS


@dataclass(frozen=True)
class NeuronSpec:
    """An IR neuron for a framework module and what :mod:`.compose` wires around it.

    ``outputs``: 1 if the module returns its spikes alone, else the length of its tuple
    (snnTorch ``(spk, mem)``, ``Synaptic``'s ``(spk, syn, mem)``); ``multi_step`` for
    SpikingJelly's ``'m'``. Fed back through a one-step ``Delay`` of the layer's spikes:
    ``late_subtract`` (snnTorch's late subtraction: the spikes times this, into the
    input), ``recurrent`` (an IR node on the spikes, into the input: RLeaky's ``V``) and
    ``gate`` (the input times ``1 − s_{t−1}``). ``synapse``: α of a synaptic current
    ``syn_t = α·syn_{t−1} + x_t`` between the input and the neuron (snnTorch Synaptic)."""

    node: N.Neuron
    outputs: int = 1
    multi_step: bool = False
    late_subtract: float | None = None
    recurrent: N.Node | None = None
    gate: bool = False
    synapse: float | None = None
    #: ``(reset, θ)``: a TernaryIF as a memoryless TernaryLIF on an accumulator
    accumulate: tuple[str, float] | None = None

    @property
    def plain(self) -> bool:
        """Whether the neuron alone is the module's update (nothing wired around it)."""
        return (self.late_subtract is None and self.recurrent is None and not self.gate
                and self.synapse is None and self.accumulate is None)


def _family(module) -> str | None:
    mod = type(module).__module__
    if mod.startswith("spikingjelly."):
        return "spikingjelly"
    if mod.startswith("snntorch."):
        return "snntorch"
    return None


def is_neuron(module) -> bool:
    """Whether ``module`` is a spiking-neuron module of a supported framework (traced as a
    leaf: its forward has control flow on traced values)."""
    fam = _family(module)
    if fam == "spikingjelly":
        from spikingjelly.activation_based import base

        return isinstance(module, base.MemoryModule) and hasattr(module, "v_threshold")
    if fam == "snntorch":
        from snntorch._neurons.neurons import SpikingNeuron

        return isinstance(module, SpikingNeuron)
    return False


def neuron_spec(module, dt: float, where: str) -> NeuronSpec:
    """The IR neuron for framework neuron ``module`` (``where``: its name and source line
    for messages)."""
    kind = type(module).__name__
    fam = _family(module)
    if fam == "spikingjelly" and kind in _SJ:
        return _spikingjelly(module, kind, dt, where)
    if fam == "snntorch" and kind in _SNN:
        return snntorch_spec(module, kind, dt, where, NeuronSpec, _scalar, _check_step)
    supported = ", ".join([f"spikingjelly {k}" for k in _SJ] + [f"snntorch {k}" for k in _SNN])
    raise ModelError(f"{where}: neuron module {kind} ({fam}) is not supported; supported "
                     f"neurons: {supported}")


def _scalar(value, what: str, where: str) -> float:
    arr = np.asarray(value.detach().double().cpu().numpy() if hasattr(value, "detach")
                     else value, dtype=np.float64)
    if arr.size != 1 or not math.isfinite(float(arr.reshape(-1)[0])):
        raise ModelError(f"{where}: {what} must be one finite number, got shape {arr.shape}")
    return float(arr.reshape(-1)[0])


def _check_step(fn, compare: str, where: str, field: str) -> None:
    """Refuse a spike function whose forward is not the framework's step ``[x ≥ 0]``
    (SpikingJelly) or ``[x > 0]`` (snnTorch), checked on values around 0."""
    import torch

    probe = torch.tensor([-1.0, -1e-300, 0.0, 1e-300, 1.0], dtype=torch.float64)
    want = [0.0, 0.0, 1.0 if compare == ">=" else 0.0, 1.0, 1.0]
    try:
        with torch.no_grad():
            got = [float(v) for v in fn(probe)]
    except Exception:  # noqa: BLE001 - a user's function
        got = None
    if got != want:
        raise ModelError(f"{where}: its {field} does not fire as the step function "
                         f"[x {compare} 0] (on -1, -1e-300, 0, 1e-300, 1 it gives {got}); "
                         "use the framework's surrogate functions")


def _spikingjelly(m, kind: str, dt: float, where: str) -> NeuronSpec:
    if kind == "ILIFNode":
        return _ilif(m, dt, where)
    _check_step(m.surrogate_function, ">=", where, "surrogate_function")
    theta = _scalar(m.v_threshold, "v_threshold", where)
    soft = m.v_reset is None
    vr = 0.0 if soft else _scalar(m.v_reset, "v_reset", where)
    modes = {"reset": "subtract" if soft else "zero", "compare": ">="}
    multi = getattr(m, "step_mode", "s") == "m"
    if kind == "IFNode":
        node = N.IF(r=1.0, v_threshold=theta - vr, v_reset=0.0, **modes)
        return NeuronSpec(node, multi_step=multi)
    if kind == "TernaryIFNode":  # a memoryless TernaryLIF (α = 1) on an accumulator
        node = TernaryLIF(tau=dt, r=1.0, v_leak=0.0, v_threshold=theta - vr,
                          v_threshold_neg=theta + vr, v_reset=0.0, **modes)
        return NeuronSpec(node, multi_step=multi, accumulate=(modes["reset"], theta))
    if kind in ("LIFNode", "TernaryLIFNode"):
        inv_tau = 1.0 / _scalar(m.tau, "tau", where)
    else:  # ParametricLIFNode: 1/τ = sigmoid(w), learned
        inv_tau = 1.0 / (1.0 + math.exp(-_scalar(m.w, "w", where)))
    if not 0.0 < inv_tau <= 1.0:
        raise ModelError(f"{where}: {kind} has 1/tau = {inv_tau:g}, outside (0, 1]")
    r = 1.0 if m.decay_input else 1.0 / inv_tau
    if kind == "TernaryLIFNode":  # −1 at H ≤ −θ: in v' = H − v_r at v' ≤ −(θ + v_r)
        node = TernaryLIF(tau=dt / inv_tau, r=r, v_leak=0.0, v_threshold=theta - vr,
                          v_threshold_neg=theta + vr, v_reset=0.0, **modes)
        return NeuronSpec(node, multi_step=multi)
    node = N.LIF(tau=dt / inv_tau, r=r, v_leak=0.0, v_threshold=theta - vr, v_reset=0.0,
                 **modes)
    return NeuronSpec(node, multi_step=multi)


def _ilif(m, dt: float, where: str) -> NeuronSpec:
    """SpikingJelly's I-LIF: its ``MultiLevelSpikeCount(D)`` checked to give
    ``round(clamp(x, 0, D))`` (half to even) on values around the levels."""
    import torch

    fn = m.surrogate_function
    level = getattr(fn, "max_spike_count", None)
    probe = [-1.0, 0.0, 0.5, 0.5000001, 1.5, 2.5, 3.49, 1e9]
    try:
        with torch.no_grad():
            got = [float(v) for v in fn(torch.tensor(probe, dtype=torch.float64))]
    except Exception:  # noqa: BLE001 - a user's function
        got = None
    if not isinstance(level, int) or not fn.spiking or got != [
            float(v) for v in np.round(np.clip(probe, 0, level))]:
        raise ModelError(f"{where}: ILIFNode's surrogate_function does not emit "
                         "round(clamp(x, 0, D)); use MultiLevelSpikeCount(D, spiking=True)")
    inv_tau = 1.0 / _scalar(m.tau, "tau", where)
    if not 0.0 < inv_tau <= 1.0:
        raise ModelError(f"{where}: ILIFNode has 1/tau = {inv_tau:g}, outside (0, 1]")
    node = N.ILIF(tau=dt / inv_tau, r=1.0 / inv_tau, v_leak=0.0,
                  v_threshold=_scalar(m.v_threshold, "v_threshold", where), max_level=level)
    return NeuronSpec(node, multi_step=getattr(m, "step_mode", "s") == "m")
