"""``neurocosim info``, ``chips`` and ``chip show``: describe a model or a card."""

from __future__ import annotations

import numpy as np


def _fmt_range(a: np.ndarray) -> str:
    lo, hi = float(np.min(a)), float(np.max(a))
    return f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}]"


def run(args) -> int:
    from ..frontends import load_network
    from ..ir import nodes as N

    net = load_network(args.model, dt=args.dt)
    print(f"network '{net.name}'  dt = {net.dt:g} s  synaptic_delay = {net.synaptic_delay}")
    print(f"input {net.input_shape}  ->  output {net.output_shape}")
    print(f"{'node':<16}{'type':<11}{'in':<16}{'out':<16}parameters")
    for name in net.order:
        node = net.nodes[name]
        params = [f"{k}={_fmt_range(a)}" if a.size else f"{k}=[]" for k, a in node.arrays().items()]
        if isinstance(node, N.Neuron) and node.spiking and hasattr(node, "reset"):
            params.append(f"reset={node.reset} '{node.compare}'")
        if isinstance(node, N.ILIF):
            params.append(f"D={node.max_level}")
        print(f"{name:<16}{type(node).__name__:<11}{str(net.in_shapes[name]):<16}"
              f"{str(net.out_shapes[name]):<16}{' '.join(params)}")
    rec = [f"{a}->{b}" for a, b in sorted(net.back_edges)]
    print(f"neurons: {net.n_neurons()}  synapses (stored weights): {net.n_synapses()}"
          + (f"  recurrent edges: {', '.join(rec)}" if rec else ""))
    return 0


def run_chips(args) -> int:
    from ..devices import list_presets, load_chip

    for name in list_presets():
        print(f"{name:<18}{load_chip(name).description.strip()}")
    return 0


def run_chip_show(args) -> int:
    from ..devices import dump_chip
    from ..units import format_quantity as fq
    from ._common import chip

    card = chip(args, args.name)
    if args.yaml:
        print(dump_chip(card), end="")
        return 0
    m = card.macro
    print(f"{card.name}: {card.description.strip()}")
    print(f"  cores {card.cores} x {card.tiles_per_core} tiles, {card.neurons_per_core} neurons/core,"
          f" fan-in <= {card.max_fan_in}, clock {fq(card.clock, 'Hz')}")
    print(f"  tile {m.rows} x {m.cols} {m.technology}, g in [{fq(m.g_min, 'S')}, {fq(m.g_max, 'S')}],"
          f" levels {m.levels or 'continuous'}, {m.weight_mapping}")
    print(f"  programming noise {m.programming_noise.model} {card.resolved('programming')}")
    print(f"  read noise {m.read_noise.model} {card.resolved('read')}; drift {m.drift.model} "
          f"{card.resolved('drift')}")
    print(f"  DAC {m.dac_bits} bit, ADC {m.adc_bits or 'ideal'} bit x {m.adcs_per_tile} per tile")
    print("  per-event costs:")
    rows = [(f"macro.energy.{k}", getattr(m.energy, k), "J") for k in
            ("row_drive", "cell_read", "adc_conversion", "accumulate")]
    rows += [("neuron.update_energy", card.neuron.update_energy, "J"),
             ("neuron.spike_energy", card.neuron.spike_energy, "J"),
             ("noc.hop_energy", card.noc.hop_energy, "J")]
    for key, cost, unit in rows:
        flag = " (assumption)" if cost.assumption else ""
        print(f"    {key:<28}{fq(cost.value, unit):<12}{cost.source}{flag}")
    return 0
