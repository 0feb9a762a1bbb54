"""Analytical mode: expected event counts from firing rates, without simulating.

For each tile block and read, with ``r_i`` the expected input of row ``i`` per step
(spikes per step, or the mean level of a multi-level input): expected rows driven
``Σ r_i``, the read happens with probability ``1 − Π(1 − min(r_i, 1))`` (independent
inputs) and then converts every column and adds every output. Neurons update every step
and spike at their rates; packets and hops follow from the placement. ``worst_case``
sets every rate to 1 (every row driven every step). The result is an
:class:`~neurocosim.hwsim.EventCounts` of one "sample" (``steps`` steps), fed to the
same :func:`~neurocosim.energy.estimate`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import DataError
from ..hwsim.program import BLOCK_COUNTERS, LAYER_COUNTERS, build_program
from ..hwsim.simulator import EventCounts

__all__ = ["analytical_counts"]


def _rates_for(net, rates, name, worst_case):
    n = int(np.prod(net.out_shapes[name]))
    if worst_case:
        return np.ones(n)
    if name not in rates:
        raise DataError(f"analytical energy: no firing rate for '{name}' (give rates for the "
                        f"input and every spiking layer, or use worst_case)")
    r = np.broadcast_to(np.asarray(rates[name], float), (n,)) if np.ndim(rates[name]) == 0 \
        else np.asarray(rates[name], float).reshape(-1)
    if r.size != n or np.any(r < 0) or not np.all(np.isfinite(r)):
        raise DataError(f"analytical energy: rates for '{name}' must be {n} values >= 0")
    return r


def analytical_counts(programmed, steps: int, rates: Mapping[str, object] | None = None, *,
                      worst_case: bool = False) -> EventCounts:
    """Expected counters of one inference of ``steps`` steps (see the module docstring)."""
    from ..ir import nodes as N
    from ..mapping.lowering import gather_inputs
    from ..mapping.routing import op_input_rates

    rates = dict(rates or {})
    mapped = programmed.mapped
    net = mapped.network
    prog = build_program(programmed)
    a = prog.arrays
    value: dict[str, np.ndarray] = {net.input_name: _rates_for(net, rates, net.input_name, worst_case)}
    for layer in net.layers():
        if net.nodes[layer].spiking:
            value[layer] = _rates_for(net, rates, layer, worst_case)
        else:
            value[layer] = np.zeros(int(np.prod(net.out_shapes[layer])))
    op_in = op_input_rates(net, mapped.ops, value)
    nb = len(prog.block_op)
    block = np.zeros((1, nb, len(BLOCK_COUNTERS)))
    tile_time = np.zeros(max(prog.n_tiles, 1))
    times = a["times"]
    order = prog.extras["block_order"]
    for j in range(nb):
        b = mapped.blocks[order[j]]
        rows, cols, outs = a["b_rows"][j], a["b_cols"][j], a["b_outs"][j]
        g0 = a["b_gat_off"][j]
        gat = a["gat"][g0:g0 + a["b_reads"][j] * rows].reshape(-1, rows)
        r = gather_inputs(op_in[b.op], gat)  # (reads, rows)
        p_read = 1.0 - np.prod(1.0 - np.minimum(r, 1.0), axis=1)
        rows_exp = r.sum(axis=1)
        adc = a["b_adc_bits"][j] > 0
        c = block[0, j]
        c[0] = rows_exp.sum() * steps
        c[1] = rows_exp.sum() * cols * steps
        c[2] = p_read.sum() * cols * steps if adc else 0.0
        c[3] = p_read.sum() * a["b_cycles"][j] * steps if adc else 0.0
        c[5] = p_read.sum() * outs * steps
        c[6] = p_read.sum() * steps
        c[7] = np.minimum(r, 1.0).sum() * steps
        per_read = times[0] + times[1] + (a["b_cycles"][j] * times[2] if adc else 0.0)
        tile_time[a["b_tile"][j]] += p_read.sum() * per_read
    layer = np.zeros((1, len(prog.layer_names), len(LAYER_COUNTERS)))
    maxhop = 0.0
    for k, name in enumerate(prog.layer_names):
        lo = a["l_off"][k]
        n = int(np.prod(net.out_shapes[name]))
        r = value[name]
        layer[0, k, 0] = n * steps
        layer[0, k, 1] = r.sum() * steps
        layer[0, k, 2] = (r * a["r_packets"][lo:lo + n]).sum() * steps
        layer[0, k, 3] = (r * a["r_hops"][lo:lo + n]).sum() * steps
        if isinstance(net.nodes[name], N.Neuron) and r.any():
            maxhop = max(maxhop, float(a["r_maxhop"][lo:lo + n][r > 0].max(initial=0.0)))
    rin = value[net.input_name]
    inp = np.array([[(rin * a["in_packets"]).sum() * steps, (rin * a["in_hops"]).sum() * steps]])
    latency = steps * (tile_time.max() + times[3] + times[4] + maxhop * times[5])
    return EventCounts(block=block, layer=layer, input=inp, steps=np.array([steps]),
                       latency_s=np.array([latency]), block_op=prog.block_op,
                       block_tile=prog.block_tile, block_outs=prog.block_outs,
                       layer_names=prog.layer_names)
