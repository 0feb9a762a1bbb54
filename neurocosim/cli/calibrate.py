"""``neurocosim calibrate``: fit device models to measurements and write a card."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from ..calibration.measurements import parse_columns, parse_units, read_measurements
    from ..devices import load_chip
    from ..flows import fitted_card
    from ..inputs import card_output
    from ..outputs import fit_text, write_card

    out = Path(args.output)
    card_output(out, args.force)
    cols, units = parse_columns(args.columns), parse_units(args.units)
    chip, fit, report = fitted_card(load_chip(args.base), read_measurements(args.data, cols, units),
                                    model=args.model, t0=args.t0, name=args.name or out.stem,
                                    data_name=Path(args.data).name, card_source=str(out),
                                    bootstrap=args.bootstrap, seed=args.seed, progress=not args.quiet)
    write_card(out, chip, fit, report)
    print(fit_text(fit, out))
    return 0
