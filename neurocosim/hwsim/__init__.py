"""Simulators: the NumPy float reference (``reference``), the Numba cycle-level engine
(``simulator.simulate``), encoders and early-stop policies; the engine's event counters
(``counters``), their expected values from firing rates (``expected``) and the latency
model both use (``latency``)."""

from .counters import EventCounts
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
from .expected import expected_counts
from .latency import LatencyModel
from .reference import ReferenceResult
from .reference import simulate as simulate_reference
from .simulator import SimResult, simulate

__all__ = ["simulate", "simulate_reference", "SimResult", "EventCounts", "ReferenceResult",
           "expected_counts", "LatencyModel",
           "make_encoder", "Encoder", "CurrentEncoder", "RateEncoder", "SpikeEncoder",
           "ENCODINGS", "EarlyStop", "parse_early_stop", "load_data", "validate_labels"]
