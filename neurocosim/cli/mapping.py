"""``neurocosim map``: place a model on a chip and report tiles, cores and traffic."""

from __future__ import annotations

from . import _common as C


def run(args) -> int:
    from ..flows import map_model
    from ..frontends import load_network
    from ..hwsim.encoders import load_data
    from ..inputs import about
    from ..outputs import write_mapping_folder
    from ..pipeline import ChipRunOptions, measure_rates

    C.out_dir(args.output, args)
    net, chip, rates = load_network(args.model, dt=args.dt), C.chip(args), None
    if args.data:
        x, _ = load_data(args.data)
        C.check_run(net, min(len(x), 256), args)
        with about(args.data):
            rates = measure_rates(net, x, args.steps, args.encoding, args.seed)
    opts = ChipRunOptions(steps=args.steps, placement=args.placement, conv_regions=args.conv_regions,
                          chips=args.chips, dynamic_products=args.dynamic_products or "digital",
                          allow_rram_writes=args.allow_rram_writes)
    mapped = map_model(net, chip, opts, seed=args.seed, rates=rates, bias=args.bias,
                       tile_sharing=not args.no_tile_sharing)
    files = write_mapping_folder(args.output, mapped, force=args.force)
    print(f"mapped '{net.name}' onto {chip.name}" + (" (rates from a reference run)" if rates else
                                                     " (uniform rates)"))
    print(mapped.report.text())
    print(f"wrote {args.output}/ ({', '.join(files)})")
    return 0
