"""Quantise a float network to Loihi 2 fixed point (DESIGN §3.3).

Supported: a chain ``Input → (Affine|Linear|Conv2d → IF|LIF|CubaLIF) × L → Output`` (with
``SumPool2d``/``AvgPool2d``/``Flatten`` between layers) with one time constant per layer
and zero leak/reset potentials. Per layer, the float membrane is scaled by
``s = m · 2^(weight_exp + 6)`` integer units:

* effective weights ``W_eff = gain · W`` (IF: r; LIF: α·r; CubaLIF: α·r·α_syn·w_in);
  on the grid of ``num_weight_bits`` (the low ``k = 8 − bits + mixed`` bits zero, so that
  Lava's clipping and truncation leave the weights unchanged) the largest magnitude maps
  to the top grid value ``(255 >> k) << k``: ``W_q = round(W_eff·m / 2^k)·2^k``;
* ``weight_exp`` (in −8…0) is the largest that keeps the worst-case input of one step
  (all inputs spiking) inside the 24-bit ``u`` and the threshold inside 17 bits, capped at
  0: lava-dl's netx reader takes the file's weights as integers at exponent 0, so a
  positive exponent could not be written (:mod:`neurocosim.targets.loihi2.netx`);
* ``vth = round(θ·s / 64)``; ``dv = round(α·4096)`` (IF: 0); ``du = 4095`` (no synaptic
  state; CubaLIF: ``α_syn·4096 − 1``, as Loihi decays by ``du + 1``);
* biases in membrane units per step, ``gain·b·s = bias_mant << bias_exp`` (13-bit signed
  mantissa): exponent 6, netx's fixed bias exponent, when ``weight_exp`` is 0 (then a bias
  unit equals a weight unit); otherwise the smallest exponent that fits.

**Convolutions** (``Conv2d → IF|LIF|CubaLIF``, :mod:`neurocosim.targets.loihi2.conv`) follow
the same rules with one row per output channel (the shared kernel) and one input gain per
channel; their ``weight_exp`` is always 0 (Lava's fixed-point ``Conv`` ignores the
exponent), so when the limits call for a smaller exponent the weights use fewer grid
levels instead. Pooling layers are folded into the next synaptic layer's float weights
before quantisation (:mod:`neurocosim.targets.loihi2.chain`; the report lists them).

Loihi 2's LIF resets to 0 and spikes on ``>``: a ``subtract`` reset or a ``>=`` test is
deployed as zero reset / ``>`` with a warning in the report. The report gives each
layer's quantisation error and the saturations that remain reachable.

**Graded input** (``num_message_bits`` B > 0, for current-encoded models): the first layer
takes unsigned payloads ``p = round(x / x_max · (2^B − 1))`` instead of 0/1 spikes
(:mod:`neurocosim.targets.loihi2.graded`). Its input unit becomes ``g = (2^B − 1) / x_max``
payload units per float input, so its scale is ``s = m · 2^(weight_exp + 6) · g``
(``W_q · p · 2^(weight_exp + 6) ≈ s · W_eff · x``), its worst-case step input is
``max Σ|W_eff| · x_max + |b|``, and ``Σ|W_q| · (2^B − 1)`` must fit Lava's int32
accumulation (else a ModelError asks for fewer message bits).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from ...errors import LoihiWarning, ModelError
from ...ir import nodes as N
from ...ir.graph import Network
from .chain import Stage, stages
from .graded import payload_error, payload_levels
from .network import LoihiLayer, LoihiNetwork, sign_mode

__all__ = ["quantize_loihi2", "VTH_MAX", "U_MAX", "WEXP_RANGE"]

VTH_MAX = (1 << 17) - 1
U_MAX = (1 << 23) - 1
WEXP_RANGE = (-8, 7)
NETX_WEIGHT_EXP = 0  # lava-dl netx: integer weights at exponent 0 (see netx.py)
NETX_BIAS_EXP = 6  # lava-dl netx: bias mantissas at exponent 6
CONV_WEIGHT_EXP = 0  # Lava's fixed-point Conv ignores weight_exp (conv.py)


def quantize_loihi2(net: Network, *, num_weight_bits: int = 8, num_message_bits: int = 0,
                    input_max: float = 1.0) -> LoihiNetwork:
    """Quantise ``net`` (see the module docstring); warnings are also in ``report``.
    ``num_message_bits`` > 0: graded input spikes of that many bits for inputs in
    ``[0, input_max]`` (current-encoded models); 0: binary input spikes."""
    if not 1 <= num_weight_bits <= 8:
        raise ModelError(f"num_weight_bits must lie in 1..8, got {num_weight_bits}")
    report: dict = {"layers": [], "warnings": []}
    unit, amp = 1.0, 1.0  # payload units per float input unit; the largest input
    if num_message_bits:  # (binary deployments keep the report they always had)
        report["input"] = _input_entry(num_message_bits, input_max)
        unit, amp = payload_levels(num_message_bits) / input_max, float(input_max)
    layers = []
    for stage in stages(net):
        layer, entry = _quantize_layer(net, stage, num_weight_bits, report,
                                       (unit, amp, num_message_bits))
        layers.append(layer)
        report["layers"].append(entry)
        unit, amp, num_message_bits = 1.0, 1.0, 0  # later layers take binary spikes
    graded = report.get("input", {"num_message_bits": 0, "input_max": 1.0})
    return LoihiNetwork(name=net.name, layers=tuple(layers), report=report,
                        num_message_bits=int(graded["num_message_bits"]),
                        input_max=float(graded["input_max"]))


def _input_entry(num_message_bits: int, input_max: float) -> dict:
    """The report's description of graded input spikes (``num_message_bits`` > 0)."""
    levels = payload_levels(num_message_bits)
    if not (isinstance(input_max, (int, float)) and math.isfinite(input_max) and input_max > 0):
        raise ModelError(f"input_max must be a positive finite number, got {input_max!r}")
    return {"spikes": "graded", "num_message_bits": int(num_message_bits),
            "input_max": float(input_max), "payload_max": levels,
            "payload": "floor(x / input_max * payload_max + 1/2)",
            "input_max_abs_error": payload_error(num_message_bits, input_max)}


