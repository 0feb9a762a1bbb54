"""Placement of column groups (their tiles and neurons) onto cores.

Vertices are the column groups (tiles are packed per core afterwards, see
:func:`~neurocosim.mapping.tiling.pack_cores`). Spike traffic is a hypergraph:
for every source neuron (a neuron layer's output, or the network input injected by the
host) one hyperedge spans its home vertex and every vertex that reads its spikes —
multicast: one packet per remote core that holds any target — weighted by the neuron's
firing rate (measured from a reference run when given, else 1). Neurons with the same
pins are merged into one weighted hyperedge.

Two placements are computed: the *sequential* baseline (vertices in network order,
filling each core before the next) and the partition found by Mt-KaHyPar (connectivity
objective λ−1, the number of remote cores a multicast reaches, with one capacity per
core that bounds both tiles and neurons).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..devices.schema import ChipCard
from ..errors import MappingError
from ..ir.graph import Network
from .lowering import SynOp
from .routing import chain_to, iter_reach, neuron_reach, region_reads
from .tiling import Block, ColumnGroup, TilePacker, pack_cores

__all__ = ["Traffic", "build_traffic", "neuron_reach", "sequential_placement", "partition_placement",
           "choose_placement", "packets", "max_fan_out", "feasible", "tile_load"]

_CAP = 1000  # integer capacity of one core in the partitioner's single weight


@dataclass(frozen=True, kw_only=True, eq=False)
class Traffic:
    """Weighted multicast hyperedges over vertices.

    ``ptr``/``pins`` (CSR) list each hyperedge's target vertices; ``home`` its source
    vertex (−1 for the host input); ``weight`` the summed firing rate (spikes per step)
    of the source neurons it stands for; ``sources`` the layer of each hyperedge.
    """

    ptr: np.ndarray
    pins: np.ndarray
    home: np.ndarray
    weight: np.ndarray
    sources: np.ndarray  # object array of layer names


def neuron_homes(net: Network, ops: dict[str, SynOp], owner: dict[str, np.ndarray],
                 extra_groups: dict[str, np.ndarray], cache: dict | None = None) -> dict[str, np.ndarray]:
    """Column group holding each neuron of each layer.

    A neuron lives with the column group that produces its input (the first synaptic
    op feeding its layer); layers fed by no op get neuron-only groups (``extra_groups``).
    """
    homes: dict[str, np.ndarray] = {}
    paths = {op_name: chain_to(net, op_name, cache=cache) for op_name in ops}
    for layer in net.layers():
        if layer in extra_groups:
            homes[layer] = extra_groups[layer]
            continue
        for op_name in ops:
            for tgt, dep in paths[op_name]:
                if tgt == layer and layer not in homes:
                    # dep: (layer_in, op_out); the home is the first contributing output
                    dep = dep.tocsr()
                    has = np.diff(dep.indptr) > 0
                    first = np.zeros(dep.shape[0], np.int64)
                    first[has] = dep.indices[dep.indptr[:-1][has]]
                    homes[layer] = owner[op_name][first]
    return homes


def output_owner(ops: dict[str, SynOp], groups: list[ColumnGroup]) -> dict[str, np.ndarray]:
    """Column group producing each flat output of each op."""
    owner = {name: np.full(op.out_size, -1, np.int64) for name, op in ops.items()}
    reads_of: dict[tuple[str, int], list[np.ndarray]] = {}
    for cg in groups:
        if cg.op not in ops or cg.home >= 0:  # a partial segment holds no neurons
            continue
        grp = ops[cg.op].groups[cg.group]
        key = (cg.op, cg.group)
        if key not in reads_of:
            reads_of[key] = region_reads(grp.region, ops[cg.op].regions)
        reads = reads_of[key][cg.region]
        owner[cg.op][grp.scatter[reads, cg.out_lo:cg.out_hi].ravel()] = cg.id
    return owner


#: source neurons whose targets are gathered at once (bounds the memory of a source
#: whose spikes reach hundreds of column groups, e.g. a transformer's residual stream)
REACH_ROWS = 1 << 16


def build_traffic(net: Network, ops: dict[str, SynOp], groups: list[ColumnGroup],
                  homes: dict[str, np.ndarray], rates: dict[str, np.ndarray],
                  cache: dict | None = None) -> Traffic:
    """Multicast hyperedges of every spike source (see the module docstring), in order
    of each source's first neuron."""
    ptr, pins, home, weight, src_names = [0], [], [], [], []
    merged: dict[tuple, list] = {}
    current = None
    for src, lo, reach in iter_reach(net, ops, groups, cache, rows=REACH_ROWS):
        if src != current:
            _flush(merged, current, ptr, pins, home, weight, src_names)
            current, n_src = src, int(np.prod(net.out_shapes[src]))
            rate = np.asarray(rates.get(src, np.ones(n_src)), float).reshape(-1)
            if rate.size != n_src:
                raise MappingError(f"rates for '{src}' have {rate.size} values, layer has {n_src}")
            src_home = np.asarray(homes[src] if src in homes else np.full(n_src, -1), np.int64)
        hi = lo + reach.shape[0]
        for h, tg, w in merge_sources(reach, src_home[lo:hi], rate[lo:hi]):
            key = (h, tg.tobytes())
            if key in merged:
                merged[key][1] += w
            else:
                merged[key] = [tg, w, h]
    _flush(merged, current, ptr, pins, home, weight, src_names)
    return Traffic(ptr=np.asarray(ptr, np.int64),
                   pins=np.concatenate(pins).astype(np.int64) if pins else np.zeros(0, np.int64),
                   home=np.asarray(home, np.int64), weight=np.asarray(weight, float),
                   sources=np.asarray(src_names, dtype=object))


