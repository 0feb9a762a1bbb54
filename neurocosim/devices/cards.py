"""The one strict loader of chip cards (YAML) and the shipped presets.

Errors name the file and the dotted path of the bad value, and suggest the closest valid
key for a misspelt one::

    chip.yaml: macro.g_mni: unknown key; did you mean 'g_min'?

Any bytes give a :class:`~neurocosim.devices.schema.ChipCard` or one :class:`ConfigError` line, fast:
the file is read with :func:`neurocosim._yaml.read_text` (size, UTF-8, NUL) and parsed with
:func:`neurocosim._yaml.load_yaml` (aliases, depth, expanded size bounded), and values are
shown only through :func:`neurocosim.errors.short`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from .._yaml import load_yaml, read_text
from ..errors import ConfigError, short
from .noise import show_key
from .schema import ChipCard

__all__ = ["load_chip", "chip_from_dict", "list_presets", "preset_path", "dump_chip"]

_ADAPTER = TypeAdapter(ChipCard)

#: a chip card is a few KiB; a larger file is refused before it is parsed
MAX_CARD_BYTES = 1 << 20
#: values in a card after alias expansion (the presets have about 150), and characters
#: of its strings (every value shown in an error message stays small)
MAX_CARD_NODES, MAX_CARD_CHARS = 10_000, 4 << 20


def list_presets() -> list[str]:
    """Names of the chip presets shipped in ``neurocosim/devices/presets/`` and in the
    target folders ``neurocosim/targets/*/``."""
    return sorted(_preset_files())


def preset_path(name: str) -> Path:
    files = _preset_files()
    if name not in files:  # also keeps "../x" from reaching outside the presets folders
        presets = sorted(files)
        close = difflib.get_close_matches(str(name)[:100], presets, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"no chip preset named {short(name, 60)}{hint} (presets: {', '.join(presets)}; "
            "or give a path to a .yaml card)"
        )
    return Path(str(files[name]))


def _preset_files() -> dict[str, Any]:
    """Preset name → file: ``devices/presets/*.yaml``, then every ``*.yaml`` card in a
    folder of ``neurocosim/targets/`` (a name already taken keeps its first file)."""
    found: dict[str, Any] = {}
    folders = [resources.files("neurocosim.devices") / "presets"]
    targets = resources.files("neurocosim") / "targets"
    if targets.is_dir():
        folders += sorted((t for t in targets.iterdir() if t.is_dir()
                           and not t.name.startswith(("_", "."))), key=lambda t: t.name)
    for k, folder in enumerate(folders):
        for p in sorted(folder.iterdir(), key=lambda p: p.name):
            name = p.name[:-5]
            if p.name.endswith(".yaml") and name not in found and (k == 0 or _is_card(p)):
                found[name] = p
    return found


def _is_card(file: Any) -> bool:
    """Whether a shipped ``.yaml`` file is a chip card: its top level names ``macro``,
    ``neuron`` and ``noc`` (not parsed here: a broken card is listed, and loading it
    reports what is wrong)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return all(re.search(rf"^{key}\s*:", text, re.MULTILINE) for key in ("macro", "neuron", "noc"))


def load_chip(name_or_path: str | Path) -> ChipCard:
    """Load a chip card: a preset name (``"prime-rram-40nm"``) or a YAML file path."""
    s = str(name_or_path)
    path = Path(s) if (s.endswith((".yaml", ".yml")) or _exists(s)) else preset_path(s)
    text = read_text(path, "chip card", ConfigError, max_bytes=MAX_CARD_BYTES)
    data = load_yaml(text, str(path), ConfigError, max_nodes=MAX_CARD_NODES,
                     max_chars=MAX_CARD_CHARS)
    return chip_from_dict(data, source=str(path))


def _exists(s: str) -> bool:
    try:
        return Path(s).exists()
    except (OSError, ValueError):  # a name too long or holding a NUL is no file
        return False


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
    except RecursionError:  # a self-referencing dict handed to the Python API
        raise ConfigError(f"{source}: the card refers to itself (a cycle)") from None


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    # a misspelt key also shows up as "missing" for the right one: report the typo first
    errors.sort(key=lambda e: e["type"] not in ("unexpected_keyword_argument", "extra_forbidden"))
    e = errors[0]
    loc = _loc(e)
    path = ".".join(show_key(p) for p in loc) or "(top level)"
    if e["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1])[:100], valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f" (valid keys: {', '.join(valid)})"
        if close:  # the misspelt key's "missing" twin is the same problem
            errors = [x for x in errors if not (x["type"] == "missing"
                                                and _loc(x) == loc[:-1] + [close[0]])]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        return f"{path}: unknown key{hint}{more}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if e["type"] == "missing":
        return f"{path}: required field is missing{more}"
    if e["type"] == "invalid_key" or (loc and loc[-1] == "[key]"):
        if loc and loc[-1] == "[key]":  # loc is [..., key, "[key]"]
            path = ".".join(show_key(p) for p in loc[:-2]) or "(top level)"
        return f"{path}: keys must be strings (got the key {short(e.get('input'), 60)}){more}"
    msg = " ".join(str(e["msg"]).removeprefix("Value error, ").split())[:300]
    got = e.get("input")
    # a value error's text shows the value already; a mapping is named by its path
    shown = "" if isinstance(got, dict) or e["type"] == "value_error" else f" (got {short(got)})"
    why = ""
    if e["type"] in _BOUND_ERRORS:  # say what the bound is for
        doc = _description_at(loc)
        why = f"; {doc}" if doc else ""
    return f"{path}: {msg}{shown}{why}{more}"


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                 "too_long", "too_short", "string_too_long", "string_too_short")


def _loc(e: dict[str, Any]) -> list[Any]:
    return [p if isinstance(p, (str, int)) else str(p) for p in e["loc"]
            if not str(p).startswith(("function-", "lax-", "nullable"))]


def _description_at(loc: list[Any]) -> str:
    """The ``description`` of the field at ``loc`` (its meaning, range and reason)."""
    if not loc or not isinstance(loc[-1], str):
        return ""
    try:
        cls = _class_at([str(p) for p in loc[:-1]])
        if cls is None:
            return ""
        names = {f.name: f for f in dataclasses.fields(cls)}
        if loc[-1] not in names:
            return ""
        hint = typing.get_type_hints(cls, include_extras=True)[loc[-1]]
        for info in (names[loc[-1]].default, *getattr(hint, "__metadata__", ())):
            doc = getattr(info, "description", None)
            if isinstance(doc, str) and doc:
                return " ".join(doc.split())
    except (TypeError, KeyError, AttributeError, NameError):
        return ""
    return ""


def _class_at(loc: list[str]) -> Any:
    cls: Any = ChipCard
    for name in loc:
        hints = typing.get_type_hints(cls, include_extras=True)
        t = hints.get(name)
        while t is not None and not dataclasses.is_dataclass(t):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            t = args[0] if args else None
        if t is None:
            return None
        cls = t
    return cls


def _fields_at(loc: list[Any]) -> list[str]:
    cls = _class_at([str(p) for p in loc])
    return [] if cls is None else [f.name for f in dataclasses.fields(cls)]


def dump_chip(card: ChipCard) -> str:
    """YAML text of ``card`` that :func:`load_chip` reads back to an equal card."""
    return yaml.safe_dump(card.to_dict(), sort_keys=False, allow_unicode=True)
