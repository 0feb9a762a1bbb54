"""The zoo's energy table: analytical energy per inference of the zoo's models on
``prime-rram-40nm`` chips (issue 16).

For each model: its paper's T (``zoo.spec(name).steps``), every neuron and the input
firing 0.1 spikes per step (a stated rate, not a measured one: the zoo's weights are
seeded random, not trained), the expected event counts of
:func:`neurocosim.flows.analytical_energy` (no simulation) priced at the card's costs.
The mapper splits every layer over cores and places the cores over as many chips as it
takes (``conv_regions="auto"``); the card's per-neuron fan-in (4,096 synapses) and
per-spike fan-out (16 cores) are lifted with ``--set`` overrides (:data:`SETS`), since
every zoo model breaks one of them (``neurocosim map zoo:NAME --chip prime-rram-40nm``
says which and by how much). Inter-chip links have no cost on the card: their packets
are counted in the mapping report, not priced here.

Each model runs in a child process (its wall time and peak resident memory measured
there, under an 8 GiB address-space limit). Writes ``examples/figures/zoo-energy.md``.

    .venv/bin/python examples/zoo_energy.py            # the models below
    .venv/bin/python examples/zoo_energy.py --all      # and the larger ones
    .venv/bin/python examples/zoo_energy.py --models sew-resnet-18,sdt-8-384
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CHIP = "prime-rram-40nm"
RATE = 0.1  # spikes per neuron (and per input) per step
PAPER = "horowitz45"
MODELS = ("sew-resnet-18", "ms-resnet-18", "spikformer-4-384-cifar", "spikformer-8-384",
          "sdt-8-384", "qkformer-10-384", "spikformer-semm", "spikformer-tim")
#: the card limits every zoo model breaks, lifted (the rest of the card as it is)
SETS = ("max_fan_in=1073741824", "max_fan_out=1048576")
LARGER = ("sew-resnet-34", "spikformer-8-512", "sdt-8-512", "qkformer-10-512",
          "spikformer-8-768", "sdt-8-768", "qkformer-10-768", "spikeyolo-backbone")
MEMORY_LIMIT = 8 << 30  # bytes of address space a child may use
TIMEOUT_S = 1200
OUT = Path(__file__).parent / "figures" / "zoo-energy.md"


def one(name: str) -> dict:
    """The energy of zoo model ``name`` (runs in the child process)."""
    from neurocosim import zoo
    from neurocosim.devices import apply_overrides, load_chip, parse_set
    from neurocosim.flows import analytical_energy
    from neurocosim.frontends import load_network

    t0 = time.perf_counter()
    net = load_network(f"zoo:{name}")
    sets = list(SETS)
    chip = apply_overrides(load_chip(CHIP), parse_set(sets), source="--set")
    steps = zoo.spec(name).steps
    rep = analytical_energy(net, chip, steps=steps, rate=RATE, paper_preset=PAPER,
                            multilevel="ac", first_layer_mac=True)
    c = rep.by_component
    p = rep.paper_convention
    return {"model": name, "steps": steps, "sets": sets,
            "crossbar_J": c["row_drive"] + c["array_read"] + c["accumulate"],
            "adc_J": c["adc"], "digital_J": c.get("digital", 0.0),
            "neurons_J": c["neuron_update"] + c["spike"], "routing_J": c["routing"],
            "leakage_J": c["leakage"], "total_J": rep.energy_per_inference_J,
            "E_snn_J": p["E_snn_J"], "E_ann_J": p["E_ann_J"], "sops": p["sops"],
            "first_layer_macs": p["first_layer_macs"],
            "latency_s": rep.latency_per_inference_s, "area_mm2": rep.area_mm2,
            "cores": rep.cores if hasattr(rep, "cores") else None,
            "wall_s": time.perf_counter() - t0,
            "peak_rss_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}


def run_child(name: str) -> dict:
    """:func:`one` in a child process; a failure (memory, time, error) as ``error``."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"model": name, "error": f"over {TIMEOUT_S} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "MemoryError" in tail:
            tail = f"over the {MEMORY_LIMIT >> 30} GiB address-space limit (MemoryError)"
        return {"model": name, "error": f"exit {proc.returncode}: {tail}",
                "wall_s": time.perf_counter() - t0}
    return json.loads(lines[-1])


