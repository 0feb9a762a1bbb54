"""``neurocosim energy``: energy, latency and area of a run folder, or analytically."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, DataError
from . import _common as C


def run(args) -> int:
    from .._atomic import output_dir
    from ..energy import estimate, paper_convention
    from ..plots import energy_figure

    src = Path(args.source)
    if not src.exists():
        raise DataError(f"{src}: no such run folder or model file")
    out_dir = Path(args.output) if args.output else (src if src.is_dir() else None)
    if src.is_dir():
        from ..runfolder import read_run_folder

        C.out_dir(str(out_dir), args)
        net, chip, counts, summary = read_run_folder(src, args.chip)
        if args.set:
            chip = C.chip(args, args.chip or str(src / "chip.yaml"))
        rep = estimate(counts, chip, tiles=summary["mapping"]["tiles"],
                       cores=summary["mapping"]["cores"],
                       paper=paper_convention(net, counts, preset=args.paper_preset,
                                              multilevel=args.multilevel,
                                              first_layer_mac=summary.get("encoding") == "current"))
    else:
        rep = _analytical(args, src)
    print(rep.text())
    if out_dir is not None:
        with output_dir(out_dir, force=args.force, merge=out_dir == src, command="energy") as tmp:
            (tmp / "energy.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
            (tmp / "energy.md").write_text(rep.markdown())
            energy_figure(rep, tmp / "energy.png")
        print(f"wrote {out_dir}/ (energy.json, energy.md, energy.png)")
    return 0


def _analytical(args, src: Path):
    from ..flows import analytical_energy
    from ..frontends import load_network

    if not args.chip:
        raise ConfigError("analytical energy of a model needs --chip")
    if args.rate is not None and not 0 <= args.rate <= 1:
        raise ConfigError(f"--rate {args.rate}: spikes per step must lie in [0, 1]")
    C.out_dir(args.output, args)
    net = load_network(src, dt=args.dt)
    return analytical_energy(net, C.chip(args), steps=args.steps, rate=args.rate,
                             paper_preset=args.paper_preset, multilevel=args.multilevel)
