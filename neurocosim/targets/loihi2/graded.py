"""Graded input spikes: analog (current-encoded) inputs as Loihi 2 spike payloads.

Loihi 2 spikes may carry an integer payload (``num_message_bits`` B, up to 24 bits); a
``Dense`` with ``num_message_bits > 0`` multiplies it into its weights
(``a = (W_q · p) << weight_exp``, accumulated in int32). A network trained with
constant-current input (the value ``x`` injected every step) is deployed by sending, every
step, the payload

    p = floor(x / x_max · P + 1/2),   P = 2^B − 1,   x ∈ [0, x_max]

so that one payload unit is ``x_max / P`` of input and the rounding error is at most
``x_max / (2P)`` (B = 8, x_max = 1: 1/510 ≈ 0.2 % of the range). The quantiser scales
the first layer for that unit (:func:`neurocosim.targets.loihi2.quantize_loihi2` with
``num_message_bits``); the ``loihi2`` simulator mode and the Lava graph take the payloads.
Payloads are unsigned: inputs must lie in ``[0, x_max]``.
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError, ModelError

__all__ = ["MAX_MESSAGE_BITS", "DEFAULT_MESSAGE_BITS", "payload_levels", "graded_payload",
           "payload_error"]

MAX_MESSAGE_BITS = 24  # Loihi 2's graded spike payload
DEFAULT_MESSAGE_BITS = 8  # what ``deploy --encoding current`` uses


def payload_levels(num_message_bits: int) -> int:
    """``P = 2^B − 1``: the payload of the largest input, or a ModelError for bad ``B``."""
    b = num_message_bits
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= MAX_MESSAGE_BITS:
        raise ModelError(f"num_message_bits must be an integer in 1..{MAX_MESSAGE_BITS} "
                         f"(Loihi 2's graded spike payload), got {b!r}")
    return (1 << int(b)) - 1


def payload_error(num_message_bits: int, input_max: float) -> float:
    """The largest rounding error of an input, in input units: ``x_max / (2P)``."""
    return float(input_max) / (2 * payload_levels(num_message_bits))


def graded_payload(x, num_message_bits: int, input_max: float = 1.0) -> np.ndarray:
    """Analog inputs ``x`` (any shape, values in ``[0, input_max]``) → int32 payloads
    ``floor(x / input_max · (2^B − 1) + 1/2)``, or a DataError naming the fix."""
    levels = payload_levels(num_message_bits)
    if not (np.isfinite(input_max) and input_max > 0):
        raise ModelError(f"input_max must be a positive finite number, got {input_max!r}")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError("graded-spike input contains NaN or inf")
    if x.size and (x.min() < 0 or x.max() > input_max):
        raise DataError(f"graded spikes carry unsigned payloads: inputs must lie in "
                        f"[0, {input_max:g}], got [{x.min():g}, {x.max():g}]; rescale the data "
                        "(e.g. x / x.max()) or use --encoding rate")
    return np.floor(x / float(input_max) * levels + 0.5).astype(np.int32)
