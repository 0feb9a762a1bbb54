"""The per-layer split (``conv_regions="auto"``): how each synaptic layer is cut so that
every column group fits one core.

A layer lowered to op groups of ``C`` outputs over ``P`` output positions (a
convolution's ``H_out·W_out``; 1 for a dense layer) with ``K`` crossbar rows is cut
three ways (:mod:`.lowering`, :mod:`.tiling`):

* **regions** ``r``: runs of ``q = ceil(P / r)`` output positions, each served by its own
  replica of the kernel (a convolution only);
* **output chunks** of ``c ≤ outputs_per_tile`` outputs: a column group then produces
  ``c·q`` neurons, which must be at most ``neurons_per_core``;
* **row segments** of at most ``tiles_per_core`` row blocks when ``ceil(K / rows)`` row
  blocks exceed one core's tiles: the first segment's core holds the neurons and adds
  the other segments' partial sums, sent to it over the network (DESIGN §3.4: partial
  sums of row tiles are added digitally before the neuron). A neuron's synapses stay
  within the card's ``max_fan_in`` (design rule ``fan_in``): that limit is the card's.

Among the ``(r, c)`` that fit (``c`` from the most outputs down to 1; ``q`` from the
most positions ``c`` allows down to 1, halving), the split chosen has, in this order:
a fan-out within the card's ``max_fan_out`` if any has; the fewest cores (the largest
of the neurons' bound, the tiles' bound, a tile counting the larger side fraction of
each block as :func:`~neurocosim.mapping.placement.tile_load` does, and the column
groups over the groups a core holds by its neurons and tiles); the fewest cores a spike
reaches (the cores holding one region's chunks times the regions a receptive field
touches); the fewest tiles. A layer whose unsplit mapping fits (one region, chunks of a
tile's outputs, ``c·P ≤ neurons_per_core``, at most ``tiles_per_core`` row blocks)
keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..devices.layout import ColumnLayout
from ..devices.schema import ChipCard
from ..ir import nodes as N
from ..ir.graph import Network

__all__ = ["LayerSplit", "Splits", "choose_splits", "layer_split", "lower_split", "rebuild_ops",
           "shape_ops"]


@dataclass(frozen=True, kw_only=True)
class LayerSplit:
    """One layer's split: ``regions`` (position runs), ``outputs`` per column group (both
    0: not split, as without ``auto``), ``segments`` (row segments per column group) and
    the estimates that chose it."""

    op: str
    regions: int
    outputs: int
    segments: int
    column_groups: int
    cores: int  # lower bound of the layer's cores
    tiles: float  # the layer's tile load (each block's larger side fraction)
    rows_load: float = 0.0  # its blocks' rows over a tile's rows (tiles >= this)
    cols_load: float = 0.0  # its blocks' columns over a tile's columns (tiles >= this)
    fan_out: int  # cores one input spike reaches at most (estimate)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class Splits:
    """Every layer's split; ``regions`` and ``outputs`` as :func:`~.lowering.lower_network`
    and :func:`~.tiling.tile_ops` take them; ``segment_blocks`` the row blocks of a
    segment (one core's tiles)."""

    layers: tuple[LayerSplit, ...]
    segment_blocks: int

    @property
    def regions(self) -> dict[str, int]:
        return {s.op: s.regions for s in self.layers if s.regions > 0}

    @property
    def outputs(self) -> dict[str, int]:
        return {s.op: s.outputs for s in self.layers if s.outputs > 0}


def _shape(net: Network, name: str, bias_row: bool):
    """``(groups, C, P, K, kernel rows, kernel cols, W_out)`` of a synaptic node."""
    node = net.nodes[name]
    if isinstance(node, N.Conv2d):
        cin = net.in_shapes[name][0]
        cout, ho, wo = net.out_shapes[name]
        g = node.groups
        kh, kw = node.weight.shape[2:]
        return g, cout // g, ho * wo, cin // g * kh * kw + bias_row, kh, kw, wo
    n_out, n_in = node.weight.shape
    return 1, n_out, 1, n_in + bias_row, 1, 1, 1


def layer_split(net: Network, name: str, chip: ChipCard, *, bias_row: bool = False,
                share: bool = True) -> LayerSplit:
    """The split of synaptic node ``name`` (see the module docstring): every output
    chunk ``c`` with region sizes ``q`` from the most positions its neurons allow down
    to 1, halving."""
    m = chip.macro
    opt = ColumnLayout.of(m).outputs_per_tile(m.cols)
    shape = _shape(net, name, bias_row)
    g, C, P, K = shape[:4]
    nb = -(-K // m.rows)
    best = LayerSplit(op=name, regions=0, outputs=0, segments=-(-nb // chip.tiles_per_core),
                      column_groups=0, cores=0, tiles=0.0, fan_out=0)
    best_key = None
    for c in range(min(opt, C, chip.neurons_per_core), 0, -1):
        q = min(P, chip.neurons_per_core // c)
        while q >= 1:
            key, split = _candidate(name, shape, chip, c, q, share)
            today = (split.regions == 1 or P == 1) and c == min(opt, C) and c * P <= \
                chip.neurons_per_core and nb <= chip.tiles_per_core
            if today:  # today's mapping fits: keep it (0: no split)
                return replace(split, regions=0, outputs=0)
            if best_key is None or key < best_key:
                best, best_key = split, key
            q = q // 2 if q > 1 else 0
    return best


def _candidate(name: str, shape, chip: ChipCard, c: int, q: int, share: bool):
    """The sort key and :class:`LayerSplit` of ``c`` outputs per column group and
    regions of at most ``q`` positions."""
    m = chip.macro
    layout = ColumnLayout.of(m)
    g, C, P, K, kh, kw, wo = shape
    npc, tpc = chip.neurons_per_core, chip.tiles_per_core
    nb = -(-K // m.rows)
    r = -(-P // q)
    q = -(-P // r)
    chunks = -(-C // c)
    c_eq = -(-C // chunks)
    groups = g * r * chunks
    load = 0.0
    for b in range(nb):
        rows = min(m.rows, K - b * m.rows)
        load += max(rows / m.rows, layout.block_columns(c_eq) / m.cols) if share else 1.0
    tiles = groups * load
    # as many column groups share a core as its neurons and tiles allow
    per_core = max(1, min(npc // (c_eq * q), int(tpc // max(load, 1e-9))))
    cores = max(-(-(g * C * P) // npc), math.ceil(tiles / tpc - 1e-9), -(-groups // per_core))
    # cores a spike reaches: the cores of one region's chunks times the regions a
    # receptive field touches (runs of q positions over kh - 1 rows and kw columns)
    span = (kh - 1) * wo + kw - 1 if P > 1 else 0
    fan = -(-chunks // per_core) * min(r, 1 + -(-span // q))
    segments = -(-nb // tpc)
    split = LayerSplit(op=name, regions=r if P > 1 else 0, outputs=c_eq, segments=segments,
                       column_groups=groups * segments, cores=cores, tiles=tiles, fan_out=fan,
                       rows_load=groups * K / m.rows,
                       cols_load=groups * nb * layout.block_columns(c_eq) / m.cols)
    return (fan > chip.max_fan_out, cores, fan, tiles), split


def choose_splits(net: Network, chip: ChipCard, *, bias_row: bool = False,
                  share: bool = True) -> Splits:
    """The split of every synaptic layer of ``net`` on ``chip``."""
    from .lowering import SYNAPTIC

    layers = tuple(layer_split(net, n, chip, bias_row=bias_row, share=share)
                   for n in net.order if isinstance(net.nodes[n], SYNAPTIC))
    return Splits(layers=layers, segment_blocks=chip.tiles_per_core)


def lower_split(net: Network, chip: ChipCard, conv_regions: int | str, *,
                bias_row: bool = False, share: bool = True):
    """Lower ``net``: ``conv_regions`` an int (row bands of every convolution, no other
    split) or ``"auto"`` (:func:`choose_splits`). Returns ``(ops, tiling, options)``:
    ``tiling`` the keywords of :func:`~.tiling.tile_ops`, ``options`` what
    :func:`rebuild_ops` needs to lower it again (and the splits chosen)."""
    from .lowering import lower_network

    if conv_regions == "auto":
        splits = choose_splits(net, chip, bias_row=bias_row, share=share)
        ops = lower_network(net, bias_row=bias_row, regions=splits.regions)
        tiling = {"outputs": splits.outputs, "segment_blocks": splits.segment_blocks}
        return ops, tiling, {"regions": splits.regions, **tiling,
                             "splits": [s.to_dict() for s in splits.layers]}
    if isinstance(conv_regions, bool) or not isinstance(conv_regions, int):
        from ..errors import MappingError

        raise MappingError(f"conv_regions must be a positive int or 'auto', got {conv_regions!r}")
    return lower_network(net, conv_regions=conv_regions, bias_row=bias_row), {}, {}


def rebuild_ops(net: Network, options) -> dict:
    """The ops of a saved mapping, lowered again from its ``options``."""
    from .lowering import lower_network

    regions = options.get("regions")
    return lower_network(net, conv_regions=1 if regions is not None else options["conv_regions"],
                         bias_row=options["bias"] == "row", regions=regions)


def shape_ops(net: Network, *, bias_row: bool = False) -> dict:
    """Every synaptic layer as a :class:`~.lowering.SynOp` of its matrix shapes only (one
    group per conv group, weights a zero-stride view, no read schedule): what the design
    rules of a layer's sizes (``fan_in``) read, before the lowering builds the schedules
    (gigabytes for a detection backbone's convolutions)."""
    import numpy as np

    from .lowering import SYNAPTIC, OpGroup, SynOp

    out = {}
    for name in net.order:
        if not isinstance(net.nodes[name], SYNAPTIC):
            continue
        g, C, P, K = _shape(net, name, bias_row)[:4]
        empty = np.zeros((0, K), np.int64)
        grp = OpGroup(weight=np.broadcast_to(0.0, (K, C)), gather=empty,
                      scatter=np.zeros((0, C), np.int64), region=np.zeros(0, np.int64))
        out[name] = SynOp(name=name, kind="conv" if P > 1 else "dense",
                          in_size=int(np.prod(net.in_shapes[name])), out_size=g * C * P,
                          groups=(grp,) * g, bias=np.zeros(0), bias_row=bias_row)
    return out
