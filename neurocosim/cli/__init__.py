"""``neurocosim`` command line: the parser and one small module per command that parses,
calls the API, formats and writes (no domain logic). Exit status: 0 ok; 2 bad input (one
line naming the file, the field and the fix); 3 internal error (a bug); 130 interrupted."""

from __future__ import annotations

import os
import sys

from ..errors import NeurocosimError, bug_line, one_line
from . import calibrate, convert, deploy, device, energy, info, mapping, prune, simulate, sweep
from .parser import build_parser as _build

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = {"info": info.run, "simulate": simulate.run, "convert": convert.run,
            "chips": info.run_chips, "chip show": info.run_chip_show, "map": mapping.run,
            "energy": energy.run, "deploy": deploy.run, "sweep": sweep.run,
            "calibrate": calibrate.run, "prune": prune.run, "device": device.run, "zoo": info.run_zoo}


def build_parser():
    return _build(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one command (see the module docstring for the exit status)."""
    for stream in (sys.stdout, sys.stderr):  # a path the terminal cannot show: escaped
        getattr(stream, "reconfigure", lambda **_: None)(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeurocosimError as exc:
        print(f"neurocosim: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurocosim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - anything else is our bug
        print(bug_line(exc), file=sys.stderr)
        return 3
