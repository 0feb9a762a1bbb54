"""Matplotlib figures for the reports. Every function writes a PNG atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from .units import format_duration

__all__ = ["device_figure", "mapping_figure", "raster_figure", "early_stop_figure",
           "energy_figure", "sweep_figure", "calibration_figure", "training_figure",
           "ci95_half_width"]


def ci95_half_width(values) -> float:
    """Half-width of the 95 % confidence interval of the mean of ``values`` (one per seed):
    ``t(0.975, n − 1) · s / √n`` with Student's t and the sample standard deviation ``s``
    (few seeds: 4.303 for 3, 2.262 for 10, where the normal 1.96 would be too narrow);
    NaN for fewer than two values (no interval)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2:
        return float("nan")
    return float(t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def _figure(nrows: int, ncols: int, size: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size, constrained_layout=True)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def device_figure(report, title: str, path: str | Path) -> Path:
    """Conductance histograms (targets, programmed, drifted) and the σ(g) curve."""
    fig, (ax0, ax1, ax2) = _figure(1, 3, (15, 4.2))
    us = 1e6
    bins = np.linspace(report.g_min * us, report.g_max * us, 120)
    ax0.hist(report.g_target * us, bins=bins, histtype="step", label="target", color="0.5")
    ax0.hist(report.g_programmed * us, bins=bins, alpha=0.6, label="programmed")
    ax0.set(xlabel="conductance (uS)", ylabel="cells", yscale="log",
            title=f"after programming ({report.programming_model})")
    ax0.legend()
    ax1.hist(report.g_programmed * us, bins=bins, histtype="step", label="t = 0")
    for t, g in report.g_drifted.items():
        ax1.hist(g * us, bins=bins, histtype="step", label=f"t = {format_duration(t)}")
    ax1.set(xlabel="conductance (uS)", ylabel="cells", yscale="log",
            title=f"drift ({report.drift_model})")
    ax1.legend()
    ax2.plot(report.sigma_curve_g * us, report.sigma_curve * us, label="model σ(g)")
    ax2.plot(report.sigma_targets * us, report.sigma_measured * us, "o", label="measured")
    ax2.set(xlabel="target conductance (uS)", ylabel="programming σ (uS)",
            title="programming noise")
    ax2.legend()
    fig.suptitle(title)
    return _save(fig, path)



def mapping_figure(mapped, path: str | Path) -> Path:
    """Tile utilisation per tile (coloured by layer) and the placement of tiles on cores."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = _figure(1, 2, (14, 4.5))
    ops = list(mapped.ops)
    cmap = plt.get_cmap("tab20")
    colour = {op: cmap(i % 20) for i, op in enumerate(ops)}
    rep = mapped.report
    tile_op: dict[int, str] = {}
    for b in mapped.blocks:
        tile_op.setdefault(b.tile, b.op)
    x = np.arange(rep.tiles)
    ax0.bar(x, np.asarray(rep.tile_utilisation) * 100,
            color=[colour[tile_op.get(t, ops[0])] for t in x], width=0.9)
    ax0.set(xlabel="tile", ylabel="cells used (%)", ylim=(0, 100),
            title=f"tile utilisation (mean {rep.tile_utilisation_mean:.1%})")
    tile_core = mapped.tile_core()
    heights: dict[int, int] = {}
    for t in range(rep.tiles):
        c = int(tile_core[t])
        h = heights.get(c, 0)
        ax1.add_patch(plt.Rectangle((c - 0.4, h), 0.8, 0.9, color=colour[tile_op.get(t, ops[0])]))
        heights[c] = h + 1
    ax1.set(xlim=(-0.6, max(rep.cores, 1) - 0.4), ylim=(0, max(heights.values(), default=1) + 0.5),
            xlabel="core", ylabel="tiles",
            title=f"placement: {rep.cores} cores, packets/step {rep.inter_core_packets:.0f} "
                  f"(sequential {rep.baseline_inter_core_packets:.0f})")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[o]) for o in ops]
    ax1.legend(handles, ops, loc="upper right", fontsize=8, ncol=max(1, len(ops) // 8))
    fig.suptitle(f"{mapped.network.name} on {mapped.chip.name}")
    return _save(fig, path)


def raster_figure(probes: dict, layers: list[str], title: str, path: str | Path) -> Path:
    """Spike raster of one sample: one panel per layer (time on x, neuron on y)."""
    n = max(1, len(layers))
    fig, axes = _figure(n, 1, (10, 1.6 + 1.4 * n))
    axes = np.atleast_1d(axes)
    for ax, layer in zip(axes, layers, strict=False):
        s = np.asarray(probes[layer])
        s = s.reshape(s.shape[0], -1)
        t, i = np.nonzero(s)
        ax.scatter(t, i, s=2, marker="|", color="k")
        ax.set(ylabel=f"{layer}\nneuron", xlim=(-0.5, s.shape[0] - 0.5))
    axes[-1].set_xlabel("step")
    fig.suptitle(title)
    return _save(fig, path)


def early_stop_figure(steps_used: np.ndarray, steps_max: int, policy: str,
                      path: str | Path) -> Path:
    """Histogram of the steps each sample used under an early-stop policy."""
    fig, ax = _figure(1, 1, (7, 4))
    bins = np.arange(0.5, steps_max + 1.5, max(1, steps_max // 40))
    ax.hist(steps_used, bins=bins, color="tab:blue")
    mean = float(np.mean(steps_used))
    ax.axvline(mean, color="tab:red", label=f"mean {mean:.1f}")
    ax.set(xlabel="steps used", ylabel="samples",
           title=f"early stop '{policy}': load saving {1 - mean / steps_max:.1%}")
    ax.legend()
    return _save(fig, path)


def energy_figure(report, path: str | Path) -> Path:
    """Stacked bars of energy per inference: by component, and by layer and component."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = _figure(1, 2, (13, 4.5))
    comps = list(report.by_component)
    cmap = plt.get_cmap("tab10")
    bottom = 0.0
    for i, k in enumerate(comps):
        v = report.by_component[k] * 1e9
        ax0.bar([0], [v], bottom=bottom, color=cmap(i % 10), label=k)
        bottom += v
    ax0.set(xticks=[0], xticklabels=[report.chip], ylabel="nJ per inference",
            title=f"{report.energy_per_inference_J * 1e9:.3g} nJ per inference")
    ax0.legend(fontsize=8)
    layers = [k for k, v in report.by_layer.items() if v > 0] or list(report.by_layer)
    bottoms = np.zeros(len(layers))
    for i, k in enumerate(comps):
        vals = np.array([report.by_layer_component.get(ly, {}).get(k, 0.0) * 1e9 for ly in layers])
        if vals.any():
            ax1.bar(range(len(layers)), vals, bottom=bottoms, color=cmap(i % 10), label=k)
            bottoms += vals
    ax1.set(xticks=range(len(layers)), ylabel="nJ per inference",
            title="by layer and component")
    ax1.set_xticklabels(layers, rotation=45, ha="right")
    return _save(fig, path)


def _num(v: str):
    try:
        return float(v)
    except ValueError:
        return None


def _table(table) -> tuple[list[str], list[list[str]]]:
    """(header, complete rows) of a results table given as a pair or a CSV path."""
    if isinstance(table, tuple):
        return table
    import csv
    import io

    text = Path(table).read_text()
    rows = list(csv.reader(io.StringIO(text[: text.rfind("\n") + 1])))
    return (rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]) if rows else ([], [])


