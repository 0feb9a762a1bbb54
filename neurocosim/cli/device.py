"""``neurocosim device``: characterise a card's device models (text, plot, JSON)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, short
from . import _common as C


def _times(text: str) -> list[float]:
    from ..units import parse_duration

    try:
        times = [parse_duration(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--times: {exc}") from None
    if not times or len(times) > 16 or not all(0 < t < 1e12 for t in times):
        raise ConfigError(f"--times {short(text)}: give 1 to 16 finite times after "
                          "programming, each > 0 and below 30,000 years, e.g. 1h,1d,30d")
    return times


def run(args) -> int:
    from ..devices.report import characterise
    from ..units import format_duration
    from ..units import format_quantity as fq

    C.out_file(args.plot, args, "--plot")
    C.out_file(args.json, args, "--json")
    times = _times(args.times)
    card = C.chip(args, args.preset)
    rep = characterise(card.macro, np.random.default_rng(args.seed), n_cells=args.cells,
                       times=times)
    m = card.macro
    print(f"{card.name}: {m.technology} {m.rows}x{m.cols}, g in [{fq(m.g_min, 'S')}, "
          f"{fq(m.g_max, 'S')}], levels {m.levels or 'continuous'} ({args.cells} cells, seed {args.seed})")
    print(f"programming noise '{rep.programming_model}' {card.resolved('programming')}")
    print(f"  {'target':>10} {'model sigma':>12} {'measured':>10}")
    for g, sm, ss in zip(rep.sigma_targets, rep.sigma_model, rep.sigma_measured, strict=True):
        print(f"  {fq(g, 'S'):>10} {fq(sm, 'S'):>12} {fq(ss, 'S'):>10}")
    print(f"read noise '{rep.read_model}': sigma at mid-window {fq(rep.read_sigma_mid, 'S')} per read")
    print(f"stuck at g_min {rep.stuck_min_fraction:.4%} (card {m.stuck_at.g_min_fraction:.4%}), "
          f"at g_max {rep.stuck_max_fraction:.4%} (card {m.stuck_at.g_max_fraction:.4%})")
    for t in rep.drift_ratio_measured:
        print(f"drift at {format_duration(t)}: mean g(t)/g = {rep.drift_ratio_measured[t]:.4f} "
              f"(power law {rep.drift_ratio_expected[t]:.4f})")
    if m.drift.model == "none":
        print("drift: none")
    if args.plot:
        from ..plots import device_figure

        device_figure(rep, f"{card.name}: conductances", args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        C.write_json(args.json, rep.to_dict())
        print(f"wrote {args.json}")
    return 0
