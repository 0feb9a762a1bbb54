"""Input-aware early stop (dynamic depth), DESIGN §3.5.

After each step the output layer's evidence — the cumulative spike count of a spiking
output layer, or the mean membrane so far of a non-spiking readout — is tested:

* ``confidence:θ[:T]``: stop when the top-1 probability of softmax(evidence / T) exceeds
  θ (T = 1 by default; PRIME uses the mean readout membrane with T = 2, θ = 0.8);
* ``margin:m``: stop when top-1 minus top-2 evidence is at least m;
* ``none``.

An optional ``@k`` suffix sets a minimum number of steps (``confidence:0.9@8``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SimulationError, short

__all__ = ["EarlyStop", "parse_early_stop"]


@dataclass(frozen=True, kw_only=True)
class EarlyStop:
    policy: str = "none"  # "none" | "confidence" | "margin"
    theta: float = 1.0
    temperature: float = 1.0
    margin: float = 0.0
    min_steps: int = 1

    @property
    def code(self) -> int:
        return {"none": 0, "confidence": 1, "margin": 2}[self.policy]

    def __str__(self) -> str:
        tail = f"@{self.min_steps}" if self.min_steps > 1 else ""
        if self.policy == "confidence":
            return f"confidence:{self.theta:g}:{self.temperature:g}{tail}"
        if self.policy == "margin":
            return f"margin:{self.margin:g}{tail}"
        return "none"


def parse_early_stop(text: str | EarlyStop | None) -> EarlyStop:
    """Parse ``none``, ``confidence:θ[:T][@min]`` or ``margin:m[@min]``."""
    if text is None:
        return EarlyStop()
    if isinstance(text, EarlyStop):
        return text
    spec, _, min_part = str(text).strip().partition("@")
    try:
        min_steps = int(min_part) if min_part else 1
    except ValueError:
        raise SimulationError(f"early stop {short(text)}: minimum steps after '@' must be an integer") from None
    if not 1 <= min_steps < 2**31:
        raise SimulationError(f"early stop {short(text)}: minimum steps must lie in 1..2^31-1")
    parts = spec.split(":")
    kind = parts[0]
    try:
        if kind == "none" and len(parts) == 1:
            return EarlyStop(min_steps=min_steps)
        if kind == "confidence" and len(parts) in (2, 3):
            theta = float(parts[1])
            temp = float(parts[2]) if len(parts) == 3 else 1.0
            if not 0 < theta <= 1:
                raise SimulationError(f"early stop {short(text)}: θ must lie in (0, 1]")
            if not 0 < temp < float("inf"):
                raise SimulationError(f"early stop {short(text)}: temperature must be a finite number > 0")
            return EarlyStop(policy="confidence", theta=theta, temperature=temp, min_steps=min_steps)
        if kind == "margin" and len(parts) == 2:
            m = float(parts[1])
            if not 0 <= m < float("inf"):
                raise SimulationError(f"early stop {short(text)}: margin must be a finite number >= 0")
            return EarlyStop(policy="margin", margin=m, min_steps=min_steps)
    except ValueError:
        pass
    raise SimulationError(
        f"early stop {short(text)} not understood; use 'none', 'confidence:THETA[:T][@MIN]' "
        "(e.g. confidence:0.8:2) or 'margin:M[@MIN]'"
    )
