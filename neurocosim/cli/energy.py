"""``neurocosim energy``: energy, latency and area of a run folder, or analytically."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, DataError
from . import _common as C


def run(args) -> int:
    from ..flows import analytical_energy, run_folder_energy
    from ..frontends import load_network
    from ..outputs import write_energy_folder

    src = Path(args.source)
    if not src.exists():
        raise DataError(f"{src}: no such run folder or model file")
    out = Path(args.output) if args.output else (src if src.is_dir() else None)
    C.out_dir(args.output or (str(src) if src.is_dir() else None), args)
    if src.is_dir():
        rep = run_folder_energy(src, args.chip, args.set or [], paper_preset=args.paper_preset,
                                multilevel=args.multilevel)
    elif not args.chip:
        raise ConfigError("analytical energy of a model needs --chip")
    else:
        rep = analytical_energy(load_network(src, dt=args.dt), C.chip(args), steps=args.steps,
                                rate=args.rate, paper_preset=args.paper_preset,
                                multilevel=args.multilevel)
    print(rep.text())
    if out is not None:
        write_energy_folder(out, rep, merge=src.is_dir() and out.resolve() == src.resolve(),
                            force=args.force)
        print(f"wrote {out}/ (energy.json, energy.md, energy.png)")
    return 0
