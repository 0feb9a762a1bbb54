"""``map_network``: lowering → tiling → design rules → placement → :class:`MappedNetwork`.

A mapped network is saved as one directory, written atomically::

    OUT/network.nir   the network (NIR, with neurocosim metadata), or network.json and
                      network_arrays.npz when NIR has no node for one of its nodes
    OUT/chip.yaml     the chip card
    OUT/arrays.npz    blocks, column groups, placements, neuron homes, rates, traffic
    OUT/mapping.json  options and the report

Lowering is a pure function of the network and the options, so the crossbar matrices
are rebuilt on load rather than stored twice.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import output_dir
from ..devices.cards import dump_chip, load_chip
from ..devices.schema import ChipCard
from ..errors import MappingError, ModelError
from ..frontends import load_network, save_network
from ..ir import nodes as N
from ..ir.graph import Network
from . import drc
from .chips import EXTENT_KEYS, extent, extent_text, network_order, place
from .dynamic import DynamicPolicy, held_products, report_dict
from .lowering import SynOp, gather_inputs
from .netfile import read_network_files, write_network_files
from .placement import (
    Traffic,
    build_traffic,
    neuron_homes,
    output_owner,
    packets,
)
from .split import lower_split, rebuild_ops, shape_ops
from .tiling import Block, ColumnGroup, pack_cores, tile_ops

__all__ = ["MappedNetwork", "MappingReport", "map_network", "save_mapped", "load_mapped"]

_BLOCK_FIELDS = ("group", "region", "row_lo", "row_hi", "out_lo", "out_hi", "colgroup", "tile",
                 "row0", "col0", "cols")
_CG_FIELDS = ("group", "region", "out_lo", "out_hi", "neurons", "synapses", "row_lo", "row_hi",
              "home")
_ANY_CHIPS = 1 << 30  # chips=None: the tiled-stage lower bound never fails on chips
_CG_DEFAULTS = {"row_lo": 0, "row_hi": -1, "home": -1}  # mappings saved before row segments


@dataclass(frozen=True, kw_only=True)
class MappingReport:
    """What the mapping costs: tiles, cores, utilisation and estimated spike traffic."""

    tiles: int
    cores: int
    baseline_tiles: int
    baseline_cores: int
    tile_utilisation: tuple[float, ...]
    inter_core_packets: float
    baseline_inter_core_packets: float
    input_packets: float
    layers: tuple[dict, ...]
    warnings: tuple[str, ...] = ()
    dynamic_products: Mapping[str, Any] | None = None  # mapping.dynamic.WriteReport.to_dict
    extent: Mapping[str, Any] | None = None  # chips, crossbar share, digital units (.chips)

    @property
    def tile_utilisation_mean(self) -> float:
        return float(np.mean(self.tile_utilisation)) if self.tile_utilisation else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tiles": self.tiles,
            "cores": self.cores,
            "baseline_tiles": self.baseline_tiles,
            "baseline_cores": self.baseline_cores,
            "tile_utilisation_mean": self.tile_utilisation_mean,
            "tile_utilisation": list(self.tile_utilisation),
            "inter_core_packets": self.inter_core_packets,
            "baseline_inter_core_packets": self.baseline_inter_core_packets,
            "input_packets": self.input_packets,
            "packet_ratio": (self.inter_core_packets / self.baseline_inter_core_packets
                             if self.baseline_inter_core_packets > 0 else 1.0),
            "layers": list(self.layers),
            "warnings": list(self.warnings),
            **({"dynamic_products": self.dynamic_products} if self.dynamic_products else {}),
            **dict(self.extent or {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MappingReport:
        return cls(tiles=d["tiles"], cores=d["cores"], baseline_tiles=d["baseline_tiles"],
                   baseline_cores=d["baseline_cores"],
                   tile_utilisation=tuple(d["tile_utilisation"]),
                   inter_core_packets=d["inter_core_packets"],
                   baseline_inter_core_packets=d["baseline_inter_core_packets"],
                   input_packets=d["input_packets"], layers=tuple(d["layers"]), warnings=tuple(d["warnings"]),
                   dynamic_products=d.get("dynamic_products"),
                   extent={k: d[k] for k in EXTENT_KEYS if k in d} or None)

    def text(self) -> str:
        w = max([14] + [len(ly["op"]) + 1 for ly in self.layers])
        lines = [f"{'layer':<{w}}{'kind':<7}{'rows':>6}{'outputs':>9}{'groups':>8}{'tiles':>7}"
                 f"{'cores':>7}"]
        for ly in self.layers:
            lines.append(f"{ly['op']:<{w}}{ly['kind']:<7}{ly['rows']:>6}{ly['outputs']:>9}"
                         f"{ly['column_groups']:>8}{ly['tiles']:>7}{ly['cores']:>7}")
        ratio = (self.inter_core_packets / self.baseline_inter_core_packets
                 if self.baseline_inter_core_packets > 0 else 1.0)
        lines.append(f"tiles {self.tiles}, cores {self.cores} (sequential baseline: "
                     f"{self.baseline_tiles} tiles, {self.baseline_cores} cores), mean tile utilisation "
                     f"{self.tile_utilisation_mean:.1%}")
        lines.append(f"inter-core spike packets per step: {self.inter_core_packets:.1f} "
                     f"(sequential baseline {self.baseline_inter_core_packets:.1f}, ratio "
                     f"{ratio:.2f}); input packets from the host {self.input_packets:.1f}")
        lines.extend(extent_text(self.extent))
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend((self.dynamic_products or {}).get("text", ()))
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True, eq=False)
class MappedNetwork:
    """A network placed on a chip: ops on tiles, tiles and neurons on cores."""

    network: Network
    chip: ChipCard
    ops: Mapping[str, SynOp]
    blocks: tuple[Block, ...]
    colgroups: tuple[ColumnGroup, ...]
    core: np.ndarray  # column group -> core (chosen placement)
    baseline_core: np.ndarray  # column group -> core (sequential baseline)
    neuron_home: Mapping[str, np.ndarray]  # layer -> column group per neuron
    rates: Mapping[str, np.ndarray]
    traffic: Traffic
    options: Mapping[str, Any]
    report: MappingReport
    n_tiles: int = field(default=0)

    def tile_core(self) -> np.ndarray:
        """Core of every tile."""
        out = np.full(self.n_tiles, -1, np.int64)
        for b in self.blocks:
            out[b.tile] = self.core[b.colgroup]
        return out

    def blocks_of(self, op: str) -> list[Block]:
        return [b for b in self.blocks if b.op == op]

    def op_forward(self, op: str, x: np.ndarray) -> np.ndarray:
        """Ideal-tile evaluation of op ``op`` on a batch ``(B, *in_shape)``: every block's
        partial sum (float, exact conductances) added digitally, then the bias.

        The mapped counterpart of :func:`neurocosim.hwsim.reference.node_forward`."""
        sop = self.ops[op]
        xb = np.asarray(x, float).reshape(len(x), -1)
        y = np.zeros((len(xb), sop.out_size)) + sop.bias
        for b in self.blocks_of(op):
            grp = sop.groups[b.group]
            reads = np.flatnonzero(grp.region == b.region)
            idx = grp.gather[np.ix_(reads, np.arange(b.row_lo, b.row_hi))]
            part = gather_inputs(xb, idx) @ grp.weight[b.row_lo:b.row_hi, b.out_lo:b.out_hi]
            y[:, grp.scatter[np.ix_(reads, np.arange(b.out_lo, b.out_hi))]] += part
        return y.reshape((len(xb), *self.network.out_shapes[op]))

    def rebuilt_matrix(self, op: str) -> np.ndarray:
        """The op's dense ``(out, in)`` matrix rebuilt from its tile blocks (checks)."""
        sop = self.ops[op]
        m = np.zeros((sop.out_size, sop.in_size))
        for b in self.blocks_of(op):
            grp = sop.groups[b.group]
            reads = np.flatnonzero(grp.region == b.region)
            w = grp.weight[b.row_lo:b.row_hi, b.out_lo:b.out_hi]
            for p in reads:
                ks = grp.gather[p, b.row_lo:b.row_hi]
                ok = ks >= 0
                m[np.ix_(grp.scatter[p, b.out_lo:b.out_hi], ks[ok])] += w[ok].T
        return m


