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
from ..ir.graph import Network

__all__ = ["PAPER_PRESETS", "conv_macs", "dense_macs", "count_macs", "layer_energy",
           "paper_convention"]

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
    e_snn = p["e_mac"] * (first_macs + ml_macs) + p["e_ac"] * sops
    total_macs = float(sum(macs.values()))
    return {"preset": preset, "source": p["source"], "e_mac_J": p["e_mac"], "e_ac_J": p["e_ac"],
            "multilevel": multilevel, "first_layer_mac": bool(first_layer_mac),
            "sops": sops, "first_layer_macs": first_macs, "multilevel_macs": ml_macs,
            "macs": total_macs, "E_snn_J": e_snn, "E_ann_J": p["e_mac"] * total_macs,
            "ratio_ann_over_snn": (p["e_mac"] * total_macs / e_snn) if e_snn > 0 else None}
