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

__all__ = ["SourceRouting", "mesh_position", "core_position", "chain_to", "op_readers", "readers_of", "region_reads", "iter_reach", "neuron_reach", "neuron_routing",
           "op_input_rates"]


def mesh_position(core: int, n_cores: int) -> tuple[int, int]:
    """(x, y) of a core on the square-ish 2-D mesh of ``n_cores``."""
    w = max(1, math.ceil(math.sqrt(n_cores)))
    return core % w, core // w


def chain_to(net: Network, src: str, neurons: bool = True,
             cache: dict | None = None) -> list[tuple[str, sp.csr_matrix]]:
    """Synaptic or neuron nodes reached from node ``src`` through digital nodes, with the
    0/1 dependency ``(their_input, src_output)`` of each path (one per path: a node
    reached from several sources, e.g. an Add or IAnd of two layers, is on a path of
    each, so every source's traffic to it counts). ``neurons=False``: synaptic nodes
    only, and no path is followed that reaches none (an attention block's products
    between two activations depend on whole heads: their dependency matrices are
    large, and a path through them that ends at a neuron layer is not needed then).
    ``cache`` (a dict the caller keeps for one network) holds the digital nodes'
    dependency matrices between calls."""
    out = []
    n_src = int(np.prod(net.out_shapes[src]))
    feeds = None if neurons else _feeding_synapses(net)
    stack = [(src, sp.identity(n_src, format="csr"), frozenset((src,)))]
    while stack:
        node, dep, path = stack.pop()
        for a, b in net.edges:
            if a != node:
                continue
            tgt = net.nodes[b]
            if isinstance(tgt, (N.Affine, N.Linear, N.Conv2d)) or (
                    neurons and isinstance(tgt, N.Neuron)):
                out.append((b, dep))
            elif isinstance(tgt, (N.Flatten, *DIGITAL)) and (feeds is None or b in feeds) \
                    and b not in path:  # a loop of digital nodes through a Delay: once
                # an ordered node (IAnd, Concat) reads this source in its own columns
                stack.append((b, (_dependency(net, b, node, cache) @ dep).tocsr(), path | {b}))
    return out


def _dependency(net: Network, name: str, src: str, cache: dict | None) -> sp.csr_matrix:
    if cache is None:
        return dependency(net, name, src=src)
    key = (name, src)
    if key not in cache:
        cache[key] = dependency(net, name, src=src)
    return cache[key]


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


def region_reads(region: np.ndarray, regions: int) -> list[np.ndarray]:
    """The reads of every region (ascending), from an op group's ``region`` array."""
    order = np.argsort(region, kind="stable")
    bounds = np.searchsorted(region[order], np.arange(regions + 1))
    return [order[bounds[r]:bounds[r + 1]] for r in range(regions)]


def op_readers(ops: Mapping[str, SynOp], groups: list[ColumnGroup]) -> dict[str, sp.csr_matrix]:
    """For every op: a 0/1 CSR matrix ``(op inputs, column groups)`` of the column groups
    (their rows: a row segment reads only its own) that read each input element."""
    need: dict[str, sp.csr_matrix] = {}
    by_op: dict[str, list[ColumnGroup]] = {}
    for cg in groups:
        if cg.op in ops:
            by_op.setdefault(cg.op, []).append(cg)
    for name, op in ops.items():
        rows, cols = [], []
        reads = [region_reads(grp.region, op.regions) for grp in op.groups]
        seen: dict[tuple[int, int, int, int], np.ndarray] = {}  # an op's output chunks
        for cg in by_op.get(name, []):                        # read the same inputs
            key = (cg.group, cg.region, cg.row_lo, cg.row_hi)
            if key not in seen:
                grp = op.groups[cg.group]
                g = grp.gather[reads[cg.group][cg.region],
                               cg.row_lo:cg.row_hi if cg.row_hi >= 0 else None]
                seen[key] = np.unique(g[g >= 0])  # the markers (padding, bias) are negative
            idx = seen[key]
            rows.append(idx)
            cols.append(np.full(idx.size, cg.id))
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        need[name] = sp.csr_matrix((np.ones(r.size, np.int32), (r, c)),
                                   shape=(op.in_size, len(groups)))
    return need


def readers_of(ops: Mapping[str, SynOp], groups: list[ColumnGroup],
               cache: dict | None = None) -> dict[str, sp.csr_matrix]:
    """:func:`op_readers`, kept in ``cache`` (see :func:`chain_to`) when given."""
    if cache is None:
        return op_readers(ops, groups)
    if "readers" not in cache:
        cache["readers"] = op_readers(ops, groups)
    return cache["readers"]


def _is_identity(m: sp.csr_matrix) -> bool:
    n = m.shape[0]
    return (m.shape[1] == n and m.nnz == n and bool(np.array_equal(m.indptr, np.arange(n + 1)))
            and bool(np.array_equal(m.indices, np.arange(n))))


def neuron_reach(net: Network, ops: Mapping[str, SynOp], groups: list[ColumnGroup],
                 cache: dict | None = None) -> dict[str, sp.csr_matrix]:
    """For every spike source (the Input and each neuron layer): a 0/1 CSR matrix
    ``(n_source_neurons, n_column_groups)`` of the column groups that read each neuron
    (``cache``: see :func:`chain_to`)."""
    return {src: reach for src, _, reach in iter_reach(net, ops, groups, cache)}


