"""Whole flows built on the pipeline: prune-on-chip, the analytical energy estimate, the
Loihi 2 deployment check, a card fitted to measurements, and mapping with what a network
too big for the chip would need. Each returns data; the CLI
formats and writes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, MappingError, ModelError, short
from .pipeline import ChipRunOptions, map_onto, program_onto, simulate_and_cost

__all__ = ["simulate_on_chip", "run_folder_energy", "PruneOptions", "prune_on_chip", "check_prunable", "analytical_energy", "deploy_loihi2",
           "fitted_card", "map_model", "chip_demand", "energy_source", "model_energy",
           "virtual_chip_sets"]


@dataclass(frozen=True, kw_only=True)
class PruneOptions:
    """Options of PRIME's prune-on-chip (``neurocosim prune``): the mask training
    (:class:`~neurocosim.training.prune.MaskTraining`, rate-coded input) and the early-stop
    policy of the pruned chip's evaluation."""

    training: Any
    early_stop: str = "confidence:0.8:2"
    progress: bool = False
    precision: str = "float64"  # of the engine that scores the chip (ChipRunOptions)


def simulate_on_chip(net, chip, opts: ChipRunOptions, inp, *, label: str, folder,
                     force: bool = False, executor=None):
    """``simulate --chip``: run ``net`` on ``chip`` (:func:`~neurocosim.pipeline.run_on_chip`)
    on ``inp``, the scored and calibration samples of :func:`neurocosim.inputs.chip_inputs`
    (never the same ones), and write its run folder; (run, summary).
    ``executor``: a ``distributed.Client`` running the samples."""
    from .pipeline import RunStreams, run_on_chip, sample_probes
    from .runfolder import run_summary, write_run_folder

    seeds, y = inp.seeds, inp.y
    run = run_on_chip(net, chip, inp.encoder, opts, streams=RunStreams(seeds[1], seeds[2]),
                      map_seed=inp.seed, executor=executor, calibration=inp.calibration)
    summary = run_summary(run, model=label, encoding=opts.encoding, seed=inp.seed,
                          steps=opts.steps, y=y,
                          calibration=inp.split.record(run.extras["calibrated"]))
    summary["precision"] = run.result.options["precision"]
    write_run_folder(folder, run, summary, sample_probes(run, inp.encoder, opts, seeds[2]),
                     y=y, force=force)
    return run, summary


def check_prunable(net, label: str) -> None:
    """Prune-on-chip learns masks for a two-layer network (hidden + readout)."""
    from .ir import nodes as N

    n = sum(isinstance(net.nodes[k], tuple(N.SYNAPTIC_TYPES.values())) for k in net.order)
    if n != 2:
        raise ModelError(f"{label}: prune-on-chip learns masks for a two-layer network "
                         f"(hidden + readout); this one has {n} weight layers")


def prune_on_chip(net, chip, train: tuple, test: tuple, opts: PruneOptions, *,
                  seed: int, random_weights: bool, label: str = "model") -> dict[str, Any]:
    """Program (random electroforming weights or the network's), learn a mask over the
    chip's read-back weights, RESET the dropped pairs and score the chip before/after."""
    from .budget import check_time
    from .hwsim import make_encoder
    from .hwsim.simulator import PRECISIONS
    from .training import chip_weights, learn_mask, program_random, prune_chip

    if not isinstance(opts.precision, str) or opts.precision not in PRECISIONS:  # before training
        raise ConfigError(f"precision: {short(opts.precision)} is not one of float32, float64")
    seeds = np.random.SeedSequence(seed).spawn(5)  # seeds[0]: the random network's weights
    t = opts.training
    mapped = map_onto(net, chip, ChipRunOptions(steps=t.steps))
    prog = (program_random(mapped, np.random.default_rng(seeds[1])) if random_weights
            else program_onto(mapped, seeds[1]))
    check_prunable(net, label)
    ws = chip_weights(prog)
    (x, y), (xte, yte) = train, test
    from .budget import check_memory

    check_memory(8.0 * 4 * t.batch * t.steps * (net.n_neurons() + int(np.prod(net.input_shape))),
                 f"prune: {t.steps} steps x batches of {t.batch} samples (spikes, membranes "
                 "and their gradients)", "use fewer --steps")
    check_time(float(t.epochs) * len(x) * t.steps * 3 * (net.n_synapses() + net.n_neurons()),
               f"prune: {t.epochs} epochs x {len(x)} samples x {t.steps} steps",
               "use fewer --epochs, --steps or samples")
    x, xte = x.reshape(len(x), -1), xte.reshape(len(xte), -1)
    res = learn_mask(ws, x, y, opts.training,
                     rng=np.random.default_rng(seeds[2]), x_val=xte, y_val=yte,
                     progress=opts.progress)
    pruned, reset_list, n_ops = prune_chip(prog, res.masks, np.random.default_rng(seeds[3]))
    enc = make_encoder("rate", xte, net.input_shape, np.random.default_rng(seeds[4]))
    runs = {}
    for name, state, es in (("before", prog, "none"), ("after", pruned, "none"),
                            ("after_early_stop", pruned, opts.early_stop)):
        run_opts = ChipRunOptions(steps=t.steps, early_stop=es, precision=opts.precision)
        r, e = simulate_and_cost(state, enc, run_opts, np.random.SeedSequence(7), paper=False)
        runs[name] = {"accuracy": r.accuracy(yte), "mean_steps": r.mean_steps,
                      "load_saving": r.load_saving,
                      "energy_per_inference_J": e.energy_per_inference_J}
    return {"mapped": mapped, "learned": res, "reset_list": reset_list, "reset_operations": n_ops,
            "pruned_rows": pruned_rows(pruned), "runs": runs}


