"""``neurocosim calibrate``: fit device models to measurements and write a card."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from ..calibration import read_measurements
    from ..devices import load_chip
    from ..flows import fitted_card
    from ..inputs import card_output
    from ..outputs import write_card

    out = Path(args.output)
    card_output(out, args.force)
    chip, fit, report = fitted_card(load_chip(args.base), read_measurements(args.data),
                                    model=args.model, t0=args.t0, name=args.name or out.stem,
                                    data_name=Path(args.data).name, card_source=str(out))
    write_card(out, chip, fit, report)
    print(f"programming noise '{fit.programming_model}': {fit.programming_params} "
          f"(R^2 {fit.goodness['programming_r2']:.3f}, sigma rel. RMS "
          f"{fit.goodness['programming_sigma_rel_rms']:.1%})")
    print(f"read noise '{fit.read_model}': {fit.read_params}; drift: {fit.drift}; "
          f"stuck-at: {fit.stuck_at}")
    print(f"wrote {out} (+ .fit.json, .fit.png)")
    return 0