def iter_reach(net: Network, ops: Mapping[str, SynOp], groups: list[ColumnGroup],
               cache: dict | None = None, rows: int | None = None):
    """``(source, first row, reach)`` of :func:`neuron_reach`, one source at a time, in
    pieces of at most ``rows`` source neurons (None: whole sources): the memory of one
    piece at once."""
    need = readers_of(ops, groups, cache)
    for src in [net.input_name] + net.layers():
        n_src = int(np.prod(net.out_shapes[src]))
        parts = [need[tgt] if _is_identity(dep) else (dep.T.tocsr(), need[tgt])
                 for tgt, dep in chain_to(net, src, neurons=False, cache=cache) if tgt in ops]
        step = rows or max(n_src, 1)
        for lo in range(0, n_src, step):
            hi = min(n_src, lo + step)
            yield src, lo, _reach_rows(parts, lo, hi, len(groups))
        if n_src == 0:
            yield src, 0, sp.csr_matrix((0, len(groups)), dtype=np.int8)


def _reach_rows(parts, lo: int, hi: int, n_groups: int) -> sp.csr_matrix:
    """Rows ``lo:hi`` of the 0/1 union of ``parts`` (matrices, or (dep.T, readers)
    pairs multiplied here, row slice first)."""
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for p in parts:
        part = (p[0][lo:hi] @ p[1]).tocsr() if isinstance(p, tuple) else p[lo:hi].tocsr()
        rows.append(np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(part.indptr)))
        cols.append(part.indices)
    r, c = np.concatenate(rows), np.concatenate(cols)
    reach = sp.csr_matrix((np.ones(r.size, np.int32), (r, c)),
                          shape=(hi - lo, n_groups))  # duplicates summed once
    reach = sp.csr_matrix((np.ones(reach.nnz, np.int8), reach.indices, reach.indptr),
                          shape=reach.shape)
    reach.sort_indices()
    return reach


@dataclass(frozen=True, kw_only=True, eq=False)
class SourceRouting:
    """Per neuron of one spike source: ``packets`` sent per spike (remote cores reached),
    ``hops`` summed over those packets, ``max_hop`` the longest one (mesh hops), and
    ``chip_packets`` those of its packets that leave its chip (multicast: one per remote
    chip reached; all 0 on one chip)."""

    packets: np.ndarray
    hops: np.ndarray
    max_hop: np.ndarray
    chip_packets: np.ndarray | None = None


def core_position(core: np.ndarray, cores_per_chip: int, chips: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of cores on the mesh of ``chips`` chips of ``cores_per_chip`` cores: core
    ``c`` is core ``c mod cores_per_chip`` of chip ``c // cores_per_chip``; each chip's
    cores on its square-ish mesh (:func:`mesh_position`), the chips side by side on a
    square-ish mesh of chips, their meshes joined edge to edge (a packet crossing chips
    travels the Manhattan distance on that board). One chip: :func:`mesh_position`."""
    core = np.asarray(core, np.int64)
    w = max(1, math.ceil(math.sqrt(cores_per_chip)))
    h = max(1, -(-cores_per_chip // w))
    cw = max(1, math.ceil(math.sqrt(max(chips, 1))))
    local, chip = core % cores_per_chip, core // cores_per_chip
    return (chip % cw) * w + local % w, (chip // cw) * h + local // w


def _source_routing(mapped: MappedNetwork, reach: sp.csr_matrix, src: str) -> SourceRouting:
    cpc = mapped.chip.cores
    chips = int(mapped.options.get("chips") or 1)
    n_src = reach.shape[0]
    is_input = src not in mapped.neuron_home
    # the host attaches at core 0
    own = np.zeros(n_src, np.int64) if is_input else mapped.core[mapped.neuron_home[src]]
    row = np.repeat(np.arange(n_src, dtype=np.int64), np.diff(reach.indptr))
    core = np.asarray(mapped.core, np.int64)[reach.indices]
    n_c = int(max(core.max(initial=0), own.max(initial=0))) + 1
    key = np.unique(row * n_c + core)
    row, core = key // n_c, key % n_c
    if not is_input:
        row, core = row[core != own[row]], core[core != own[row]]
    ox, oy = core_position(own[row], cpc, chips)
    tx, ty = core_position(core, cpc, chips)
    d = (np.abs(tx - ox) + np.abs(ty - oy)).astype(float)
    mx = np.zeros(n_src)
    np.maximum.at(mx, row, d)
    chip_of = core // cpc
    remote = np.unique(row[chip_of != own[row] // cpc] * (n_c // cpc + 1)
                       + chip_of[chip_of != own[row] // cpc])
    return SourceRouting(packets=np.bincount(row, minlength=n_src).astype(float),
                         hops=_row_sums(row, d, n_src), max_hop=mx,
                         chip_packets=np.bincount(remote // (n_c // cpc + 1),
                                                  minlength=n_src).astype(float))


def _row_sums(row: np.ndarray, val: np.ndarray, n: int) -> np.ndarray:
    """Per-row sums of ``val``."""
    out = np.zeros(n)
    np.add.at(out, row, val)
    return out


def neuron_routing(mapped: MappedNetwork) -> dict[str, SourceRouting]:
    """:class:`SourceRouting` of every spike source of ``mapped``: the Input node's name
    first, then every neuron layer in network order (see the module docstring)."""
    net = mapped.network
    reach = neuron_reach(net, mapped.ops, list(mapped.colgroups))
    return {src: _source_routing(mapped, reach[src], src) for src in reach}
