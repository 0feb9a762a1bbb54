"""Expected event counts from firing rates, without simulating (the analytical mode).

For each tile block and read, with ``r_i`` the expected input of row ``i`` per step
(spikes per step, or the mean level of a multi-level input): expected rows driven
``Σ r_i``, the read happens with probability ``1 − Π(1 − min(r_i, 1))`` (independent
inputs) and then converts every column and adds every output. Neurons update every step
and spike at their rates; packets and hops follow from the placement
(:func:`~neurocosim.mapping.neuron_routing`); latency from the same
:class:`~neurocosim.hwsim.latency.LatencyModel` as the engine. ``worst_case`` sets every
rate to 1 (every row driven every step). The result is an :class:`EventCounts` of one
"sample" (``steps`` steps).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import DataError
from ..ir import nodes as N
from ..mapping.lowering import gather_inputs
from ..mapping.routing import neuron_routing, op_input_rates
from .blocks import block_reads
from .counters import BLOCK_COUNTERS, LAYER_COUNTERS, EventCounts
from .digital_table import digital_counts, digital_nodes, digital_ops
from .latency import LatencyModel

__all__ = ["expected_counts"]


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


def _source_rates(net, rates, worst_case) -> dict[str, np.ndarray]:
    """Spikes per step of the input and of every layer (0 for a non-spiking layer)."""
    value = {net.input_name: _rates_for(net, rates, net.input_name, worst_case)}
    for layer in net.layers():
        if net.nodes[layer].spiking:
            value[layer] = _rates_for(net, rates, layer, worst_case)
        else:
            value[layer] = np.zeros(int(np.prod(net.out_shapes[layer])))
    return value


def expected_counts(programmed, steps: int, rates: Mapping[str, object] | None = None, *,
                    worst_case: bool = False) -> EventCounts:
    """Expected counters of one inference of ``steps`` steps (see the module docstring).

    ``rates``: spikes per step of the input and of every spiking layer, one value or one
    per neuron each (not needed with ``worst_case``)."""
    mapped = programmed.mapped
    net = mapped.network
    value = _source_rates(net, dict(rates or {}), worst_case)
    model = LatencyModel.of(mapped.chip)
    blocks = block_reads(programmed)
    block, tile_time = _block_counts(mapped, blocks, value, steps, model)
    routes = neuron_routing(mapped)
    layer, maxhop = _layer_counts(net, routes, value, steps)
    rin = value[net.input_name]
    r_in = routes[net.input_name]
    inp = np.array([[(rin * r_in.packets).sum() * steps, (rin * r_in.hops).sum() * steps]])
    latency = steps * model.step_s(tile_time.max(), maxhop)
    names = digital_nodes(mapped)
    ops = digital_ops(net, names)
    digital = {"digital": digital_counts(ops, np.array([steps])),
               "digital_names": tuple(names)} if ops.any() else {}
    return EventCounts(block=block, layer=layer, input=inp, steps=np.array([steps]),
                       latency_s=np.array([latency]), block_op=tuple(b.op for b in blocks),
                       block_tile=np.array([b.tile for b in blocks], np.int64),
                       block_outs=np.array([b.outs for b in blocks], np.int64),
                       layer_names=tuple(net.layers()), **digital)


def _block_counts(mapped, blocks, value, steps: int, model: LatencyModel):
    """Expected block counters ``(1, blocks, counters)`` and busy time of every tile."""
    op_in = op_input_rates(mapped.network, mapped.ops, value)
    block = np.zeros((1, len(blocks), len(BLOCK_COUNTERS)))
    tile_time = np.zeros(max(int(mapped.n_tiles), 1))
    for j, b in enumerate(blocks):
        r = gather_inputs(op_in[b.op], b.gather.reshape(-1, b.rows))  # (reads, rows)
        p_read = 1.0 - np.prod(1.0 - np.minimum(r, 1.0), axis=1)
        rows_exp = r.sum(axis=1)
        adc = b.adc_cycles > 0
        c = block[0, j]
        c[0] = rows_exp.sum() * steps
        c[1] = rows_exp.sum() * b.cols * steps
        c[2] = p_read.sum() * b.cols * steps if adc else 0.0
        c[3] = p_read.sum() * b.adc_cycles * steps if adc else 0.0
        c[5] = p_read.sum() * b.outs * steps
        c[6] = p_read.sum() * steps
        c[7] = np.minimum(r, 1.0).sum() * steps
        tile_time[b.tile] += p_read.sum() * model.read_s(b.adc_cycles)
    return block, tile_time


def _layer_counts(net, routes, value, steps: int):
    """Expected layer counters ``(1, layers, counters)`` and the longest route (hops)."""
    layers = net.layers()
    layer = np.zeros((1, len(layers), len(LAYER_COUNTERS)))
    maxhop = 0.0
    for k, name in enumerate(layers):
        n = int(np.prod(net.out_shapes[name]))
        r = value[name]
        layer[0, k, 0] = n * steps
        layer[0, k, 1] = r.sum() * steps
        layer[0, k, 2] = (r * routes[name].packets).sum() * steps
        layer[0, k, 3] = (r * routes[name].hops).sum() * steps
        if isinstance(net.nodes[name], N.Neuron) and r.any():
            maxhop = max(maxhop, float(routes[name].max_hop[r > 0].max(initial=0.0)))
    return layer, maxhop
