"""A network described as text: layers, shapes, neuron and synapse counts, parameter
ranges and recurrent edges (what ``neurocosim info`` prints)."""

from __future__ import annotations

import numpy as np

from . import nodes as N

__all__ = ["describe_network"]


def _fmt_range(a: np.ndarray) -> str:
    lo, hi = float(np.min(a)), float(np.max(a))
    return f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}]"


def describe_network(net) -> str:
    lines = [f"network '{net.name}'  dt = {net.dt:g} s  synaptic_delay = {net.synaptic_delay}",
             f"input {net.input_shape}  ->  output {net.output_shape}",
             f"{'node':<16}{'type':<11}{'in':<16}{'out':<16}parameters"]
    for name in net.order:
        node = net.nodes[name]
        params = [f"{k}={_fmt_range(a)}" if a.size else f"{k}=[]" for k, a in node.arrays().items()]
        if isinstance(node, N.Neuron) and node.spiking and hasattr(node, "reset"):
            params.append(f"reset={node.reset} '{node.compare}'")
        if isinstance(node, N.ILIF):
            params.append(f"D={node.max_level}")
        lines.append(f"{name:<16}{type(node).__name__:<11}{str(net.in_shapes[name]):<16}"
                     f"{str(net.out_shapes[name]):<16}{' '.join(params)}")
    if net.folded:
        lines.append("folded BatchNorm: " + ", ".join(f"{bn} into {layer}"
                                                       for bn, layer in net.folded))
    rec = [f"{a}->{b}" for a, b in sorted(net.back_edges)]
    lines.append(f"neurons: {net.n_neurons()}  synapses (stored weights): {net.n_synapses()}"
                 + (f"  recurrent edges: {', '.join(rec)}" if rec else ""))
    return "\n".join(lines)
