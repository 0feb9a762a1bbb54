"""Result folders of ``prune``, ``deploy`` and ``energy`` (the run folder of ``simulate
--chip`` is :mod:`neurocosim.runfolder`): each written through
:func:`neurocosim._atomic.output_dir`, so a user's file is never touched."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

__all__ = ["write_energy_folder", "write_deploy_folder", "prune_summary", "write_prune_folder"]


def write_energy_folder(folder: Path, rep, *, merge: bool, force: bool) -> None:
    """energy.json, energy.md, energy.png (``merge``: added to a run folder)."""
    from ._atomic import output_dir
    from .plots import energy_figure

    with output_dir(folder, force=force, merge=merge, command="energy") as tmp:
        (tmp / "energy.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
        (tmp / "energy.md").write_text(rep.markdown())
        energy_figure(rep, tmp / "energy.png")


def write_deploy_folder(folder, net, qnet, report: dict, check: dict | None, *,
                        force: bool) -> None:
    """model.nir, model.net (lava-dl netx; not for a network netx cannot hold, e.g. one with
    conv layers: the report's ``netx`` says why), quantization.json and deploy.json."""
    from ._atomic import output_dir
    from .frontends import save_network
    from .targets.loihi2 import netx_refusal, write_netx

    with output_dir(folder, force=force, command="deploy") as tmp:
        save_network(net, tmp / "model.nir")
        if not netx_refusal(qnet):
            write_netx(qnet, tmp / "model.net")
        (tmp / "quantization.json").write_text(json.dumps(report, indent=2) + "\n")
        if check is not None:
            (tmp / "deploy.json").write_text(json.dumps(check, indent=2) + "\n")


def prune_summary(out: dict, *, model: str, chip: str, seed: int, sparsity: float,
                  early_stop: str) -> dict:
    """summary.json of a prune-on-chip run (:func:`neurocosim.flows.prune_on_chip`)."""
    res, runs = out["learned"], out["runs"]
    return {"model": model, "chip": chip, "seed": seed, "sparsity": sparsity,
            "density_per_layer": res.density, "reset_pairs": len(out["reset_list"]),
            "reset_operations": out["reset_operations"], "pruned_rows": out["pruned_rows"],
            "accuracy_before": runs["before"]["accuracy"],
            "accuracy_after": runs["after"]["accuracy"], "runs": runs,
            "early_stop": early_stop, "history": res.history,
            "calibration": {"calibrated": [], "note": "nothing is calibrated: the chip is "
                            "scored with full-range ADCs and its trained thresholds"}}


def write_prune_folder(folder, out: dict, summary: dict, *, force: bool) -> None:
    """mask.npz, reset_list.csv, summary.json and training_curve.png."""
    from ._atomic import output_dir
    from .plots import training_figure

    res, ops = out["learned"], list(out["mapped"].ops)
    with output_dir(folder, force=force, command="prune") as tmp:
        np.savez(tmp / "mask.npz", **{f"mask_{op}": m for op, m in zip(ops, res.masks, strict=True)},
                 **{f"scores_{op}": s for op, s in zip(ops, res.scores, strict=True)})
        with open(tmp / "reset_list.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["layer", "tile", "row", "col_pos", "col_neg",
                                               "input", "output"])
            w.writeheader()
            w.writerows(out["reset_list"])
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        training_figure(res.history, tmp / "training_curve.png",
                        f"mask learning on {summary['chip']} ({summary['sparsity']:.0%} pruned)")


