"""``neurocosim simulate``: the float reference engine, or a chip (``--chip``)."""

from __future__ import annotations

import sys

import numpy as np

from .. import inputs
from . import _common as C


def run(args) -> int:
    from ..frontends import load_network
    from ..outputs import reference_payload, reference_text
    from ..pipeline import reference_run

    inputs.simulate_flags(chip=args.chip, output=args.output, sets=args.set, json=args.json)
    C.out_dir(args.output, args)
    C.out_file(args.json, args, "--json")
    if args.chip:
        inputs.chip_run_options(args.early_stop, args.read_time)
    net = load_network(args.model, dt=args.dt)
    x, y = inputs.labelled_data(args.data, net)
    C.check_run(net, len(x), args)
    seeds = np.random.SeedSequence(args.seed).spawn(3)  # encoding, programming, read noise
    enc = inputs.encoder_for(args.encoding, x, net, np.random.default_rng(seeds[0]), args.data, args.steps)
    if args.chip:
        return _on_chip(args, net, enc, y, seeds)
    res = reference_run(net, enc, args.steps, batch_size=args.batch_size, progress=C.progress(args))
    payload = reference_payload(res, model=str(args.model), dt=net.dt, encoding=args.encoding,
                                seed=args.seed, steps=args.steps, y=y)
    if args.json:
        C.write_json(args.json, payload)
    print(reference_text(payload, args.json))
    return 0


def _on_chip(args, net, enc, y, seeds) -> int:
    from ..outputs import chip_run_text
    from ..pipeline import ChipRunOptions, RunStreams, run_on_chip, sample_probes
    from ..runfolder import run_summary, write_run_folder

    opts = ChipRunOptions(steps=args.steps, encoding=args.encoding, early_stop=args.early_stop,
                          read_time=inputs.read_time(args.read_time),
                          adc_calibration=args.adc_calibration, placement=args.placement,
                          conv_regions=args.conv_regions, batch_size=args.batch_size,
                          threads=args.threads, progress=C.progress(args))
    r = run_on_chip(net, C.chip(args), enc, opts, streams=RunStreams(seeds[1], seeds[2]),
                    map_seed=args.seed)
    print(*(f"neurocosim: warning: {w}" for w in r.mapped.report.warnings), sep="\n",
          file=sys.stderr, end="\n" if r.mapped.report.warnings else "")  # soft design rules
    summary = run_summary(r, model=str(args.model), encoding=args.encoding, seed=args.seed,
                          steps=args.steps, y=y)
    write_run_folder(args.output, r, summary, sample_probes(r, enc, opts, seeds[2]), y=y,
                     force=args.force)
    print(chip_run_text(r, summary, args.output))
    return 0