def _layer_of_op(net: Network, ops) -> dict[str, str]:
    """The neuron layer each op feeds (through digital nodes)."""
    out = {}
    for name in ops:
        stack, seen = [name], set()
        while stack:
            n = stack.pop()
            for a, b in net.edges:
                if a != n or b in seen:
                    continue
                seen.add(b)
                if isinstance(net.nodes[b], N.Neuron):
                    out.setdefault(name, b)
                elif not isinstance(net.nodes[b], (N.Affine, N.Linear, N.Conv2d, N.Output)):
                    stack.append(b)
    return out


def map_network(
    net: Network,
    chip: ChipCard,
    *,
    rates: Mapping[str, np.ndarray] | None = None,
    placement: str = "partition",
    conv_regions: int | str = 1,
    bias: str = "digital",
    tile_sharing: bool = True,
    seed: int = 0, dynamic_products: DynamicPolicy | None = None,
    chips: int | None = 1,
) -> MappedNetwork:
    """Map ``net`` onto ``chip``.

    Parameters
    ----------
    rates
        Mean spikes per step of each neuron, by layer name (and the Input node's name for
        the input), e.g. from a reference run; missing layers count 1.
    placement
        ``"partition"`` (Mt-KaHyPar, multicast-aware) or ``"sequential"``.
    conv_regions
        Spatial bands per convolution (kernel replicas; see :mod:`.lowering`), or
        ``"auto"``: every layer split as its column groups fit a core (:mod:`.split`).
    bias
        ``"digital"`` (added after the partial sums) or ``"row"`` (a crossbar row).
    tile_sharing
        Pack small blocks of different layers into shared tiles.
    seed
        Seed of the partitioner.
    dynamic_products
        Where MatMuls of two activations run (:mod:`.dynamic`; default: digital units).
    chips
        Chips to place on (``chip.cores`` cores each; see :mod:`.chips`); None: the fewest
        that hold the placement.

    Raises
    ------
    MappingError
        A design rule is violated; the message names the rule, layer, limit, need and fix.
    """
    _check_options(net, chip, placement, bias, chips)
    ops, tiling, split_opts = lower_split(net, chip, conv_regions, bias_row=bias == "row",
                                          share=tile_sharing)
    ctx = drc.RuleContext(net=net, chip=chip, ops=ops, share=tile_sharing,
                          dynamic=dynamic_products or DynamicPolicy(), chips=chips or _ANY_CHIPS)
    drc.check_rules(ctx)
    blocks, groups = tile_ops(ops, chip, **tiling)
    layer_of = _layer_of_op(net, ops)
    ctx = replace(ctx, layer_of_op=layer_of, groups=tuple(groups), blocks=tuple(blocks))
    soft = drc.check_rules(ctx)
    for w in soft:
        warnings.warn(w, stacklevel=2)
    groups, extra = _neuron_only_groups(net, chip, groups, set(layer_of.values()))
    neurons = np.array([cg.neurons for cg in groups], np.int64)
    owner = output_owner(ops, groups)
    cache: dict = {}  # dependency matrices of the digital nodes, for this network
    homes = neuron_homes(net, ops, owner, extra, cache)
    rates = {k: np.asarray(v, float).reshape(-1) for k, v in (rates or {}).items()}
    traffic = build_traffic(net, ops, groups, homes, rates, cache)
    base, best, n_chips = place(blocks, neurons, traffic, chip, share=tile_sharing, seed=seed,
                                placement=placement, chips=chips,
                                order=network_order(net, groups, extra))
    drc.check_rules(replace(ctx, groups=tuple(groups), core=best, traffic=traffic, chips=n_chips))
    blocks, per_core, base_per_core = _pack(blocks, best, base, chip, tile_sharing)
    n_tiles = int(per_core.sum())
    report = _report(ops, blocks, best, base, traffic, chip, n_tiles,
                     tuple(str(w) for w in soft), int(base_per_core.sum()))
    report = replace(report, dynamic_products=report_dict(net, chip, ctx.dynamic), extent=extent(
        net, chip, ops, groups, homes, best, traffic, splits=split_opts.get("splits"), cache=cache,
        held={h.node for h in held_products(net, chip, ctx.dynamic)}))
    return MappedNetwork(
        network=net, chip=chip, ops=ops, blocks=tuple(blocks), colgroups=tuple(groups),
        core=best, baseline_core=base, neuron_home=homes, rates=rates,
        traffic=traffic, report=report, n_tiles=n_tiles,
        options={"placement": placement, "conv_regions": conv_regions, "bias": bias,
                 "tile_sharing": tile_sharing, "seed": seed, "chips": n_chips,
                 **{k: v for k, v in split_opts.items() if k != "splits"}},
    )


