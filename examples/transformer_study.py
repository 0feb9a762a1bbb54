"""Spiking transformers trained in PyTorch, imported and run on an RRAM chip (issue 17).

A tiny Spike-driven Transformer (SDT, SDSA attention, membrane shortcuts) and a tiny
Spikformer (SSA attention, spike shortcuts) are trained in SpikingJelly on
scikit-learn's digits (``examples/transformer_train.py``, run here in the PyTorch
environment ``.venv-torch``, built by ``tests/frontends/torch_env.sh`` when missing),
imported from their factory and ``state_dict`` as ``neurocosim convert`` does and
written as NIR files (attention, max pooling and residual sums as ``neurocosim.<Kind>``
extension nodes). Here, in neurocosim's own environment (no torch):

1. each ``.nir`` file is loaded and the test digits run on the reference engine with
   direct encoding (``current``: the image every step, as the framework was fed); its
   predictions are compared with the framework's own float64 predictions;
2. each runs on ``prime-rram-40nm`` through :func:`neurocosim.pipeline.run_on_chip` —
   programming noise (2 %), read noise (1 %), stuck cells, 8-bit ADCs calibrated on 64
   training digits (never the scored ones) — with the card's rows driven bit-serially
   (``--set macro.input=bit_serial:8``: the preset's 1-bit DAC cannot apply the analog
   image nor the Spikformer head's analog input), without and with early stop;
3. the energy per inference is split into crossbar (row drive, cell reads, digital
   accumulation), ADC, digital units (max pooling, residual adds, the attention's ANDs,
   popcounts and MatMul MACs), neurons, routing and leakage, beside the papers' SOP
   convention (:func:`neurocosim.energy.paper.paper_convention`, attention SOPs included);
4. figures and a markdown table go to ``--figures`` (``examples/figures/transformer-study*``).

    .venv/bin/python examples/transformer_study.py                 # ~3 min on 2 cores
    .venv/bin/python examples/transformer_study.py --epochs 1 --samples 100 --out /tmp/t

The output folder (``--out``, default ``build/transformer``) is written as the CLI writes
its folders: a folder holding files neurocosim did not write is refused without
``--force``, and nothing else in it is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = Path(__file__).resolve().parent / "figures"  # this example's own (committed) outputs
FIGURE_FILES = ("transformer-study.md", "transformer-study-accuracy.png",
                "transformer-study-energy.png")
TRAIN = Path(__file__).resolve().parent / "transformer_train.py"
MODELS = {"sdt": "Spike-driven Transformer (SDSA)", "spikformer": "Spikformer (SSA)"}
SHORT = {"sdt": "SDT", "spikformer": "Spikformer"}
CHIP = "prime-rram-40nm"
CHIP_SETS = ("macro.input=bit_serial:8",)
EARLY_STOP = "confidence:0.8:2"  # PRIME's: softmax(mean readout / 2) > 0.8
PAPER = "horowitz45"
#: the energy report's components grouped as the table shows them
GROUPS = {"row_drive": "crossbar", "array_read": "crossbar", "accumulate": "crossbar",
          "adc": "ADC", "digital": "digital units", "neuron_update": "neurons",
          "spike": "neurons", "routing": "routing", "leakage": "leakage", "writes": "writes"}


def banner(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)), flush=True)


def torch_python() -> Path:
    """The PyTorch environment's interpreter (``TORCH_PYTHON``, else ``.venv-torch``,
    built by ``tests/frontends/torch_env.sh`` when it is not ready)."""
    given = os.environ.get("TORCH_PYTHON")
    if given:
        return Path(given)
    venv = ROOT / os.environ.get("TORCH_VENV", ".venv-torch")
    if not (venv / ".ready").exists():
        print(f"building {venv.name} (CPython 3.11, torch, SpikingJelly): "
              "tests/frontends/torch_env.sh", flush=True)
        proc = subprocess.run(["bash", str(ROOT / "tests" / "frontends" / "torch_env.sh")],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"transformer_study: building {venv.name} failed "
                             f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return venv / "bin" / "python"


def train(work: Path, *, epochs: int, steps: int, samples: int | None, seed: int) -> dict:
    """Run ``transformer_train.py`` in the PyTorch environment, writing into ``work``."""
    cmd = [str(torch_python()), str(TRAIN), "--out", str(work), "--epochs", str(epochs),
           "--steps", str(steps), "--seed", str(seed), "--models", ",".join(MODELS)]
    if samples:
        cmd += ["--samples", str(samples)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    print("\n".join(ln for ln in proc.stdout.splitlines() if ln.strip()), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"transformer_study: {TRAIN.name} failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-3000:]}")
    return json.loads((work / "train.json").read_text())


def reference(net, x: np.ndarray, y: np.ndarray, framework: np.ndarray, steps: int) -> dict:
    """The reference engine on the test digits against the framework's predictions."""
    from neurocosim import make_encoder
    from neurocosim.pipeline import reference_run

    layers = [n for n in net.layers() if net.nodes[n].spiking]
    res = reference_run(net, make_encoder("current", x, net.input_shape), steps, probes=layers)
    pred = res.predictions()
    rates = {k: float(res.probes[k].mean()) for k in layers}
    return {"accuracy": float(res.accuracy(y)), "agreement": float((pred == framework).mean()),
            "disagreeing_samples": np.flatnonzero(pred != framework).tolist(),
            "predictions": pred, "firing_rate": rates}


