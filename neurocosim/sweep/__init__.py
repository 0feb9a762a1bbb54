"""Robustness and design-space sweeps on a local process pool or a Dask cluster."""

from .runner import read_table, run_one, run_sweep
from .study import METRICS, RunSpec, Study, load_study, study_from_dict

__all__ = ["Study", "RunSpec", "load_study", "study_from_dict", "run_sweep", "run_one",
           "read_table", "METRICS"]