def pruned_rows(programmed) -> int:
    """Rows whose every cell was RESET (never driven again)."""
    return int(sum(t.pruned.all(axis=1).sum() for t in programmed.tiles
                   if t is not None and t.pruned is not None))


def read_rates(path, net, default: float | None = None) -> dict[str, float]:
    """Per-layer firing rates from ``path``, a CSV with a header ``layer,rate`` and one
    row per neuron layer (or the input, by its name): spikes per neuron per step, ≥ 0 (a
    multi-level layer may exceed 1). Layers the file leaves out take ``default`` (the
    ``--rate``); without one they are an error naming them."""
    import csv
    import difflib
    from pathlib import Path

    from ._yaml import read_text

    where = Path(path)
    text = read_text(where, "rates CSV", DataError)
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["layer", "rate"]:
        raise DataError(f"{where}: the first line must be the header 'layer,rate'")
    known = [net.input_name, *net.layers()]
    got: dict[str, float] = {}
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        name = row[0].strip()
        if name not in known:
            close = difflib.get_close_matches(name[:100], known, n=1)
            raise DataError(f"{where}, line {i}: '{name[:60]}' is not a neuron layer or "
                            f"the input of '{net.name}'" + (f" (did you mean '{close[0]}'?)"
                                                            if close else ""))
        try:
            value = float(row[1]) if len(row) > 1 else float("nan")
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and 0 <= value <= 1e6) or name in got:
            raise DataError(f"{where}, line {i}: layer '{name}' needs one rate, a number >= 0 "
                            f"(spikes per neuron per step), got {short(row[1:], 40)}")
        got[name] = value
    missing = [k for k in known if k not in got]
    if missing and default is None:
        raise DataError(f"{where}: no rate for {len(missing)} layer(s) of '{net.name}', e.g. "
                        f"{short(missing[:3], 120)}: add rows, or give --rate for the rest")
    return {**{k: float(default) for k in missing}, **got}


def analytical_energy(net, chip, *, steps: int, rate: float | None, paper_preset: str,
                      multilevel: str, first_layer_mac: bool = False,
                      rates: dict[str, float] | None = None):
    """Energy of ``net`` on ``chip`` from a firing rate (``rates``: per layer, e.g. from
    :func:`read_rates`; else ``rate`` for all; neither: worst case), no simulation:
    the expected counts of :func:`~neurocosim.energy.analytical_counts` (crossbar events,
    neurons and routing from the rates; the digital spike units' operations, which do not
    depend on the rates, per step × ``steps``) costed by :func:`~neurocosim.energy.estimate`,
    with the papers' convention attached (``first_layer_mac``: the ops fed by the input
    charged as MACs, the papers' analog first layer; else as SOPs of the input's spikes)."""
    from .energy import analytical_counts, estimate, paper_convention

    if not 1 <= steps <= 10**12:
        raise ConfigError(f"--steps {steps}: an inference of 1 to 10^12 steps")

    mapped = map_onto(net, chip, ChipRunOptions(steps=steps, conv_regions="auto", chips=None))
    programmed = program_onto(mapped, np.random.SeedSequence(0))
    if rates is None and rate is not None:
        rates = {k: rate for k in [net.input_name] + net.layers()}
    counts = analytical_counts(programmed, steps, rates, worst_case=rates is None)
    return estimate(counts, chip, tiles=mapped.report.tiles, cores=mapped.report.cores,
                    paper=paper_convention(net, counts, preset=paper_preset,
                                           multilevel=multilevel,
                                           first_layer_mac=first_layer_mac))


