"""``neurocosim device``: characterise a card's device models (text, plot, JSON)."""

from __future__ import annotations

import numpy as np

from . import _common as C


def run(args) -> int:
    from ..devices.describe import describe_device_report
    from ..devices.report import characterise
    from ..inputs import distinct_outputs, times_after_programming

    C.out_file(args.plot, args, "--plot")
    C.out_file(args.json, args, "--json")
    distinct_outputs(plot=args.plot, json=args.json)
    times = times_after_programming(args.times)
    card = C.chip(args, args.preset)
    rep = characterise(card.macro, np.random.default_rng(args.seed), n_cells=args.cells,
                       times=times)
    print(describe_device_report(card, rep, args.cells, args.seed))
    if args.plot:
        from ..plots import device_figure

        device_figure(rep, f"{card.name}: conductances", args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        C.write_json(args.json, rep.to_dict())
        print(f"wrote {args.json}")
    return 0
