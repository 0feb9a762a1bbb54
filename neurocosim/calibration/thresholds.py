"""Noise-aware threshold re-balancing after programming (measured on-chip activations).

Programming noise, drift and faults change the scale of each layer's synaptic input on
the chip. Layer by layer, in network order, the chip is run on calibration data and the
``percentile`` of the positive synaptic input each neuron layer receives is compared
with the same statistic of the float network on the same data; the layer's thresholds
are multiplied by that ratio (stored as the layer's threshold factors of the programmed
chip, beside any analog mismatch; the chip keeps its operating point). Later layers are
measured after earlier ones are re-balanced.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..devices.neuron import NeuronMismatch
from ..devices.program import ProgrammedChip
from ..errors import DataError
from ..hwsim.encoders import Encoder
from ..hwsim.reference import simulate as simulate_float
from ..hwsim.simulator import simulate

__all__ = ["rebalance_thresholds"]


def _feeding_op(net, layer: str) -> str | None:
    srcs = [a for a, b in net.edges if b == layer and (a, b) not in net.back_edges]
    return srcs[0] if srcs and srcs[0] in net.nodes else None


def rebalance_thresholds(programmed: ProgrammedChip, encoder: Encoder, steps: int, *,
                         rng: np.random.Generator, percentile: float = 99.0,
                         max_samples: int = 64) -> ProgrammedChip:
    """A copy of ``programmed`` whose layers' thresholds follow their on-chip input scale,
    measured at the chip's operating point (read time, ADC ranges)."""
    net = programmed.mapped.network
    enc = encoder.head(min(encoder.n_samples, max_samples))
    spiking = [ly for ly in net.layers() if net.nodes[ly].spiking and hasattr(net.nodes[ly], "v_threshold")]
    feeds = {ly: _feeding_op(net, ly) for ly in spiking}
    probes = sorted({op for op in feeds.values() if op})
    ref = simulate_float(net, enc, steps, probes=probes)
    mismatch = dict(programmed.mismatch)
    current = programmed
    seed = int(rng.integers(2**63))
    for ly in spiking:
        op = feeds[ly]
        if op is None:
            continue
        chip = simulate(current, enc, steps, probes=[op], rng=np.random.default_rng(seed))
        a = ref.probes[op]
        b = chip.probes[op]
        pa, pb = a[a > 0], b[b > 0]
        if pa.size == 0 or pb.size == 0:
            raise DataError(f"threshold re-balancing: layer '{ly}' receives no positive input "
                            "on the calibration data")
        ratio = float(np.percentile(pb, percentile) / np.percentile(pa, percentile))
        old = mismatch[ly]
        mismatch[ly] = NeuronMismatch(threshold=old.threshold * ratio, leak=old.leak)
        current = dataclasses.replace(current, mismatch=dict(mismatch))
    return current
