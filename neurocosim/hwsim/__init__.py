"""Simulators: the NumPy float reference (``reference``) and encoders."""

from .encoders import ENCODINGS, CurrentEncoder, Encoder, RateEncoder, SpikeEncoder, make_encoder
from .reference import ReferenceResult, simulate

__all__ = ["simulate", "ReferenceResult", "make_encoder", "Encoder", "CurrentEncoder",
           "RateEncoder", "SpikeEncoder", "ENCODINGS"]
