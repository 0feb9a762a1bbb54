"""Robustness and design-space sweeps on a local process pool or a Dask cluster.

A study's runs are enumerated lazily and capped by its ``max_runs``; a run folder records
the study's hash (``study.json``) and is written under an exclusive lock (see
:mod:`neurocosim.sweep.runner`).

Modules, lowest first: ``runs`` (lazy run enumeration), ``validate`` (field checks),
``cards`` (the study's chip cards), ``split`` (which samples calibrate the chips and which
are scored: never the same), ``study`` (:class:`Study`, :func:`load_study`),
``table`` (the results CSV and the study record), ``lock`` (the folder lock, workers that
die with the sweep), ``pool`` (process pool / Dask execution), ``runner``
(:func:`run_sweep`, :func:`run_one`: one run is one :func:`neurocosim.pipeline.run_on_chip`)."""

from .lock import sweep_lock
from .pool import SweepRunError
from .runner import run_one, run_sweep, write_figures
from .runs import Runs, RunSpec
from .study import DEFAULT_MAX_RUNS, METRICS, Study, load_study, study_from_dict
from .table import read_table

__all__ = ["Study", "RunSpec", "Runs", "load_study", "study_from_dict", "run_sweep", "run_one",
           "read_table", "sweep_lock", "write_figures", "SweepRunError", "METRICS",
           "DEFAULT_MAX_RUNS"]