def energy_source(source: str):
    """``(path, is_run_folder)`` of ``neurocosim energy SOURCE``: ``zoo:NAME`` is a zoo model,
    never a run folder, whatever the working folder holds (path None); else a path that
    exists: a run folder, or a model file."""
    from pathlib import Path

    from .errors import DataError
    from .zoo import PREFIX

    if source.startswith(PREFIX):
        return None, False
    src = Path(source)
    if not src.exists():
        raise DataError(f"{short(source)}: no such run folder or model file (a zoo "
                        "model is zoo:NAME; see neurocosim zoo list)")
    return src, src.is_dir()


def model_energy(source: str, chip, *, dt: float | None, steps: int, rate: float | None,
                 paper_preset: str, multilevel: str, rates_csv=None):
    """:func:`analytical_energy` of a model file or ``zoo:NAME`` on ``chip`` (required),
    at ``rate`` or the per-layer rates of ``rates_csv`` (:func:`read_rates`)."""
    from .frontends import load_network

    if chip is None:
        raise ConfigError("analytical energy of a model needs --chip")
    net = load_network(source, dt=dt)
    rates = None if rates_csv is None else read_rates(rates_csv, net, rate)
    return analytical_energy(net, chip, steps=steps, rate=rate, rates=rates,
                             paper_preset=paper_preset, multilevel=multilevel)


def virtual_chip_sets(net) -> list[str]:
    """``--set`` overrides (``KEY=VALUE``) that lift a card's per-core limits so that
    ``net`` maps whole, for a one-virtual-chip view (``map`` itself splits layers over
    cores and places over several chips, :mod:`neurocosim.mapping.split`): ``neurons_per_core`` the
    smallest power of two holding the largest layer (a synaptic layer's outputs or a
    neuron layer; so layers still spread over cores and their spikes still travel the
    mesh), ``tiles_per_core``, ``max_fan_in``, ``max_fan_out`` and ``cores`` at the card
    schema's maxima."""
    from .mapping.lowering import SYNAPTIC

    layers = set(net.layers())
    largest = max((int(np.prod(net.out_shapes[n])) for n in net.order
                   if n in layers or isinstance(net.nodes[n], SYNAPTIC)), default=1)
    per_core = min(1 << max(largest - 1, 1).bit_length(), 1 << 24)
    return [f"neurons_per_core={per_core}", f"tiles_per_core={1 << 12}",
            f"max_fan_in={1 << 30}", f"max_fan_out={1 << 20}", f"cores={1 << 20}"]