def _flush(merged: dict, src, ptr, pins, home, weight, src_names) -> None:
    """Append the merged hyperedges of source ``src`` (insertion order) and clear them."""
    for tg, w, h in merged.values():
        pins.append(tg)
        ptr.append(ptr[-1] + tg.size)
        home.append(h)
        weight.append(w)
        src_names.append(src)
    merged.clear()


def _mix(x: np.ndarray, k: int) -> np.ndarray:
    """A 64-bit mix of the integers ``x`` (splitmix64's finaliser, constant ``k``)."""
    z = (x.astype(np.uint64) + np.uint64(1)) * np.uint64(k)
    z ^= z >> np.uint64(31)
    z *= np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(29))


def merge_sources(reach, src_home: np.ndarray, rate: np.ndarray):
    """``(home, targets, summed rate)`` of the neurons of one source with the same home
    and targets, in order of their first neuron; neurons with no target or rate 0 are
    left out. Rows are grouped by two 64-bit sums of mixed indices, then every row's
    targets are compared with its group's first row (a hash collision, never seen, falls
    back to grouping row by row)."""
    nnz = np.diff(reach.indptr)
    nz = np.flatnonzero(nnz > 0)
    if nz.size == 0:
        return []
    with np.errstate(over="ignore"):
        z = _mix(reach.indices, 0x9E3779B97F4A7C15)
        h1 = np.add.reduceat(z, reach.indptr[nz])
        z *= reach.indices.astype(np.uint64) + np.uint64(0xBF58476D1CE4E5B9)
        h2 = np.add.reduceat(z, reach.indptr[nz])
    keep = rate[nz] != 0
    rows, h1, h2 = nz[keep], h1[keep], h2[keep]
    if rows.size == 0:
        return []
    hn = src_home[rows] * (int(nnz.max()) + 1) + nnz[rows]  # home and size in one key
    order = np.lexsort((rows, h2, h1, hn))
    keys = np.stack([hn, h1.view(np.int64), h2.view(np.int64)])[:, order]
    new = np.r_[True, (keys[:, 1:] != keys[:, :-1]).any(axis=0)]
    starts = np.flatnonzero(new)
    grp = np.cumsum(new) - 1
    rep = rows[order][starts][grp]  # the group's first row, for every row (sorted)
    srt = rows[order]
    lo, rl = reach.indptr[srt], reach.indptr[rep]
    lens = nnz[srt]
    off = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    if not np.array_equal(reach.indices[np.repeat(lo, lens) + off],
                          reach.indices[np.repeat(rl, lens) + off]):
        return _merge_slow(reach, src_home, rate)
    weights = np.add.reduceat(rate[srt], starts)
    first = srt[starts]
    out = []
    for k in np.argsort(first, kind="stable"):
        i = first[k]
        out.append((int(src_home[i]), reach.indices[reach.indptr[i]:reach.indptr[i + 1]],
                    float(weights[k])))
    return out