def sweep_figure(table, study, out_dir: str | Path) -> list[Path]:
    """Figures of a finished sweep: each metric against the first numeric swept parameter
    (mean over seeds with a 95 % confidence band from Student's t, :func:`ci95_half_width`;
    one line per other-parameter setting),
    and energy against accuracy with the Pareto front when both were measured.
    ``table``: (header, rows) or the results CSV; ``study``: its name, param_names, metrics."""
    from .units import parse_duration

    header, rows = _table(table)
    col = {h: i for i, h in enumerate(header)}

    def xval(name, v):
        return parse_duration(v) if name.endswith("read_time") else _num(v)

    numeric = [p for p in study.param_names if all(xval(p, r[col[p]]) is not None for r in rows)]
    metrics = [m for m in study.metrics if all(_num(r[col[m]]) is not None for r in rows)]
    out = [_metric_figure(rows, col, study, numeric[0], m, xval, out_dir)
           for m in metrics] if numeric else []
    if "accuracy" in metrics and "energy_per_inference_J" in metrics:
        out.append(_pareto_figure(rows, col, study, out_dir))
    return out


def _metric_figure(rows, col, study, xp, m, xval, out_dir) -> Path:
    others = [p for p in study.param_names if p != xp]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r[col[o]] for o in others), []).append(r)
    fig, ax = _figure(1, 1, (7.5, 4.5))
    for key, rs in groups.items():
        xs = sorted({xval(xp, r[col[xp]]) for r in rs})
        mean, half = [], []
        for xv in xs:
            vals = np.array([float(r[col[m]]) for r in rs if xval(xp, r[col[xp]]) == xv])
            mean.append(vals.mean())
            half.append(ci95_half_width(vals))  # NaN (no band) for a single seed
        mean, half = np.array(mean), np.array(half)
        label = ", ".join(f"{o.split('.')[-1]}={k}" for o, k in zip(others, key, strict=True)) or m
        ax.plot(xs, mean, marker="o", label=label)
        ax.fill_between(xs, mean - half, mean + half, alpha=0.2)
    if xp.endswith("read_time"):
        ax.set_xscale("symlog", linthresh=1.0)
    ax.set(xlabel=xp, ylabel=m, title=f"{study.name}: {m} (mean, 95 % CI over seeds)")
    ax.legend(fontsize=8)
    return _save(fig, Path(out_dir) / f"{m}_vs_{xp.split('.')[-1]}.png")


