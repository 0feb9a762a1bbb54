"""``neurocosim`` command line: the parser (``parser.py``) and one small module per
command that parses, calls the API, formats and writes — no domain logic.

Exit status: 0 ok; 2 bad input (one line naming the file, the field and the fix);
3 internal error (a bug: one line saying where it happened); 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import NeurocosimError
from . import calibrate, convert, deploy, device, energy, info, mapping, prune, simulate, sweep
from .parser import build_parser as _build

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = {"info": info.run, "simulate": simulate.run, "convert": convert.run,
            "chips": info.run_chips, "chip show": info.run_chip_show, "map": mapping.run,
            "energy": energy.run, "deploy": deploy.run, "sweep": sweep.run,
            "calibrate": calibrate.run, "prune": prune.run, "device": device.run}


def build_parser():
    return _build(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one command (see the module docstring for the exit status)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeurocosimError as exc:
        print(f"neurocosim: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:  # a path the user gave that a loader did not check
        print(f"neurocosim: error: {exc.filename}: no such file or folder", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurocosim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - anything else is our bug
        print(_bug_line(exc), file=sys.stderr)
        return 3


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 15] + "... (cut)"


def _bug_line(exc: BaseException) -> str:
    """One line for an unexpected exception: its type, message and innermost frame."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = (f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})"
             if frames else "")
    return (f"neurocosim: internal error (this is a bug in neurocosim; please report it with "
            f"the command line): {type(exc).__name__}: {_one_line(str(exc), 300)}{where}")
