"""``neurocosim info``, ``chips``, ``chip show``, ``zoo list|show``: describe a model or a card."""

from __future__ import annotations

from ._common import chip, out_file, write_json


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


def run_zoo(args) -> int:
    from .. import zoo
    from ..outputs import zoo_text

    if args.zoo_command == "list":
        print(zoo_text([{"name": n, "spec": zoo.spec(n)} for n in zoo.names()]))
        return 0
    out_file(args.json, args, "--json")
    info = zoo.info(args.name)
    print(zoo_text([info], detail=True))
    if args.json:
        write_json(args.json, info)
        print(f"wrote {args.json}")
    return 0