def _merge_slow(reach, src_home, rate):
    merged: dict[tuple, float] = {}
    for i in range(reach.shape[0]):
        tg = reach.indices[reach.indptr[i]:reach.indptr[i + 1]]
        if tg.size and rate[i] != 0:
            key = (int(src_home[i]), tuple(tg.tolist()))
            merged[key] = merged.get(key, 0.0) + float(rate[i])
    return [(h, np.asarray(tg, np.int64), w) for (h, tg), w in merged.items()]


def _edge_units(traffic: Traffic, unit_of_vertex: np.ndarray, drop_home: bool):
    """``(edge, unit)`` pairs, distinct: the units (cores, chips) holding each hyperedge's
    targets, its home's unit left out when ``drop_home``."""
    n_e = len(traffic.weight)
    edge = np.repeat(np.arange(n_e, dtype=np.int64), np.diff(traffic.ptr))
    unit = np.asarray(unit_of_vertex, np.int64)[traffic.pins]
    n_u = int(unit.max(initial=0)) + 1
    key = np.unique(edge * n_u + unit)
    edge, unit = key // n_u, key % n_u
    if drop_home:
        h = traffic.home[edge]
        own = np.where(h >= 0, np.asarray(unit_of_vertex, np.int64)[np.maximum(h, 0)], -1)
        edge, unit = edge[unit != own], unit[unit != own]
    return edge, unit


def packets(traffic: Traffic, core_of_vertex: np.ndarray, *, source: str = "cores") -> float:
    """Spike packets per step: Σ rate × (remote cores holding targets).

    ``source="cores"`` counts core-to-core packets (sources on the chip);
    ``source="input"`` counts the host's input packets (one per core reached)."""
    n_e = len(traffic.weight)
    if n_e == 0:
        return 0.0
    edge, _ = _edge_units(traffic, core_of_vertex, drop_home=True)
    count = np.bincount(edge, minlength=n_e)
    chosen = (traffic.home < 0) == (source == "input")
    terms = (traffic.weight * count)[chosen]
    return float(np.cumsum(np.r_[0.0, terms])[-1])  # summed in edge order


def max_fan_out(traffic: Traffic, core_of_vertex: np.ndarray) -> tuple[int, str]:
    """Most cores a single spike is sent to, and the layer of that source."""
    if len(traffic.weight) == 0:
        return 0, ""
    edge, _ = _edge_units(traffic, core_of_vertex, drop_home=False)
    count = np.bincount(edge, minlength=len(traffic.weight))
    e = int(np.argmax(count))
    return (int(count[e]), str(traffic.sources[e])) if count[e] > 0 else (0, "")


def tile_load(blocks: list[Block], n_groups: int, chip: ChipCard, share: bool) -> np.ndarray:
    """Tiles each column group occupies: its blocks' larger side fraction when tiles are
    shared (a lower bound of the packing), else one tile per block."""
    R, C = chip.macro.rows, chip.macro.cols
    load = np.zeros(n_groups)
    for b in blocks:
        load[b.colgroup] += max(b.rows / R, b.cols / C) if share else 1.0
    return load


def _load(tiles: np.ndarray, neurons: np.ndarray, chip: ChipCard) -> np.ndarray:
    frac = np.maximum(tiles / chip.tiles_per_core, neurons / chip.neurons_per_core)
    return np.maximum(1, np.ceil(frac * _CAP - 1e-9)).astype(np.int64)


def feasible(core: np.ndarray, blocks: list[Block], neurons: np.ndarray, chip: ChipCard,
             share: bool) -> bool:
    """Whether every core's packed tiles and neurons fit the chip's per-core limits."""
    _, per_core = pack_cores(blocks, core, chip.macro.rows, chip.macro.cols, share)
    if (per_core > chip.tiles_per_core).any():
        return False
    n_cores = int(core.max(initial=-1)) + 1
    return bool((np.bincount(core, weights=neurons, minlength=n_cores)
                 <= chip.neurons_per_core).all())


