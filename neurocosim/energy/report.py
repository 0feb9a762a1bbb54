"""Energy, latency and area from event counts and the chip card (DESIGN §3.7).

``E = Σ_events count × energy per event + leakage power × cores × time``, per sample
(honouring early stop: only steps run are counted), broken down by component, by layer
(synaptic ops: the crossbar events of their blocks; neuron layers: updates, spikes and
the routing of their spikes; digital nodes: their max-pool comparisons, BatchNorm
multiply-adds, residual adds and spike logic, each at the card's digital-unit cost
``digital.compare``, ``digital.mac``, ``digital.add``, ``digital.logic``) and by tile.
Products of two activations held in tiles (:mod:`neurocosim.mapping.dynamic`) add the
component ``writes``: every cell of the held operand rewritten at every step run, at the
card's ``write.energy_per_cell``, reported per operator kind (``writes_by_kind``); on a
writable tile with ``read_energy_per_mac`` the product's MACs are priced at it instead of
``digital.mac``.
Every constant comes from the card with its source; a constant the card leaves out is an error as soon as the run counted its event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..devices.schema import ChipCard
from ..errors import ConfigError

__all__ = ["EnergyReport", "estimate", "COMPONENTS"]

COMPONENTS = ("row_drive", "array_read", "adc", "accumulate", "neuron_update", "spike",
              "routing", "leakage", "digital", "writes")

# component -> (card path, counter name(s))
_EVENTS = {
    "row_drive": ("macro.energy.row_drive", "rows_driven"),
    "array_read": ("macro.energy.cell_read", "cell_reads"),
    "adc": ("macro.energy.adc_conversion", "conversions"),
    "accumulate": ("macro.energy.accumulate", "accumulates"),
    "neuron_update": ("neuron.update_energy", "neuron_updates"),
    "spike": ("neuron.spike_energy", "spikes"),
    "routing": ("noc.hop_energy", "packet_hops"),
}
# digital counter -> the card's digital-unit cost of one such operation
DIGITAL_COSTS = {
    "digital_comparisons": "digital.compare",
    "digital_macs": "digital.mac",
    "digital_adds": "digital.add",
    "digital_iands": "digital.logic",  # SEW IAND: (1 - a) AND b, one gate per element
    "digital_ands": "digital.logic",  # a Mul of two spike tensors: one AND per element
    # a ReduceSum's adds, counted in bits: a w-bit add costs w/8 of an 8-bit add
    "digital_add_bits": "digital.add/8",
    "digital_buffer_read_bits": "digital.buffer_read_bit",
    "digital_buffer_write_bits": "digital.buffer_write_bit",
}


def _cost(chip: ChipCard, path: str):
    obj: Any = chip
    for part in path.split("."):
        obj = getattr(obj, part, None) if obj is not None else None
    return obj


@dataclass(frozen=True, kw_only=True, eq=False)
class EnergyReport:
    """Energy (J), latency (s) and area (mm²) of one run, per inference."""

    chip: str
    per_sample_J: np.ndarray
    by_component: Mapping[str, float]  # mean J per inference
    by_layer: Mapping[str, float]
    by_layer_component: Mapping[str, Mapping[str, float]]
    by_tile: Mapping[int, float]
    latency_per_inference_s: float
    area_mm2: float
    area_by_part_mm2: Mapping[str, float]
    constants: tuple[dict, ...]
    steps_mean: float
    paper_convention: Mapping[str, Any] = field(default_factory=dict)
    #: operator kind -> mean cells written and write energy (J) per inference
    writes_by_kind: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def energy_per_inference_J(self) -> float:
        return float(np.mean(self.per_sample_J)) if self.per_sample_J.size else 0.0

    @property
    def throughput_per_s(self) -> float:
        lat = self.latency_per_inference_s
        return 1.0 / lat if lat > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        e = self.per_sample_J
        return {
            "chip": self.chip,
            "energy_per_inference_J": self.energy_per_inference_J,
            "energy_p95_J": float(np.percentile(e, 95)) if e.size else 0.0,
            "energy_max_J": float(np.max(e)) if e.size else 0.0,
            "latency_per_inference_s": self.latency_per_inference_s,
            "throughput_inferences_per_s": self.throughput_per_s,
            "area_mm2": self.area_mm2,
            "area_by_part_mm2": dict(self.area_by_part_mm2),
            "mean_steps": self.steps_mean,
            "by_component": dict(self.by_component),
            "by_layer": dict(self.by_layer),
            "by_layer_component": {k: dict(v) for k, v in self.by_layer_component.items()},
            "by_tile": {str(k): v for k, v in self.by_tile.items()},
            "paper_convention": dict(self.paper_convention),
            "constants": list(self.constants),
            **({"writes_by_kind": {k: dict(v) for k, v in self.writes_by_kind.items()}}
               if self.writes_by_kind else {}),
        }

    def text(self) -> str:
        from ..units import format_quantity as fq

        lines = [f"energy on {self.chip}: {fq(self.energy_per_inference_J, 'J')} per inference "
                 f"(mean over {self.per_sample_J.size} samples, {self.steps_mean:.1f} steps), "
                 f"latency {fq(self.latency_per_inference_s, 's')}, area {self.area_mm2:.4g} mm²"]
        tot = self.energy_per_inference_J or 1.0
        lines.append(f"  {'component':<16}{'J/inference':>14}{'share':>8}")
        for k, v in self.by_component.items():
            lines.append(f"  {k:<16}{fq(v, 'J'):>14}{v / tot:>8.1%}")
        lines.append(f"  {'layer':<16}{'J/inference':>14}")
        for k, v in self.by_layer.items():
            lines.append(f"  {k:<16}{fq(v, 'J'):>14}")
        for k, v in self.writes_by_kind.items():
            lines.append(f"  writes ({k}): {v['cells_per_inference']:,.0f} cells per inference, "
                         f"{fq(v['energy_J'], 'J')}")
        if self.paper_convention:
            p = self.paper_convention
            lines.append(f"  papers' convention ({p['preset']}): E_snn {fq(p['E_snn_J'], 'J')}, "
                         f"E_ann {fq(p['E_ann_J'], 'J')} ({p['sops']:.4g} SOPs, {p['macs']:.4g} "
                         f"MACs per inference)")
        return "\n".join(lines)

    def markdown(self) -> str:
        from ..units import format_quantity as fq

        d = self.to_dict()
        out = [f"# Energy report: {self.chip}", "",
               f"- energy per inference: {fq(d['energy_per_inference_J'], 'J')} (p95 "
               f"{fq(d['energy_p95_J'], 'J')})",
               f"- latency per inference: {fq(d['latency_per_inference_s'], 's')}",
               f"- area: {d['area_mm2']:.4g} mm²", "",
               "| component | J per inference | share |", "|---|---:|---:|"]
        tot = self.energy_per_inference_J or 1.0
        out += [f"| {k} | {v:.4g} | {v / tot:.1%} |" for k, v in self.by_component.items()]
        out += ["", "| layer | J per inference |", "|---|---:|"]
        out += [f"| {k} | {v:.4g} |" for k, v in self.by_layer.items()]
        if self.paper_convention:
            p = self.paper_convention
            out += ["", f"Papers' convention ({p['preset']}, E_MAC {p['e_mac_J']:.3g} J, E_AC "
                        f"{p['e_ac_J']:.3g} J): E_snn {p['E_snn_J']:.4g} J, E_ann {p['E_ann_J']:.4g} J, "
                        f"SOPs {p['sops']:.4g}, MACs {p['macs']:.4g}."]
        out += ["", "| constant | value | source |", "|---|---:|---|"]
        out += [f"| {c['field']} | {c['value']:.4g} | {c['source']}"
                f"{' (assumption)' if c['assumption'] else ''} |" for c in self.constants]
        return "\n".join(out) + "\n"


def estimate(counts, chip: ChipCard, *, tiles: int, cores: int,
             paper: Mapping[str, Any] | None = None, writes=None) -> EnergyReport:
    """Energy report of a run from its :class:`~neurocosim.hwsim.EventCounts`.

    ``tiles`` and ``cores`` (used by the mapping) size the area and the leakage.
    ``paper`` is the papers'-convention summary to attach (see :mod:`.paper`).
    ``writes``: the products held in tiles
    (:func:`neurocosim.mapping.dynamic.mapped_writes`; None: none).

    Raises
    ------
    ConfigError
        A counted event has no energy constant in the card.
    """
    n = counts.n_samples
    costs = _Costs(chip)
    tally = _Tally(n)
    _crossbar_energy(counts, costs, tally)
    _neuron_energy(counts, costs, tally)
    _routing_energy(counts, costs, tally)
    _leakage_energy(counts, costs, cores, tally)
    _digital_energy(counts, costs, tally, _in_memory_macs(writes))
    by_kind = _write_energy(counts, costs, writes, tally)
    area = _area(chip, tiles, cores)
    return EnergyReport(
        chip=chip.name, per_sample_J=tally.per_sample, by_component=tally.by_component,
        by_layer=tally.by_layer, by_layer_component=tally.by_lc,
        by_tile=tally.by_tile, latency_per_inference_s=float(np.mean(counts.latency_s)) if n else 0.0,
        area_mm2=float(sum(area.values())), area_by_part_mm2=area,
        constants=tuple(costs.constants),
        steps_mean=float(np.mean(counts.steps)) if n else 0.0,
        paper_convention=dict(paper or {}), writes_by_kind=by_kind,
    )


class _Costs:
    """Energy per event of each component from the card; the constants used, in order."""

    def __init__(self, chip: ChipCard):
        self.chip = chip
        self.constants: list[dict] = []

    def per_event(self, comp: str, total_events: float) -> float:
        return self.per_path(*_EVENTS[comp], total_events, adc=comp == "adc")

    def per_path(self, path: str, counter: str, total_events: float, adc: bool = False
                 ) -> float:
        """Energy of one event costed at card field ``path`` (``counter``: what the run
        counted, for the message when the card leaves it out)."""
        chip = self.chip
        cost = _cost(chip, path)
        if cost is None:
            if total_events > 0:
                raise ConfigError(
                    f"chip '{chip.name}': {path} is not given but the run counted "
                    f"{total_events:.6g} {counter.replace('_', ' ')}; add it to the card "
                    f"(value with unit and source), e.g. {path.split('.')[-1]}: "
                    "{value: 1 pJ, source: ...}"
                )
            return 0.0
        value = float(cost.value)
        m = chip.macro
        if adc and m.energy.adc_reference_bits is not None and m.adc_bits is not None:
            value *= 2.0 ** (m.adc_bits - m.energy.adc_reference_bits)  # Walden FOM scaling
        if not any(c["field"] == path for c in self.constants):
            self.constants.append({"field": path, "value": value, "source": cost.source,
                                   "assumption": cost.assumption})
        return value

    def leakage_power(self, counts, cores: int) -> float:
        chip = self.chip
        leak = chip.leakage_power_per_core
        if leak is None:
            if counts.latency_s.sum() > 0 and cores > 0:
                raise ConfigError(
                    f"chip '{chip.name}': leakage_power_per_core is not given; add it to the "
                    "card (value with unit and source; 0 W with a source if the chip has none)")
            return 0.0
        self.constants.append({"field": "leakage_power_per_core", "value": leak.value,
                               "source": leak.source, "assumption": leak.assumption})
        return leak.value


class _Tally:
    """Energy per sample and its breakdowns (mean J per inference)."""

    def __init__(self, n: int):
        self.n = n
        self.per_sample = np.zeros(n)
        self.by_component: dict[str, float] = {}
        self.by_layer: dict[str, float] = {}
        self.by_lc: dict[str, dict[str, float]] = {}
        self.by_tile: dict[int, float] = {}

    def add_layer(self, layer: str, comp: str, val: float) -> None:
        self.by_layer[layer] = self.by_layer.get(layer, 0.0) + val
        d = self.by_lc.setdefault(layer, {})
        d[comp] = d.get(comp, 0.0) + val


def _crossbar_energy(counts, costs: _Costs, tally: _Tally) -> None:
    """Row drive, array read, ADC and accumulate, per block (its op and its tile)."""
    bc = {k: i for i, k in enumerate(counts.block_counters)}
    n = tally.n
    for comp in ("row_drive", "array_read", "adc", "accumulate"):
        ev = counts.block[:, :, bc[_EVENTS[comp][1]]]
        e = costs.per_event(comp, float(ev.sum()))
        per_block = ev * e  # (n, blocks)
        tally.per_sample += per_block.sum(axis=1)
        tally.by_component[comp] = float(per_block.sum() / max(n, 1))
        for b, op in enumerate(counts.block_op):
            val = float(per_block[:, b].sum() / max(n, 1))
            tally.add_layer(op, comp, val)
            t = int(counts.block_tile[b])
            tally.by_tile[t] = tally.by_tile.get(t, 0.0) + val


def _neuron_energy(counts, costs: _Costs, tally: _Tally) -> None:
    """Neuron updates and spikes, per layer."""
    lc = {k: i for i, k in enumerate(counts.layer_counters)}
    n = tally.n
    for comp, counter in (("neuron_update", "neuron_updates"), ("spike", "spikes")):
        ev = counts.layer[:, :, lc[counter]]
        e = costs.per_event(comp, float(ev.sum()))
        per_layer = ev * e
        tally.per_sample += per_layer.sum(axis=1)
        tally.by_component[comp] = float(per_layer.sum() / max(n, 1))
        for j, layer in enumerate(counts.layer_names):
            tally.add_layer(layer, comp, float(per_layer[:, j].sum() / max(n, 1)))


def _routing_energy(counts, costs: _Costs, tally: _Tally) -> None:
    """Hops of the layers' spikes and of the host's input."""
    lc = {k: i for i, k in enumerate(counts.layer_counters)}
    n = tally.n
    hops = counts.layer[:, :, lc["packet_hops"]]
    e_hop = costs.per_event("routing", float(hops.sum() + counts.input[:, 1].sum()))
    tally.per_sample += (hops.sum(axis=1) + counts.input[:, 1]) * e_hop
    tally.by_component["routing"] = float((hops.sum() + counts.input[:, 1].sum()) * e_hop
                                          / max(n, 1))
    for j, layer in enumerate(counts.layer_names):
        tally.add_layer(layer, "routing", float(hops[:, j].sum() * e_hop / max(n, 1)))
    tally.add_layer("input", "routing", float(counts.input[:, 1].sum() * e_hop / max(n, 1)))


def _leakage_energy(counts, costs: _Costs, cores: int, tally: _Tally) -> None:
    """Leakage of the cores over the run time of each sample."""
    e_leak = costs.leakage_power(counts, cores) * cores * counts.latency_s
    tally.per_sample += e_leak
    tally.by_component["leakage"] = float(e_leak.sum() / max(tally.n, 1))


def _digital_energy(counts, costs: _Costs, tally: _Tally,
                    mac_path: Mapping[str, str] | None = None) -> None:
    """The digital spike units' operations (max-pool comparisons, BatchNorm multiply-adds,
    residual adds, spike logic, attention products and popcounts, buffer bits), per
    digital node, each at its ``digital.*`` cost (:data:`DIGITAL_COSTS`; ``field/8``: an
    eighth of the field per counted event, the ReduceSum add bits); no component when
    the run did not count them. ``mac_path``: node -> the card field pricing its MACs
    instead (a product held in a writable tile: ``writable_tile.read_energy_per_mac``)."""
    digital = getattr(counts, "digital", None)
    if digital is None:
        return
    per_node = np.zeros(digital.shape[:2])  # (n, digital nodes)
    moved = np.array([name in (mac_path or {}) for name in counts.digital_names], bool)
    for k, counter in enumerate(counts.digital_counters):
        ops = digital[:, :, k]
        if counter == "digital_macs" and moved.any():
            for j in np.flatnonzero(moved):
                path = mac_path[counts.digital_names[j]]
                per_node[:, j] += ops[:, j] * costs.per_path(path, counter,
                                                             float(ops[:, j].sum()))
            ops = ops * ~moved
        path, _, per = DIGITAL_COSTS[counter].partition("/")  # "field/8": an eighth of it
        cost = costs.per_path(path, counter, float(ops.sum()))
        per_node += ops * (cost / float(per) if per else cost)
    tally.per_sample += per_node.sum(axis=1)
    tally.by_component["digital"] = float(per_node.sum() / max(tally.n, 1))
    for j, name in enumerate(counts.digital_names):
        tally.add_layer(name, "digital", float(per_node[:, j].sum() / max(tally.n, 1)))


def _in_memory_macs(writes) -> dict[str, str]:
    """Node -> ``writable_tile.read_energy_per_mac`` for the products held in writable
    tiles of a card that gives that cost (their MACs are in-memory reads)."""
    if writes is None:
        return {}
    return {p.node: "writable_tile.read_energy_per_mac" for p in writes.products
            if p.place == "writable_tile" and p.in_memory_mac}


def _write_energy(counts, costs: _Costs, writes, tally: _Tally) -> dict[str, dict[str, float]]:
    """Writes of the products held in tiles: ``cells_per_step`` of each, every step a
    sample ran (early stop writes less), at its card's ``write.energy_per_cell``;
    component ``writes``, per node and per operator kind (mean per inference)."""
    if writes is None or not writes.products:
        return {}
    n = max(tally.n, 1)
    steps = np.asarray(counts.steps, float)
    total = np.zeros(tally.n)
    by_kind: dict[str, dict[str, float]] = {}
    for p in writes.products:
        root = "writable_tile" if p.place == "writable_tile" else "macro"
        cells = p.cells_per_step * steps  # (samples,)
        per = cells * costs.per_path(f"{root}.write.energy_per_cell", "cell_writes",
                                     float(cells.sum()))
        total += per
        tally.add_layer(p.node, "writes", float(per.sum() / n))
        kind = by_kind.setdefault(p.kind, {"cells_per_inference": 0.0, "energy_J": 0.0})
        kind["cells_per_inference"] += float(cells.sum() / n)
        kind["energy_J"] += float(per.sum() / n)
    tally.per_sample += total
    tally.by_component["writes"] = float(total.sum() / n)
    return by_kind


def _area(chip: ChipCard, tiles: int, cores: int) -> dict[str, float]:
    """Area (mm²) of the tiles' arrays, ADCs and periphery, the neurons and routers."""
    m = chip.macro
    return {
        "arrays": tiles * m.area.array.value * 1e6,
        "adcs": tiles * (m.adcs_per_tile if m.adc_bits is not None else 0) * m.area.adc.value * 1e6,
        "periphery": tiles * m.area.periphery.value * 1e6,
        "neurons": cores * chip.neurons_per_core * chip.neuron.area.value * 1e6,
        "routers": cores * chip.noc.router_area.value * 1e6,
    }