def _warn(report: dict, msg: str) -> None:
    """Record ``msg`` in the report and warn at the caller of :func:`quantize_loihi2`
    (this function ← ``_quantize_layer`` ← ``quantize_loihi2`` ← caller)."""
    report["warnings"].append(msg)
    warnings.warn(msg, LoihiWarning, stacklevel=4)


def _quantize_layer(net: Network, stage: Stage, num_weight_bits: int,
                    report: dict, graded: tuple) -> tuple[LoihiLayer, dict]:
    """One synapse → neuron stage: the integer layer and its report entry. Warnings are
    issued here only (see :func:`_warn`), in the order the checks run. ``graded`` is
    (payload units per float input, largest float input, message bits or 0)."""
    unit, amp, bits = graded
    syn_name, neu_name, conv = stage.syn, stage.neuron, stage.conv
    neu = _neuron(net, neu_name)
    if conv is not None:  # one gain per output channel (the kernel is shared)
        neu = replace(neu, gain=_per_channel(neu.gain, conv.out_shape[0], neu_name))
    for msg in _deploy_notes(net.nodes[neu_name], neu_name):
        _warn(report, msg)
    w_eff, b_eff, wmax, worst = _effective(stage, neu, amp)
    g = _weight_grid(w_eff, wmax, worst, neu.theta, num_weight_bits, neu_name, unit,
                     fixed_exp=None if conv is None else CONV_WEIGHT_EXP)
    if bits:
        _check_accumulator(g.weight, bits, neu_name, conv is not None)
    vth = _threshold(neu.theta, g.scale, wmax, neu_name)
    if vth > VTH_MAX:
        vth = VTH_MAX
        _warn(report, f"layer '{neu_name}': threshold saturated at the 17-bit maximum")
    bias_mant, bias_exp, clipped = _bias(b_eff, g.scale,
                                         NETX_BIAS_EXP if g.weight_exp == NETX_WEIGHT_EXP else 0)
    if clipped:
        _warn(report, f"layer '{neu_name}': biases exceed 13-bit mantissa << 7 and are clipped")
    if U_MAX / worst < g.scale:
        _warn(report, f"layer '{neu_name}': the worst-case input of one step can wrap the "
                      "24-bit u")
    weight = g.weight
    if conv is not None:  # back to (C_out, C_in/g, k_h, k_w); biases per neuron
        weight = weight.reshape(stage.weight.shape)
        bias_mant = np.repeat(bias_mant, conv.out_shape[1] * conv.out_shape[2])
    layer = LoihiLayer(name=neu_name, weight=weight, weight_exp=g.weight_exp,
                       num_weight_bits=num_weight_bits, sign_mode=g.mode, du=neu.du, dv=neu.dv,
                       vth=vth, bias_mant=bias_mant, bias_exp=bias_exp, scale=g.scale,
                       conv=conv)
    entry = {
        "synapse": syn_name, "neuron": neu_name, "weight_exp": g.weight_exp,
        **_stage_entry(stage, g),
        "sign_mode": g.mode, "num_weight_bits": num_weight_bits, "du": neu.du, "dv": neu.dv,
        "vth": vth, "bias_exp": bias_exp, "scale": g.scale,
        **_errors(layer, g, neu.theta, w_eff, wmax,
                  b_eff if conv is None else np.repeat(b_eff, layer.n_out // len(b_eff))),
        "leak_deployed": neu.dv / 4096,
        "leak_float": neu.leak_float,
    }
    return layer, entry


def _uniform(name: str, what: str, arr: np.ndarray) -> float:
    arr = np.asarray(arr, float).ravel()
    if not np.allclose(arr, arr[0], rtol=1e-9, atol=0):
        raise ModelError(f"Loihi 2 deployment: layer '{name}' has per-neuron {what}; Lava's LIF "
                         "takes one value per process")
    return float(arr[0])


@dataclass(frozen=True)
class _Neuron:
    """A layer's neuron constants: threshold, input gain per neuron, 12-bit decays."""

    theta: float
    gain: np.ndarray
    du: int
    dv: int
    leak_float: float


def _neuron(net: Network, neu_name: str) -> _Neuron:
    """Threshold, gain and decays of one IF/LIF/CubaLIF layer, or a ModelError."""
    neu = net.nodes[neu_name]
    d = net.discretised(neu_name)
    if np.any(getattr(neu, "v_leak", np.zeros(1)) != 0) or np.any(neu.v_reset != 0):
        raise ModelError(f"Loihi 2 deployment: layer '{neu_name}' needs v_leak = v_reset = 0")
    theta = _uniform(neu_name, "thresholds", neu.v_threshold)
    if theta <= 0:
        raise ModelError(f"Loihi 2 deployment: layer '{neu_name}' needs a positive threshold")
    if isinstance(neu, N.IF):
        gain = d.gain.ravel()
        dv = 0
        du = 4095
    else:
        alpha = _uniform(neu_name, "time constants", d.alpha)
        dv = int(round(alpha * 4096))
        gain = d.gain.ravel()
        du = 4095
        if isinstance(neu, N.CubaLIF):
            a_syn = _uniform(neu_name, "synaptic time constants", d.alpha_syn)
            du = int(round(a_syn * 4096)) - 1
            gain = gain * a_syn * neu.w_in.ravel()
    if not 0 <= dv <= 4095 or not 0 <= du <= 4095:
        raise ModelError(f"Loihi 2 deployment: layer '{neu_name}' decays du={du}, dv={dv} "
                         "outside 0..4095")
    leak_float = 0.0 if isinstance(neu, N.IF) else float(np.mean(d.alpha))
    return _Neuron(theta=theta, gain=gain, du=du, dv=dv, leak_float=leak_float)


def _deploy_notes(neu: N.Neuron, neu_name: str) -> list[str]:
    """The float neuron's behaviours Loihi 2's LIF replaces (each becomes a warning)."""
    notes = []
    if getattr(neu, "reset", "zero") == "subtract":
        notes.append(f"layer '{neu_name}': subtract reset is not available on Loihi 2's LIF; "
                     "deployed with reset to 0")
    if getattr(neu, "compare", ">") == ">=":
        notes.append(f"layer '{neu_name}': '>=' threshold deployed as Loihi's '>'")
    return notes


def _per_channel(gain: np.ndarray, channels: int, neu_name: str) -> np.ndarray:
    """A conv layer's input gain, one per output channel, or a ModelError."""
    g = gain.reshape(channels, -1)
    if not np.allclose(g, g[:, :1], rtol=1e-9, atol=0):
        raise ModelError(f"Loihi 2 deployment: conv layer '{neu_name}' has input gains "
                         "(r, time constants) that vary inside a channel; its shared kernel "
                         "needs one per channel")
    return g[:, 0]


def _stage_entry(stage: Stage, g: _Grid) -> dict:
    """The report's description of a conv layer and of the pools folded into a layer."""
    out: dict = {}
    if stage.pools:
        out["pooling_folded"] = list(stage.pools)
    if stage.conv is not None:
        c = stage.conv
        out["conv"] = {"in_shape": list(c.in_shape), "out_shape": list(c.out_shape),
                       "kernel": list(stage.weight.shape[2:]), "stride": list(c.stride),
                       "padding": list(c.padding), "dilation": list(c.dilation),
                       "groups": c.groups,
                       "weight_levels_used": int(np.abs(g.weight).max(initial=0))}
    return out


def _effective(stage: Stage, neu: _Neuron,
               amp: float = 1.0) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Weights (as rows, :attr:`Stage.rows`) and biases times the neuron's input gain,
    their largest weight magnitude and the worst-case input of one step (all inputs at
    their largest, ``amp``), or a ModelError."""
    syn_name = stage.syn
    w, b = stage.rows, stage.bias
    with np.errstate(over="ignore", invalid="ignore"):
        w_eff = w * neu.gain[:, None]
        b_eff = b * neu.gain
    if not (np.isfinite(w_eff).all() and np.isfinite(b_eff).all() and np.isfinite(neu.theta)):
        raise ModelError(f"Loihi 2 deployment: layer '{syn_name}' has NaN or infinite "
                         "weights, biases or threshold (after the neuron's input gain)")
    wmax = float(np.abs(w_eff).max(initial=0.0))
    if wmax == 0:
        raise ModelError(f"Loihi 2 deployment: layer '{syn_name}' has all-zero weights")
    worst = float(np.max(np.abs(w_eff).sum(axis=1) * amp + np.abs(b_eff)))
    return w_eff, b_eff, wmax, worst


@dataclass(frozen=True)
class _Grid:
    """Integer weights on Lava's truncation grid, their exponent and sign mode, ``m``
    (integer weight units per float weight unit) and ``scale`` (membrane units)."""

    weight: np.ndarray
    weight_exp: int
    mode: str
    m: float
    scale: float


def _weight_grid(w_eff: np.ndarray, wmax: float, worst: float, theta: float,
                 num_weight_bits: int, layer: str = "", unit: float = 1.0, *,
                 fixed_exp: int | None = None) -> _Grid:
    """The largest ``weight_exp`` that keeps the worst-case input inside the 24-bit ``u``
    and the threshold inside 17 bits, and the weights rounded to the grid. ``unit``:
    input units per float input (1 for binary spikes, ``P / x_max`` for graded ones).
    ``fixed_exp`` (conv layers: 0): that exponent; when the limits need a smaller one, the
    weights use fewer than their top grid value instead (``m`` shrinks)."""
    mode = sign_mode(w_eff)
    for _ in range(3):  # the sign mode Lava will see is that of the integer weights
        k = 8 - num_weight_bits + (1 if mode == "mixed" else 0)
        top = (255 >> k) << k  # the largest weight on the truncation grid
        if top == 0:  # mixed signs take one bit: a 1-bit weight has no magnitude left
            raise ModelError(f"Loihi 2 deployment: layer '{layer}' has weights of both signs; "
                             "with 1-bit weights Loihi 2 keeps only the sign: use "
                             "--num-weight-bits 2 or more")
        m = top / wmax
        s_max = min(U_MAX / worst, VTH_MAX * 64 / theta)
        e = math.floor(math.log2(s_max / (64 * m * unit)))
        e = int(min(max(e, WEXP_RANGE[0]), WEXP_RANGE[1], NETX_WEIGHT_EXP))
        if fixed_exp is not None:
            m = min(m, s_max / (64 * 2.0**fixed_exp * unit))
            e = fixed_exp
            if wmax * m < 2 ** (k - 1):
                raise ModelError(
                    f"Loihi 2 deployment: conv layer '{layer}': its weights round to 0 at "
                    f"weight_exp {fixed_exp} (Lava's Conv applies no exponent) next to its "
                    "threshold and worst-case input; rescale the layer's weights and "
                    "threshold together")
        scale = m * 2.0 ** (e + 6) * unit
        wq = (np.round(w_eff * m / 2**k) * 2**k).astype(np.int64)
        if sign_mode(wq) == mode:
            break
        mode = sign_mode(wq)
    return _Grid(weight=wq, weight_exp=e, mode=mode, m=m, scale=scale)


def _check_accumulator(wq: np.ndarray, bits: int, neu_name: str, conv: bool = False) -> None:
    """Lava accumulates graded input ``W_q · p`` in int32 (``Dense``) or sends it clamped
    to 24 bits (``Conv``): refuse a row that can overflow."""
    worst = int(np.abs(wq).sum(axis=1).max(initial=0)) * payload_levels(bits)
    width, what = (24, "24-bit Conv output") if conv else (32, "int32 dendritic accumulator")
    if worst > (1 << (width - 1)) - 1:
        raise ModelError(
            f"Loihi 2 deployment: layer '{neu_name}': graded input of {bits} bits can reach "
            f"{worst} in the {what} (limit 2^{width - 1} - 1): use fewer "
            "num_message_bits")


def _threshold(theta: float, scale: float, wmax: float, neu_name: str) -> int:
    """``vth = round(θ·s / 64)`` before saturation, or a ModelError when it rounds to 0."""
    vth = int(round(theta * scale / 64))
    if vth < 1:
        raise ModelError(
            f"Loihi 2 deployment: layer '{neu_name}': the threshold {theta:.3g} rounds to 0 "
            f"next to weights up to {wmax:.3g} (ratio {wmax / theta:.3g}); Loihi 2's 8-bit "
            "weights and 17-bit threshold cannot hold both: rescale the layer's weights "
            "and threshold together")
    return vth


def _bias(b_eff: np.ndarray, scale: float, min_exp: int = 0) -> tuple[np.ndarray, int, bool]:
    """``bias_mant << bias_exp`` for the biases in membrane units per step (the smallest
    exponent ≥ ``min_exp`` that fits 13 bits) and whether any mantissa had to be clipped."""
    b_int = b_eff * scale
    bias_exp = min_exp
    while np.abs(b_int).max(initial=0) / 2**bias_exp > 4095 and bias_exp < 7:
        bias_exp += 1
    bias_mant = np.round(b_int / 2**bias_exp)
    clipped = bool(np.abs(bias_mant).max(initial=0) > 4095)
    if clipped:
        bias_mant = np.clip(bias_mant, -4096, 4095)
    return bias_mant.astype(np.int64), bias_exp, clipped


def _errors(layer: LoihiLayer, g: _Grid, theta: float, w_eff: np.ndarray, wmax: float,
            b_eff: np.ndarray) -> dict:
    """The report's quantisation errors of weights, threshold and biases."""
    w_back = g.weight / g.m
    err_w = float(np.sqrt(np.mean(((w_back - w_eff) / wmax) ** 2))
                  / np.sqrt(np.mean((w_eff / wmax) ** 2)))
    err_th = abs(layer.vth * 64 / g.scale - theta) / theta
    b_back = (layer.bias_mant << layer.bias_exp) / g.scale
    err_b = float(np.abs(b_back - b_eff).max(initial=0.0))
    return {"weight_rel_rms_error": err_w, "threshold_rel_error": err_th,
            "bias_max_abs_error": err_b}