def deploy_loihi2(net, *, num_weight_bits: int, spikes: np.ndarray | None = None,
                  y: np.ndarray | None = None, about_input: dict | None = None,
                  encoding: str = "rate"):
    """Quantise ``net`` for Loihi 2 and check its Lava process graph builds; with
    ``spikes`` (n, steps, inputs) also run Lava and hwsim's loihi2 mode and compare them
    spike for spike. ``encoding="current"``: ``spikes`` are analog inputs in [0, 1], sent
    as graded spikes of ``DEFAULT_MESSAGE_BITS`` bits into the first layer. A CNN's pooling
    layers are folded into the next synaptic layer's weights (exact in float; the folded
    weights are quantised, mapped onto the cores and run); its spikes are the IR's
    ``(C, H, W)`` order, flattened. Returns (quantised network, report, comparison or None)."""
    from .targets.loihi2 import build_graph, graded_payload, run_lava, simulate_loihi2

    qnet, report = _deploy_quantised(net, num_weight_bits, encoding == "current")
    build_graph(qnet, np.zeros((qnet.input_size, 1), np.int32), 1)  # the graph builds
    if spikes is None:
        return qnet, report, None
    from .budget import check_time
    from .hwsim.encoders import SpikeEncoder
    from .pipeline import reference_run

    n, steps = spikes.shape[:2]
    check_time(float(n) * steps, f"Lava: {n} samples x {steps} steps",  # Lava: ~2 ms a step
               "use fewer --steps or --samples", rate=1000.0)
    pairs = sum(L.conv.out_shape[0] * L.conv.in_shape[0] // L.conv.groups
                for L in qnet.layers if L.conv is not None)
    check_time(float(n) * steps * pairs,  # Lava's Conv: one 2-D convolution per channel pair
               f"Lava's Conv: {n} samples x {steps} steps x {pairs} channel pairs",
               "use fewer --steps or --samples", rate=1e5)
    sent = graded_payload(spikes, qnet.num_message_bits, qnet.input_max) if qnet.graded else spikes
    hw, lv = simulate_loihi2(qnet, sent), run_lava(qnet, sent)
    fl = reference_run(net, SpikeEncoder(spikes.reshape(n, steps, *net.input_shape)), steps)
    compared = sum(int(hw.spikes[L.name].size) for L in qnet.layers)
    mismatched = sum(int((hw.spikes[L.name] != lv.spikes[L.name]).sum()) for L in qnet.layers)
    check = {"samples": int(len(spikes)), "steps": int(spikes.shape[1]), **(about_input or {}),
             "spikes_compared": compared, "spikes_mismatched": mismatched,
             "firing_rate": {L.name: float(np.mean(lv.spikes[L.name])) for L in qnet.layers},
             "lava_accuracy": None if y is None else lv.accuracy(y),
             "hwsim_loihi2_accuracy": None if y is None else hw.accuracy(y),
             "float_accuracy": None if y is None else fl.accuracy(y),
             "lava_wall_s": lv.wall_s, "hwsim_wall_s": hw.wall_s,
             "speedup": lv.wall_s / hw.wall_s if hw.wall_s > 0 else None}
    return qnet, report, check


