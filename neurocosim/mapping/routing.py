"""Routing facts of a placement: where every spike goes and how far it travels.

Every spike source — a neuron layer, or the network input injected by the host — sends
each spike as one multicast packet per core that holds a column group reading it
(:func:`neuron_reach`), the sender's own core excepted (the host attaches at core 0 and
its packets all count). Cores sit on a square-ish 2-D mesh (:func:`mesh_position`); a
packet travels the Manhattan distance between the two cores.

:func:`neuron_routing` gives, per source neuron, its packets per spike, the hops they
travel together and the longest hop; the engine (:mod:`neurocosim.hwsim.tables`) and
the analytical energy mode count traffic from it. :func:`op_input_rates` propagates
per-neuron values (e.g. firing rates) through the digital nodes to every synaptic op's
input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ..ir import nodes as N
from ..ir.graph import Network
from .lowering import DIGITAL, SynOp, dependency
from .tiling import ColumnGroup

if TYPE_CHECKING:
    from .mapped import MappedNetwork

__all__ = ["SourceRouting", "mesh_position", "chain_to", "neuron_reach", "neuron_routing",
           "op_input_rates"]


def mesh_position(core: int, n_cores: int) -> tuple[int, int]:
    """(x, y) of a core on the square-ish 2-D mesh of ``n_cores``."""
    w = max(1, math.ceil(math.sqrt(n_cores)))
    return core % w, core // w


def chain_to(net: Network, src: str, neurons: bool = True) -> list[tuple[str, sp.csr_matrix]]:
    """Synaptic or neuron nodes reached from node ``src`` through digital nodes, with the
    0/1 dependency ``(their_input, src_output)`` of each path (one per path: a node
    reached from several sources, e.g. an Add or IAnd of two layers, is on a path of
    each, so every source's traffic to it counts). ``neurons=False``: synaptic nodes
    only, and no path is followed that reaches none (an attention block's products
    between two activations depend on whole heads: their dependency matrices are
    large, and a path through them that ends at a neuron layer is not needed then)."""
    out = []
    n_src = int(np.prod(net.out_shapes[src]))
    feeds = None if neurons else _feeding_synapses(net)
    stack = [(src, sp.identity(n_src, format="csr"))]
    while stack:
        node, dep = stack.pop()
        for a, b in net.edges:
            if a != node:
                continue
            tgt = net.nodes[b]
            if isinstance(tgt, (N.Affine, N.Linear, N.Conv2d)) or (
                    neurons and isinstance(tgt, N.Neuron)):
                out.append((b, dep))
            elif isinstance(tgt, (N.Flatten, *DIGITAL)) and (feeds is None or b in feeds):
                # an ordered node (IAnd, Concat) reads this source in its own columns
                stack.append((b, (dependency(net, b, src=node) @ dep).tocsr()))
    return out


def _feeding_synapses(net: Network) -> set[str]:
    """Digital nodes from which a synaptic node is reached through digital nodes only."""
    passes = (N.Flatten, *DIGITAL)
    feeds: set[str] = set()
    grew = True
    while grew:
        grew = False
        for a, b in net.edges:
            if a not in feeds and isinstance(net.nodes[a], passes) and (
                    b in feeds or isinstance(net.nodes[b], (N.Affine, N.Linear, N.Conv2d))):
                feeds.add(a)
                grew = True
    return feeds


def op_input_rates(net: Network, ops: Mapping[str, SynOp],
                   values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every op's flat input as the sum of the source values reaching it.

    ``values`` maps spike sources (the Input node, neuron layers) to one value per neuron
    (e.g. spikes per step); a digital node passes on the sum of the inputs it depends on.
    """
    op_in = {op: np.zeros(ops[op].in_size) for op in ops}
    for src, r in values.items():
        for tgt, dep in chain_to(net, src, neurons=False):
            if tgt in op_in:
                op_in[tgt] = op_in[tgt] + dep @ r
    return op_in


def neuron_reach(net: Network, ops: Mapping[str, SynOp],
                 groups: list[ColumnGroup]) -> dict[str, sp.csr_matrix]:
    """For every spike source (the Input and each neuron layer): a 0/1 CSR matrix
    ``(n_source_neurons, n_column_groups)`` of the column groups that read each neuron."""
    need: dict[str, sp.csr_matrix] = {}
    by_op: dict[str, list[ColumnGroup]] = {}
    for cg in groups:
        if cg.op in ops:
            by_op.setdefault(cg.op, []).append(cg)
    for name, op in ops.items():
        rows, cols = [], []
        for cg in by_op.get(name, []):
            grp = op.groups[cg.group]
            g = grp.gather[grp.region == cg.region]
            idx = np.unique(g[g >= 0])  # the markers (padding, bias row) are negative
            rows.append(idx)
            cols.append(np.full(idx.size, cg.id))
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        need[name] = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(op.in_size, len(groups)))
    out = {}
    for src in [net.input_name] + net.layers():
        n_src = int(np.prod(net.out_shapes[src]))
        reach = sp.csr_matrix((n_src, len(groups)))
        for tgt, dep in chain_to(net, src, neurons=False):
            if tgt in ops:
                reach = reach + (dep.T @ need[tgt])
        reach = (reach.tocsr() != 0).astype(np.int8).tocsr()
        reach.sort_indices()
        out[src] = reach
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class SourceRouting:
    """Per neuron of one spike source: ``packets`` sent per spike (remote cores reached),
    ``hops`` summed over those packets, ``max_hop`` the longest one (mesh hops)."""

    packets: np.ndarray
    hops: np.ndarray
    max_hop: np.ndarray


def _source_routing(mapped: MappedNetwork, reach: sp.csr_matrix, src: str) -> SourceRouting:
    n_cores = mapped.chip.cores
    n_src = reach.shape[0]
    is_input = src not in mapped.neuron_home
    # the host attaches at core 0
    own = np.zeros(n_src, np.int64) if is_input else mapped.core[mapped.neuron_home[src]]
    pk, hops, mx = np.zeros(n_src), np.zeros(n_src), np.zeros(n_src)
    for i in range(n_src):
        groups = reach.indices[reach.indptr[i]:reach.indptr[i + 1]]
        cores = set(mapped.core[groups].tolist())
        if not is_input:
            cores.discard(int(own[i]))
        ox, oy = mesh_position(int(own[i]), n_cores)
        d = [abs(x - ox) + abs(y - oy) for x, y in (mesh_position(c, n_cores) for c in cores)]
        pk[i] = len(cores)
        hops[i] = float(sum(d))
        mx[i] = float(max(d, default=0))
    return SourceRouting(packets=pk, hops=hops, max_hop=mx)


def neuron_routing(mapped: MappedNetwork) -> dict[str, SourceRouting]:
    """:class:`SourceRouting` of every spike source of ``mapped``: the Input node's name
    first, then every neuron layer in network order (see the module docstring)."""
    net = mapped.network
    reach = neuron_reach(net, mapped.ops, list(mapped.colgroups))
    return {src: _source_routing(mapped, reach[src], src) for src in reach}
