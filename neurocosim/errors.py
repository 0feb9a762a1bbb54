"""Exception hierarchy and the one place that shortens values shown in messages.

Every error a user can cause is a :class:`NeurocosimError` whose message names the
file (when there is one), the field or node, the limit and the fix. The CLI turns these
into one line on stderr and exit status 2; anything else that escapes is a bug (exit 3).
One exception type per kind of input:

* :class:`ConfigError` — chip cards, study files, options and flags;
* :class:`ModelError` — network files and in-memory networks;
* :class:`DataError` — data files (``.npz``, ``.csv``), labels, run directories;
* :class:`MappingError` — a network that does not fit a chip;
* :class:`SimulationError` — a simulation option invalid for the network;
* :class:`OutputError` — an output path that would overwrite or delete a user's files;
* :class:`BudgetError` — an input that implies more memory or time than allowed.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "NeurocosimError",
    "ConfigError",
    "ModelError",
    "MappingError",
    "DataError",
    "SimulationError",
    "OutputError",
    "BudgetError",
    "NeurocosimWarning",
    "LoihiWarning",
    "MappingWarning",
    "short",
    "one_line",
    "bug_line",
]

#: longest text of a value an error message shows (values can be huge or hostile)
SHOWN_CHARS = 120


class NeurocosimError(Exception):
    """Base class of every error neurocosim raises on bad input."""


class ConfigError(NeurocosimError):
    """A chip/device card, a study or an option is malformed, unknown or out of range."""


class ModelError(NeurocosimError):
    """A network (file or in-memory) is malformed, unsupported or unstable."""


class MappingError(NeurocosimError):
    """A network does not fit a chip; the message names the rule, layer, limit and fix."""


class DataError(NeurocosimError):
    """Input data has the wrong shape, type or range for the network or encoding."""


class SimulationError(NeurocosimError):
    """A simulation option is invalid for the network being simulated."""


class OutputError(NeurocosimError):
    """An output path is unusable, or writing it would touch files neurocosim did not write."""


class BudgetError(NeurocosimError):
    """An input implies more memory or run time than the configured limits allow."""


class NeurocosimWarning(UserWarning):
    """Base class of every warning neurocosim issues (an approximation, not an error)."""


class LoihiWarning(NeurocosimWarning):
    """A Loihi 2 deployment approximation (reset mode, saturation, clipped bias)."""


class MappingWarning(NeurocosimWarning):
    """A soft design rule: the network maps, but something deserves attention."""


def short(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, cheap by construction.

    Built on :class:`reprlib.Repr` with small limits on depth, items and string length,
    so describing a YAML alias bomb, a 10⁹-element list or a 200k-character string costs
    next to nothing."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        return f"<{type(value).__name__}>"
    text = " ".join(text.split())  # one line, whatever the value's repr spans
    if len(text) > limit:
        return f"{text[: limit - 20]}...({len(text)} chars)"
    return text


def _make_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 6
    r.maxdict = 6
    r.maxstring = r.maxother = r.maxlong = 100
    return r


_REPR = _make_repr()


def one_line(text: str, limit: int = 600) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 15] + "... (cut)"


def bug_line(exc: BaseException) -> str:
    """One line for an unexpected exception: its type, message and innermost frame."""
    import traceback
    from pathlib import Path

    frames = traceback.extract_tb(exc.__traceback__)
    where = (f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})"
             if frames else "")
    return (f"neurocosim: internal error (this is a bug in neurocosim; please report it with "
            f"the command line): {type(exc).__name__}: {one_line(str(exc), 300)}{where}")
