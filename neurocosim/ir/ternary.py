r"""The :class:`TernaryLIF` node: a LIF neuron that emits signed (ternary) spikes
:math:`s \in \{-1, 0, +1\}` (SpikeLM's bi-directional spikes).

Source: Xing et al., "SpikeLM: Towards General Spike-Driven Language Modeling via Elastic
Bi-Spiking Mechanisms", ICML 2024; public code ``spikeLM-BERT/spiking.py``
(``ElasticBiSpiking.forward``: ``s = clamp(round(mem / α), −1, 1)``, the spike scaled by
the layer's amplitude ``α``). Rounding half to even, that is ``+1`` where
``mem > α/2``, ``−1`` where ``mem < −α/2``, else 0: two thresholds, ``θ⁺ = θ⁻ = α/2``
with a strict comparison; the amplitude ``α`` multiplies every output, so it folds into
the next layer's weights (as it does here: the IR's spikes are ±1). The released
code's membrane recurrence (``mem ← 0.25·mem·(α − s·α) + I``) is not a leaky
integrator; this node keeps the IR's LIF dynamics and resets instead, so a ternary layer
is a LIF in every respect but its output:

.. math::
    v &\leftarrow v + \alpha (v_{leak} - v) + \alpha r I \\
    s &= +1 \text{ if } v > \theta^+,\quad -1 \text{ if } v < -\theta^-,\quad 0
    \text{ otherwise} \quad (\ge,\ \le \text{ when } compare = \texttt{">="})

then, where :math:`s \ne 0`, reset ``"zero"``: :math:`v \leftarrow v_{reset}`;
``"subtract"``: :math:`v \leftarrow v - s\,\theta^{\pm}` (the threshold of the side
that fired: :math:`v - \theta^+` after a +1, :math:`v + \theta^-` after a −1).
``v_threshold`` is θ⁺ and ``v_threshold_neg`` θ⁻ (default: ``v_threshold``, a
symmetric neuron); both must be > 0, so the two firing regions never meet. A spike is
counted as :math:`|s|` (a −1 is one event, one packet); a crossbar reads a ternary input
as two binary reads, the rows driven +1 and the rows driven −1, subtracted
(:mod:`neurocosim.hwsim.kernels.crossbar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import ModelError
from . import nodes as N
from .checks import describe

__all__ = ["TernaryLIF"]


@dataclass(frozen=True, kw_only=True, eq=False)
class TernaryLIF(N.LIF):
    """A LIF with a positive threshold ``v_threshold`` (θ⁺) and a negative one
    ``v_threshold_neg`` (θ⁻, default θ⁺): output +1 above θ⁺, −1 below −θ⁻, else 0 (see
    the module docstring for the update, the resets and the source)."""

    _arrays: ClassVar[tuple[str, ...]] = ("tau", "r", "v_leak", "v_threshold", "v_reset",
                                          "v_threshold_neg")
    v_threshold_neg: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.v_threshold_neg is None:
            object.__setattr__(self, "v_threshold_neg", self.v_threshold)
        super().__post_init__()
        for name in ("v_threshold", "v_threshold_neg"):
            arr = getattr(self, name)
            with np.errstate(invalid="ignore"):
                bad = arr.size == 0 or not bool(np.all(arr > 0))
            if bad:
                low = describe(arr.min()) if arr.size else "an empty array"
                raise ModelError(f"TernaryLIF: '{name}' must be > 0 everywhere (the two "
                                 f"firing regions v > θ⁺ and v < −θ⁻ must not meet), got "
                                 f"{low}")


N.NODE_TYPES["TernaryLIF"] = TernaryLIF
