"""Energy, latency and area: event-based estimate, analytical mode, papers' convention."""

from .analytical import analytical_counts
from .paper import (
    PAPER_PRESETS,
    conv_macs,
    count_macs,
    dense_macs,
    layer_energy,
    paper_convention,
)
from .report import COMPONENTS, EnergyReport, estimate

__all__ = ["estimate", "EnergyReport", "COMPONENTS", "analytical_counts", "paper_convention",
           "count_macs", "conv_macs", "dense_macs", "layer_energy", "PAPER_PRESETS"]
