"""Unit strings such as ``"25 uS"`` or ``"1.56 pJ"`` → SI floats.

Parsed once, at the edge (YAML cards, CLI options); everything inside is SI.
A dimensional value must carry its unit: a bare number is refused, because "25" for a
conductance is far more often meant as µS than as siemens. Every parsed value is finite
(``1e400 s``, ``nan`` and ``inf`` are refused), durations are also ``>= 0``, and a text
longer than :data:`MAX_CHARS` is refused before any pattern is matched against it.
"""

from __future__ import annotations

import math
import re

from .errors import short

__all__ = ["parse_quantity", "parse_duration", "format_quantity", "format_duration", "UNITS"]

#: Base units understood, with what they measure.
UNITS = {
    "S": "conductance (siemens)",
    "s": "time (seconds)",
    "J": "energy (joules)",
    "W": "power (watts)",
    "V": "voltage (volts)",
    "A": "current (amperes)",
    "Hz": "frequency (hertz)",
    "m2": "area (square metres)",
    "mm2": "area (square millimetres, converted to m²)",
    "um2": "area (square micrometres, converted to m²)",
    "B": "memory (bytes)",
}

# SI prefixes as powers of ten (applied by division for negative powers, so that
# "100 uS" is exactly 1e-4 and not 9.999999999999999e-05)
_PREFIX = {"a": -18, "f": -15, "p": -12, "n": -9, "u": -6, "µ": -6, "μ": -6, "m": -3, "": 0,
           "k": 3, "K": 3, "M": 6, "G": 9, "T": 12}
_AREA = {"m2": 0, "mm2": -6, "um2": -12, "µm2": -12, "nm2": -18}


def _scale(value: float, exp10: int) -> float:
    return value * 10.0**exp10 if exp10 >= 0 else value / 10.0 ** (-exp10)
_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1e6}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RE = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-zµμ0-9²]*)\s*$", re.ASCII)

#: longest quantity or duration text accepted ("1.56 pJ" needs 7)
MAX_CHARS = 64


def _number(text: object, what: str, shown: object = None) -> float:
    """A finite float from a number or a matched number text (huge, nan, inf refused)."""
    shown = text if shown is None else shown
    try:
        value = float(text)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(f"{short(shown, 40)} is too large for {what}") from None
    if not math.isfinite(value):
        raise ValueError(f"{short(shown)} is not a finite number ({what} must be finite)")
    return value


def _match(text: str, what: str, example: str) -> re.Match[str]:
    if len(text) > MAX_CHARS:
        raise ValueError(f"a text of {len(text):,} characters is too long for {what} (at most "
                         f"{MAX_CHARS}; e.g. '{example}')")
    m = _RE.match(text.replace("²", "2"))
    if not m:
        raise ValueError(f"cannot parse {short(text)} as {what} (e.g. '{example}')")
    return m


def parse_quantity(text: str | float | int, unit: str) -> float:
    """Parse ``text`` (e.g. ``"25 uS"``) as a quantity of base ``unit``, returning SI.

    Parameters
    ----------
    text
        A string ``"<number> <prefix><unit>"``. A bare number is accepted only for
        zero (unit-free) — anything else must say its unit.
    unit
        The expected base unit: one of :data:`UNITS` keys (``"m2"`` for areas,
        ``"B"`` for bytes).

    Raises
    ------
    ValueError
        With a message naming the expected unit and an example; callers wrap it in a
        :class:`~neurocosim.errors.ConfigError` that adds the file and field.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a quantity in {unit}, got a boolean")
    if isinstance(text, (int, float)):
        if text == 0:
            return 0.0
        value = _number(text, f"a quantity in {unit}")
        raise ValueError(
            f"a bare number ({value:g}) has no unit; write it with its unit, e.g. "
            f"'{value:g} {_example(unit)}'"
        )
    if not isinstance(text, str):
        raise ValueError(f"expected a quantity string in {unit}, got {type(text).__name__}")
    m = _match(text, f"a quantity in {unit}", f"10 {_example(unit)}")
    value = _number(m.group(1), f"a quantity in {unit}", text)
    suffix = m.group(2)
    shown = short(text)
    if unit == "m2":
        if suffix not in _AREA:
            raise ValueError(f"{shown}: unit {suffix!r} is not an area; use mm2, um2 or m2")
        scaled = _scale(value, _AREA[suffix])
    elif unit == "B":
        if suffix not in _BYTES:
            raise ValueError(f"{shown}: unit {suffix!r} is not a memory size; use B, KiB, MiB")
        scaled = value * _BYTES[suffix]
    else:
        if not suffix.endswith(unit):
            raise ValueError(f"{shown} is not in {unit} ({UNITS.get(unit, unit)}); "
                             f"e.g. '10 {_example(unit)}'")
        prefix = suffix[: len(suffix) - len(unit)]
        if prefix not in _PREFIX:
            raise ValueError(f"{shown}: unknown SI prefix {prefix!r} (use f, p, n, u, m, k, M, G)")
        scaled = _scale(value, _PREFIX[prefix])
    if not math.isfinite(scaled):
        raise ValueError(f"{shown} is out of range: it overflows a float in {unit}")
    return scaled


def _example(unit: str) -> str:
    return {"S": "uS", "s": "ns", "J": "pJ", "W": "mW", "V": "mV", "A": "uA", "Hz": "MHz"}.get(
        unit, unit
    )


def format_quantity(value: float, unit: str, digits: int = 4) -> str:
    """Format an SI value with an engineering prefix, e.g. ``2.5e-5, "S"`` → ``"25 uS"``."""
    if value == 0 or not (abs(value) < float("inf")):
        return f"{value:g} {unit}"
    for p, f in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3),
                 ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15), ("a", 1e-18)):
        if abs(value) >= f:
            return f"{value / f:.{digits}g} {p}{unit}"
    return f"{value:.{digits}g} {unit}"


_DURATION = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0,
             "d": 86400.0, "day": 86400.0, "days": 86400.0, "week": 604800.0,
             "weeks": 604800.0, "y": 365.25 * 86400.0}


def parse_duration(text: str | float) -> float:
    """Time after programming: ``"30 s"``, ``"1h"``, ``"1 d"``, ``"2 weeks"``, or seconds.

    The result is finite and ``>= 0``; anything else raises :class:`ValueError` with a
    one-line message (callers add the option or field it came from)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a duration such as '30 s' or '1 d', got {type(text).__name__}")
    if isinstance(text, str):
        m = _match(text, "a duration", "1 d")
        if m.group(2) not in _DURATION:
            raise ValueError(f"cannot parse {short(text)} as a duration (unknown unit "
                             f"{short(m.group(2), 20)}); use e.g. '30 s', '1 h', '1 d', '2 weeks'")
        seconds = _number(m.group(1), "a duration", text) * _DURATION[m.group(2)]
    else:
        seconds = _number(text, "a duration")
    if not math.isfinite(seconds):
        raise ValueError(f"{short(text)} is too long a duration (it overflows); give at most "
                         "a few years")
    if seconds < 0:
        raise ValueError(f"{short(text)} is a negative duration; a time after programming is "
                         ">= 0 (e.g. '0 s', '1 d')")
    return seconds + 0.0  # -0.0 -> 0.0


def format_duration(t: float) -> str:
    """Seconds as the largest whole unit: ``86400`` → ``"1 d"``."""
    for unit, sec in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= sec:
            return f"{t / sec:g} {unit}"
    return f"{t:g} s"
