"""``neurocosim calibrate``: fit device models to measurements and write a card."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, short
from . import _common as C


def run(args) -> int:
    import yaml

    from .._atomic import atomic_path
    from ..calibration import read_measurements
    from ..devices import load_chip
    from ..flows import fitted_card
    from ..plots import calibration_figure

    out = Path(args.output)
    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"-o {short(args.output)}: the card to write must end in .yaml")
    for f in (out, out.with_suffix(".fit.json"), out.with_suffix(".fit.png")):
        C.out_file(str(f), args, "-o")
    if not 0 < args.t0 < float("inf"):
        raise ConfigError(f"--t0 {args.t0}: must be a finite time > 0 s")
    base = load_chip(args.base)
    chip, fit, report = fitted_card(base, read_measurements(args.data), model=args.model,
                                    t0=args.t0, name=args.name or out.stem,
                                    data_name=Path(args.data).name, card_source=str(out))
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump(chip.to_dict(), sort_keys=False, allow_unicode=True))
    C.write_json(out.with_suffix(".fit.json"), report)
    calibration_figure(fit, out.with_suffix(".fit.png"))
    print(f"programming noise '{fit.programming_model}': {fit.programming_params} "
          f"(R^2 {fit.goodness['programming_r2']:.3f}, sigma rel. RMS "
          f"{fit.goodness['programming_sigma_rel_rms']:.1%})")
    print(f"read noise '{fit.read_model}': {fit.read_params}; drift: {fit.drift}; "
          f"stuck-at: {fit.stuck_at}")
    print(f"wrote {out} (+ .fit.json, .fit.png)")
    return 0
