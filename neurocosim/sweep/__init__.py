"""Robustness and design-space sweeps on a local process pool or a Dask cluster.

A study's runs are enumerated lazily and capped by its ``max_runs``; a run folder records
the study's hash (``study.json``) and is written under an exclusive lock (see
:mod:`neurocosim.sweep.runner`)."""

from .runner import SweepRunError, read_table, run_one, run_sweep, sweep_lock, write_figures
from .study import DEFAULT_MAX_RUNS, METRICS, Runs, RunSpec, Study, load_study, study_from_dict

__all__ = ["Study", "RunSpec", "Runs", "load_study", "study_from_dict", "run_sweep", "run_one",
           "read_table", "sweep_lock", "write_figures", "SweepRunError", "METRICS",
           "DEFAULT_MAX_RUNS"]
