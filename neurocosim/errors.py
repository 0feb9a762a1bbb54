"""Exception hierarchy.

Every error a user can cause is a :class:`NeurocosimError` whose message names the
file (when there is one), the field or node, the limit and the fix. The CLI turns these
into one line on stderr and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "NeurocosimError",
    "ConfigError",
    "ModelError",
    "MappingError",
    "DataError",
    "SimulationError",
]


class NeurocosimError(Exception):
    """Base class of every error neurocosim raises on bad input."""


class ConfigError(NeurocosimError):
    """A chip/device card or an option is malformed, unknown or out of range."""


class ModelError(NeurocosimError):
    """A network (file or in-memory) is malformed, unsupported or unstable."""


class MappingError(NeurocosimError):
    """A network does not fit a chip; the message names the rule, layer, limit and fix."""


class DataError(NeurocosimError):
    """Input data has the wrong shape, type or range for the network or encoding."""


class SimulationError(NeurocosimError):
    """A simulation option is invalid for the network being simulated."""
