"""Products of two activations held in tiles: where they run and the writes they cost.

A :class:`~neurocosim.ir.tensors.MatMul` multiplies two activations (Spikformer's SSA:
``q·kᵀ``, ``(q·kᵀ)·v``, ``kᵀ·v``, ``q·(kᵀ·v)``). On a crossbar a matrix is held in the
cells and the inputs drive the rows; here the matrix changes at every step, so holding
it means *writing* it at every step. The run's policy (:class:`DynamicPolicy`,
``ChipRunOptions.dynamic_products``, ``--dynamic-products``) decides:

* ``"digital"`` (the default): every product runs on the digital spike units
  (``hwsim/digital_table.py``), no cell is written;
* ``"crossbar"``: every MatMul is held in tiles. On a card with a ``writable_tile``
  section (SRAM or gain-cell compute-in-memory) it goes there, if the chip's writable
  tiles hold every product at once; on a card without one (RRAM/PCM crossbars) the
  design rule ``dynamic_product`` (:mod:`.drc`) refuses it, with the numbers below,
  unless the run also accepts the wear (``allow_rram_writes``, ``--allow-rram-writes``);
  the numbers then go to the mapping and energy reports.

**Which operand is held.** For ``y = a·b``, ``a`` ``(L, M, K)`` and ``b`` ``(L, K, N)``,
the tile holds the second operand ``b``, ``K`` rows × ``N`` outputs per head (the layout
of a crossbar weight ``W`` of ``K`` inputs and ``N`` outputs), and each of ``a``'s ``M``
rows drives its ``K`` rows once. For SSA this stores ``kᵀ`` ``(d × N)`` then ``v``
``(N × d)`` in ``(q·kᵀ)·v``, and ``v`` ``(N × d)`` then ``kᵀ·v`` ``(d × d)`` in ``q·(kᵀ·v)``.

**Writes, closed form.** The simplest and standard model: every cell of the held operand
is rewritten at every step (no write-verify skip of unchanged cells). With ``c`` cells
per element (an RRAM/PCM crossbar: the card's columns per weight, 2 for differential
pairs; a writable tile: 1 for a binary spike operand, ``count_bits`` for a count)::

    cells written per step       = L · K · N · c              (per MatMul)
    cells written per inference  = T · L · K · N · c          (T steps)
    write energy per inference   = cells per inference × energy_per_cell
    write latency per step       = min(K, tile rows) × latency_per_row
                                   (a tile writes its rows one after another, tiles in parallel)
    writes per cell per inference = T
    lifetime in inferences        = endurance / T             (unlimited for SRAM)

For SSA with ``h`` heads, ``N`` tokens, ``d`` features per head and differential pairs
(c = 2): ``(q·kᵀ)·v`` writes ``2·(h·d·N + h·N·d)`` cells per step, ``q·(kᵀ·v)`` writes
``2·(h·N·d + h·d·d)``.

What is not modelled: the product's values stay exact (the engine computes them as on
the digital units; an RRAM operand's programming noise is not drawn); its arithmetic is
priced as the digital units' MACs unless the writable tile gives ``read_energy_per_mac``.
Mul and ReduceSum (elementwise products, popcounts) hold no matrix and stay digital.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..devices.layout import ColumnLayout
from ..devices.schema import ChipCard
from ..errors import MappingError
from ..ir import tensors as T
from ..ir.graph import Network
from ..units import format_quantity as fq

__all__ = ["POLICIES", "DynamicPolicy", "HeldProduct", "WriteReport", "held_products",
           "write_report", "report_dict",
           "mapped_writes"]

#: where products of two activations run
POLICIES = ("digital", "crossbar")


@dataclass(frozen=True)
class DynamicPolicy:
    """Where the run puts its products of activations (see the module docstring):
    ``mode`` (:data:`POLICIES`), ``allow_rram_writes`` (accept writing RRAM/PCM cells at
    every step) and ``steps`` (``T``, the steps of one inference, for the per-inference
    figures and the lifetime)."""

    mode: str = "digital"
    allow_rram_writes: bool = False
    steps: int = 1

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise MappingError(f"dynamic_products must be one of {', '.join(POLICIES)}, "
                               f"got {self.mode!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise MappingError(f"dynamic products: steps per inference must be an integer "
                               f">= 1, got {self.steps!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "allow_rram_writes": self.allow_rram_writes,
                "steps": self.steps}


@dataclass(frozen=True)
class HeldProduct:
    """One MatMul held in tiles: ``stored`` (its second operand) ``heads × rows × cols``
    elements of ``cells_per_element`` cells each, on ``tiles`` tiles of ``place``
    (``"writable_tile"`` or ``"crossbar"``); the write costs (None: not on the card)."""

    node: str
    stored: str
    place: str
    heads: int
    reads: int
    rows: int
    cols: int
    cells_per_element: int
    tiles: int
    tile_rows: int
    energy_per_cell: float | None
    latency_per_row: float | None
    endurance: float | None  # None: no wear-out
    in_memory_mac: bool = False  # its MACs priced at writable_tile.read_energy_per_mac

    @property
    def kind(self) -> str:
        return "MatMul"

    @property
    def cells_per_step(self) -> int:
        return self.heads * self.rows * self.cols * self.cells_per_element

    @property
    def macs_per_step(self) -> int:
        return self.heads * self.reads * self.rows * self.cols

    @property
    def write_energy_per_step(self) -> float | None:
        e = self.energy_per_cell
        return None if e is None else self.cells_per_step * e

    @property
    def write_latency_per_step(self) -> float | None:
        t = self.latency_per_row
        return None if t is None else min(self.rows, self.tile_rows) * t


@dataclass(frozen=True)
class WriteReport:
    """The held products of a run and their writes per inference of ``policy.steps``."""

    policy: DynamicPolicy
    products: tuple[HeldProduct, ...]
    step_time: float | None  # the network's step dt, s (None: the network gives none)

    @property
    def cells_per_inference(self) -> int:
        return self.policy.steps * sum(p.cells_per_step for p in self.products)

    @property
    def writes_per_cell_per_inference(self) -> int:
        return self.policy.steps

    @property
    def write_energy_per_inference(self) -> float | None:
        es = [p.write_energy_per_step for p in self.products]
        return None if None in es else self.policy.steps * sum(es)

    @property
    def lifetime_inferences(self) -> float:
        """Inferences until the first cell wears out (inf: unlimited endurance)."""
        ends = [p.endurance for p in self.products if p.endurance is not None]
        return min(ends) / self.policy.steps if ends else math.inf

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per held product (None: a cost the card does not give)."""
        t = self.policy.steps
        out = []
        for p in self.products:
            e = p.write_energy_per_step
            out.append({
                "node": p.node, "kind": p.kind, "stored": p.stored, "place": p.place,
                "heads": p.heads, "reads": p.reads, "rows": p.rows, "cols": p.cols,
                "cells_per_element": p.cells_per_element, "tile_rows": p.tile_rows,
                "in_memory_mac": p.in_memory_mac, "energy_per_cell_J": p.energy_per_cell,
                "latency_per_row_s": p.latency_per_row, "endurance": p.endurance,
                "tiles": p.tiles, "cells_per_step": p.cells_per_step,
                "cells_per_inference": t * p.cells_per_step,
                "write_energy_per_step_J": e,
                "write_energy_per_inference_J": None if e is None else t * e,
                "write_latency_per_step_s": p.write_latency_per_step,
                "step_time_s": self.step_time, "writes_per_cell_per_inference": t,
                "lifetime_inferences": (None if p.endurance is None else p.endurance / t)})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (strict JSON: an unlimited lifetime is null), with the text lines."""
        life = self.lifetime_inferences
        return {"policy": self.policy.to_dict(), "products": self.rows(),
                "cells_per_inference": self.cells_per_inference,
                "writes_per_cell_per_inference": self.writes_per_cell_per_inference,
                "write_energy_per_inference_J": self.write_energy_per_inference,
                "lifetime_inferences": None if math.isinf(life) else life,
                "text": self.lines()}

    @classmethod
    def from_dict(cls, d: Any) -> WriteReport | None:
        """The report :meth:`to_dict` wrote (a mapping's or a run folder's
        ``dynamic_products``); None for None or an empty dict."""
        if not d:
            return None
        keys = [f.name for f in dataclasses.fields(HeldProduct)]
        ren = {"energy_per_cell": "energy_per_cell_J", "latency_per_row": "latency_per_row_s"}
        held = tuple(HeldProduct(**{k: r[ren.get(k, k)] for k in keys}) for r in d["products"])
        step = d["products"][0]["step_time_s"] if held else None
        return cls(policy=DynamicPolicy(**d["policy"]), products=held, step_time=step)

    def per_layer(self) -> list[str]:
        """One short phrase per held product: cells, energy and latency per step."""
        out = []
        for r in self.rows():
            e, lat, dt = (r["write_energy_per_step_J"], r["write_latency_per_step_s"],
                          r["step_time_s"])
            cost = "" if e is None else f", {fq(e, 'J')} and {fq(lat, 's')}"
            step = "" if e is None or dt is None else f" (step {fq(dt, 's')})"
            out.append(f"'{r['node']}' {r['cells_per_step']:,} cells{cost} per step{step}")
        return out

    def lines(self) -> list[str]:
        """The report's text: one line per held product and a total."""
        out = []
        for r in self.rows():
            out.append(f"dynamic product '{r['node']}' (MatMul, holds '{r['stored']}') on "
                       f"{r['tiles']} {r['place'].removesuffix('_tile')} tile(s): {_layer_text(r)}")
        e = self.write_energy_per_inference
        life = self.lifetime_inferences
        out.append(f"writes per inference ({self.policy.steps} steps): "
                   f"{self.cells_per_inference:,} cells, "
                   f"{'unknown energy' if e is None else fq(e, 'J')}; each cell written "
                   f"{self.writes_per_cell_per_inference} times per inference; lifetime "
                   f"{_life(life)}")
        return out


