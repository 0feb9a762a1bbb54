"""``neurocosim simulate``: the float reference engine, or a chip (``--chip``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from . import _common as C


def run(args) -> int:
    from ..frontends import load_network
    from ..pipeline import reference_run

    if args.chip and not args.output:
        raise ConfigError("simulate --chip writes a run folder: give -o RUN/")
    if args.output and not args.chip:
        raise ConfigError("-o/--output needs --chip (the reference engine writes --json)")
    C.out_dir(args.output, args)
    C.out_file(args.json, args, "--json")
    if args.chip:
        from ..hwsim.early_stop import parse_early_stop

        parse_early_stop(args.early_stop)
        C.read_time(args.read_time)
    net = load_network(args.model, dt=args.dt)
    x, y = C.load_data(args.data)
    y = C.labels(y, net, len(x), args.data)
    C.check_run(net, len(x), args)
    seeds = np.random.SeedSequence(args.seed).spawn(3)  # encoding, programming, read noise
    enc = C.encoder(args.encoding, x, net, np.random.default_rng(seeds[0]), args.data, args.steps)
    if args.chip:
        return _on_chip(args, net, enc, y, seeds)
    res = reference_run(net, enc, args.steps, batch_size=args.batch_size, progress=C.progress(args))
    counts = res.output.reshape(len(res.output), -1)
    payload: dict[str, Any] = {
        "engine": "reference", "model": str(args.model), "dt": net.dt, "encoding": args.encoding,
        "seed": args.seed, "n_samples": int(len(x)), "steps": int(args.steps),
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
        C.write_json(args.json, payload)
        print(f"wrote {args.json}")
    return 0


def _on_chip(args, net, enc, y, seeds) -> int:
    from ..pipeline import ChipRunOptions, RunStreams, run_on_chip, sample_probes
    from ..runfolder import run_summary, write_run_folder

    opts = ChipRunOptions(steps=args.steps, encoding=args.encoding, early_stop=args.early_stop,
                          read_time=C.read_time(args.read_time),
                          adc_calibration=args.adc_calibration, placement=args.placement,
                          conv_regions=args.conv_regions, batch_size=args.batch_size,
                          threads=args.threads, progress=C.progress(args))
    chip = C.chip(args)
    r = run_on_chip(net, chip, enc, opts, streams=RunStreams(seeds[1], seeds[2]),
                    map_seed=args.seed)
    summary = run_summary(r, model=str(args.model), encoding=args.encoding, seed=args.seed,
                          steps=args.steps, y=y)
    write_run_folder(args.output, r, summary, sample_probes(r, enc, opts, seeds[2]), y=y,
                     force=args.force)
    res, energy, c = r.result, r.energy, r.result.counts
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
