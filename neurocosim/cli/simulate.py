"""``neurocosim simulate``: the float reference engine, or a chip (``--chip``)."""

from __future__ import annotations

import sys

import numpy as np

from .. import inputs
from . import _common as C


def run(args) -> int:
    from ..flows import simulate_on_chip
    from ..frontends import load_network
    from ..outputs import chip_run_text, mapping_warnings, reference_payload, reference_text
    from ..pipeline import reference_run

    inputs.simulate_flags(args)
    C.out_dir(args.output, args)
    C.out_file(args.json, args, "--json")
    opts = inputs.chip_run_options(args, progress=C.progress(args)) if args.chip else None
    net = load_network(args.model, dt=args.dt)
    x, y = inputs.labelled_data(args.data, net)
    C.check_run(net, len(x), args)
    seeds = np.random.SeedSequence(args.seed).spawn(3)  # encoding, programming, read noise
    enc = inputs.encoder_for(args.encoding, x, net, np.random.default_rng(seeds[0]), args.data, args.steps)
    if args.chip:
        with C.dask_client(args.dask) as client:
            r, summary = simulate_on_chip(net, C.chip(args), enc, opts, seeds, y=y, label=str(args.model),
                                          seed=args.seed, folder=args.output, force=args.force, executor=client)
        print(mapping_warnings(r), file=sys.stderr, end="")  # soft design rules
        print(chip_run_text(r, summary, args.output))
        return 0
    res = reference_run(net, enc, args.steps, batch_size=args.batch_size, progress=C.progress(args))
    payload = reference_payload(res, model=str(args.model), dt=net.dt, encoding=args.encoding,
                                seed=args.seed, steps=args.steps, y=y)
    if args.json:
        C.write_json(args.json, payload)
    print(reference_text(payload, args.json))
    return 0

