"""``neurocosim`` command line: a thin shell over the public API.

Bad input exits with status 2 and one line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import ConfigError, DataError, ModelError, NeurocosimError, short

__all__ = ["main", "build_parser"]


# -- helpers ---------------------------------------------------------------------------
def _load_data(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    from .hwsim.encoders import load_data

    return load_data(path)


@contextlib.contextmanager
def _about(path, *kinds: type[NeurocosimError]):
    """Prefix errors raised while using the file ``path`` with its name (once)."""
    catch = tuple(kinds) or (DataError,)
    try:
        yield
    except catch as exc:
        msg = str(exc)
        if path and not msg.startswith(str(path)):
            raise type(exc)(f"{path}: {msg}") from None
        raise


def _out_file(path: str | None, args: argparse.Namespace, option: str) -> None:
    """Refuse an output file before any work: exists (without --force), folder, under a file."""
    if path:
        from ._atomic import check_output_file

        check_output_file(path, force=getattr(args, "force", False), option=option)


def _out_dir(path: str | None, args: argparse.Namespace) -> None:
    """Refuse an output folder of user files (without --force) before any work."""
    if path:
        from ._atomic import check_output_dir

        check_output_dir(path, force=getattr(args, "force", False))


def _write_json(path: str, payload: dict[str, Any]) -> None:
    from ._atomic import atomic_path

    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def _fmt_range(a: np.ndarray) -> str:
    lo, hi = float(np.min(a)), float(np.max(a))
    return f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}]"


# -- commands --------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    from .frontends import load_network
    from .ir import nodes as N

    net = load_network(args.model, dt=args.dt)
    print(f"network '{net.name}'  dt = {net.dt:g} s  synaptic_delay = {net.synaptic_delay}")
    print(f"input {net.input_shape}  ->  output {net.output_shape}")
    print(f"{'node':<16}{'type':<11}{'in':<16}{'out':<16}parameters")
    for name in net.order:
        node = net.nodes[name]
        params = []
        for pname, arr in node.arrays().items():
            params.append(f"{pname}={_fmt_range(arr)}" if arr.size else f"{pname}=[]")
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


def cmd_simulate(args: argparse.Namespace) -> int:
    from .frontends import load_network
    from .hwsim import make_encoder
    from .hwsim.reference import simulate

    if args.chip and not args.output:
        raise ConfigError("simulate --chip writes a run folder: give -o RUN/")
    if args.output and not args.chip:
        raise ConfigError("-o/--output needs --chip (the reference engine writes --json)")
    _out_dir(args.output, args)
    _out_file(args.json, args, "--json")
    if args.chip:
        from .hwsim.early_stop import parse_early_stop

        parse_early_stop(args.early_stop)
        _read_time(args.read_time)
    net = load_network(args.model, dt=args.dt)
    x, y = _load_data(args.data)
    y = _labels(y, net, len(x), args.data)
    _check_run(net, len(x), args)
    seeds = np.random.SeedSequence(args.seed).spawn(3)  # encoding, programming, read noise
    with _about(args.data):
        enc = make_encoder(args.encoding, x, net.input_shape, np.random.default_rng(seeds[0]))
        if args.encoding == "spikes" and x.shape[1] < args.steps:
            raise DataError(f"'x' holds {x.shape[1]} steps of spikes, --steps asks for "
                            f"{args.steps}")
    if args.chip:
        return _simulate_chip(args, net, enc, y, seeds)
    res = simulate(net, enc, args.steps, batch_size=args.batch_size,
                   progress=not args.quiet and sys.stderr.isatty())
    counts = res.output.reshape(len(res.output), -1)
    payload: dict[str, Any] = {
        "engine": "reference",
        "model": str(args.model),
        "dt": net.dt,
        "encoding": args.encoding,
        "seed": args.seed,
        "n_samples": int(len(x)),
        "steps": int(args.steps),
        "accuracy": None if y is None else res.accuracy(y),
        "output_counts_per_class": counts.sum(axis=0).tolist(),
        "mean_output_per_class": counts.mean(axis=0).tolist(),
        "predictions": res.predictions().tolist(),
    }
    print(f"simulated {len(x)} samples x {args.steps} steps (reference engine, {args.encoding} input)")
    if y is not None:
        print(f"accuracy: {payload['accuracy']:.4f}")
    print("mean output per class: " + " ".join(f"{v:.2f}" for v in payload["mean_output_per_class"]))
    if args.json:
        _write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


def _read_time(text: str) -> float:
    from .units import parse_duration

    try:
        t = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--read-time: {exc}") from None
    if not 0 <= t < float("inf"):
        raise ConfigError(f"--read-time {short(text)}: must be a finite time >= 0, e.g. 1d")
    return t


def _labels(y, net, n_samples: int, source: str):
    """Labels checked against the network's outputs (never score unvalidated labels)."""
    if y is None:
        return None
    from .hwsim.encoders import validate_labels

    return validate_labels(y, int(np.prod(net.output_shape)), n_samples, source)


def _check_run(net, n_samples: int, args: argparse.Namespace) -> None:
    """The memory and time a run implies, checked before mapping or simulating."""
    from .budget import check_simulation

    check_simulation(engine="hwsim" if getattr(args, "chip", None) else "reference engine",
                     n_samples=n_samples, steps=args.steps,
                     batch=getattr(args, "batch_size", 256),
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synapses(), per_sample=int(np.prod(net.output_shape)))


