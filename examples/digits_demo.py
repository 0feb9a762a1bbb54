"""Main demo: scikit-learn digits → MLP → spiking network → simulation, through the CLI.

Real data that ships with scikit-learn (1797 8×8 handwritten digits). Steps:

1. train a ReLU ``MLPClassifier`` and save it with skops (a format that runs no code);
2. ``neurocosim convert`` it to an IF network with threshold balancing (NIR file);
3. ``neurocosim info`` the NIR file;
4. ``neurocosim simulate`` the test set with constant-current input;
5. print the ANN and SNN test accuracy, and SNN accuracy against the number of steps;
6. ``neurocosim device`` characterises the PRIME-like RRAM macro's device models (plot);
7. ``neurocosim map`` places the SNN on that chip (tiles, cores, traffic, figure);
8. ``neurocosim simulate --chip`` runs it on the chip's cycle-level model (programming and
   read noise, 8-bit ADCs calibrated on 64 training digits — never on the scored test
   digits —, rate-coded input) without and with input-aware early stop;
9. ``neurocosim deploy --run`` quantises it to Loihi 2 fixed point, exports NIR and netx,
   runs the Lava process graph in Lava's CPU simulator and checks it spike for spike
   against hwsim's loihi2 mode (needs Python 3.10 with lava-nc; skipped with a notice
   otherwise);
10. ``neurocosim calibrate`` fits device models to PCM measurements in a lab's own layout
    (column names, microsiemens: ``--columns``, ``--units``), made by the ``pcm-aihwkit``
    preset (aihwkit's model), choosing each family by held-out likelihood;
11. ``neurocosim deploy --run`` of a convolutional SNN on the digits as 1×8×8 images
    (conv 3×3 → LIF → 2×2 sum pool → dense → LIF; fixed random weights: a check of the
    fixed-point conv path against Lava spike for spike, not a classifier).

Run with ``make demo`` (outputs in build/demo/).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import skops.io

from neurocosim import load_network, make_encoder, simulate_reference
from neurocosim.cli import main as _main
from neurocosim.datasets import digits, digits_mlp


def cli(argv: list[str]) -> None:
    """Run one command as a user would; the demo owns its output folder, so commands
    that write replace their earlier outputs there (--force)."""
    writes = argv[0] not in ("info", "chips", "chip")
    code = _main([*argv, "--force"] if writes else argv)
    if code != 0:
        raise SystemExit(f"demo: 'neurocosim {' '.join(argv)}' exited with status {code}")


def banner(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 70 - len(text)))


def run(out: Path, steps: int = 64, seed: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    xtr, xte, ytr, yte = digits(seed)  # pixel intensities 0..16 -> [0, 1]
    np.savez(out / "train.npz", x=xtr, y=ytr)
    np.savez(out / "test.npz", x=xte, y=yte)

    banner("1. train a ReLU MLP on scikit-learn digits")
    mlp = digits_mlp(xtr, ytr, seed)
    ann_acc = float(mlp.score(xte, yte))
    skops.io.dump(mlp, out / "mlp.skops")  # safe format: loading it runs no code
    print(f"MLP 64-128-64-10, test accuracy {ann_acc:.4f} ({len(xte)} test digits)")

    banner("2. neurocosim convert (ANN -> SNN, threshold balancing)")
    cli(["convert", str(out / "mlp.skops"), "--data", str(out / "train.npz"),
         "-o", str(out / "digits.nir")])

    banner("3. neurocosim info")
    cli(["info", str(out / "digits.nir")])

    banner(f"4. neurocosim simulate ({steps} steps, constant-current input)")
    cli(["simulate", str(out / "digits.nir"), "--steps", str(steps), "--data",
         str(out / "test.npz"), "--encoding", "current", "--json", str(out / "simulate.json"),
         "-q"])
    snn_acc = json.loads((out / "simulate.json").read_text())["accuracy"]

    banner("5. accuracy against time steps")
    net = load_network(out / "digits.nir")
    enc = make_encoder("current", xte, net.input_shape)
    curve = {}
    for t in (4, 8, 16, 32, 64):
        curve[t] = simulate_reference(net, enc, t).accuracy(yte)
        print(f"  T = {t:>3}: SNN accuracy {curve[t]:.4f}")
    banner("6. neurocosim device prime-rram-40nm (programming noise, faults, drift)")
    cli(["device", "prime-rram-40nm", "--cells", "50000", "--plot", str(out / "device.png")])

    banner("7. neurocosim map onto prime-rram-40nm (rates from a reference run)")
    cli(["map", str(out / "digits.nir"), "--chip", "prime-rram-40nm", "--data",
         str(out / "train.npz"), "-o", str(out / "mapping")])

    banner("8. neurocosim simulate on prime-rram-40nm (noise, ADC; no early stop, then early stop)")
    hw = {}
    for policy in ("none", "confidence:0.8:2"):
        run_dir = out / f"hw-{policy.split(':')[0]}"
        cli(["simulate", str(out / "digits.nir"), "--chip", "prime-rram-40nm", "--data",
             str(out / "test.npz"), "--steps", str(steps), "--encoding", "rate", "--seed",
             str(seed), "--early-stop", policy, "-o", str(run_dir), "-q",
             "--calibration-data", str(out / "train.npz")])  # ADC ranges: 64 training digits
        hw[policy] = json.loads((run_dir / "summary.json").read_text())

    banner("9. neurocosim deploy to Lava / Loihi 2 (fixed point), checked against hwsim")
    deploy = None
    try:
        import lava  # noqa: F401

        cli(["deploy", str(out / "digits.nir"), "-o", str(out / "deploy"), "--run", "--data",
             str(out / "test.npz"), "--samples", "30", "--steps", str(steps), "--seed", str(seed)])
        deploy = json.loads((out / "deploy" / "deploy.json").read_text())
    except ImportError:
        print("lava-nc is not installed (it needs Python 3.10): deployment skipped")

    banner("10. neurocosim calibrate: PCM measurements in a lab's layout (uS, own columns)")
    fitted = calibrate_demo(out, seed)

    banner("11. neurocosim deploy of a convolutional SNN (conv -> LIF -> pool -> dense -> LIF)")
    cnn = None
    try:
        import lava  # noqa: F401

        cnn = cnn_demo(out, xte, steps, seed)
    except ImportError:
        print("lava-nc is not installed (it needs Python 3.10): deployment skipped")

    summary = {"ann_accuracy": ann_acc, "snn_accuracy": snn_acc, "steps": steps,
               "snn_over_ann": snn_acc / ann_acc, "accuracy_vs_steps": curve,
               "chip_runs": {k: {f: v[f] for f in ("accuracy", "mean_steps", "load_saving")}
                             | {"energy_per_inference_J": v["energy"]["energy_per_inference_J"],
                                "paper_convention": v["energy"]["paper_convention"]}
                             for k, v in hw.items()}}
    summary["deploy"], summary["calibrate"], summary["cnn_deploy"] = deploy, fitted, cnn
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    banner("summary")
    print(f"ANN accuracy {ann_acc:.4f}   SNN accuracy ({steps} steps) {snn_acc:.4f}   "
          f"ratio {snn_acc / ann_acc:.4f}")
    for k, v in hw.items():
        e = v["energy"]
        print(f"on prime-rram-40nm, early stop {k:<17} accuracy {v['accuracy']:.4f}   mean steps "
              f"{v['mean_steps']:.1f} / {steps}   load saving {v['load_saving']:.1%}")
        print(f"    energy per inference {e['energy_per_inference_J'] * 1e9:.2f} nJ (event model); "
              f"papers' convention E_snn {e['paper_convention']['E_snn_J'] * 1e9:.2f} nJ, "
              f"E_ann {e['paper_convention']['E_ann_J'] * 1e9:.2f} nJ")
    if deploy:
        print(f"Loihi 2 via Lava (fixed_pt, {deploy['samples']} samples): accuracy "
              f"{deploy['lava_accuracy']:.4f}, hwsim loihi2 {deploy['hwsim_loihi2_accuracy']:.4f}, "
              f"{deploy['spikes_mismatched']} of {deploy['spikes_compared']} spikes differ")
    print("calibrate chose " + ", ".join(f"{k} {v}" for k, v in fitted.items()))
    if cnn:
        rates = ", ".join(f"{k} {v:.1%}" for k, v in cnn["firing_rate"].items())
        print(f"CNN on Loihi 2 via Lava: {cnn['spikes_mismatched']} of {cnn['spikes_compared']} "
              f"spikes differ from hwsim's loihi2 mode (firing: {rates})")
    return summary


def calibrate_demo(out: Path, seed: int) -> dict:
    """PCM measurements by the pcm-aihwkit preset's models (4,000 cells, 3 reads at 25 s,
    1 h, 1 day), written as a lab would (cell_id, G_target_uS, G_uS, time_s, rep)."""
    from neurocosim.calibration.fit import synthetic_measurements
    from neurocosim.devices import load_chip

    rng = np.random.default_rng(seed)
    macro = load_chip("pcm-aihwkit").macro
    targets = rng.uniform(0.5e-6, 25e-6, 4000)
    m = synthetic_measurements(macro, targets, [25.0, 3600.0, 86400.0], 3, rng)
    rows = np.stack([m.cell, m.g_target * 1e6, m.g_measured * 1e6, m.t, m.read], 1)
    np.savetxt(out / "pcm_lab.csv", rows, delimiter=",", fmt=["%d", "%.9g", "%.9g", "%g", "%d"],
               header="cell_id,G_target_uS,G_uS,time_s,rep", comments="")
    cli(["calibrate", str(out / "pcm_lab.csv"), "-o", str(out / "pcm-fitted.yaml"), "--units", "uS",
         "--columns", "cell=cell_id,g_target=G_target_uS,g_measured=G_uS,t=time_s,read=rep",
         "--bootstrap", "20", "-q", "--force"])
    rep = json.loads((out / "pcm-fitted.fit.json").read_text())
    return {k: rep[k]["family"] for k in ("programming", "read", "drift")}


def cnn_demo(out: Path, x: np.ndarray, steps: int, seed: int) -> dict:
    from neurocosim import ir
    from neurocosim.frontends import save_network

    rng = np.random.default_rng(seed)
    lif = dict(tau=4e-3, r=1.0, v_leak=0.0, v_threshold=1.0)
    nodes = {"in": ir.Input(shape=(1, 8, 8)),
             "conv": ir.Conv2d(weight=rng.normal(0.3, 0.6, (8, 1, 3, 3)), bias=np.zeros(8),
                               padding=(1, 1)),
             "lif1": ir.LIF(**lif), "pool": ir.SumPool2d(kernel_size=2), "flat": ir.Flatten(),
             "fc": ir.Affine(weight=rng.normal(0.02, 0.08, (10, 8 * 4 * 4)), bias=np.zeros(10)),
             "lif2": ir.LIF(**lif), "out": ir.Output()}
    names = list(nodes)
    net = ir.Network(nodes=nodes, edges=tuple(zip(names[:-1], names[1:], strict=True)), dt=1e-3)
    save_network(net, out / "cnn.nir")
    np.savez(out / "cnn_test.npz", x=x[:10].reshape(-1, 1, 8, 8))
    cli(["deploy", str(out / "cnn.nir"), "-o", str(out / "deploy-cnn"), "--run", "--data",
         str(out / "cnn_test.npz"), "--samples", "10", "--steps", str(min(steps, 32)),
         "--encoding", "rate", "--seed", str(seed), "--force"])
    return json.loads((out / "deploy-cnn" / "deploy.json").read_text())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/demo"))
    ap.add_argument("--steps", type=int, default=64)
    a = ap.parse_args()
    run(a.out, a.steps)