def sequential_placement(blocks: list[Block], neurons: np.ndarray, chip: ChipCard,
                         share: bool, order: np.ndarray | None = None) -> np.ndarray:
    """Column groups in network order (``order``: the vertices in that order; default
    by index), each core filled (tiles and neurons) first."""
    by_group: list[list[Block]] = [[] for _ in range(len(neurons))]
    for b in blocks:
        by_group[b.colgroup].append(b)
    core = np.zeros(len(neurons), np.int64)
    c, n_used = 0, 0
    packer = TilePacker(chip.macro.rows, chip.macro.cols, share)
    for g in (range(len(neurons)) if order is None else order):
        if (n_used + neurons[g] > chip.neurons_per_core
                or not packer.fits(by_group[g], chip.tiles_per_core)):
            c, n_used = c + 1, 0
            packer = TilePacker(chip.macro.rows, chip.macro.cols, share)
        packer.add(by_group[g])
        core[g] = c
        n_used += neurons[g]
    return core


_MTK = None  # Mt-KaHyPar may be initialised once per process: the one handle, made lazily


def _mtk():
    global _MTK
    if _MTK is None:
        import mtkahypar

        _MTK = mtkahypar.initialize(1, False)  # one thread: deterministic, CI-sized
    return _MTK


def partition_placement(blocks: list[Block], neurons: np.ndarray, traffic: Traffic,
                        chip: ChipCard, k: int, share: bool, seed: int = 0,
                        order: np.ndarray | None = None) -> np.ndarray | None:
    """Mt-KaHyPar partition into ``k`` cores (None when it finds no feasible one)."""
    import mtkahypar

    n = len(neurons)
    tiles = tile_load(blocks, n, chip, share)
    if k <= 1 or n <= 1:
        return np.zeros(n, np.int64)
    load = _load(tiles, neurons, chip)
    edges, wts = [], []
    wmax = traffic.weight.max(initial=0.0)
    for e in range(len(traffic.weight)):
        p = set(traffic.pins[traffic.ptr[e]:traffic.ptr[e + 1]].tolist())
        if traffic.home[e] >= 0:
            p.add(int(traffic.home[e]))
        if len(p) < 2:
            continue
        edges.append(sorted(p))
        wts.append(max(1, int(round(traffic.weight[e] / wmax * 10_000))) if wmax > 0 else 1)
    if not edges:
        return sequential_placement(blocks, neurons, chip, share, order)
    if float(np.sum(load)) > _CAP * int(k):
        return None  # the k cores cannot hold the load at all (Mt-KaHyPar would refuse)
    mtkahypar.set_seed(int(seed))
    ctx = _mtk().context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    ctx.logging = False
    ctx.set_partitioning_parameters(int(k), 0.03, mtkahypar.Objective.KM1)
    ctx.set_individual_target_block_weights([_CAP] * int(k))
    hg = _mtk().create_hypergraph(ctx, n, len(edges), edges, load.tolist(), wts)
    part = np.asarray(hg.partition(ctx).get_partition(), np.int64)
    # renumber cores in order of first use
    ids: dict[int, int] = {}
    part = np.array([ids.setdefault(int(c), len(ids)) for c in part], np.int64)
    return part if feasible(part, blocks, neurons, chip, share) else None


def choose_placement(blocks, neurons, traffic, chip, share, seed=0, order=None):
    """Sequential baseline and the partitioned placement (never worse than the baseline)."""
    base = sequential_placement(blocks, neurons, chip, share, order)
    k0 = int(base.max(initial=-1)) + 1
    best = base
    best_p = packets(traffic, base)
    for k in range(k0, min(chip.cores, k0 + 2) + 1):
        part = partition_placement(blocks, neurons, traffic, chip, k, share, seed, order)
        if part is None:
            continue
        p = packets(traffic, part)
        if p < best_p - 1e-12:
            best, best_p = part, p
        if part is not None:
            break
    return base, best