def _simulate_chip(args, net, enc, y, seeds) -> int:
    import warnings

    from ._atomic import output_dir
    from .calibration import calibrate_adc_ranges
    from .devices import dump_chip, load_chip
    from .devices.program import program_chip
    from .hwsim import simulate
    from .mapping import MappingWarning, map_network
    from .plots import early_stop_figure, raster_figure
    chip = load_chip(args.chip)
    read_time = _read_time(args.read_time)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapped = map_network(net, chip, placement=args.placement,
                             conv_regions=args.conv_regions, seed=args.seed)
    programmed = program_chip(mapped, np.random.default_rng(seeds[1]))
    fs = None
    if chip.macro.adc_bits is not None and args.adc_calibration > 0 and not programmed.ideal:
        fs = calibrate_adc_ranges(programmed, enc, args.steps, read_time=read_time,
                                  max_samples=args.adc_calibration)
    res = simulate(programmed, enc, args.steps, early_stop=args.early_stop,
                   rng=np.random.default_rng(seeds[2]), batch_size=args.batch_size,
                   threads=args.threads, read_time=read_time, adc_full_scale=fs,
                   progress=not args.quiet and sys.stderr.isatty())
    spiking = [n for n in net.layers() if net.nodes[n].spiking]
    one = simulate(programmed, enc.head(1), args.steps, early_stop="none",
                   rng=np.random.default_rng(seeds[2]), probes=spiking, read_time=read_time,
                   adc_full_scale=fs)
    c = res.counts
    summary: dict[str, Any] = {
        "engine": "hwsim",
        "model": str(args.model),
        "chip": chip.name,
        "encoding": args.encoding,
        "seed": args.seed,
        "early_stop": res.early_stop,
        "n_samples": int(len(res.output)),
        "steps_max": int(args.steps),
        "mean_steps": res.mean_steps,
        "load_saving": res.load_saving,
        "accuracy": None if y is None else res.accuracy(y),
        "wall_s": res.wall_s,
        "synaptic_events": c.synaptic_events(),
        "read_time_s": read_time,
        "adc_calibrated": fs is not None,
        "latency_per_inference_s": float(np.mean(c.latency_s)),
        "counters": c.totals(),
        "counters_by_op": c.by_op(),
        "counters_by_layer": c.by_layer(),
        "mapping": mapped.report.to_dict(),
    }
    from .energy import estimate, paper_convention
    from .frontends.nir_io import write_nir
    from .plots import energy_figure

    first_mac = args.encoding == "current"
    energy = estimate(c, chip, tiles=mapped.report.tiles, cores=mapped.report.cores,
                      paper=paper_convention(net, c, first_layer_mac=first_mac))
    summary["energy"] = {k: energy.to_dict()[k] for k in
                         ("energy_per_inference_J", "latency_per_inference_s", "area_mm2",
                          "by_component", "paper_convention")}
    with output_dir(args.output, force=args.force, command="simulate") as tmp:
        write_nir(net, tmp / "network.nir")
        (tmp / "energy.json").write_text(json.dumps(energy.to_dict(), indent=2) + "\n")
        (tmp / "energy.md").write_text(energy.markdown())
        energy_figure(energy, tmp / "energy.png")
        np.savez(tmp / "results.npz", output=res.output, steps_used=res.steps_used,
                 predictions=res.predictions(), labels=np.asarray([] if y is None else y),
                 block=c.block, layer=c.layer, input=c.input, latency_s=c.latency_s,
                 block_op=np.array(c.block_op, dtype=str), block_tile=c.block_tile,
                 block_outs=c.block_outs,
                 layer_names=np.array(c.layer_names, dtype=str),
                 adc_full_scale=np.asarray([] if fs is None else fs))
        (tmp / "chip.yaml").write_text(dump_chip(chip))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if spiking:
            raster_figure({k: one.probes[k][0] for k in spiking}, spiking,
                          f"{net.name} on {chip.name}: sample 0", tmp / "raster.png")
        early_stop_figure(res.steps_used, args.steps, res.early_stop, tmp / "early_stop.png")
    print(f"simulated {len(res.output)} samples on {chip.name} (hwsim, {args.encoding} input, "
          f"early stop {res.early_stop}) in {res.wall_s:.2f} s")
    if y is not None:
        print(f"accuracy: {summary['accuracy']:.4f}")
    print(f"mean steps used: {res.mean_steps:.2f} of {args.steps} (load saving "
          f"{res.load_saving:.1%}); synaptic events {c.synaptic_events():.3g}")
    p = energy.paper_convention
    print(f"energy per inference {energy.energy_per_inference_J * 1e9:.4g} nJ, latency "
          f"{energy.latency_per_inference_s * 1e6:.4g} us; papers' convention E_snn "
          f"{p['E_snn_J'] * 1e9:.4g} nJ, E_ann {p['E_ann_J'] * 1e9:.4g} nJ")
    print(f"wrote {args.output}/ (summary.json, results.npz, energy.json, energy.md, "
          "energy.png, raster.png, early_stop.png)")
    return 0


