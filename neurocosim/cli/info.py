"""``neurocosim info``, ``chips`` and ``chip show``: describe a model or a card."""

from __future__ import annotations

from ._common import chip


def run(args) -> int:
    from ..frontends import load_network
    from ..ir.describe import describe_network

    print(describe_network(load_network(args.model, dt=args.dt)))
    return 0


def run_chips(args) -> int:
    from ..devices.describe import describe_presets

    print(describe_presets())
    return 0


def run_chip_show(args) -> int:
    from ..devices import dump_chip
    from ..devices.describe import describe_card

    card = chip(args, args.name)
    print(dump_chip(card), end="") if args.yaml else print(describe_card(card))
    return 0