def energy_split(rep) -> dict:
    """The run's energy per inference (J) in the table's groups, and the papers' view."""
    split: dict[str, float] = {}
    for comp, joules in rep.by_component.items():
        group = GROUPS.get(comp, comp)
        split[group] = split.get(group, 0.0) + float(joules)
    p = rep.paper_convention
    top = max(rep.by_layer, key=rep.by_layer.get) if rep.by_layer else None
    return {"total_J": rep.energy_per_inference_J, "split_J": split,
            "top_layer": [top, float(rep.by_layer[top])] if top else None,
            "paper": {k: p[k] for k in ("E_snn_J", "E_ann_J", "sops", "attention_sops",
                                        "first_layer_macs", "macs", "preset")}}


def chip_runs(net, data: dict, steps: int, seed: int, early_stop: str) -> dict:
    """The network on the chip without and with early stop (same programmed draw)."""
    from neurocosim import load_chip, make_encoder
    from neurocosim.devices import apply_overrides, parse_set
    from neurocosim.pipeline import ChipRunOptions, RunStreams, run_on_chip

    chip = apply_overrides(load_chip(CHIP), parse_set(list(CHIP_SETS)), source="--set")
    enc = make_encoder("current", data["x"], net.input_shape)
    cal = make_encoder("current", data["x_cal"], net.input_shape)  # 64 training digits
    out = {}
    for policy in ("none", early_stop):
        opts = ChipRunOptions(steps=steps, encoding="current", early_stop=policy)
        streams = RunStreams(*np.random.SeedSequence(seed).spawn(2))
        run = run_on_chip(net, chip, enc, opts, streams=streams, calibration=cal)
        res = run.result
        out[policy] = {"accuracy": float(res.accuracy(data["y"])),
                       "mean_steps": res.mean_steps,
                       "agreement_with_reference": float(
                           (res.predictions() == data["reference"]).mean()),
                       "cores": int(run.mapped.report.cores),
                       "tiles": int(run.mapped.report.tiles)} | energy_split(run.energy)
    return out


def study_model(key: str, work: Path, trained: dict, steps: int, seed: int,
                early_stop: str) -> dict:
    """Load model ``key``'s NIR file, run it on the reference engine and on the chip."""
    from neurocosim import load_network

    net = load_network(work / trained["network"])
    with np.load(work / "test.npz") as t, np.load(work / "train.npz") as tr, \
            np.load(work / f"{key}_framework.npz") as f:
        x, y, framework = t["x"], t["y"], f["pred"]
        x_cal = tr["x"][:64]
    ref = reference(net, x, y, framework, steps)
    print(f"{key}: reference engine accuracy {ref['accuracy']:.4f}; predictions equal the "
          f"framework's (float64) on {ref['agreement']:.2%} of {len(y)} test digits",
          flush=True)
    data = {"x": x, "y": y, "x_cal": x_cal, "reference": ref.pop("predictions")}
    chip = chip_runs(net, data, steps, seed, early_stop)
    for policy, r in chip.items():
        print(f"{key} on {CHIP}, early stop {policy}: accuracy {r['accuracy']:.4f}, mean "
              f"steps {r['mean_steps']:.2f} / {steps}, {r['total_J'] * 1e9:.2f} nJ per "
              f"inference (papers' E_snn {r['paper']['E_snn_J'] * 1e9:.2f} nJ)", flush=True)
    kinds = sorted({type(n).__name__ for n in net.nodes.values()})
    first = [c for a, c in net.edges if a == net.input_name]  # fed by the analog image
    return {"name": MODELS[key], "short": SHORT[key], "nodes": len(net.nodes), "node_kinds": kinds,
            "first_layers": first,
            "framework_accuracy": trained["test_accuracy"], "parameters": trained["parameters"],
            "train_s": trained["train_s"], "epochs": trained["epochs"],
            "reference": ref, "chip": chip}


