"""Cards and device reports described as text (``chip show`` and ``device``)."""

from __future__ import annotations

from ..units import format_duration
from ..units import format_quantity as fq

__all__ = ["describe_card", "describe_device_report", "describe_presets"]


def describe_card(card) -> str:
    """A card's structure and every per-event cost with its source."""
    m = card.macro
    lines = [f"{card.name}: {card.description.strip()}",
             f"  cores {card.cores} x {card.tiles_per_core} tiles, {card.neurons_per_core} "
             f"neurons/core, fan-in <= {card.max_fan_in}, clock {fq(card.clock, 'Hz')}",
             f"  tile {m.rows} x {m.cols} {m.technology}, g in [{fq(m.g_min, 'S')}, "
             f"{fq(m.g_max, 'S')}], levels {m.levels or 'continuous'}, {m.weight_mapping}",
             f"  programming noise {m.programming_noise.model} {card.resolved('programming')}",
             f"  read noise {m.read_noise.model} {card.resolved('read')}; drift {m.drift.model} "
             f"{card.resolved('drift')}",
             f"  DAC {m.dac_bits} bit, ADC {m.adc_bits or 'ideal'} bit x {m.adcs_per_tile} per tile",
             "  per-event costs:"]
    rows = [(f"macro.energy.{k}", getattr(m.energy, k)) for k in
            ("row_drive", "cell_read", "adc_conversion", "accumulate")]
    rows += [("neuron.update_energy", card.neuron.update_energy),
             ("neuron.spike_energy", card.neuron.spike_energy), ("noc.hop_energy", card.noc.hop_energy)]
    for key, cost in rows:
        flag = " (assumption)" if cost.assumption else ""
        lines.append(f"    {key:<28}{fq(cost.value, 'J'):<12}{cost.source}{flag}")
    wt = card.writable_tile
    if wt is not None:
        lines.append(f"  writable tiles: {wt.tiles_per_core} per core, {wt.rows} x {wt.cols} "
                     f"{wt.technology}")
    for key, w in (("macro.write", m.write), ("writable_tile.write", wt and wt.write)):
        if w is not None:
            lines += [_cost_line(f"{key}.energy_per_cell", fq(w.energy_per_cell.value, "J"),
                                 w.energy_per_cell),
                      _cost_line(f"{key}.latency_per_row", fq(w.latency_per_row.value, "s"),
                                 w.latency_per_row),
                      _cost_line(f"{key}.endurance", "unlimited" if w.endurance.value is None
                                 else f"{w.endurance.value:.3g}", w.endurance)]
    return "\n".join(lines)


def _cost_line(key: str, value: str, cost) -> str:
    flag = " (assumption)" if cost.assumption else ""
    return f"    {key:<28}{value:<12}{cost.source}{flag}"


def describe_device_report(card, rep, cells: int, seed: int) -> str:
    """The measured device statistics of :func:`~neurocosim.devices.report.characterise`."""
    m = card.macro
    lines = [f"{card.name}: {m.technology} {m.rows}x{m.cols}, g in [{fq(m.g_min, 'S')}, "
             f"{fq(m.g_max, 'S')}], levels {m.levels or 'continuous'} ({cells} cells, seed {seed})",
             f"programming noise '{rep.programming_model}' {card.resolved('programming')}",
             f"  {'target':>10} {'model sigma':>12} {'measured':>10}"]
    for g, sm, ss in zip(rep.sigma_targets, rep.sigma_model, rep.sigma_measured, strict=True):
        lines.append(f"  {fq(g, 'S'):>10} {fq(sm, 'S'):>12} {fq(ss, 'S'):>10}")
    lines += [f"read noise '{rep.read_model}': sigma at mid-window {fq(rep.read_sigma_mid, 'S')} "
              "per read",
              f"stuck at g_min {rep.stuck_min_fraction:.4%} (card {m.stuck_at.g_min_fraction:.4%}),"
              f" at g_max {rep.stuck_max_fraction:.4%} (card {m.stuck_at.g_max_fraction:.4%})"]
    for t in rep.drift_ratio_measured:
        lines.append(f"drift at {format_duration(t)}: mean g(t)/g = "
                     f"{rep.drift_ratio_measured[t]:.4f} (power law {rep.drift_ratio_expected[t]:.4f})")
    if m.drift.model == "none":
        lines.append("drift: none")
    return "\n".join(lines)


def describe_presets() -> str:
    """One line per shipped preset: its name and description."""
    from .cards import list_presets, load_chip

    return "\n".join(f"{n:<18}{load_chip(n).description.strip()}" for n in list_presets())
