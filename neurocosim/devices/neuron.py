"""Neuron circuits: analog mismatch drawn at programming time.

An analog LIF circuit's threshold and leak differ from neuron to neuron (transistor
mismatch). The card gives the relative σ of each (``neuron.threshold_mismatch``,
``neuron.leak_mismatch``); one factor per neuron is drawn once, when the chip is
programmed, and multiplies the nominal value. Energy and latency per update and per spike
are fields of :class:`~neurocosim.devices.schema.NeuronCircuit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .schema import NeuronCircuit

__all__ = ["NeuronMismatch", "draw_mismatch"]


@dataclass(frozen=True)
class NeuronMismatch:
    """Per-neuron multiplicative factors (1 = nominal), arrays of the layer's shape."""

    threshold: np.ndarray
    leak: np.ndarray


def draw_mismatch(shape: tuple[int, ...], circuit: NeuronCircuit,
                  rng: np.random.Generator) -> NeuronMismatch:
    r"""Draw :math:`1 + σ ε` per neuron for threshold and leak (independent streams).

    The card keeps σ below 0.25 (a factor ≤ 0, which would flip the neuron's sign, then
    has probability below 3e-5 per neuron)."""
    r_th, r_leak = rng.spawn(2)
    th = 1.0 + circuit.threshold_mismatch * r_th.standard_normal(shape)
    lk = 1.0 + circuit.leak_mismatch * r_leak.standard_normal(shape)
    return NeuronMismatch(threshold=th, leak=lk)
