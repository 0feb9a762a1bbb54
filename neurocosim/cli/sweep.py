"""``neurocosim sweep``: run a study on a process pool or a Dask cluster."""

from __future__ import annotations

from . import _common as C


def run(args) -> int:
    from ..inputs import sweep_executor
    from ..sweep import load_study, read_table, run_sweep, sweep_lock, write_figures

    study = load_study(args.study)
    executor = sweep_executor(args.dask, args.workers)
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
