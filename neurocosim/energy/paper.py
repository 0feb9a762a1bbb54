"""The SNN papers' energy convention, beside the event-based estimate (DESIGN §3.7).

``E_snn = E_MAC · MACs(first layer, analog input) + E_AC · SOPs``, with SOPs = Σ input
spikes × fan-out, and the ANN baseline ``E_ann = E_MAC · Σ MACs``. Constants from
Horowitz (ISSCC 2014, 45 nm): a 32-bit float MAC 4.6 pJ (3.7 pJ multiply + 0.9 pJ add)
and an accumulate 0.9 pJ; the 8-bit integer preset uses 0.2 pJ + 0.03 pJ and 0.03 pJ.

Multi-level (integer) spikes: papers disagree whether a spike of level s costs s ACs
(``multilevel="ac"``, SpikeYOLO's spreadsheet: E = E_AC · fr · MACs with fr the mean
integer rate) or one MAC (``multilevel="mac"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network

__all__ = ["PAPER_PRESETS", "ATTENTION_CONVENTION", "attention_sops", "conv_macs", "dense_macs",
           "count_macs", "layer_energy", "paper_convention"]

PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "horowitz45": {"e_mac": 4.6e-12, "e_ac": 0.9e-12,
                   "source": "Horowitz, ISSCC 2014, 45 nm: 32-bit float MAC 4.6 pJ, add 0.9 pJ"},
    "horowitz45-int8": {"e_mac": 0.23e-12, "e_ac": 0.03e-12,
                        "source": "Horowitz, ISSCC 2014, 45 nm: 8-bit int mult 0.2 pJ + add "
                                  "0.03 pJ; add 0.03 pJ"},
}


def conv_macs(c_in: int, c_out: int, k: int | tuple[int, int], h_out: int, w_out: int,
              groups: int = 1) -> int:
    """MACs of one pass of a convolution: k_h·k_w·H_out·W_out·C_in·C_out / groups."""
    kh, kw = (k, k) if isinstance(k, (int, np.integer)) else k
    return int(kh) * int(kw) * int(h_out) * int(w_out) * int(c_in) * int(c_out) // int(groups)


def dense_macs(n_in: int, n_out: int) -> int:
    return int(n_in) * int(n_out)


def count_macs(net: Network) -> dict[str, int]:
    """Static MAC count of every synaptic node for one pass (one time step)."""
    out = {}
    for name in net.order:
        node = net.nodes[name]
        if isinstance(node, (N.Affine, N.Linear)):
            out[name] = dense_macs(*node.weight.shape[::-1])
        elif isinstance(node, N.Conv2d):
            c_out, h, w = net.out_shapes[name]
            c_in = net.in_shapes[name][0]
            out[name] = conv_macs(c_in, c_out, tuple(node.weight.shape[2:]), h, w, node.groups)
    return out


def _preset(preset: str) -> dict[str, Any]:
    if preset not in PAPER_PRESETS:
        raise ConfigError(f"unknown paper preset {preset!r}; presets: {', '.join(PAPER_PRESETS)}")
    return PAPER_PRESETS[preset]


def layer_energy(macs: float, rate: float, *, preset: str = "horowitz45",
                 multilevel: str = "ac") -> tuple[float, float]:
    """``(E_snn, E_ann)`` of one layer from its MACs and mean input rate (spikes per input
    per pass; integer levels for multi-level spikes), as SNN papers tabulate it."""
    p = _preset(preset)
    if multilevel == "ac":
        e_snn = p["e_ac"] * rate * macs
    elif multilevel == "mac":
        e_snn = p["e_mac"] * min(rate, 1.0) * macs
    else:
        raise ConfigError(f"multilevel must be 'ac' or 'mac', got {multilevel!r}")
    return e_snn, p["e_mac"] * macs


def _first_ops(net: Network) -> set[str]:
    first: set[str] = set()
    stack = [net.input_name]
    while stack:
        n = stack.pop()
        for a, b in net.edges:
            if a != n:
                continue
            if isinstance(net.nodes[b], (N.Affine, N.Linear, N.Conv2d)):
                first.add(b)
            elif not isinstance(net.nodes[b], N.Neuron):
                stack.append(b)
    return first


#: how the papers count a product of two activations (stated with the figure)
ATTENTION_CONVENTION = (
    "spike-spike products (attention) as SOPs = R × dense operations × T at E_AC, R the "
    "firing rate of the product's spike operand (the first operand that is a spiking "
    "layer's output, through reshapes/transposes; 1 if none is): Spikformer (ICLR 2023, "
    "energy appendix) counts SSA's Q·Kᵀ·V as R·T·2N²D SOPs, the Spike-driven Transformer "
    "(NeurIPS 2023, Table 1) counts SDSA's masks and token sums as R·T·N·D, QKFormer "
    "(NeurIPS 2024) Q-K attention likewise as R·T·N·D; the chip estimate instead counts "
    "each AND, add (by bit width) and MAC of the digital units and their buffer bits")


def _spike_rate(net: Network, counts, name: str) -> float | None:
    """Firing rate (spikes per neuron per step, mean over samples) of the spiking layer
    whose output ``name`` is, through single-input rearrangements; None if it is none."""
    seen = 0
    while name not in counts.layer_names:
        node = net.nodes[name]
        preds = net.predecessors(name)
        if not isinstance(node, (T.Reshape, T.Transpose, N.Flatten)) or len(preds) != 1 \
                or seen > 64:
            return None
        name, seen = preds[0][0], seen + 1
    j = counts.layer_names.index(name)
    k = list(counts.layer_counters).index("spikes")
    size = float(np.prod(net.out_shapes[name]))
    steps = float(np.sum(counts.steps))
    return float(counts.layer[:, j, k].sum()) / (size * steps) if size * steps > 0 else 0.0


def _dense_ops(net: Network, name: str) -> float:
    """Operations per step of a spike-spike product as the papers' FLOPs count them:
    Mul one per output element, ReduceSum ``n − 1`` adds per output, MatMul its MACs."""
    node = net.nodes[name]
    n_out = float(np.prod(net.out_shapes[name]))
    if isinstance(node, T.MatMul):
        srcs = list(node.operands)
        return float(np.prod(node.dims(*(net.out_shapes[s] for s in srcs))))
    if isinstance(node, T.ReduceSum):
        shape = net.in_shapes[name]
        return n_out * (shape[node.norm_axis(len(shape))] - 1)
    return n_out


def attention_sops(net: Network, counts) -> dict[str, Any]:
    """The papers' SOPs of the spike-spike products (Mul, ReduceSum, MatMul) of a run or
    an analytical count, per inference (:data:`ATTENTION_CONVENTION`)."""
    steps = float(np.mean(counts.steps)) if counts.n_samples else 0.0
    by_node: dict[str, float] = {}
    for name in net.order:
        node = net.nodes[name]
        if not isinstance(node, (T.Mul, T.ReduceSum, T.MatMul)):
            continue
        srcs = list(node.operands) if getattr(node, "operands", None) else \
            [s for s, _ in net.predecessors(name)]
        rates = [r for r in (_spike_rate(net, counts, s) for s in srcs) if r is not None]
        by_node[name] = (rates[0] if rates else 1.0) * _dense_ops(net, name) * steps
    return {"sops": float(sum(by_node.values())), "by_node": by_node}


def paper_convention(net: Network, counts, *, preset: str = "horowitz45",
                     multilevel: str = "ac", first_layer_mac: bool = True) -> dict[str, Any]:
    """The convention for a simulated run (per inference, mean over samples).

    SOPs come from the run's counters: every driven row of a read reaches the read's
    outputs (``rows × outputs``; for ``multilevel="mac"`` a multi-level input counts once,
    as a MAC). With ``first_layer_mac`` the ops fed by the Input are charged
    ``E_MAC × MACs`` per step run (analog input), not by their spikes.
    """
    p = _preset(preset)
    if multilevel not in ("ac", "mac"):
        raise ConfigError(f"multilevel must be 'ac' or 'mac', got {multilevel!r}")
    n = max(counts.n_samples, 1)
    macs = count_macs(net)
    first = _first_ops(net) if first_layer_mac else set()
    bc = {k: i for i, k in enumerate(counts.block_counters)}
    sops = 0.0
    ml_macs = 0.0
    for b, op in enumerate(counts.block_op):
        if op in first:
            continue
        rows = counts.block[:, b, bc["rows_driven"]].sum()
        inputs = counts.block[:, b, bc["active_inputs"]].sum()
        outs = float(counts.block_outs[b])
        if multilevel == "mac" and rows != inputs:
            ml_macs += inputs * outs
        else:
            sops += rows * outs
    steps = float(np.mean(counts.steps)) if counts.n_samples else 0.0
    first_macs = sum(macs[o] for o in first) * steps
    sops /= n
    ml_macs /= n
    att = attention_sops(net, counts)
    e_snn = p["e_mac"] * (first_macs + ml_macs) + p["e_ac"] * (sops + att["sops"])
    total_macs = float(sum(macs.values()))
    return {"preset": preset, "source": p["source"], "e_mac_J": p["e_mac"], "e_ac_J": p["e_ac"],
            "multilevel": multilevel, "first_layer_mac": bool(first_layer_mac),
            "sops": sops, "first_layer_macs": first_macs, "multilevel_macs": ml_macs,
            "attention_sops": att["sops"], "attention_by_node": att["by_node"],
            "attention_convention": ATTENTION_CONVENTION,
            "macs": total_macs, "E_snn_J": e_snn, "E_ann_J": p["e_mac"] * total_macs,
            "ratio_ann_over_snn": (p["e_mac"] * total_macs / e_snn) if e_snn > 0 else None}