def _layer_text(r: dict[str, Any]) -> str:
    """Cells per step, write energy per step and per inference, latency vs the step."""
    e, lat = r["write_energy_per_step_J"], r["write_latency_per_step_s"]
    energy = ("write energy not given" if e is None else
              f"{fq(e, 'J')} per step, {fq(r['write_energy_per_inference_J'], 'J')} per "
              "inference")
    latency = ("" if lat is None or r["step_time_s"] is None else
               f", write latency {fq(lat, 's')} per step against a step of "
               f"{fq(r['step_time_s'], 's')}")
    return f"{r['cells_per_step']:,} cells written per step ({energy}){latency}"


def _life(inferences: float) -> str:
    return "unlimited (no wear-out)" if math.isinf(inferences) else \
        f"{inferences:,.0f} inferences"


def held_products(net: Network, chip: ChipCard, policy: DynamicPolicy) -> tuple[HeldProduct, ...]:
    """The MatMuls of ``net`` held in tiles under ``policy`` (none when ``"digital"``):
    on the card's writable tiles when it has them, else on its crossbar tiles."""
    if policy.mode == "digital":
        return ()
    wt = chip.writable_tile
    out = []
    for name in net.order:
        node = net.nodes[name]
        if not isinstance(node, T.MatMul):
            continue
        a, b = node.operands
        heads, reads, rows, cols = T.MatMul.dims(net.out_shapes[a], net.out_shapes[b])
        if wt is not None:
            c = 1 if T.binary_output(net, b) else wt.count_bits
            tiles = heads * -(-rows // wt.rows) * -(-(cols * c) // wt.cols)
            w, tile_rows, place = wt.write, wt.rows, "writable_tile"
            in_memory = wt.read_energy_per_mac is not None
        else:
            m = chip.macro
            layout = ColumnLayout.of(m)
            c = layout.per_output
            per_tile = max(layout.outputs_per_tile(m.cols), 1)
            tiles = heads * -(-rows // m.rows) * -(-cols // per_tile)
            w, tile_rows, place, in_memory = m.write, m.rows, "crossbar", False
        out.append(HeldProduct(
            node=name, stored=b, place=place, heads=heads, reads=reads, rows=rows, cols=cols,
            cells_per_element=c, tiles=tiles, tile_rows=tile_rows,
            energy_per_cell=None if w is None else w.energy_per_cell.value,
            latency_per_row=None if w is None else w.latency_per_row.value,
            endurance=None if w is None else w.endurance.value, in_memory_mac=in_memory))
    return tuple(out)


def write_report(net: Network, chip: ChipCard, policy: DynamicPolicy) -> WriteReport | None:
    """The :class:`WriteReport` of ``net`` on ``chip`` (None: no product held in tiles)."""
    held = held_products(net, chip, policy)
    return WriteReport(policy=policy, products=held, step_time=float(net.dt) if net.dt else None) if held else None


def report_dict(net: Network, chip: ChipCard, policy: DynamicPolicy) -> dict[str, Any] | None:
    """:meth:`WriteReport.to_dict` of ``net`` on ``chip`` (None: no product held in tiles):
    the ``dynamic_products`` section of a mapping report."""
    rep = write_report(net, chip, policy)
    return rep.to_dict() if rep else None


def mapped_writes(mapped: Any) -> WriteReport | None:
    """The :class:`WriteReport` of a :class:`~neurocosim.mapping.MappedNetwork` (its
    report's ``dynamic_products``; None: no product held in tiles)."""
    return WriteReport.from_dict(mapped.report.dynamic_products)