def _nj(v: float) -> str:
    return f"{v * 1e9:,.2f}"


def markdown(summary: dict) -> str:
    """The study's tables (accuracy, energy) as markdown."""
    s, es = summary, summary["early_stop"]
    out = ["# Spiking transformers from PyTorch on `prime-rram-40nm`", "",
           f"Written by `examples/transformer_study.py`: trained in SpikingJelly 2.0 on "
           f"scikit-learn's digits ({s['n_train']} training, {s['n_test']} test digits, 1×8×8, "
           f"direct encoding, T = {s['steps']}, seed {s['seed']}, torch threads {s['threads']}), "
           "imported from factory + `state_dict` into NIR (`neurocosim convert`), run on the "
           f"reference engine and on `{CHIP}` (`--set {' '.join(CHIP_SETS)}`).", "",
           "| model | params | epochs (s) | framework (float64) | reference engine | equal "
           f"predictions | chip, no early stop | chip, `{es}` | mean steps |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in s["models"].values():
        c = m["chip"]
        out.append(f"| {m['name']} | {m['parameters']:,} | {m['epochs']} ({m['train_s']:.0f}) | "
                   f"{m['framework_accuracy']:.2%} | {m['reference']['accuracy']:.2%} | "
                   f"{m['reference']['agreement']:.2%} | {c['none']['accuracy']:.2%} | "
                   f"{c[es]['accuracy']:.2%} | {c[es]['mean_steps']:.2f} / {s['steps']} |")
    groups = [g for g in dict.fromkeys(GROUPS.values())
              if any(g in m["chip"][p]["split_J"] for m in s["models"].values() for p in m["chip"])]
    out += ["", "Energy per inference in **nJ** (mean over the test digits):", "",
            "| model | early stop | " + " | ".join(groups) + " | total | papers' E_snn | "
            "SOPs: synaptic / attention | papers' E_ann |",
            "|---|---|" + "---:|" * (len(groups) + 4)]
    for m in s["models"].values():
        for policy, r in m["chip"].items():
            p = r["paper"]
            cells = " | ".join(_nj(r["split_J"].get(g, 0.0)) for g in groups)
            out.append(f"| {m['name']} | `{policy}` | {cells} | **{_nj(r['total_J'])}** | "
                       f"{_nj(p['E_snn_J'])} | {p['sops']:,.0f} / {p['attention_sops']:,.0f} | "
                       f"{_nj(p['E_ann_J'])} |")
    tops = [m["chip"]["none"]["top_layer"] for m in s["models"].values()]
    out += ["", "- **crossbar**: row drive + cell reads + digital accumulation of the column "
            "outputs (8 bits, bit-serial rows); **ADC**: conversions; **digital units**: max "
            "pooling, residual adds, the attention's spike ANDs, popcounts and MatMul MACs "
            "and their buffers; **neurons**: updates + spikes; **routing**: NoC hops; "
            "**leakage**: the card's power per core × cores × latency.",
            f"- **Papers' convention** (`energy.paper.paper_convention`, `{PAPER}`: E_MAC 4.6 pJ, "
            "E_AC 0.9 pJ): E_snn = E_MAC × MACs of the first (analog-input) layer every step "
            "+ E_AC × SOPs, the SOPs counted from the same run (driven rows × outputs) plus the "
            "attention's (SDT: R·T·N·D, Spikformer: R·T·2N²D); E_ann the same network's MACs "
            "at E_MAC.",
            "- **Largest layer** (energy per inference, no early stop): " + "; ".join(
                f"{m['short']} `{m['chip']['none']['top_layer'][0]}` "
                f"{_nj(m['chip']['none']['top_layer'][1])} nJ" for m in s["models"].values())
            + (" — the stem's convolution, which reads the analog image bit-serially (8 "
               "reads, each with its ADC conversions; binary spikes take one read)."
               if all(t and t[0] in m["first_layers"] for t, m in zip(tops, s["models"].values(),
                                                                         strict=True)) else "."),
            "- **Equal predictions**: the reference engine's argmax against SpikingJelly's "
            "own float64 forward pass of the same weights (`model.double()`)."]
    return "\n".join(out) + "\n"


def figures(summary: dict, folder: Path) -> list[Path]:
    """Accuracy bars and stacked energy bars (beside the papers' E_snn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurocosim._atomic import atomic_path

    models = list(summary["models"].values())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = [("framework (float64)", lambda m: m["framework_accuracy"]),
            ("reference engine", lambda m: m["reference"]["accuracy"]),
            ("chip", lambda m: m["chip"]["none"]["accuracy"]),
            ("chip + early stop", lambda m: m["chip"][summary["early_stop"]]["accuracy"])]
    w = 0.8 / len(bars)
    for i, (label, get) in enumerate(bars):
        ax.bar(np.arange(len(models)) + i * w, [get(m) for m in models], w, label=label)
        for j, m in enumerate(models):
            ax.text(j + i * w, get(m) + 0.01, f"{get(m):.1%}", ha="center", fontsize=6)
    ax.set_xticks(np.arange(len(models)) + 0.4 - w / 2, [m["name"] for m in models])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"digits, T = {summary['steps']}, {CHIP}")
    paths = [folder / FIGURE_FILES[1], folder / FIGURE_FILES[2]]
    with atomic_path(paths[0]) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    groups = list(dict.fromkeys(GROUPS.values()))
    bottom = np.zeros(2 * len(models))
    runs = [(m, p) for m in models for p in ("none", summary["early_stop"])]
    for g in groups:
        v = np.array([m["chip"][p]["split_J"].get(g, 0.0) * 1e9 for m, p in runs])
        if v.any():
            ax.bar(np.arange(len(runs)), v, 0.6, bottom=bottom, label=g)
            bottom += v
    ax.scatter(np.arange(len(runs)), [m["chip"][p]["paper"]["E_snn_J"] * 1e9 for m, p in runs],
               marker="_", s=600, color="k", zorder=3, label="papers' E_snn (SOPs)")
    labels = [f"{m['short']}\n{'early stop' if p != 'none' else 'all steps'}" for m, p in runs]
    ax.set_xticks(np.arange(len(runs)), labels, fontsize=8)
    ax.set_ylabel("nJ per inference")
    ax.set_title(f"energy per inference on {CHIP} (test digits, T = {summary['steps']})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return paths


def run(out: Path, *, figures_dir: Path, epochs: int = 8, steps: int = 4,
        samples: int | None = None, seed: int = 0, early_stop: str = EARLY_STOP,
        force: bool = False) -> dict:
    """The whole study; its summary (also ``summary.json`` in ``out``)."""
    from neurocosim._atomic import atomic_path, check_output_file, output_dir

    if figures_dir.resolve() != FIGURES:  # a user's folder: never overwrite without --force
        for name in FIGURE_FILES:
            check_output_file(figures_dir / name, force=force, option="--figures")
    with output_dir(out, force=force, command="examples/transformer_study.py") as work:
        banner("1. train in PyTorch (SpikingJelly), import, write NIR (.venv-torch)")
        trained = train(work, epochs=epochs, steps=steps, samples=samples, seed=seed)
        summary = {"steps": steps, "seed": seed, "threads": trained["threads"],
                   "n_train": trained["n_train"], "n_test": trained["n_test"], "chip": CHIP,
                   "chip_sets": list(CHIP_SETS), "early_stop": early_stop, "models": {}}
        for key in MODELS:
            banner(f"2. {key}: reference engine and {CHIP}")
            summary["models"][key] = study_model(key, work, trained["models"][key], steps,
                                                 seed, early_stop)
        (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    banner("3. figures and table")
    figures_dir.mkdir(parents=True, exist_ok=True)
    table = markdown(summary)
    with atomic_path(figures_dir / FIGURE_FILES[0]) as tmp:
        tmp.write_text(table)
    for p in [*figures(summary, figures_dir), figures_dir / FIGURE_FILES[0]]:
        print(f"wrote {p}")
    print(table)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "transformer")
    ap.add_argument("--figures", type=Path, default=FIGURES,
                    help="folder of the table and figures (default examples/figures)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--samples", type=int, default=None,
                    help="at most this many training and test digits (a quick run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--early-stop", default=EARLY_STOP, help=f"policy (default {EARLY_STOP})")
    ap.add_argument("--force", action="store_true",
                    help="write into --out even if it holds files neurocosim did not write, "
                    "and over the table and figures in another --figures folder")
    a = ap.parse_args(argv)
    from neurocosim.errors import NeurocosimError

    try:
        run(a.out, figures_dir=a.figures, epochs=a.epochs, steps=a.steps, samples=a.samples,
            seed=a.seed, early_stop=a.early_stop, force=a.force)
    except NeurocosimError as exc:
        print(f"transformer_study: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
