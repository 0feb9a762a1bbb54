"""Placement over several chips, and what a mapping occupies: chips, partial sums,
static matrices on crossbars, spike-spike ops on the digital units.

**Chips.** A network whose placement uses more cores than one chip has goes onto the
fewest chips that hold them, ``ceil(cores / chip.cores)`` (or the number asked for; too
few is design rule ``cores``). Core ``c`` is core ``c mod chip.cores`` of chip
``c // chip.cores`` (:func:`~neurocosim.mapping.routing.core_position` places the chips'
meshes side by side). With the ``partition`` placement, the cores are dealt to chips by a
Mt-KaHyPar partition of the cores into ``k = chips`` blocks of at most ``chip.cores``
(connectivity objective: the chips a multicast spike reaches beyond its own) and then
numbered chip by chip, unless that crosses chips more often than the cores taken in
order; ``sequential``, and more than :data:`PARTITION_CHIPS` chips, keep the cores in
order (the placement fills cores in network order, so neighbouring layers and regions
share a chip).

**Inter-chip packets.** A spike leaves its chip once per remote chip holding a core that
reads it (multicast; the packet then fans out on that chip's mesh): Σ rate × remote
chips, per step; the host's input packets count when they go to another chip than
chip 0, where the host attaches. The card schema has no energy per inter-chip packet,
so the report gives the counts only.

**Partial sums.** A column group cut into row segments (:mod:`.split`) sends, for each
read of a segment on another core than its neurons, one packet of its outputs' partial
sums to the neurons' core: at most the segment's positions per step (every read active).

**Digital units.** Every digital node (pooling, Add, IAnd, the rearrangements and the
spike-spike products Mul, ReduceSum, MatMul) runs on the digital unit of the receiving
core (:mod:`.lowering`): each output element on the core of its first reader
(:func:`digital_units`); the report lists the nodes, their cores, and the elements per
core. Static matrices (the synaptic layers' weights) are all on crossbar tiles
(:func:`crossbar_share`): a layer that does not fit fails a design rule instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MappingError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network
from .lowering import DIGITAL
from .placement import Traffic, _edge_units, _mtk, packets
from .tiling import ColumnGroup

__all__ = ["chips_needed", "assign_chips", "partial_sums", "digital_units", "crossbar_share",
           "host_chip_packets", "place", "extent", "extent_text", "EXTENT_KEYS", "PARTITION_CHIPS",
           "network_order"]

_WEIGHT_SCALE = 10_000  # integer hyperedge weights of the partitioner (rates scaled)
#: the most chips dealt by a partition (its time grows with the blocks: 94 chips of 16
#: cores took 6 s on one thread); more chips take the cores in order
PARTITION_CHIPS = 32


def chips_needed(cores: int, cores_per_chip: int) -> int:
    """The fewest chips of ``cores_per_chip`` cores holding ``cores`` cores."""
    return max(1, -(-int(cores) // int(cores_per_chip)))


def _core_hypergraph(traffic: Traffic, core: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """Hyperedges over cores (each traffic hyperedge's cores, its home's included), the
    same core sets merged, weighted by their summed rates."""
    edge, unit = _edge_units(traffic, core, drop_home=False)
    home = traffic.home
    has = home >= 0
    extra_e = np.flatnonzero(has)
    edge = np.r_[edge, extra_e]
    unit = np.r_[unit, core[home[has]]]
    order = np.lexsort((unit, edge))
    edge, unit = edge[order], unit[order]
    keep = np.r_[True, (edge[1:] != edge[:-1]) | (unit[1:] != unit[:-1])]
    edge, unit = edge[keep], unit[keep]
    bounds = np.r_[0, np.flatnonzero(np.diff(edge)) + 1, edge.size]
    merged: dict[tuple[int, ...], float] = {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a >= 2:
            key = tuple(unit[a:b].tolist())
            merged[key] = merged.get(key, 0.0) + float(traffic.weight[edge[a]])
    wmax = max(merged.values(), default=0.0)
    wts = [max(1, int(round(w / wmax * _WEIGHT_SCALE))) if wmax > 0 else 1
           for w in merged.values()]
    return [list(k) for k in merged], wts


def _partition_cores(traffic: Traffic, core: np.ndarray, cpc: int, n_chips: int,
                     seed: int) -> np.ndarray | None:
    """Chip of every core by a Mt-KaHyPar partition (None when it finds none)."""
    import mtkahypar

    n_cores = int(core.max(initial=-1)) + 1
    edges, wts = _core_hypergraph(traffic, core)
    if not edges or n_cores <= 1:
        return None
    mtkahypar.set_seed(int(seed))
    ctx = _mtk().context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    ctx.logging = False
    ctx.set_partitioning_parameters(int(n_chips), 0.03, mtkahypar.Objective.KM1)
    ctx.set_individual_target_block_weights([int(cpc)] * int(n_chips))
    hg = _mtk().create_hypergraph(ctx, n_cores, len(edges), edges, [1] * n_cores, wts)
    part = np.asarray(hg.partition(ctx).get_partition(), np.int64)
    if np.bincount(part, minlength=n_chips).max(initial=0) > cpc:
        return None
    return part


def assign_chips(traffic: Traffic, core: np.ndarray, cpc: int, n_chips: int, *,
                 partition: bool, seed: int = 0) -> np.ndarray:
    """The core of every vertex, renumbered so that ``core // cpc`` is its chip (see the
    module docstring); the cores in order when that crosses chips no more often."""
    core = np.asarray(core, np.int64)
    if n_chips <= 1 or n_chips > PARTITION_CHIPS or not partition:
        return core
    chip_of = _partition_cores(traffic, core, cpc, n_chips, seed)
    if chip_of is None:
        return core
    n_cores = chip_of.size
    order = np.lexsort((np.arange(n_cores), chip_of))
    slot = np.zeros(n_cores, np.int64)
    first = np.searchsorted(chip_of[order], np.arange(n_chips))
    slot[order] = np.arange(n_cores) - first[chip_of[order]]
    renumbered = (chip_of * cpc + slot)[core]
    ordered = packets(traffic, core // cpc) + packets(traffic, core // cpc, source="input")
    parted = (packets(traffic, renumbered // cpc)
              + packets(traffic, renumbered // cpc, source="input"))
    return renumbered if parted < ordered - 1e-12 else core


def host_chip_packets(traffic: Traffic, chip_of_vertex: np.ndarray) -> float:
    """The host's input packets per step that go to another chip than chip 0, where the
    host attaches: Σ rate × (chips other than 0 holding targets)."""
    if len(traffic.weight) == 0:
        return 0.0
    edge, unit = _edge_units(traffic, chip_of_vertex, drop_home=False)
    keep = (traffic.home[edge] < 0) & (unit != 0)
    count = np.bincount(edge[keep], minlength=len(traffic.weight))
    return float(np.cumsum(np.r_[0.0, traffic.weight * count])[-1])


def partial_sums(groups: tuple[ColumnGroup, ...] | list[ColumnGroup], ops: Any,
                 core: np.ndarray, cpc: int) -> dict[str, float]:
    """Partial-sum packets per step (every read active) of the row segments on another
    core than their neurons, and those of them that cross chips; the segments."""
    total = crossing = 0.0
    segments = 0
    counts: dict[tuple[str, int], np.ndarray] = {}
    for cg in groups:
        if cg.home < 0:
            continue
        segments += 1
        a, b = int(core[cg.id]), int(core[cg.home])
        if a == b:
            continue
        key = (cg.op, cg.group)
        if key not in counts:
            counts[key] = np.bincount(ops[cg.op].groups[cg.group].region)
        reads = float(counts[key][cg.region])
        total += reads
        crossing += reads if a // cpc != b // cpc else 0.0
    return {"row_segments": segments, "partial_sum_packets": total,
            "inter_chip_partial_sum_packets": crossing}


def crossbar_share(net: Network, ops: Any) -> dict[str, Any]:
    """The static matrices (the synaptic layers' weights) and how many of them are on
    crossbar tiles: every synaptic node is lowered to crossbar blocks, so a mapping that
    exists holds them all (a layer that does not fit fails a design rule instead)."""
    from .lowering import SYNAPTIC

    static = [n for n in net.order if isinstance(net.nodes[n], SYNAPTIC)]
    on = [n for n in static if n in ops and ops[n].groups]
    weights = sum(int(np.prod(net.nodes[n].weight.shape)) for n in static)
    mapped = sum(int(np.prod(net.nodes[n].weight.shape)) for n in on)
    if len(on) != len(static):
        missing = sorted(set(static) - set(on))
        raise MappingError(f"neurocosim bug: synaptic layers {missing} were not lowered")
    return {"static_matrices": len(static), "static_matrices_on_crossbars": len(on),
            "static_weights": weights, "static_weights_on_crossbars": mapped,
            "static_on_crossbars_fraction": mapped / weights if weights else 1.0}


def digital_units(net: Network, ops: Any, groups, homes: dict[str, np.ndarray],
                  core: np.ndarray, held: set[str], cache: dict | None = None) -> dict[str, Any]:
    """The digital nodes (as the engine lists them: not the input, not a synaptic op,
    not a neuron layer), each output element on the core of its first reader: the core
    of the first neuron it feeds, or of the first column group reading it, or, through
    another digital node, that node's element's core. Returns the nodes with their cores
    and elements per core, the spike-spike products (Mul, ReduceSum, MatMul) and where
    they run (``held``: MatMuls held in tiles by the run's policy)."""
    from .routing import readers_of

    passes = (N.Flatten, *DIGITAL)
    todo = [n for n in net.order if n not in ops and isinstance(net.nodes[n], passes)]
    readers = None
    where: dict[str, np.ndarray] = {}
    for name in reversed(todo):
        w = np.full(int(np.prod(net.out_shapes[name])), -1, np.int64)
        for a, b in net.edges:
            if a != name:
                continue
            if b in homes and homes[b].size == w.size:  # the neurons it feeds
                w = np.where(w < 0, core[homes[b]], w)
            elif b in ops:
                if readers is None:
                    readers = readers_of(ops, groups, cache)
                _first_reader(w, readers[b].T, core)
            elif b in where:
                first = _first_output(net, b, name)
                ok = (w < 0) & (first >= 0)
                w[ok] = where[b][first[ok]]
        where[name] = w
    per_core: dict[int, dict[str, int]] = {}
    nodes = []
    for name in todo:
        if isinstance(net.nodes[name], N.Flatten):
            continue
        w = where[name]
        cores, counts = np.unique(w[w >= 0], return_counts=True)
        for c, k in zip(cores.tolist(), counts.tolist(), strict=True):
            per_core.setdefault(c, {})[name] = k
        nodes.append({"node": name, "kind": type(net.nodes[name]).__name__, "elements": w.size,
                      "cores": int(cores.size),
                      "spike_spike": isinstance(net.nodes[name], T.SPIKE_OPS),
                      "unit": "crossbar (held)" if name in held else "digital"})
    spike_ops = [d for d in nodes if d["spike_spike"]]
    return {"digital_nodes": nodes,
            "spike_spike_ops": len(spike_ops),
            "spike_spike_ops_digital": sum(d["unit"] == "digital" for d in spike_ops),
            "digital_per_core": {str(c): v for c, v in sorted(per_core.items())}}


def _first_reader(where: np.ndarray, reads, core_of_row: np.ndarray) -> None:
    """Set the unset entries of ``where`` (one per column of ``reads``, ``(readers,
    elements)``) to the core of the first reader of that element."""
    dep = reads.tocsc()
    dep.sort_indices()
    has = (np.diff(dep.indptr) > 0) & (where < 0)
    where[has] = core_of_row[dep.indices[dep.indptr[:-1][has]]]


def _first_output(net: Network, node: str, src: str) -> np.ndarray:
    """For every output element of ``src``: the first output element of digital node
    ``node`` that reads it (-1: none). A MatMul's in closed form (``a[l, i, k]`` is first
    read by output ``(l, i, 0)``, ``b[l, k, j]`` by ``(l, 0, j)``), the others from
    their dependency matrix."""
    from .lowering import dependency

    n_src = int(np.prod(net.out_shapes[src]))
    nd = net.nodes[node]
    if isinstance(nd, T.MatMul):
        lead, m, k, n = nd.dims(*(net.out_shapes[s] for s in nd.operands))
        first = np.full(n_src, -1, np.int64)
        if src == nd.operands[1]:
            lkj = np.arange(lead * k * n).reshape(lead, k, n)
            first = (np.arange(lead)[:, None, None] * m * n + lkj % n).reshape(-1)
        if src == nd.operands[0]:
            rows = np.repeat(np.arange(lead * m), k) * n
            first = rows if (first < 0).all() else np.minimum(first, rows)
        return first
    dep = dependency(net, node, src=src).tocsc()
    dep.sort_indices()
    first = np.full(n_src, -1, np.int64)
    has = np.diff(dep.indptr) > 0
    first[has] = dep.indices[dep.indptr[:-1][has]]
    return first


def place(blocks, neurons: np.ndarray, traffic: Traffic, chip, *, share: bool, seed: int,
          placement: str, chips: int | None, order: np.ndarray | None = None):
    """Cores of every column group (sequential baseline, chosen placement) and the chips
    they take: ``chips`` None for the fewest that hold the placement, else that many
    (too few: design rule ``cores``, raised by the caller's placed-stage check);
    ``order``: the column groups in network order (:func:`network_order`)."""
    from .placement import choose_placement, sequential_placement

    if placement == "sequential":
        base = best = sequential_placement(blocks, neurons, chip, share, order)
    else:
        base, best = choose_placement(blocks, neurons, traffic, chip, share, seed, order)
    need = chips_needed(int(best.max(initial=-1)) + 1, chip.cores)
    n_chips = need if chips is None else int(chips)
    if need <= n_chips and n_chips > 1:
        best = assign_chips(traffic, best, chip.cores, min(need, n_chips),
                            partition=placement == "partition", seed=seed)
    return base, best, n_chips


def network_order(net: Network, groups, extra: dict[str, np.ndarray]) -> np.ndarray:
    """The column groups in network order: each op's groups at its node, the neuron-only
    groups of a layer fed by no op (appended last) at that layer's node."""
    pos = {name: i for i, name in enumerate(net.order)}
    key = np.array([pos.get(cg.op, 0) for cg in groups], np.int64)
    for layer, ids in extra.items():
        key[np.unique(ids)] = pos[layer]
    return np.argsort(key, kind="stable")


#: the report's keys that :func:`extent` adds (``MappingReport.extent``)
EXTENT_KEYS = ("chips", "cores_per_chip", "cores_per_chip_used", "inter_chip_packets",
               "inter_chip_input_packets", "inter_chip_link_energy", "row_segments",
               "partial_sum_packets", "inter_chip_partial_sum_packets", "static_matrices",
               "static_matrices_on_crossbars", "static_weights", "static_weights_on_crossbars",
               "static_on_crossbars_fraction", "spike_spike_ops", "spike_spike_ops_digital",
               "digital_nodes", "digital_per_core", "splits")


def extent(net: Network, chip, ops, groups, homes, core: np.ndarray, traffic: Traffic, *,
           held: set[str], splits: list | None = None, cache: dict | None = None) -> dict[str, Any]:
    """What the mapping occupies and sends between chips (see the module docstring);
    ``cache``: the mapping's cache of the ops' readers (:func:`~.routing.readers_of`)."""
    cpc = chip.cores
    chip_of = np.asarray(core, np.int64) // cpc
    used = np.bincount(chip_of) if chip_of.size else np.zeros(0, np.int64)
    cores_used = np.zeros(used.size, np.int64)
    for c in np.unique(core):
        cores_used[c // cpc] += 1
    out: dict[str, Any] = {
        "chips": int(np.count_nonzero(cores_used)) or 1, "cores_per_chip": int(cpc),
        "cores_per_chip_used": cores_used[cores_used > 0].tolist(),
        "inter_chip_packets": packets(traffic, chip_of),
        "inter_chip_input_packets": host_chip_packets(traffic, chip_of),
        # the card schema has no energy per inter-chip packet: counts only
        "inter_chip_link_energy": None,
        **partial_sums(groups, ops, core, cpc), **crossbar_share(net, ops),
        **digital_units(net, ops, groups, homes, core, held, cache)}
    if splits:
        out["splits"] = splits
    return out


def extent_text(ext) -> list[str]:
    """The report lines of :func:`extent` (none when absent)."""
    if not ext:
        return []
    lines = [f"chips {ext['chips']} of {ext['cores_per_chip']} cores (cores used per chip: "
             f"{_short_list(ext['cores_per_chip_used'])}); inter-chip spike packets per step: "
             f"{ext['inter_chip_packets']:.1f} (from the host {ext['inter_chip_input_packets']:.1f};"
             " counts only: the card gives no inter-chip link energy)"]
    if ext.get("row_segments"):
        lines.append(f"row segments {ext['row_segments']} (layers wider than a core's tiles): "
                     f"partial-sum packets per step <= {ext['partial_sum_packets']:.0f}, "
                     f"{ext['inter_chip_partial_sum_packets']:.0f} of them between chips")
    lines.append(f"static matrices on crossbars: {ext['static_matrices_on_crossbars']} of "
                 f"{ext['static_matrices']} ({ext['static_on_crossbars_fraction']:.1%} of "
                 f"{ext['static_weights']} weights)")
    spike = [d for d in ext["digital_nodes"] if d["spike_spike"]]
    lines.append(f"spike-spike ops on digital units: {ext['spike_spike_ops_digital']} of "
                 f"{ext['spike_spike_ops']}" + (": " + _short_list(
                     [f"{d['node']} ({d['kind']}, {d['cores']} cores)" for d in spike]) if spike
                     else ""))
    n_dig = len(ext["digital_nodes"])
    per = ext["digital_per_core"]
    lines.append(f"digital nodes {n_dig} on {len(per)} cores (elements per core: max "
                 f"{max((sum(v.values()) for v in per.values()), default=0)})")
    return lines


def _short_list(items, n: int = 8) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")