def _deploy_quantised(net, num_weight_bits: int, graded: bool):
    """The quantised network and the deployment report: quantisation, the core assignment
    on the ``loihi2`` card (of the network as deployed, pooling folded) and the netx note."""
    import warnings

    from .devices import load_chip
    from .errors import MappingError
    from .mapping import MappingWarning, map_network
    from .targets.loihi2 import DEFAULT_MESSAGE_BITS, LoihiWarning, netx_refusal, quantize_loihi2
    from .targets.loihi2.chain import conv_regions, folded_network, stages

    chip = load_chip("loihi2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoihiWarning)
        warnings.simplefilter("ignore", MappingWarning)
        qnet = quantize_loihi2(net, num_weight_bits=num_weight_bits,
                               num_message_bits=DEFAULT_MESSAGE_BITS if graded else 0)
        deployed = folded_network(net) if any(s.pools for s in stages(net)) else net
        try:  # core assignment only, no devices
            cores = map_network(deployed, chip,
                                conv_regions=conv_regions(deployed, chip.neurons_per_core))
        except MappingError as exc:
            if deployed is net:
                raise
            raise MappingError(f"{exc} (Loihi 2 holds the network with its pooling folded "
                               "into the next layer's weights, so pooling does not reduce "
                               "the fan-in there)") from None
    report = {"target": "lava", "lava_version": "0.10", "select_tag": "fixed_pt",
              **({"num_message_bits": qnet.num_message_bits} if qnet.graded else {}),
              "quantization": qnet.report, "cores": cores.report.to_dict()}
    if qnet.has_conv or deployed is not net:
        report["pooling"] = ("pooling layers are folded into the next synaptic layer's "
                             "weights (exact in float); the folded weights are quantised")
    if why := netx_refusal(qnet):
        report["netx"] = {"written": False, "reason": why}
    return qnet, report


def fitted_card(base, measurements, *, model: str, t0: float, name: str, data_name: str,
                card_source: str, bootstrap: int = 0, seed: int = 0, progress: bool = False):
    """A card whose device models are fitted to ``measurements``; (card, fit, report).
    The card is validated as the tool will load it (errors name ``card_source``)."""
    from .calibration import fit_device
    from .devices import chip_from_dict

    fit = fit_device(measurements, model=model, g_min=base.macro.g_min, g_max=base.macro.g_max,
                     t0=t0, bootstrap=bootstrap, seed=seed, progress=progress)
    card = base.to_dict()
    card["name"] = name
    card["description"] = (f"{base.name} with device models fitted to {data_name} "
                           f"({fit.goodness['cells']} cells)")
    card["macro"].update(fit.card_fields())
    report = {"data": data_name, "seed": seed, **fit.summary(), "stuck_at": fit.stuck_at,
              "goodness": fit.goodness, "curves": fit.curves}
    try:
        chip = chip_from_dict(card, source=card_source)
    except ConfigError as exc:  # a fit outside a model's valid range: the data's doing
        raise DataError(f"{data_name}: the fitted device models leave their valid ranges "
                        f"({str(exc).partition(': ')[2]}); check the measurements and "
                        "--units") from None
    return chip, fit, report


def run_folder_energy(folder, chip_override: str | None, sets: list[str], *, paper_preset: str,
                      multilevel: str):
    """The energy report of a run folder's counters, on its card (or another one, with
    ``--set`` overrides): no simulation."""
    from .devices import apply_overrides, parse_set
    from .energy import estimate, paper_convention
    from .runfolder import read_run_folder

    net, chip, counts, summary = read_run_folder(folder, chip_override)
    if sets:
        chip = apply_overrides(chip, parse_set(sets), source="--set")
    paper = paper_convention(net, counts, preset=paper_preset, multilevel=multilevel,
                             first_layer_mac=summary.get("encoding") == "current")
    from .mapping.dynamic import WriteReport

    return estimate(counts, chip, tiles=summary["mapping"]["tiles"],
                    cores=summary["mapping"]["cores"], paper=paper,
                    writes=WriteReport.from_dict(summary["mapping"].get("dynamic_products")))


def chip_demand(net, chip, conv_regions: int | str = 1) -> dict[str, int]:
    """Lower bounds of what ``net`` needs on ``chip``, design rules aside: ``tiles`` (its
    crossbar blocks packed perfectly: a tile holds at most its rows and its columns, so
    at least the blocks' rows, and their columns, over a tile's), ``cores`` (those tiles,
    and its ``neurons``, at the chip's tiles and neurons per core) and ``chips`` (cores /
    cores per chip). ``conv_regions="auto"``: the blocks of the layers' splits
    (:func:`~neurocosim.mapping.split.choose_splits`, no lowering)."""
    from .mapping.split import choose_splits, lower_split
    from .mapping.tiling import tile_ops

    m = chip.macro
    if conv_regions == "auto":
        layers = choose_splits(net, chip).layers
        load = max(sum(s.rows_load for s in layers), sum(s.cols_load for s in layers))
    else:
        ops, tiling, _ = lower_split(net, chip, conv_regions)
        blocks, _ = tile_ops(ops, chip, **tiling)
        load = max(sum(b.rows for b in blocks) / m.rows, sum(b.cols for b in blocks) / m.cols)
    tiles = int(np.ceil(load - 1e-9))
    neurons = net.n_neurons()
    cores = max(-(-tiles // chip.tiles_per_core), -(-neurons // chip.neurons_per_core))
    return {"tiles": tiles, "cores": cores, "chips": -(-cores // chip.cores), "neurons": neurons}


def map_model(net, chip, opts: ChipRunOptions, **kw):
    """:func:`~neurocosim.pipeline.map_onto`; a network that does not fit raises the
    design rule it breaks followed by what it needs at least (:func:`chip_demand`)."""
    import gc

    try:
        return map_onto(net, chip, opts, **kw)
    except MappingError as exc:
        failed = exc
    failed.__traceback__ = None  # its frames hold the lowered ops: free them first
    gc.collect()
    try:
        d = chip_demand(net, chip, opts.conv_regions)
    except MappingError:
        raise failed from None
    raise MappingError(
        f"{failed}. Design rules aside, the network needs at least {d['tiles']} tiles and "
        f"{d['cores']} cores ({d['neurons']} neurons at {chip.neurons_per_core} per core, "
        f"{chip.tiles_per_core} tiles per core), i.e. {d['chips']} chips of {chip.cores} "
        "cores") from None