def _uj(v: float) -> str:
    return f"{v * 1e6:,.2f}"


def markdown(rows: list[dict], pending: list[str] = ()) -> str:
    ok = [r for r in rows if "error" not in r]
    out = ["# The zoo's energy per inference on `prime-rram-40nm` chips", "",
           "Written by `examples/zoo_energy.py` (analytical: expected event counts, no "
           "simulation). Every neuron and the input fire **0.1 spikes per step** (a stated "
           "rate: the zoo's weights are seeded random, not trained); T is the paper's "
           "(`zoo.spec(name).steps`). Energies in **µJ per inference**.", "",
           "| model | T | crossbar | ADC | digital units | neurons | routing | leakage | "
           "total | papers' E_snn | wall (s) | peak RSS (GB) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ok:
        out.append(f"| `{r['model']}` | {r['steps']} | {_uj(r['crossbar_J'])} | "
                   f"{_uj(r['adc_J'])} | {_uj(r['digital_J'])} | {_uj(r['neurons_J'])} | "
                   f"{_uj(r['routing_J'])} | {_uj(r['leakage_J'])} | **{_uj(r['total_J'])}** | "
                   f"{_uj(r['E_snn_J'])} | {r['wall_s']:.0f} | {r['peak_rss_GB']:.2f} |")
    out += ["", "- **crossbar**: row drive + array (cell) reads + digital accumulation of the "
            "column outputs; **ADC**: conversions (8 bits); **digital units**: max-pool "
            "comparisons, unfolded BatchNorm multiply-adds, residual adds, the attention's "
            "spike ANDs, popcount adds and MatMul MACs, and their buffer bits (the "
            "card's `digital:` section, Horowitz 45 nm figures marked as assumptions); "
            "**neurons**: updates + spikes; **routing**: NoC hops of the spikes; "
            "**leakage**: the card's power per core × cores used × latency.",
            "- **Chips.** The mapper splits each layer over cores (spatial runs, output "
            "chunks, row segments whose partial sums travel to the neuron's core) and "
            "places the cores over the fewest chips that hold them; the card's fan-in "
            "(4,096 synapses per neuron) and fan-out (16 cores per spike) limits, which "
            "every zoo model breaks, are lifted (`--set max_fan_in=2^30 max_fan_out=2^20`). "
            "Routing counts the NoC hops of the spikes; inter-chip links have no cost on "
            "the card (their packets are in `neurocosim map`'s report).",
            f"- **Papers' convention** (`energy.paper.paper_convention`, preset `{PAPER}`: "
            "E_MAC 4.6 pJ, E_AC 0.9 pJ, Horowitz 45 nm 32-bit float): E_snn = E_MAC × MACs "
            "of the layers fed by the input (analog first layer, every step) + E_AC × SOPs "
            "(driven rows × outputs of every other read, from the same counts). The "
            "chip estimate instead drives the first layer with the input's 0.1-rate spikes.",
            "- Wall time and peak resident memory are those of one child process per model "
            "(load or build the model, map, program, count, cost), on the machine it ran on."]
    bad = [r for r in rows if "error" in r]
    if bad or pending:
        out += ["", "Not in the table:", ""]
        out += [f"- `{r['model']}`: {r['error']}" for r in bad]
        out += [f"- `{name}`: not run (the run stopped before it)" for name in pending]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--models", help="comma-separated zoo names (default: the six)")
    ap.add_argument("--all", action="store_true", help="also the larger models")
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args(argv)
    if args.one:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        print(json.dumps(one(args.one)))
        return 0
    names = args.models.split(",") if args.models else list(MODELS) + \
        (list(LARGER) if args.all else [])
    rows: list[dict] = []
    for i, name in enumerate(names):
        r = run_child(name)
        rows.append(r)
        print(f"{name}: " + (r["error"] if "error" in r else
                             f"{_uj(r['total_J'])} uJ, {r['wall_s']:.0f} s, "
                             f"{r['peak_rss_GB']:.2f} GB"), flush=True)
        Path(args.output).write_text(markdown(rows, names[i + 1:]))  # after every model
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
