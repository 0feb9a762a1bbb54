"""Simulators: the NumPy float reference (``reference``), the Numba cycle-level engine
(``simulator.simulate``), encoders and early-stop policies."""

from .early_stop import EarlyStop, parse_early_stop
from .encoders import (
    ENCODINGS,
    CurrentEncoder,
    Encoder,
    RateEncoder,
    SpikeEncoder,
    load_data,
    make_encoder,
    validate_labels,
)
from .reference import ReferenceResult
from .reference import simulate as simulate_reference
from .simulator import EventCounts, SimResult, simulate

__all__ = ["simulate", "simulate_reference", "SimResult", "EventCounts", "ReferenceResult",
           "make_encoder", "Encoder", "CurrentEncoder", "RateEncoder", "SpikeEncoder",
           "ENCODINGS", "EarlyStop", "parse_early_stop", "load_data", "validate_labels"]