def _pack(blocks, best: np.ndarray, base: np.ndarray, chip: ChipCard, share: bool):
    """The blocks packed into the tiles of ``best``'s cores; tiles per core of ``best`` and
    of the baseline ``base``."""
    m = chip.macro
    packed, per_core = pack_cores(blocks, best, m.rows, m.cols, share)
    same = np.array_equal(base, best)
    return packed, per_core, per_core if same else pack_cores(blocks, base, m.rows, m.cols, share)[1]


def _check_options(net: Network, chip: ChipCard, placement: str, bias: str, chips) -> None:
    """The options' values, then design rule ``fan_in`` on the layers' sizes alone
    (before the lowering builds the read schedules: gigabytes for a large network)."""
    if placement not in ("partition", "sequential"):
        raise MappingError(f"placement must be 'partition' or 'sequential', got {placement!r}")
    if bias not in ("digital", "row"):
        raise MappingError(f"bias must be 'digital' or 'row', got {bias!r}")
    if chips is not None and (isinstance(chips, bool) or not isinstance(chips, int) or chips < 1):
        raise MappingError(f"chips must be a positive int or None (the fewest), got {chips!r}")
    light = shape_ops(net, bias_row=bias == "row")
    drc.rule_fan_in(drc.RuleContext(net=net, chip=chip, ops=light,
                                    layer_of_op=_layer_of_op(net, light)))