def _pareto_figure(rows, col, study, out_dir) -> Path:
    pts: dict[tuple, list] = {}
    for r in rows:
        pts.setdefault(tuple(r[col[p]] for p in study.param_names), []).append(
            (float(r[col["energy_per_inference_J"]]), float(r[col["accuracy"]])))
    e = np.array([np.mean([v[0] for v in vs]) for vs in pts.values()])
    a = np.array([np.mean([v[1] for v in vs]) for vs in pts.values()])
    front = [i for i in range(len(e))
             if not any((e[j] <= e[i] and a[j] >= a[i]) and (e[j] < e[i] or a[j] > a[i])
                        for j in range(len(e)))]
    fig, ax = _figure(1, 1, (7.5, 4.5))
    ax.scatter(e * 1e9, a, color="0.6", label="design points")
    f = sorted(front, key=lambda i: e[i])
    ax.plot(e[f] * 1e9, a[f], "o-", color="tab:red", label="Pareto front")
    for i in f:
        ax.annotate(", ".join(str(k) for k in list(pts)[i]), (e[i] * 1e9, a[i]), fontsize=7)
    ax.set(xlabel="energy per inference (nJ)", ylabel="accuracy", title=f"{study.name}: "
           "energy vs accuracy")
    ax.legend()
    return _save(fig, Path(out_dir) / "pareto.png")


def calibration_figure(fit, path: str | Path) -> Path:
    """Data (binned) and every family's fitted curve: programming σ, read σ at each
    measured time, drift μ_ν and σ_ν; the chosen family bold, others dashed."""
    d = fit.binned()
    panels = 3 if fit.drift is not None else 2
    fig, axes = _figure(1, panels, (5.2 * panels, 4.2))
    g = d["g"] * 1e6
    chosen, curves = d["families"]["programming"]
    ax = axes[0]
    ax.plot([p[0] * 1e6 for p in d["programming"]], [p[1] * 1e6 for p in d["programming"]], "ko",
            label="measured (binned)")
    for name, y in curves.items():
        ax.plot(g, y * 1e6, "-" if name == chosen else "--", lw=2 if name == chosen else 1,
                label=name + (" (chosen)" if name == chosen else ""))
    ax.set(xlabel="target conductance (uS)", ylabel="programming sigma (uS)", title="programming")
    ax.legend(fontsize=7)
    chosen, curves = d["families"]["read"]
    ax = axes[1]
    for i, (t, pts) in enumerate(d["read"].items()):
        col = f"C{i}"
        ax.plot([p[0] * 1e6 for p in pts], [p[1] * 100 for p in pts], "o", color=col, ms=3)
        ax.plot(g, curves[chosen][t] / d["g"] * 100, "-", color=col, label=f"t = {t:g} s")
        for name, y in curves.items():
            if name != chosen:
                ax.plot(g, y[t] / d["g"] * 100, ":", color=col, lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="programmed conductance (uS)",
           ylabel="read sigma / g (%)", title=f"read noise: {chosen} (dotted: other families)")
    ax.legend(fontsize=7)
    if fit.drift is not None:
        chosen, curves = d["families"]["drift"]
        ax = axes[2]
        ax.plot([p[0] * 1e6 for p in d["drift"]], [p[1] for p in d["drift"]], "ko", label="mean nu")
        ax.plot([p[0] * 1e6 for p in d["drift"]], [p[2] for p in d["drift"]], "ks", mfc="none",
                label="sigma nu")
        for i, (name, (mu, sd)) in enumerate(curves.items()):
            style = "-" if name == chosen else "--"
            ax.plot(g, mu, style, color=f"C{i}", label=name + (" (chosen)" if name == chosen else ""))
            ax.plot(g, sd, style, color=f"C{i}")
        ax.set(xscale="log", xlabel="target conductance (uS)", ylabel="drift exponent nu",
               title="drift: mean and sigma of nu")
        ax.legend(fontsize=7)
    return _save(fig, path)


def training_figure(history: dict, path: str | Path, title: str = "mask learning") -> Path:
    """Training loss and accuracy per epoch."""
    fig, (ax0, ax1) = _figure(1, 2, (11, 4))
    ep = np.arange(1, len(history["loss"]) + 1)
    ax0.plot(ep, history["loss"], marker="o")
    ax0.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    ax1.plot(ep, history["train_accuracy"], marker="o", label="train")
    if history.get("val_accuracy"):
        ax1.plot(ep, history["val_accuracy"], marker="o", label="test")
    ax1.set(xlabel="epoch", ylabel="accuracy", title="accuracy (float model of the chip)")
    ax1.legend()
    fig.suptitle(title)
    return _save(fig, path)
