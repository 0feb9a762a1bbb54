"""The latency model (DESIGN §3.7), in one place for the engine and the analytical mode.

One read of a tile block takes the row drive, the array read and, with ADCs, one
conversion per cycle of the tile's converters (``ceil(columns / ADCs per tile)``); the
reads of one tile run one after another, the tiles in parallel. A step takes its slowest
tile, then the digital accumulate, the neuron update and the longest packet route (hops
× hop latency). The engine kernel applies the same sums to the constants of
:meth:`LatencyModel.kernel_times` as reads happen; the analytical mode applies
:meth:`~LatencyModel.read_s` and :meth:`~LatencyModel.step_s` to expected reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LatencyModel"]


@dataclass(frozen=True)
class LatencyModel:
    """The chip card's time constants (seconds)."""

    row_drive: float
    array_read: float
    adc_conversion: float
    accumulate: float
    neuron_update: float
    hop: float

    @classmethod
    def of(cls, chip) -> LatencyModel:
        """The model of a chip card."""
        lat = chip.macro.latency
        return cls(row_drive=lat.row_drive.value, array_read=lat.array_read.value,
                   adc_conversion=lat.adc_conversion.value, accumulate=lat.accumulate.value,
                   neuron_update=chip.neuron.update_latency.value,
                   hop=chip.noc.hop_latency.value)

    def kernel_times(self) -> np.ndarray:
        """The constants in the order the engine kernel takes them (``times``)."""
        return np.array([self.row_drive, self.array_read, self.adc_conversion,
                         self.accumulate, self.neuron_update, self.hop])

    def read_s(self, adc_cycles) -> float:
        """One read of a block whose converters take ``adc_cycles`` cycles (0: no ADC)."""
        return self.row_drive + self.array_read + adc_cycles * self.adc_conversion

    def step_s(self, slowest_tile_s, max_hops) -> float:
        """One step whose slowest tile is busy ``slowest_tile_s`` and whose longest
        packet route is ``max_hops`` hops."""
        return slowest_tile_s + self.accumulate + self.neuron_update + max_hops * self.hop
