"""The :class:`Delay` node: its input of ``steps`` steps before (NIR's ``Delay``).

NIR's ``Delay`` (``y(t) = x(t − τ)``, ``delay`` an array of τ in seconds of the input's
shape) is continuous-time; in the IR the delay is a whole number of network steps,
``steps = τ / dt`` (≥ 1), the same for every element. A Delay is state (like a neuron's
membrane): its output at step ``t`` is the sum of its inputs at ``t − steps``, zero before
(``t < steps``). It is therefore allowed to close a cycle (e.g. TIM's recurrence
``x̃_t = f(x̃_{t−1}, q_t)``): every edge *into* a Delay is a recurrent edge of the network
(:attr:`~neurocosim.ir.Network.back_edges`), which is how the network orders its nodes
(the Delay is evaluated before its sources, on what they produced earlier). Because its
sources come later in that order, a Delay declares its ``shape``, which the network
checks against every source.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError
from . import nodes as N
from .checks import _int, _shape

__all__ = ["Delay", "MAX_DELAY"]

#: the longest delay in steps
MAX_DELAY = 1_000_000


@dataclass(frozen=True, kw_only=True, eq=False)
class Delay(N.Node):
    """Output at step ``t`` = input at ``t − steps`` (zeros for ``t < steps``), ``shape``
    the shape of its input and output."""

    steps: int
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        steps = _int(self.steps, "steps", "Delay", lo=1)
        if steps > MAX_DELAY:
            raise ModelError(f"Delay: 'steps' must be at most {MAX_DELAY}, got {steps}")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "shape", _shape(self.shape, "shape", "Delay",
                                                 allow_empty=False))


N.NODE_TYPES["Delay"] = Delay
