"""``neurocosim map``: place a model on a chip and report tiles, cores and traffic."""

from __future__ import annotations

from pathlib import Path

from . import _common as C


def run(args) -> int:
    from .._atomic import output_dir
    from ..frontends import load_network
    from ..mapping.mapped import write_mapping_files
    from ..pipeline import ChipRunOptions, map_onto, measure_rates
    from ..plots import mapping_figure

    C.out_dir(args.output, args)
    net = load_network(args.model, dt=args.dt)
    chip = C.chip(args)
    rates = None
    if args.data:
        x, _ = C.load_data(args.data)
        C.check_run(net, min(len(x), 256), args)
        with C.about(args.data):
            rates = measure_rates(net, x, args.steps, args.encoding, args.seed)
    opts = ChipRunOptions(steps=args.steps, placement=args.placement,
                          conv_regions=args.conv_regions)
    mapped = map_onto(net, chip, opts, seed=args.seed, rates=rates, bias=args.bias,
                      tile_sharing=not args.no_tile_sharing)
    out = Path(args.output)
    with output_dir(out, force=args.force, command="map") as tmp:
        write_mapping_files(mapped, tmp)
        mapping_figure(mapped, tmp / "placement.png")
    print(f"mapped '{net.name}' onto {chip.name}" + (" (rates from a reference run)" if rates else
                                                     " (uniform rates)"))
    print(mapped.report.text())
    print(f"wrote {out}/ (mapping, report.json, report.txt, placement.png)")
    return 0
