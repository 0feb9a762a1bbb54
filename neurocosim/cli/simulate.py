"""``neurocosim simulate``: the float reference engine, or a chip (``--chip``)."""

from __future__ import annotations

import sys

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
    if args.chip:  # calibrated on --calibration-data, or on a held-out slice never scored
        chip = C.chip(args)
        inp = inputs.chip_inputs(net, chip, opts, (args.data, x, y), args.seed, args.calibration_data)
        with C.dask_client(args.dask) as client:
            r, summary = simulate_on_chip(net, chip, opts, inp, label=str(args.model), folder=args.output,
                                          force=args.force, executor=client)
        print(mapping_warnings(r), file=sys.stderr, end="")  # soft design rules
        print(chip_run_text(r, summary, args.output))
        return 0
    C.check_run(net, len(x), args)
    enc = inputs.seeded_encoder(args.encoding, x, net, args.seed, args.data, args.steps)
    res = reference_run(net, enc, args.steps, batch_size=args.batch_size, progress=C.progress(args))
    payload = reference_payload(res, model=str(args.model), dt=net.dt, encoding=args.encoding,
                                seed=args.seed, steps=args.steps, y=y)
    if args.json:
        C.write_json(args.json, payload)
    print(reference_text(payload, args.json))
    return 0