def _neuron_only_groups(net: Network, chip: ChipCard, groups: list[ColumnGroup],
                        fed: set[str]) -> tuple[list[ColumnGroup], dict[str, np.ndarray]]:
    """``groups`` with neuron-only column groups appended for the layers fed by no
    crossbar op, and the column group of every neuron of those layers."""
    extra: dict[str, np.ndarray] = {}
    groups = list(groups)
    for layer in net.layers():
        if layer in fed:
            continue
        n = int(np.prod(net.out_shapes[layer]))
        ids = []
        for lo in range(0, n, chip.neurons_per_core):
            hi = min(n, lo + chip.neurons_per_core)
            groups.append(ColumnGroup(id=len(groups), op="", group=0, region=0, out_lo=lo,
                                      out_hi=hi, neurons=hi - lo, synapses=0))
            ids.append(np.full(hi - lo, len(groups) - 1))
        extra[layer] = np.concatenate(ids)
    return groups, extra


def _report(ops, blocks, core, base, traffic, chip, n_tiles, soft, base_tiles) -> MappingReport:
    R, C = chip.macro.rows, chip.macro.cols
    used = np.zeros(n_tiles)
    for b in blocks:
        used[b.tile] += b.rows * b.cols
    util = tuple(float(u / (R * C)) for u in used)
    layers = []
    for name, op in ops.items():
        bl = [b for b in blocks if b.op == name]
        cgs = {b.colgroup for b in bl}
        layers.append({
            "op": name, "kind": op.kind, "rows": max(g.rows for g in op.groups),
            "outputs": op.out_size, "column_groups": len(cgs),
            "tiles": len({b.tile for b in bl}),
            "cores": len({int(core[c]) for c in cgs}),
        })
    return MappingReport(
        tiles=n_tiles, cores=int(core.max(initial=-1)) + 1, baseline_tiles=base_tiles,
        baseline_cores=int(base.max(initial=-1)) + 1, tile_utilisation=util,
        inter_core_packets=packets(traffic, core),
        baseline_inter_core_packets=packets(traffic, base),
        input_packets=packets(traffic, core, source="input"), layers=tuple(layers),
        warnings=tuple(soft),
    )


# -- save / load -----------------------------------------------------------------------
def save_mapped(mapped: MappedNetwork, out: str | Path, *, force: bool = False) -> Path:
    """Write ``mapped`` to folder ``out`` (see :func:`neurocosim._atomic.output_dir`: a
    folder holding files neurocosim did not write is refused unless ``force``; each file
    is replaced atomically)."""
    out = Path(out)
    with output_dir(out, force=force, command="map") as tmp:
        write_mapping_files(mapped, tmp)
    return out