def deploy_text(qnet, check: dict | None, labelled: bool, folder) -> str:
    """What ``deploy`` prints: per-layer quantisation, warnings, the Lava comparison."""
    from .targets.loihi2 import netx_refusal

    lines = [f"{ly['neuron']:<10} weight_exp {ly['weight_exp']:>3}  vth {ly['vth']:>6}  "
             f"du {ly['du']:>4}  dv {ly['dv']:>4}  weight error {ly['weight_rel_rms_error']:.2%}"
             for ly in qnet.report["layers"]]
    lines += [f"warning: {w}" for w in qnet.report["warnings"]]
    graded = qnet.report.get("input")
    if graded:
        lines.append(f"input: graded spikes of {graded['num_message_bits']} bits into the first "
                     f"layer (values up to {graded['input_max']:g}, error at most "
                     f"{graded['input_max_abs_error']:.3g})")
    if check is not None:
        lines.append(f"Lava fixed_pt vs hwsim loihi2: {check['spikes_mismatched']} of "
                     f"{check['spikes_compared']} spikes differ ({check['samples']} samples x "
                     f"{check['steps']} steps)")
        if labelled:
            lines.append(f"accuracy: Lava {check['lava_accuracy']:.4f}, hwsim loihi2 "
                         f"{check['hwsim_loihi2_accuracy']:.4f}, float SNN "
                         f"{check['float_accuracy']:.4f}")
        lines.append(f"wall time: Lava {check['lava_wall_s']:.2f} s, hwsim loihi2 "
                     f"{check['hwsim_wall_s']:.3f} s")
    netx = netx_refusal(qnet)
    if netx:
        lines.append(f"note: no model.net: {netx}")
    lines.append(f"wrote {folder}/ (model.nir, {'' if netx else 'model.net, '}quantization.json"
                 + (", deploy.json)" if check else ")"))
    return "\n".join(lines)


def prune_text(out: dict, early_stop: str, steps: int, folder) -> str:
    """What ``prune`` prints: the mask, the RESET list and the chip before/after."""
    runs, es = out["runs"], out["runs"]["after_early_stop"]
    return "\n".join([
        f"mask: density {', '.join(f'{d:.3f}' for d in out['learned'].density)}; "
        f"{len(out['reset_list'])} pairs to RESET ({out['reset_operations']} RESET operations, "
        "write-once)",
        f"hwsim accuracy before pruning {runs['before']['accuracy']:.4f}, after "
        f"{runs['after']['accuracy']:.4f}; with early stop {early_stop}: "
        f"{es['accuracy']:.4f} at {es['mean_steps']:.1f} of {steps} steps",
        f"wrote {folder}/ (mask.npz, reset_list.csv, training_curve.png, summary.json)"])


def reference_payload(res, *, model: str, dt: float, encoding: str, seed: int, steps: int,
                      y) -> dict:
    """The JSON of a reference-engine run (``simulate --json``)."""
    counts = res.output.reshape(len(res.output), -1)
    return {"engine": "reference", "model": model, "dt": dt, "encoding": encoding, "seed": seed,
            "n_samples": int(len(counts)), "steps": int(steps),
            "accuracy": None if y is None else res.accuracy(y),
            "output_counts_per_class": counts.sum(axis=0).tolist(),
            "mean_output_per_class": counts.mean(axis=0).tolist(),
            "predictions": res.predictions().tolist()}


def mapping_warnings(run) -> str:
    """The mapping's soft design-rule warnings, one ``neurocosim: warning:`` line each."""
    return "".join(f"neurocosim: warning: {w}\n" for w in run.mapped.report.warnings)


def chip_run_text(run, summary: dict, folder) -> str:
    """What ``simulate --chip`` prints about a run."""
    res, energy, c = run.result, run.energy, run.result.counts
    p = energy.paper_convention
    lines = [f"simulated {len(res.output)} samples on {run.chip.name} (hwsim, "
             f"{summary['encoding']} input, early stop {res.early_stop}) in {res.wall_s:.2f} s"]
    if summary["accuracy"] is not None:
        lines.append(f"accuracy: {summary['accuracy']:.4f}")
    if summary.get("calibration"):
        from .calibration.split import CalibrationSplit

        rec = summary["calibration"]
        lines.append(CalibrationSplit.from_record(rec).text(rec["calibrated"]))
    lines += [f"mean steps used: {res.mean_steps:.2f} of {summary['steps_max']} (load saving "
              f"{res.load_saving:.1%}); synaptic events {c.synaptic_events():.3g}",
              f"energy per inference {energy.energy_per_inference_J * 1e9:.4g} nJ, latency "
              f"{energy.latency_per_inference_s * 1e6:.4g} us; papers' convention E_snn "
              f"{p['E_snn_J'] * 1e9:.4g} nJ, E_ann {p['E_ann_J'] * 1e9:.4g} nJ",
              f"wrote {folder}/ (summary.json, results.npz, energy.json, energy.md, energy.png, "
              "raster.png, early_stop.png)"]
    return "\n".join(lines)


#: the most tiles drawn in placement.png (a patch per tile: 13,000 tiles took 50 s)
FIGURE_TILES = 2000


