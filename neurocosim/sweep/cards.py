"""The chip cards of a study: each chip its runs use (the study's ``chip``, or the swept
``chip`` values) is loaded, the study's fixed ``card:`` overrides are applied and the
result validated; then every swept card value is applied to each of them, so a bad value
is refused when the study is loaded, not in a worker."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..devices.overrides import apply_overrides, set_path
from ..errors import ConfigError, short
from .runs import is_range
from .validate import Grid, swept_params, text

__all__ = ["study_cards", "chip_id", "is_card_path"]


def is_card_path(spec: str) -> bool:
    return spec.endswith((".yaml", ".yml"))


def chip_id(spec: str, base: Path) -> str:
    """A chip spec as the study hash records it (a card file as its absolute path)."""
    if is_card_path(spec):
        q = Path(spec)
        return str((q if q.is_absolute() else base / q).resolve())
    return spec


def study_cards(chip: Any, card: Mapping[str, Any], grid: Grid, random: dict | None,
                base: Path, source: str) -> tuple[str, dict[str, Any]]:
    """``(chip, cards)``: the study's chip spec and the validated card dict (fixed card
    overrides applied) of every chip spec used, by spec."""
    chip_str = text(chip, f"{source}: chip", "a chip preset or .yaml card")
    cards: dict[str, Any] = {chip_str: _base_card(chip_str, base, f"{source}: chip", card,
                                                  source)}
    used = [chip_str]  # the chips runs use: the grid's or random's 'chip' values replace it
    swept = [(f"{source}: {where}", key, vals) for where, key, vals in swept_params(grid, random)]
    for where, key, vals in swept:
        if key != "chip":
            continue
        if is_range(vals):
            raise ConfigError(f"{where}: give a list of chip presets or .yaml cards")
        used = []
        for i, spec in enumerate(vals):
            name = text(spec, f"{where}[{i}]", "a chip preset or .yaml card")
            if name not in cards:
                cards[name] = _base_card(name, base, f"{where}[{i}]", card, source)
            used.append(name)
    for where, key, vals in swept:
        if key == "chip" or key.startswith("simulation."):
            continue
        for c in used:
            for v in vals:
                at = f"{where} = {short(v)}" + (f" (chip {c})" if len(used) > 1 else "")
                apply_overrides(cards[c], {key: v}, source=at)
    return chip_str, cards


def _base_card(spec: str, base: Path, where: str, overrides: Mapping[str, Any],
               source: str) -> dict:
    """The validated card dict of a chip spec with the study's fixed overrides applied."""
    from .._yaml import load_yaml, read_text
    from ..devices import chip_from_dict, load_chip

    try:
        if "\x00" in spec or "\n" in spec:
            raise ConfigError(f"{short(spec)} is not a chip preset name or a file path")
        if is_card_path(spec):
            q = Path(spec)
            q = q if q.is_absolute() else base / q
            if not q.is_file():
                raise ConfigError(f"no such chip card file {short(spec)} (looked for "
                                  f"{short(str(q))}; paths are relative to the study file)")
            data = load_yaml(read_text(q, "chip card", ConfigError), str(q), ConfigError)
            card = chip_from_dict(data, source=str(q)).to_dict()
        else:
            card = load_chip(spec).to_dict()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for k, v in overrides.items():
        set_path(card, k, copy.deepcopy(v), f"{source}: card: {k}")
    chip_from_dict(card, source=f"{source}: card (on chip {spec})")
    return card
