"""Dotted-path overrides of chip cards: ``macro.adc_bits=6`` on the command line and in sweeps.

A *key* is a dotted path into the card's YAML layout (``macro.adc_bits``,
``macro.programming_noise.params.percent``, ``clock``), or several joined by ``+`` that
all take the same value (``macro.rows+macro.cols``). Values are what YAML gives
(``6``, ``"25 uS"``, ``null``, ``{model: multiplicative, params: {percent: 2}}``).

* :func:`parse_set` — ``["macro.adc_bits=6", ...]`` (the ``--set KEY=VALUE`` option) →
  ``{"macro.adc_bits": 6, ...}``; values parsed as YAML, keys checked against the card
  schema (an unknown field gets a "did you mean").
* :func:`apply_overrides` — a card (or its dict) with overrides set → a validated
  :class:`~neurocosim.devices.schema.ChipCard`; errors are the loader's, prefixed with
  ``source`` (``--set`` by default).
* :func:`set_override` / :func:`set_path` — the same on a card dict in place (sweeps
  build and validate card dicts themselves).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from .._yaml import load_yaml
from ..errors import ConfigError, short
from .cards import chip_from_dict
from .schema import ChipCard

__all__ = ["apply_overrides", "parse_set", "check_path", "set_override", "set_path",
           "MAX_KEY_CHARS"]

#: longest key accepted (the longest card path is about 50 characters)
MAX_KEY_CHARS = 200
#: longest value text of one ``--set`` (a noise model as a flow mapping is ~100)
MAX_VALUE_CHARS = 4000
_MAP = "mapping"  # a field whose value is a free mapping (a noise model's params)


def set_path(d: dict, dotted: str, value: Any, where: str) -> None:
    """Set the dotted path ``dotted`` of the card dict ``d`` (creating mappings)."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"{where}: '{short(dotted)[1:-1]}' is not a dotted path of card "
                          "fields (e.g. macro.adc_bits)")
    cur = d
    for k in keys[:-1]:
        if k not in cur or cur[k] is None:
            cur[k] = {}
        if not isinstance(cur[k], dict):
            raise ConfigError(f"{where}: '{short(dotted)[1:-1]}': '{short(k)[1:-1]}' is not "
                              "a mapping in the chip card")
        cur = cur[k]
    cur[keys[-1]] = value


def set_override(card: dict, key: str, value: Any, where: str) -> None:
    """Set every dotted path of ``key`` (``a.b+c.d``) in the card dict ``card`` to a copy
    of ``value``."""
    for part in key.split("+"):
        set_path(card, part, copy.deepcopy(value), where)


def apply_overrides(card: ChipCard | Mapping[str, Any], overrides: Mapping[str, Any], *,
                    source: str = "--set") -> ChipCard:
    """``card`` with every ``key: value`` of ``overrides`` set, validated as a new card.

    ``card`` is a :class:`ChipCard` or a card dict in the YAML layout (not changed). A
    misspelt path fails with the loader's "did you mean", prefixed with ``source``."""
    if not isinstance(card, (ChipCard, Mapping)) or not isinstance(overrides, Mapping):
        raise ConfigError(f"{source}: overrides apply to a chip card or its dict, as a mapping "
                          f"of dotted paths to values (got {type(card).__name__}, "
                          f"{type(overrides).__name__})")
    data = card.to_dict() if isinstance(card, ChipCard) else copy.deepcopy(dict(card))
    for key, value in overrides.items():
        set_override(data, key, value, source)
    return chip_from_dict(data, source=source)


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
#: what YAML 1.1 reads as another number than a user writes: 010 (octal 8), 1_000, 0x10,
#: 0b10 (read as written, decimal) and 1:20 (base 60: refused)
_DECIMAL = re.compile(r"[-+]?\d[\d_]*")
_SEXAGESIMAL = re.compile(r"[-+]?\d+(:[0-5]?\d)+(\.\d*)?")


def parse_set(items: Iterable[str], *, flag: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` texts → ``{KEY: value}`` (a later key wins); each value parsed as YAML,
    each key checked with :func:`check_path`."""
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"{flag} {short(item)}: give KEY=VALUE, e.g. {flag} "
                              "macro.adc_bits=6")
        key, text = (s.strip() for s in item.split("=", 1))
        check_path(key, flag)
        where = f"{flag} {key}"
        if len(text) > MAX_VALUE_CHARS:
            raise ConfigError(f"{where}: a value of {len(text):,} characters (at most "
                              f"{MAX_VALUE_CHARS:,})")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{where}: the value is not valid UTF-8 text") from None
        if _SEXAGESIMAL.fullmatch(text):
            raise ConfigError(f"{where}: {short(text)} would be read as a base-60 number; "
                              "write a plain number (e.g. 80 or 1.5)")
        if _DECIMAL.fullmatch(text):  # 010 is ten, not YAML 1.1's octal eight
            out[key] = int(text.replace("_", ""), 10)
            continue
        value = load_yaml(text, where, ConfigError)
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-1 as text; a user means the number
        out[key] = value
    return out


def check_path(key: str, where: str = "--set") -> None:
    """Refuse a key that names no card field: one line naming ``where`` and the closest
    valid path ("did you mean")."""
    if not (isinstance(key, str) and key.isprintable() and 0 < len(key) <= MAX_KEY_CHARS):
        raise ConfigError(f"{where}: a key must be a dotted path of card fields of at most "
                          f"{MAX_KEY_CHARS} printable characters (e.g. macro.adc_bits), got "
                          f"{short(key)}")
    for part in key.split("+"):
        names = part.split(".")
        if not all(names):
            raise ConfigError(f"{where}: '{part}' is not a dotted path of card fields (e.g. "
                              "macro.adc_bits, macro.rows+macro.cols)")
        _check_names(names, where)


def _check_names(names: list[str], where: str) -> None:
    kind: Any = ChipCard
    for i, name in enumerate(names):
        done = ".".join(names[:i])
        if kind is _MAP:
            return  # a noise model's parameters: the model checks them
        if kind is None:
            raise ConfigError(f"{where}: '{done}' is a value, not a mapping of card fields")
        fields = _fields(kind)
        if name not in fields:
            at = f"{done}." if done else ""
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.5)
            hint = (f"; did you mean '{at}{close[0]}'?" if close
                    else f" (keys of {done or 'the card'}: {', '.join(fields)})")
            raise ConfigError(f"{where}: unknown key '{at}{name}'{hint}")
        kind = fields[name]


def _fields(cls: type) -> dict[str, Any]:
    """Fields of a schema dataclass → their dataclass, :data:`_MAP` or ``None`` (a value)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(cls)}


def _kind(t: Any) -> Any:
    while typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    if dataclasses.is_dataclass(t):
        return t
    if typing.get_origin(t) is dict:
        return _MAP
    for arg in typing.get_args(t):  # Optional[...]: the non-None member
        if arg is not type(None) and _kind(arg) is not None:
            return _kind(arg)
    return None