def write_mapping_folder(folder, mapped, *, force: bool) -> list[str]:
    """The mapping (network.nir, chip.yaml, arrays.npz, mapping.json), report.json,
    report.txt and, up to :data:`FIGURE_TILES` tiles, placement.png; the files' names."""
    from ._atomic import output_dir
    from .mapping.mapped import write_mapping_files
    from .plots import mapping_figure

    with output_dir(folder, force=force, command="map") as tmp:
        write_mapping_files(mapped, tmp)
        if mapped.n_tiles <= FIGURE_TILES:
            mapping_figure(mapped, tmp / "placement.png")
        return sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))


def write_card(path: Path, chip, fit, report: dict) -> None:
    """A fitted card (YAML) with its .fit.json and .fit.png beside it."""
    import yaml

    from ._atomic import atomic_path
    from .plots import calibration_figure

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(chip.to_dict(), sort_keys=False, allow_unicode=True))
    with atomic_path(path.with_suffix(".fit.json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    calibration_figure(fit, path.with_suffix(".fit.png"))


def fit_text(fit, out: Path) -> str:
    """What ``calibrate`` prints: the family chosen for each kind and its parameters."""
    lines = []
    for kind, c in (("programming", fit.programming), ("read", fit.read), ("drift", fit.drift)):
        if c is None:
            lines.append(f"{kind}: one measured time, no drift fitted")
            continue
        others = ", ".join(f"{k} {v:+.4g}" for k, v in c.heldout.items() if k != c.family.name)
        params = ", ".join(f"{k}={v:.4g}" for k, v in fit.params(kind).items())
        lines.append(f"{kind}: {c.family.name} (card model '{c.family.card_model}': {params}); "
                     f"held-out log-likelihood per observation {c.heldout[c.family.name]:+.4g}"
                     + (f" vs {others}" if others else ""))
    lines.append(f"stuck-at: {fit.stuck_at}")
    lines.append(f"wrote {out} (+ .fit.json with the curves table, .fit.png)")
    return "\n".join(lines)


def reference_text(payload: dict, folder_json: str | None) -> str:
    """What ``simulate`` prints about a reference-engine run."""
    lines = [f"simulated {payload['n_samples']} samples x {payload['steps']} steps (reference "
             f"engine, {payload['encoding']} input)"]
    if payload["accuracy"] is not None:
        lines.append(f"accuracy: {payload['accuracy']:.4f}")
    lines.append("mean output per class: "
                 + " ".join(f"{v:.2f}" for v in payload["mean_output_per_class"]))
    return "\n".join(lines + ([f"wrote {folder_json}"] if folder_json else []))


def zoo_text(infos: list[dict], detail: bool = False) -> str:
    """``neurocosim zoo list`` (one line a model from its spec: nothing is built) or ``zoo
    show`` (its built statistics; ``detail``: and the paper, its table and the counting
    convention)."""
    if infos and "spec" in infos[0]:
        return "\n".join([f"{'model':<24}{'paper parameters':>17}  paper"] + [
            f"{i['name']:<24}{i['spec'].paper_parameters / 1e6:>16.2f}M  "
            f"{i['spec'].paper.partition(': ')[2].partition(' (code')[0]}"
            for i in infos] + ["(neurocosim zoo show NAME builds one and counts it)"])
    lines = [f"{'model':<24}{'parameters':>12}{'paper':>9}{'MACs/step':>12}{'layers':>8}"
             f"{'depth':>7}{'neurons':>10}  neuron  steps  input"]
    for i in infos:
        lines.append(f"{i['name']:<24}{i['parameters'] / 1e6:>11.2f}M{i['paper_parameters'] / 1e6:>8.2f}M"
                     f"{i['macs_per_step'] / 1e9:>11.3f}G{i['layers']:>8}{i['depth']:>7}"
                     f"{i['neurons']:>10}  {i['neuron']:<6}  {i['steps']:>5}  "
                     f"{'x'.join(map(str, i['input_shape']))}")
        if detail:
            lines += [f"  parameters: {i['parameters']} ({i['parameters_counted']}); "
                      f"{i['parameters_folded']} once BatchNorm is folded",
                      f"  paper: {i['paper']}", f"  table: {i['table']}",
                      f"  load it as MODEL zoo:{i['name']} (seed 0)"]
    return "\n".join(lines)
