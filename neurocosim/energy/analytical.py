"""Analytical mode: the energy of expected event counts, without simulating.

The counts come from :func:`neurocosim.hwsim.expected_counts` (expected reads, rows
driven, conversions, spikes, packets and hops from firing rates, the latency of the
engine's latency model, and the digital spike units' operations, which do not depend on
the rates: their operations per step × the steps, as in a simulated run); the result is
an :class:`~neurocosim.hwsim.EventCounts` of one "sample" (``steps`` steps), fed to the
same :func:`~neurocosim.energy.estimate` as a simulated run.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..hwsim import EventCounts, expected_counts

__all__ = ["analytical_counts"]


def analytical_counts(programmed, steps: int, rates: Mapping[str, object] | None = None, *,
                      worst_case: bool = False) -> EventCounts:
    """Expected counters of one inference of ``steps`` steps (``worst_case``: every rate
    1, every row driven every step), with the digital nodes' counters (``digital``) when
    the network has any; see :func:`neurocosim.hwsim.expected_counts`."""
    return expected_counts(programmed, steps, rates, worst_case=worst_case)