def write_mapping_files(mapped: MappedNetwork, tmp: Path) -> None:
    """Write the mapping's files into directory ``tmp`` (used by :func:`save_mapped`)."""
    try:
        save_network(mapped.network, tmp / "network.nir")
    except ModelError:  # NIR has no node for it (max pooling, the transformers' products)
        (tmp / "network.nir").unlink(missing_ok=True)
        write_network_files(mapped.network, tmp)
    (tmp / "chip.yaml").write_text(dump_chip(mapped.chip))
    arrays: dict[str, np.ndarray] = {
        "core": mapped.core, "baseline_core": mapped.baseline_core,
        "block_op": np.array([b.op for b in mapped.blocks], dtype=str),
        "cg_op": np.array([c.op for c in mapped.colgroups], dtype=str),
        "traffic_ptr": mapped.traffic.ptr, "traffic_pins": mapped.traffic.pins,
        "traffic_home": mapped.traffic.home, "traffic_weight": mapped.traffic.weight,
        "traffic_sources": np.array(mapped.traffic.sources, dtype=str),
    }
    for f in _BLOCK_FIELDS:
        arrays[f"block_{f}"] = np.array([getattr(b, f) for b in mapped.blocks], np.int64)
    for f in _CG_FIELDS:
        arrays[f"cg_{f}"] = np.array([getattr(c, f) for c in mapped.colgroups], np.int64)
    for k, v in mapped.neuron_home.items():
        arrays[f"home/{k}"] = v
    for k, v in mapped.rates.items():
        arrays[f"rate/{k}"] = v
    with open(tmp / "arrays.npz", "wb") as fh:
        np.savez(fh, **arrays)
    meta = {"format": "neurocosim-mapping-v1", "n_tiles": mapped.n_tiles,
            "options": dict(mapped.options), "report": mapped.report.to_dict()}
    (tmp / "mapping.json").write_text(json.dumps(meta, indent=2) + "\n")
    (tmp / "report.json").write_text(json.dumps(mapped.report.to_dict(), indent=2) + "\n")
    (tmp / "report.txt").write_text(mapped.report.text() + "\n")


def load_mapped(path: str | Path) -> MappedNetwork:
    """Read a mapping directory written by :func:`save_mapped`."""
    path = Path(path)
    meta_path = path / "mapping.json"
    if not meta_path.exists():
        raise MappingError(f"{path}: not a mapping directory (no mapping.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "neurocosim-mapping-v1":
        raise MappingError(f"{path}: unknown mapping format {meta.get('format')!r}")
    net = (load_network(path / "network.nir") if (path / "network.nir").exists()
           else read_network_files(path))
    chip = load_chip(path / "chip.yaml")
    opts = meta["options"]
    ops = rebuild_ops(net, opts)
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    blocks = tuple(Block(op=str(a["block_op"][i]), **{f: int(a[f"block_{f}"][i]) for f in _BLOCK_FIELDS})
                   for i in range(len(a["block_op"])))
    groups = tuple(ColumnGroup(id=i, op=str(a["cg_op"][i]),
                               **{f: int(a[f"cg_{f}"][i]) if f"cg_{f}" in a else _CG_DEFAULTS[f]
                                  for f in _CG_FIELDS})
                   for i in range(len(a["cg_op"])))
    traffic = Traffic(ptr=a["traffic_ptr"], pins=a["traffic_pins"], home=a["traffic_home"],
                      weight=a["traffic_weight"],
                      sources=np.array(a["traffic_sources"].tolist(), dtype=object))
    return MappedNetwork(
        network=net, chip=chip, ops=ops, blocks=blocks, colgroups=groups, core=a["core"], baseline_core=a["baseline_core"],
        neuron_home={k[5:]: v for k, v in a.items() if k.startswith("home/")},
        rates={k[5:]: v for k, v in a.items() if k.startswith("rate/")},
        traffic=traffic, options=opts, report=MappingReport.from_dict(meta["report"]),
        n_tiles=int(meta["n_tiles"]),
    )
