"""The one strict loader of chip cards (YAML) and the shipped presets.

Errors name the file and the dotted path of the bad value, and suggest the closest valid
key for a misspelt one::

    chip.yaml: macro.g_mni: unknown key; did you mean 'g_min'?
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError
from .schema import ChipCard

__all__ = ["load_chip", "chip_from_dict", "list_presets", "preset_path", "dump_chip"]

_ADAPTER = TypeAdapter(ChipCard)


def list_presets() -> list[str]:
    """Names of the chip presets shipped in ``neurocosim/devices/presets/``."""
    folder = resources.files("neurocosim.devices") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str) -> Path:
    folder = resources.files("neurocosim.devices") / "presets"
    p = folder / f"{name}.yaml"
    if not p.is_file():
        close = difflib.get_close_matches(name, list_presets(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"no chip preset named {name!r}{hint} (presets: {', '.join(list_presets())}; "
            "or give a path to a .yaml card)"
        )
    return Path(str(p))


def load_chip(name_or_path: str | Path) -> ChipCard:
    """Load a chip card: a preset name (``"prime-rram-40nm"``) or a YAML file path."""
    s = str(name_or_path)
    path = Path(s) if (s.endswith((".yaml", ".yml")) or Path(s).exists()) else preset_path(s)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the chip card: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: malformed YAML: {problem}") from None
    return chip_from_dict(data, source=str(path))


def chip_from_dict(data: Any, source: str = "<dict>", *, strict_units: bool = True) -> ChipCard:
    """Validate a card given as a dict (the YAML layout); errors are prefixed with ``source``.

    With ``strict_units`` (the default, as for files) every dimensional value must be a
    unit string; without, bare numbers are taken as SI."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a chip card must be a mapping of keys, got {type(data).__name__}")
    try:
        return _ADAPTER.validate_python(data, context={"file": strict_units})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    # a misspelt key also shows up as "missing" for the right one: report the typo first
    errors.sort(key=lambda e: e["type"] not in ("unexpected_keyword_argument", "extra_forbidden"))
    e = errors[0]
    loc = _loc(e)
    path = ".".join(loc) or "(top level)"
    if e["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f" (valid keys: {', '.join(valid)})"
        if close:  # the misspelt key's "missing" twin is the same problem
            errors = [x for x in errors if not (x["type"] == "missing"
                                                and _loc(x) == loc[:-1] + [close[0]])]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        return f"{path}: unknown key{hint}{more}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if e["type"] == "missing":
        return f"{path}: required field is missing{more}"
    msg = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{path}: {msg}{shown}{more}"


def _loc(e: dict[str, Any]) -> list[str]:
    return [str(p) for p in e["loc"] if not str(p).startswith(("function-", "lax-", "nullable"))]


def _fields_at(loc: list[str]) -> list[str]:
    cls: Any = ChipCard
    for name in loc:
        hints = typing.get_type_hints(cls, include_extras=True)
        t = hints.get(name)
        while t is not None and not dataclasses.is_dataclass(t):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            t = args[0] if args else None
        if t is None:
            return []
        cls = t
    return [f.name for f in dataclasses.fields(cls)]


def dump_chip(card: ChipCard) -> str:
    """YAML text of ``card`` that :func:`load_chip` reads back to an equal card."""
    return yaml.safe_dump(card.to_dict(), sort_keys=False, allow_unicode=True)
