"""``neurocosim sweep``: run a study on a process pool or a Dask cluster."""

from __future__ import annotations

import os

from ..errors import ConfigError
from . import _common as C


def run(args) -> int:
    from ..sweep import load_study, read_table, run_sweep, sweep_lock, write_figures

    study = load_study(args.study)
    executor = "local" if not args.dask else ("dask-local" if args.dask == "local"
                                              else f"dask:{args.dask}")
    cores = os.cpu_count() or 1
    if args.workers and args.workers > cores and not executor.startswith("dask:"):
        raise ConfigError(f"--workers {args.workers}: more than the {cores} cores here; "
                          f"use --workers {cores} or fewer")
    table = run_sweep(study, args.output, executor=executor, workers=args.workers,
                      resume=args.resume, progress=C.progress(args), max_runs=args.max_runs,
                      force=args.force)
    with sweep_lock(args.output):  # figures are written under the same lock
        _, rows = read_table(table)
        print(f"study '{study.name}': {len(rows)} of {len(study.runs)} runs in {table}")
        if args.plot and len(rows) == len(study.runs):
            for path in write_figures(study, args.output):
                print(f"wrote {path}")
    return 0