#: the only types a .skops file may hold beyond scikit-learn's defaults: the fitted
#: MLP's optimiser state (listed by skops.io.get_untrusted_types for an MLPClassifier)
SKOPS_TRUSTED = ("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                 "sklearn.neural_network._stochastic_optimizers.SGDOptimizer")


def load_sklearn_model(path: str | Path, *, trust_pickle: bool = False):
    """A scikit-learn model from ``.skops`` (safe: no code runs) or, only with
    ``trust_pickle``, from a pickle/joblib file (which can run any code when loaded)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file" if not path.exists() else
                        f"{path}: is a folder, not a model file")
    if path.suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in SKOPS_TRUSTED]
        except Exception as exc:  # noqa: BLE001 - any malformed archive
            raise DataError(f"{path}: not a readable .skops file ({type(exc).__name__}: "
                            f"{short(str(exc), 80)})") from None
        if untrusted:
            raise DataError(f"{path}: holds types neurocosim does not trust "
                            f"({', '.join(short(t, 80) for t in untrusted[:3])}); convert "
                            "takes a scikit-learn MLPClassifier")
        try:
            return sio.load(path, trusted=list(SKOPS_TRUSTED))
        except Exception as exc:  # noqa: BLE001 - skops runs no code, but can fail anyhow
            raise DataError(f"{path}: cannot load the .skops file ({type(exc).__name__}: "
                            f"{short(str(exc), 80)})") from None
    if path.suffix not in (".joblib", ".pkl", ".pickle"):
        raise DataError(f"{path}: unknown model format {short(path.suffix)}; give a .skops "
                        "file (skops.io.dump(model, 'mlp.skops')) or a trusted .joblib/.pkl "
                        "with --trust-pickle")
    if not trust_pickle:
        raise DataError(f"{path}: loading a pickle can run any code it holds; neurocosim "
                        "loads pickles only with --trust-pickle (use it for files you made), "
                        "or save the model with skops.io.dump(model, 'mlp.skops')")
    try:
        if path.suffix == ".joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - the user vouched for it (--trust-pickle)
    except Exception as exc:  # noqa: BLE001 - unpickling can raise anything
        raise DataError(f"{path}: cannot load the pickled model ({type(exc).__name__}: "
                        f"{short(str(exc), 80)})") from None


def cmd_convert(args: argparse.Namespace) -> int:
    from .frontends import convert_mlp, save_network

    _out_file(args.output, args, "-o")
    if Path(args.output).suffix not in (".nir", ".npz"):
        raise ConfigError(f"-o {short(args.output)}: the output model must end in .nir or .npz")
    if not 0 < args.percentile <= 100:
        raise ConfigError(f"--percentile {args.percentile}: must lie in (0, 100]")
    path = Path(args.model)
    mlp = load_sklearn_model(path, trust_pickle=args.trust_pickle)
    x, _ = _load_data(args.data)
    with _about(path, ModelError):
        if not hasattr(mlp, "coefs_"):
            raise ModelError(f"holds a {short(type(mlp).__name__, 60)}, not a fitted "
                             "scikit-learn MLPClassifier")
    with _about(args.data):
        xs = x.reshape(len(x), -1)
        if xs.shape[1] != np.asarray(mlp.coefs_[0]).shape[0]:
            raise DataError(f"'x' has {xs.shape[1]} features per sample; the MLP in {path} "
                            f"takes {np.asarray(mlp.coefs_[0]).shape[0]}")
    with _about(path, ModelError):
        net = convert_mlp(mlp, xs, dt=args.dt, percentile=args.percentile, name=path.stem)
    save_network(net, args.output)
    print(f"converted {type(mlp).__name__} -> {net.n_neurons()} IF neurons, "
          f"{net.n_synapses()} synapses; wrote {args.output}")
    return 0


def cmd_chips(args: argparse.Namespace) -> int:
    from .devices import list_presets, load_chip

    for name in list_presets():
        card = load_chip(name)
        print(f"{name:<18}{card.description.strip()}")
    return 0


def cmd_chip_show(args: argparse.Namespace) -> int:
    from .devices import dump_chip, load_chip
    from .units import format_quantity as fq

    card = load_chip(args.name)
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


def cmd_device(args: argparse.Namespace) -> int:
    from .devices import load_chip
    from .devices.report import characterise
    from .units import format_duration, parse_duration
    from .units import format_quantity as fq

    _out_file(args.plot, args, "--plot")
    _out_file(args.json, args, "--json")
    try:
        times = [parse_duration(t) for t in args.times.split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--times: {exc}") from None
    bad = [t for t in times if not 0 < t < 1e12]
    if bad or not times or len(times) > 16:
        raise ConfigError(f"--times {short(args.times)}: give 1 to 16 finite times after "
                          "programming, each > 0 and below 30,000 years, e.g. 1h,1d,30d")
    card = load_chip(args.preset)
    rep = characterise(card.macro, np.random.default_rng(args.seed), n_cells=args.cells,
                       times=times)
    m = card.macro
    print(f"{card.name}: {m.technology} {m.rows}x{m.cols}, g in [{fq(m.g_min, 'S')}, "
          f"{fq(m.g_max, 'S')}], levels {m.levels or 'continuous'} ({args.cells} cells, seed {args.seed})")
    print(f"programming noise '{rep.programming_model}' {card.resolved('programming')}")
    print(f"  {'target':>10} {'model sigma':>12} {'measured':>10}")
    for g, sm, ss in zip(rep.sigma_targets, rep.sigma_model, rep.sigma_measured, strict=True):
        print(f"  {fq(g, 'S'):>10} {fq(sm, 'S'):>12} {fq(ss, 'S'):>10}")
    print(f"read noise '{rep.read_model}': sigma at mid-window {fq(rep.read_sigma_mid, 'S')} per read")
    print(f"stuck at g_min {rep.stuck_min_fraction:.4%} (card {m.stuck_at.g_min_fraction:.4%}), "
          f"at g_max {rep.stuck_max_fraction:.4%} (card {m.stuck_at.g_max_fraction:.4%})")
    for t in rep.drift_ratio_measured:
        print(f"drift at {format_duration(t)}: mean g(t)/g = {rep.drift_ratio_measured[t]:.4f} "
              f"(power law {rep.drift_ratio_expected[t]:.4f})")
    if m.drift.model == "none":
        print("drift: none")
    if args.plot:
        from .plots import device_figure

        device_figure(rep, f"{card.name}: conductances", args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        _write_json(args.json, rep.to_dict())
        print(f"wrote {args.json}")
    return 0


def measure_rates(net, x: np.ndarray, steps: int, encoding: str, seed: int,
                  max_samples: int = 256) -> dict[str, np.ndarray]:
    """Mean spikes per step of every neuron (and the input) from a reference run."""
    from .hwsim import make_encoder
    from .hwsim.reference import simulate

    x = x[:max_samples]
    enc = make_encoder(encoding, x, net.input_shape, np.random.default_rng(seed))
    layers = [n for n in net.layers() if net.nodes[n].spiking]
    res = simulate(net, enc, steps, probes=layers)
    rates = {k: res.probes[k].mean(axis=(0, 1)).ravel() for k in layers}
    rates[net.input_name] = enc.block(0, len(x), steps).mean(axis=(0, 1)).ravel()
    return rates


def cmd_map(args: argparse.Namespace) -> int:
    from ._atomic import output_dir
    from .devices import load_chip
    from .frontends import load_network
    from .mapping import map_network
    from .mapping.mapped import write_mapping_files
    from .plots import mapping_figure

    _out_dir(args.output, args)
    net = load_network(args.model, dt=args.dt)
    chip = load_chip(args.chip)
    rates = None
    if args.data:
        x, _ = _load_data(args.data)
        _check_run(net, min(len(x), 256), args)
        with _about(args.data):
            rates = measure_rates(net, x, args.steps, args.encoding, args.seed)
    import warnings

    from .mapping import MappingWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)  # listed in the report instead
        mapped = map_network(net, chip, rates=rates, placement=args.placement,
                             conv_regions=args.conv_regions, bias=args.bias,
                             tile_sharing=not args.no_tile_sharing, seed=args.seed)
    out = Path(args.output)
    with output_dir(out, force=args.force, command="map") as tmp:
        write_mapping_files(mapped, tmp)
        mapping_figure(mapped, tmp / "placement.png")
    print(f"mapped '{net.name}' onto {chip.name}" + (" (rates from a reference run)" if rates else
                                                     " (uniform rates)"))
    print(mapped.report.text())
    print(f"wrote {out}/ (mapping, report.json, report.txt, placement.png)")
    return 0


def _read_run(src: Path, chip_override: str | None):
    """Network, chip card, counters and summary of a run folder, each checked."""
    from ._yaml import read_text
    from .devices import load_chip
    from .frontends.nir_io import read_nir
    from .hwsim.simulator import EventCounts

    need = [src / f for f in ("results.npz", "chip.yaml", "summary.json", "network.nir")]
    missing = [str(p.name) for p in need if not p.is_file()]
    if missing:
        raise DataError(f"{src}: not a simulation folder (missing {', '.join(missing)}); "
                        "make one with 'neurocosim simulate ... --chip ... -o DIR'")
    text = read_text(src / "summary.json", "run summary", DataError)
    try:
        summary = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{src / 'summary.json'}: not valid JSON ({short(str(exc), 80)}); "
                        "re-run 'neurocosim simulate --chip' to write it again") from None
    try:
        tiles, cores = summary["mapping"]["tiles"], summary["mapping"]["cores"]
        ok = all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**40
                 for v in (tiles, cores))
    except (TypeError, KeyError):
        ok = False
    if not ok:
        raise DataError(f"{src / 'summary.json'}: field mapping.tiles/mapping.cores is missing "
                        "or not a positive integer; re-run 'neurocosim simulate --chip'")
    chip = load_chip(chip_override or src / "chip.yaml")
    net = read_nir(src / "network.nir")
    counts = EventCounts.load(src / "results.npz")
    ops = set(net.nodes)
    if not set(counts.block_op) <= ops or not set(counts.layer_names) <= set(net.layers()):
        raise DataError(f"{src / 'results.npz'}: its counters name layers that "
                        f"{src / 'network.nir'} does not have; the two files come from "
                        "different runs")
    if counts.block_tile.size and int(counts.block_tile.max()) >= tiles:
        raise DataError(f"{src / 'results.npz'}: field 'block_tile' names tile "
                        f"{int(counts.block_tile.max())} of a {tiles}-tile mapping (summary.json)")
    return net, chip, counts, summary


def cmd_energy(args: argparse.Namespace) -> int:
    from ._atomic import output_dir
    from .devices import load_chip
    from .energy import analytical_counts, estimate, paper_convention
    from .plots import energy_figure

    src = Path(args.source)
    if not src.exists():
        raise DataError(f"{src}: no such run folder or model file")
    if src.is_dir():
        net, chip, counts, summary = _read_run(src, args.chip)
        tiles, cores = summary["mapping"]["tiles"], summary["mapping"]["cores"]
        first_mac = summary.get("encoding") == "current"
        out_dir = Path(args.output) if args.output else src
        _out_dir(str(out_dir), args)
    else:
        import warnings

        from .devices.program import program_chip
        from .frontends import load_network
        from .mapping import MappingWarning, map_network

        if not args.chip:
            raise ConfigError("analytical energy of a model needs --chip")
        if args.rate is not None and not 0 <= args.rate <= 1:
            raise ConfigError(f"--rate {args.rate}: spikes per step must lie in [0, 1]")
        out_dir = Path(args.output) if args.output else None
        _out_dir(args.output, args)
        net = load_network(src, dt=args.dt)
        chip = load_chip(args.chip)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MappingWarning)
            mapped = map_network(net, chip)
        programmed = program_chip(mapped, np.random.default_rng(0))
        rates = None
        if args.rate is not None:
            rates = {k: args.rate for k in [net.input_name] + net.layers()}
        counts = analytical_counts(programmed, args.steps, rates, worst_case=args.rate is None)
        tiles, cores = mapped.report.tiles, mapped.report.cores
        first_mac = False
    rep = estimate(counts, chip, tiles=tiles, cores=cores,
                   paper=paper_convention(net, counts, preset=args.paper_preset,
                                          multilevel=args.multilevel, first_layer_mac=first_mac))
    print(rep.text())
    if out_dir is not None:
        files = {"energy.json": json.dumps(rep.to_dict(), indent=2) + "\n",
                 "energy.md": rep.markdown()}
        with output_dir(out_dir, force=args.force, merge=out_dir == src,
                        command="energy") as tmp:
            for name, text in files.items():
                (tmp / name).write_text(text)
            energy_figure(rep, tmp / "energy.png")
        print(f"wrote {out_dir}/ (energy.json, energy.md, energy.png)")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    import warnings

    from ._atomic import output_dir
    from .backends import LoihiWarning, quantize_loihi2, write_netx
    from .backends.lava import build_graph, require_lava, run_lava
    from .devices import load_chip
    from .frontends import load_network, save_network
    from .hwsim import make_encoder
    from .hwsim.encoders import SpikeEncoder
    from .hwsim.loihi2 import simulate_loihi2
    from .hwsim.reference import simulate as simulate_float
    from .mapping import MappingWarning, map_network

    require_lava()
    _out_dir(args.output, args)
    if not 1 <= args.num_weight_bits <= 8:
        raise ConfigError(f"--num-weight-bits {args.num_weight_bits}: Loihi 2 weights have 1 to "
                          "8 bits")
    if args.run and not args.data:
        raise ConfigError("deploy --run needs --data DATA.npz")
    if args.run and args.encoding == "current":
        raise ConfigError("Loihi 2 takes spikes: use --encoding rate (or spikes) with --run")
    net = load_network(args.model, dt=args.dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        warnings.simplefilter("ignore", MappingWarning)
        qnet = quantize_loihi2(net, num_weight_bits=args.num_weight_bits)
        mapped = map_network(net, load_chip("loihi2"))
    build_graph(qnet, np.zeros((qnet.input_size, 1), np.int32), 1)  # the graph builds
    report = {"target": "lava", "lava_version": "0.10", "select_tag": "fixed_pt",
              "quantization": qnet.report, "cores": mapped.report.to_dict()}
    deploy = None
    if args.run:
        x, y = _load_data(args.data)
        y = _labels(y, net, len(x), args.data)
        x = x[: args.samples]
        y = None if y is None else y[: args.samples]
        _check_run(net, len(x), args)
        with _about(args.data):
            enc = make_encoder(args.encoding, x, net.input_shape,
                               np.random.default_rng(args.seed))
        spikes = enc.block(0, len(x), args.steps).reshape(len(x), args.steps, -1)
        hw = simulate_loihi2(qnet, spikes)
        lv = run_lava(qnet, spikes)
        fl = simulate_float(net, SpikeEncoder(spikes.reshape(len(x), args.steps, *net.input_shape)),
                            args.steps)
        compared = sum(int(hw.spikes[L.name].size) for L in qnet.layers)
        mismatched = sum(int((hw.spikes[L.name] != lv.spikes[L.name]).sum()) for L in qnet.layers)
        deploy = {
            "samples": int(len(x)), "steps": int(args.steps), "encoding": args.encoding,
            "seed": args.seed, "spikes_compared": compared, "spikes_mismatched": mismatched,
            "lava_accuracy": None if y is None else lv.accuracy(y),
            "hwsim_loihi2_accuracy": None if y is None else hw.accuracy(y),
            "float_accuracy": None if y is None else fl.accuracy(y),
            "lava_wall_s": lv.wall_s, "hwsim_wall_s": hw.wall_s,
            "speedup": lv.wall_s / hw.wall_s if hw.wall_s > 0 else None,
        }
    with output_dir(args.output, force=args.force, command="deploy") as tmp:
        save_network(net, tmp / "model.nir")
        write_netx(qnet, tmp / "model.net")
        (tmp / "quantization.json").write_text(json.dumps(report, indent=2) + "\n")
        if deploy is not None:
            (tmp / "deploy.json").write_text(json.dumps(deploy, indent=2) + "\n")
    for ly in qnet.report["layers"]:
        print(f"{ly['neuron']:<10} weight_exp {ly['weight_exp']:>3}  vth {ly['vth']:>6}  du {ly['du']:>4}"
              f"  dv {ly['dv']:>4}  weight error {ly['weight_rel_rms_error']:.2%}")
    for w in qnet.report["warnings"]:
        print(f"warning: {w}")
    if deploy is not None:
        print(f"Lava fixed_pt vs hwsim loihi2: {deploy['spikes_mismatched']} of "
              f"{deploy['spikes_compared']} spikes differ ({deploy['samples']} samples x "
              f"{deploy['steps']} steps)")
        if y is not None:
            print(f"accuracy: Lava {deploy['lava_accuracy']:.4f}, hwsim loihi2 "
                  f"{deploy['hwsim_loihi2_accuracy']:.4f}, float SNN {deploy['float_accuracy']:.4f}")
        print(f"wall time: Lava {deploy['lava_wall_s']:.2f} s, hwsim loihi2 "
              f"{deploy['hwsim_wall_s']:.3f} s")
    print(f"wrote {args.output}/ (model.nir, model.net, quantization.json"
          + (", deploy.json)" if deploy else ")"))
    return 0 if deploy is None or deploy["spikes_mismatched"] == 0 else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    import os

    from .errors import ConfigError
    from .sweep import load_study, read_table, run_sweep, sweep_lock, write_figures

    study = load_study(args.study)
    if args.dask:
        executor = "dask-local" if args.dask == "local" else f"dask:{args.dask}"
    else:
        executor = "local"
    cores = os.cpu_count() or 1
    if args.workers and args.workers > cores and not executor.startswith("dask:"):
        raise ConfigError(f"--workers {args.workers}: more than the {cores} cores here; "
                          f"use --workers {cores} or fewer")
    table = run_sweep(study, args.output, executor=executor, workers=args.workers,
                      resume=args.resume, progress=not args.quiet and sys.stderr.isatty(),
                      max_runs=args.max_runs, force=args.force)
    with sweep_lock(args.output):  # figures are written under the same lock
        _, rows = read_table(table)
        print(f"study '{study.name}': {len(rows)} of {len(study.runs)} runs in {table}")
        if args.plot and len(rows) == len(study.runs):
            for path in write_figures(study, args.output):
                print(f"wrote {path}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import yaml

    from ._atomic import atomic_path
    from .calibration import fit_device, read_measurements
    from .devices import chip_from_dict, load_chip

    out = Path(args.output)
    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"-o {short(args.output)}: the card to write must end in .yaml")
    for f in (out, out.with_suffix(".fit.json"), out.with_suffix(".fit.png")):
        _out_file(str(f), args, "-o")
    if not 0 < args.t0 < float("inf"):
        raise ConfigError(f"--t0 {args.t0}: must be a finite time > 0 s")
    base = load_chip(args.base)
    m = read_measurements(args.data)
    fit = fit_device(m, model=args.model, g_min=base.macro.g_min, g_max=base.macro.g_max,
                     t0=args.t0)
    card = base.to_dict()
    card["name"] = args.name or Path(args.output).stem
    card["description"] = (f"{base.name} with device models fitted to {Path(args.data).name} "
                           f"({fit.goodness['cells']} cells)")
    card["macro"].update(fit.card_fields())
    chip = chip_from_dict(card, source=str(args.output))  # the card the tool will load
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump(chip.to_dict(), sort_keys=False, allow_unicode=True))
    report = {"programming": {"model": fit.programming_model, **fit.programming_params},
              "read": {"model": fit.read_model, **fit.read_params}, "drift": fit.drift,
              "stuck_at": fit.stuck_at, "goodness": fit.goodness}
    _write_json(str(out.with_suffix(".fit.json")), report)
    from .plots import calibration_figure

    calibration_figure(fit, out.with_suffix(".fit.png"))
    print(f"programming noise '{fit.programming_model}': {fit.programming_params} "
          f"(R^2 {fit.goodness['programming_r2']:.3f}, sigma rel. RMS "
          f"{fit.goodness['programming_sigma_rel_rms']:.1%})")
    print(f"read noise '{fit.read_model}': {fit.read_params}; drift: {fit.drift}; "
          f"stuck-at: {fit.stuck_at}")
    print(f"wrote {out} (+ .fit.json, .fit.png)")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    import csv
    import warnings

    from ._atomic import output_dir
    from .devices import load_chip
    from .devices.program import program_chip
    from .energy import estimate
    from .frontends import load_network
    from .hwsim import make_encoder, simulate
    from .hwsim.program import build_program
    from .mapping import MappingWarning, map_network
    from .plots import training_figure
    from .training import (
        chip_weights,
        learn_mask,
        parse_random_spec,
        prime_network,
        program_random,
        prune_chip,
    )

    _out_dir(args.output, args)
    for flag, v, lo, hi in (("--sparsity", args.sparsity, 0.0, 0.999), ("--beta", args.beta, 0.0, 1.0),
                            ("--read-noise", args.read_noise, 0.0, 10.0)):
        if not lo <= v <= hi:
            raise ConfigError(f"{flag} {v}: must lie in [{lo:g}, {hi:g}]")
    from .hwsim.early_stop import parse_early_stop

    parse_early_stop(args.early_stop)
    seeds = np.random.SeedSequence(args.seed).spawn(5)
    chip = load_chip(args.chip)
    if str(args.model).startswith("random:"):
        net = prime_network(parse_random_spec(args.model), rng=np.random.default_rng(seeds[0]))
    else:
        net = load_network(args.model, dt=args.dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapped = map_network(net, chip)
    if str(args.model).startswith("random:"):
        prog = program_random(mapped, np.random.default_rng(seeds[1]))
    else:
        prog = program_chip(mapped, np.random.default_rng(seeds[1]))
    ws = chip_weights(prog)
    if len(ws) != 2:
        raise ModelError(f"{args.model}: prune-on-chip learns masks for a two-layer network "
                         f"(hidden + readout); this one has {len(ws)} weight layers")
    x, y = _load_data(args.data)
    if y is None:
        raise DataError(f"{args.data}: labels 'y' are needed to learn a mask")
    y = _labels(y, net, len(x), args.data)
    if args.test:
        xte, yte = _load_data(args.test)
        if yte is None:
            raise DataError(f"{args.test}: labels 'y' are needed to score the pruned chip")
        yte = _labels(yte, net, len(xte), args.test)
    else:
        from sklearn.model_selection import train_test_split

        classes, members = np.unique(y, return_counts=True)
        if members.min() < 2 or len(y) < 2 * len(classes):
            raise DataError(f"{args.data}: class {int(classes[members.argmin()])} has "
                            f"{int(members.min())} sample(s); the 25 % test split needs at "
                            "least 2 per class: add samples or give --test TEST.npz")
        x, xte, y, yte = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)
    from .budget import check_time

    check_time(float(args.epochs) * len(x) * args.steps * 3 * (net.n_synapses() + net.n_neurons()),
               f"prune: {args.epochs} epochs x {len(x)} samples x {args.steps} steps",
               "use fewer --epochs, --steps or samples")
    x = x.reshape(len(x), -1)
    xte = xte.reshape(len(xte), -1)
    kw = {"steps": args.steps, "beta": args.beta, "beta_out": args.beta, "theta": args.theta}
    res = learn_mask(ws, x, y, sparsity=args.sparsity, epochs=args.epochs, lr=args.lr,
                     read_noise=args.read_noise, rate=True, rng=np.random.default_rng(seeds[2]),
                     x_val=xte, y_val=yte, progress=not args.quiet and sys.stderr.isatty(), **kw)
    pruned, reset_list, n_ops = prune_chip(prog, res.masks, np.random.default_rng(seeds[3]))
    with _about(args.test or args.data):
        enc = make_encoder("rate", xte, net.input_shape, np.random.default_rng(seeds[4]))
    rep = mapped.report
    runs = {}
    for label, chip_state, es in (("before", prog, "none"), ("after", pruned, "none"),
                                  ("after_early_stop", pruned, args.early_stop)):
        r = simulate(chip_state, enc, args.steps, early_stop=es, rng=np.random.default_rng(7))
        e = estimate(r.counts, chip, tiles=rep.tiles, cores=rep.cores)
        runs[label] = {"accuracy": r.accuracy(yte), "mean_steps": r.mean_steps,
                       "load_saving": r.load_saving,
                       "energy_per_inference_J": e.energy_per_inference_J}
    summary = {"model": str(args.model), "chip": chip.name, "seed": args.seed,
               "sparsity": args.sparsity, "density_per_layer": res.density,
               "reset_pairs": len(reset_list), "reset_operations": n_ops,
               "pruned_rows": build_program(pruned).extras["pruned_rows"],
               "accuracy_before": runs["before"]["accuracy"],
               "accuracy_after": runs["after"]["accuracy"], "runs": runs,
               "early_stop": args.early_stop, "history": res.history}
    with output_dir(args.output, force=args.force, command="prune") as tmp:
        np.savez(tmp / "mask.npz", **{f"mask_{op}": m for op, m in zip(mapped.ops, res.masks,
                                                                        strict=True)},
                 **{f"scores_{op}": s for op, s in zip(mapped.ops, res.scores, strict=True)})
        with open(tmp / "reset_list.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["layer", "tile", "row", "col_pos", "col_neg",
                                               "input", "output"])
            w.writeheader()
            w.writerows(reset_list)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        training_figure(res.history, tmp / "training_curve.png",
                        f"mask learning on {chip.name} ({args.sparsity:.0%} pruned)")
    print(f"mask: density {', '.join(f'{d:.3f}' for d in res.density)}; {len(reset_list)} pairs "
          f"to RESET ({n_ops} RESET operations, write-once)")
    print(f"hwsim accuracy before pruning {runs['before']['accuracy']:.4f}, after "
          f"{runs['after']['accuracy']:.4f}; with early stop {args.early_stop}: "
          f"{runs['after_early_stop']['accuracy']:.4f} at {runs['after_early_stop']['mean_steps']:.1f}"
          f" of {args.steps} steps")
    print(f"wrote {args.output}/ (mask.npz, reset_list.csv, training_curve.png, summary.json)")
    return 0


# -- parser ----------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {short(text, 40)}") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..2^63-1, got {short(text, 40)}")
    return v


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {short(text, 40)}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {short(text, 40)}")
    return v


def _threads(text: str) -> int:
    from .hwsim.jit import max_threads

    v = _positive_int(text)
    if v > max_threads():
        raise argparse.ArgumentTypeError(f"{v} is more than this machine's {max_threads()} "
                                         f"threads; use 1..{max_threads()}")
    return v


_FORCE_HELP = ("write even where the output holds files neurocosim did not write "
               "(those it would overwrite are replaced; nothing else is touched)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="neurocosim", description="Neuromorphic hardware co-simulation and deployment.")
    p.add_argument("--version", action="version", version=f"neurocosim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("info", help="show a model's layers, shapes and parameter ranges")
    s.add_argument("model", help="model file (.nir or .npz)")
    s.add_argument("--dt", type=_positive_float, help="time step in seconds (NIR stores none)")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("simulate", help="simulate a model on data (float reference engine)")
    s.add_argument("model", help="model file (.nir or .npz)")
    s.add_argument("--dt", type=_positive_float, help="time step in seconds")
    s.add_argument("--steps", type=_positive_int, required=True, help="time steps per sample")
    s.add_argument("--data", required=True,
                   help="DATA.npz with x (n, *input) or (n, steps, *input) for spikes, optional y")
    s.add_argument("--encoding", choices=("current", "rate", "spikes"), default="current",
                   help="how x drives the input (default: current)")
    s.add_argument("--seed", type=_seed, default=0, help="seed of stochastic encodings")
    s.add_argument("--batch-size", type=_positive_int, default=256, help="samples per batch")
    s.add_argument("--json", metavar="OUT.json", help="write the results as JSON (reference)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("--chip", help="simulate on this chip (preset or .yaml card) with the "
                                  "cycle-level engine instead of the float reference")
    s.add_argument("-o", "--output", help="run directory (with --chip)")
    s.add_argument("--early-stop", default="none",
                   help="none | confidence:THETA[:T][@MIN] | margin:M[@MIN] (with --chip)")
    s.add_argument("--placement", choices=("partition", "sequential"), default="partition")
    s.add_argument("--conv-regions", type=_positive_int, default=1)
    s.add_argument("--read-time", default="0", help="time after programming, e.g. 1d (drift)")
    s.add_argument("--adc-calibration", type=_non_negative_int, default=64,
                   help="samples of DATA used to calibrate ADC ranges (0: full range)")
    s.add_argument("--threads", type=_threads, help="Numba threads (at most the cores here)")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("convert", help="convert a scikit-learn MLPClassifier (ReLU) to an SNN")
    s.add_argument("model", help="fitted MLPClassifier: MLP.skops (safe), or .joblib/.pkl "
                                 "with --trust-pickle")
    s.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a pickle/joblib file: it can run any code it holds, "
                        "so only for files you made yourself")
    s.add_argument("--data", required=True, help="TRAIN.npz with x for threshold balancing")
    s.add_argument("-o", "--output", required=True, help="output model (.nir or .npz)")
    s.add_argument("--percentile", type=float, default=99.9,
                   help="activation percentile per layer (default 99.9)")
    s.add_argument("--dt", type=_positive_float, default=1e-3, help="time step (default 1e-3 s)")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("chips", help="list the shipped chip presets")
    s.set_defaults(func=cmd_chips)

    s = sub.add_parser("chip", help="chip cards")
    chip_sub = s.add_subparsers(dest="chip_command", required=True, parser_class=_Parser)
    c = chip_sub.add_parser("show", help="show a preset or a YAML card")
    c.add_argument("name", help="preset name or path to a .yaml card")
    c.add_argument("--yaml", action="store_true", help="print the full card as YAML")
    c.set_defaults(func=cmd_chip_show)

    s = sub.add_parser("map", help="map a model onto a chip: tiles, cores, traffic report")
    s.add_argument("model", help="model file (.nir or .npz)")
    s.add_argument("--chip", required=True, help="chip preset name or path to a .yaml card")
    s.add_argument("--dt", type=_positive_float, help="time step in seconds")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.add_argument("--data", help="DATA.npz to measure firing rates by a reference run "
                                  "(else uniform rates)")
    s.add_argument("--steps", type=_positive_int, default=32, help="steps of that run")
    s.add_argument("--encoding", choices=("current", "rate", "spikes"), default="current")
    s.add_argument("--placement", choices=("partition", "sequential"), default="partition")
    s.add_argument("--conv-regions", type=_positive_int, default=1,
                   help="spatial bands (kernel replicas) per convolution")
    s.add_argument("--bias", choices=("digital", "row"), default="digital")
    s.add_argument("--no-tile-sharing", action="store_true",
                   help="one tile per block (no packing of small blocks)")
    s.add_argument("--seed", type=_seed, default=0, help="seed of the partitioner")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_map)

    s = sub.add_parser("energy", help="energy, latency and area of a run (or analytically)")
    s.add_argument("source", help="a simulation directory (simulate --chip -o DIR), or a model "
                                  "file for the analytical estimate")
    s.add_argument("--chip", help="chip preset or card (model: required; directory: override)")
    s.add_argument("-o", "--output", help="output directory (default: the simulation directory)")
    s.add_argument("--dt", type=_positive_float, help="time step (model files)")
    s.add_argument("--steps", type=_positive_int, default=64, help="steps (analytical)")
    s.add_argument("--rate", type=float, help="spikes per step of every neuron and input "
                                              "(analytical; default: worst case, 1)")
    s.add_argument("--paper-preset", default="horowitz45", help="E_MAC/E_AC preset")
    s.add_argument("--multilevel", choices=("ac", "mac"), default="ac",
                   help="multi-level spikes count as s ACs or one MAC (papers' convention)")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_energy)

    s = sub.add_parser("deploy", help="quantise to Loihi 2, export NIR + netx, run in Lava")
    s.add_argument("model", help="model file (.nir or .npz)")
    s.add_argument("--target", choices=("lava",), default="lava")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.add_argument("--dt", type=_positive_float, help="time step in seconds")
    s.add_argument("--num-weight-bits", type=int, default=8, help="weight bits (1-8)")
    s.add_argument("--run", action="store_true", help="run Lava and compare with hwsim loihi2")
    s.add_argument("--data", help="DATA.npz for --run")
    s.add_argument("--steps", type=_positive_int, default=64)
    s.add_argument("--encoding", choices=("rate", "spikes", "current"), default="rate")
    s.add_argument("--samples", type=_positive_int, default=50, help="samples run in Lava")
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_deploy)

    s = sub.add_parser("sweep", help="run a robustness / design-space study (YAML)")
    s.add_argument("study", help="STUDY.yaml")
    s.add_argument("-o", "--output", required=True, help="output directory (results.csv)")
    s.add_argument("--dask", metavar="ADDRESS", help="run on a dask.distributed scheduler at "
                                                     "ADDRESS, or 'local' for a LocalCluster")
    s.add_argument("--workers", type=_positive_int, help="local processes / LocalCluster workers")
    s.add_argument("--resume", action="store_true", help="continue an interrupted sweep")
    s.add_argument("--max-runs", type=_positive_int, help="run at most this many new runs")
    s.add_argument("--plot", action="store_true", help="write the study's figures when complete")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("--force", action="store_true", help="write into a folder holding other "
                   "files (they are never touched)")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("calibrate", help="fit device models to measurements, write a card")
    s.add_argument("data", help="DATA.csv: cell, g_target_S, g_measured_S, t_s, read")
    s.add_argument("--model", required=True,
                   choices=("constant", "multiplicative", "rram_linear", "pcm_aihwkit"),
                   help="programming-noise model to fit")
    s.add_argument("-o", "--output", required=True, help="card.yaml to write")
    s.add_argument("--base", default="pcm-aihwkit", help="card whose other fields are kept")
    s.add_argument("--name", help="name of the new card (default: file stem)")
    s.add_argument("--t0", type=_positive_float, default=20.0, help="drift reference time, s")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_calibrate)

    s = sub.add_parser("prune", help="PRIME prune-on-chip: learn a mask over the chip's weights")
    s.add_argument("model", help="random:IN-HIDDEN-OUT (random electroforming weights) or a "
                                 "two-layer model file")
    s.add_argument("--chip", required=True, help="chip preset or .yaml card")
    s.add_argument("--data", required=True, help="TRAIN.npz with x and y")
    s.add_argument("--test", help="TEST.npz (default: 25 %% of --data)")
    s.add_argument("--sparsity", type=float, default=0.5, help="fraction of synapses pruned")
    s.add_argument("--epochs", type=_positive_int, default=20)
    s.add_argument("--lr", type=_positive_float, default=0.1)
    s.add_argument("--steps", type=_positive_int, default=16)
    s.add_argument("--beta", type=float, default=0.2, help="membrane leak kept per step")
    s.add_argument("--theta", type=_positive_float, default=0.5, help="hidden threshold")
    s.add_argument("--read-noise", type=float, default=0.0, help="weight noise while training")
    s.add_argument("--early-stop", default="confidence:0.8:2")
    s.add_argument("--dt", type=_positive_float)
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("-q", "--quiet", action="store_true")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_prune)

    s = sub.add_parser("device", help="characterise a chip's device models (text + plot)")
    s.add_argument("preset", help="preset name or path to a .yaml card")
    s.add_argument("--plot", metavar="OUT.png", help="conductance histograms and sigma(g) curve")
    s.add_argument("--json", metavar="OUT.json", help="write the measured statistics")
    s.add_argument("--times", default="1h,1d,30d",
                   help="times after programming for the drift histograms (default 1h,1d,30d)")
    s.add_argument("--cells", type=_positive_int, default=100_000, help="cells programmed")
    s.add_argument("--seed", type=_seed, default=0, help="seed of the programming draws")
    s.add_argument("--force", action="store_true", help=_FORCE_HELP)
    s.set_defaults(func=cmd_device)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command: 0 ok, 2 bad input (one line naming the file, field and fix),
    3 internal error (a bug: one line with where it happened), 130 interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeurocosimError as exc:
        print(f"neurocosim: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:  # a path the user gave that a loader did not check
        print(f"neurocosim: error: {exc.filename}: no such file or folder", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurocosim: interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:  # noqa: BLE001 - anything else is our bug
        if isinstance(exc, SystemExit):
            raise
        print(_bug_line(exc), file=sys.stderr)
        return 3


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 15] + "... (cut)"


def _bug_line(exc: BaseException) -> str:
    """One line for an unexpected exception: its type, message and innermost frame."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = (f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})"
             if frames else "")
    return (f"neurocosim: internal error (this is a bug in neurocosim; please report it with "
            f"the command line): {type(exc).__name__}: {_one_line(str(exc), 300)}{where}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
