"""``neurocosim energy``: energy, latency and area of a run folder, or analytically (a
model file or ``zoo:NAME``)."""

from __future__ import annotations

from pathlib import Path

from . import _common as C


def run(args) -> int:
    from ..flows import energy_source, model_energy, run_folder_energy
    from ..outputs import write_energy_folder

    src, folder = energy_source(args.source)
    out = Path(args.output) if args.output else (src if folder else None)
    C.out_dir(str(out) if out is not None else None, args)
    if folder:
        rep = run_folder_energy(src, args.chip, args.set or [], paper_preset=args.paper_preset,
                                multilevel=args.multilevel)
    else:
        rep = model_energy(args.source, C.chip(args) if args.chip else None, dt=args.dt,
                           steps=args.steps, rate=args.rate, paper_preset=args.paper_preset,
                           multilevel=args.multilevel, rates_csv=args.rates)
    print(rep.text())
    if out is not None:
        write_energy_folder(out, rep, merge=folder and out.resolve() == src.resolve(),
                            force=args.force)
        print(f"wrote {out}/ (energy.json, energy.md, energy.png)")
    return 0
