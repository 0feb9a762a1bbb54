"""The zoo's energy table: analytical energy per inference of the zoo's models on
``prime-rram-40nm``, one virtual chip each (issue 16).

For each model: its paper's T (``zoo.spec(name).steps``), every neuron and the input
firing 0.1 spikes per step (a stated rate, not a measured one: the zoo's weights are
seeded random, not trained), the expected event counts of
:func:`neurocosim.flows.analytical_energy` (no simulation) priced at the card's costs.
``neurocosim map`` splits layers over cores and places over chips, but the card prices
no link between chips and its mesh model is one chip's, so the table keeps a one-chip
view: the card's per-core limits are lifted with ``--set`` overrides
(:func:`neurocosim.flows.virtual_chip_sets`: ``neurons_per_core`` the smallest power of
two holding the largest layer, i.e. the outputs of a synaptic layer or a neuron layer;
``tiles_per_core``, ``max_fan_in``, ``max_fan_out`` and ``cores`` at the card schema's
maxima): a one-virtual-chip view, whose per-event costs are
the card's but whose cores are as large as the largest layer (routing counts hops between
those large cores; leakage is the card's power per core × the cores used).

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
LARGER = ("sew-resnet-34", "spikformer-8-512", "sdt-8-512", "qkformer-10-512",
          "spikformer-8-768", "sdt-8-768", "qkformer-10-768", "spikeyolo-backbone")
MEMORY_LIMIT = 8 << 30  # bytes of address space a child may use
TIMEOUT_S = 1200
OUT = Path(__file__).parent / "figures" / "zoo-energy.md"


def one(name: str) -> dict:
    """The energy of zoo model ``name`` (runs in the child process)."""
    from neurocosim import zoo
    from neurocosim.devices import apply_overrides, load_chip, parse_set
    from neurocosim.flows import analytical_energy, virtual_chip_sets
    from neurocosim.frontends import load_network

    t0 = time.perf_counter()
    net = load_network(f"zoo:{name}")
    sets = virtual_chip_sets(net)
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
            "wall_s": time.perf_counter() - t0,
            "peak_rss_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9}


def run_child(name: str, memory_gib: int = MEMORY_LIMIT >> 30) -> dict:
    """:func:`one` in a child process; a failure (memory, time, error) as ``error``."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--memory-gib",
                               str(memory_gib)], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"model": name, "error": f"over {TIMEOUT_S} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "MemoryError" in tail:
            tail = f"over the {memory_gib} GiB address-space limit (MemoryError)"
        return {"model": name, "error": f"exit {proc.returncode}: {tail}",
                "wall_s": time.perf_counter() - t0}
    return json.loads(lines[-1])


def _uj(v: float) -> str:
    return f"{v * 1e6:,.2f}"


def markdown(rows: list[dict], pending: list[str] = ()) -> str:
    ok = [r for r in rows if "error" not in r]
    out = ["# The zoo's energy per inference on one virtual `prime-rram-40nm` chip", "",
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
            "- **One virtual chip.** `neurocosim map` splits each layer over the card's "
            "cores and places them over chips (README, Model zoo), but the card prices no "
            "link between chips and its mesh is one chip's, so this table keeps a one-chip "
            "view: the card's per-core limits are lifted "
            "by `--set` overrides (`flows.virtual_chip_sets`): `neurons_per_core` the "
            "smallest power of two holding the largest layer (a synaptic layer's outputs "
            "or a neuron layer), `tiles_per_core` 4096, "
            "`max_fan_in` 2^30, `max_fan_out` and `cores` 2^20. Per-event costs are the "
            "card's; the cores are as large as the largest layer, so routing (hops "
            "between such cores) and leakage (per core) are those of this virtual chip, "
            "not of a real multi-chip placement.",
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
    ap.add_argument("--memory-gib", type=int, default=MEMORY_LIMIT >> 30,
                    help="address space a model's child process may use (default 8)")
    ap.add_argument("--append", action="store_true",
                    help="keep the rows already in the output table (rerun some models)")
    args = ap.parse_args(argv)
    if args.one:
        limit = int(args.memory_gib) << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        print(json.dumps(one(args.one)))
        return 0
    names = args.models.split(",") if args.models else list(MODELS) + \
        (list(LARGER) if args.all else [])
    rows: list[dict] = []
    if args.append and Path(args.output + ".json").exists():
        rows = [r for r in json.loads(Path(args.output + ".json").read_text())
                if r["model"] not in names]
    for i, name in enumerate(names):
        r = run_child(name, args.memory_gib)
        rows.append(r)
        print(f"{name}: " + (r["error"] if "error" in r else
                             f"{_uj(r['total_J'])} uJ, {r['wall_s']:.0f} s, "
                             f"{r['peak_rss_GB']:.2f} GB"), flush=True)
        Path(args.output).write_text(markdown(rows, names[i + 1:]))  # after every model
        Path(args.output + ".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
