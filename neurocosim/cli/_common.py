"""What every command shares: argument types, output checks, JSON writing (the input
checks themselves are :mod:`neurocosim.inputs`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from .. import inputs
from ..errors import short

FORCE_HELP = ("write even where the output holds files neurocosim did not write "
              "(those it would overwrite are replaced; nothing else is touched)")


def progress(args) -> bool: return not getattr(args, "quiet", False) and sys.stderr.isatty()  # noqa: E704,E501


def out_file(path: str | None, args, option: str = "-o") -> None:
    """Refuse an output file before any work: exists (without --force), folder, under a file."""
    from .._atomic import check_output_file

    if path is not None:
        check_output_file(path, force=getattr(args, "force", False), option=option)


def out_dir(path: str | None, args) -> None:
    """Refuse an output folder of user files (without --force) before any work."""
    from .._atomic import check_output_dir

    if path:
        check_output_dir(path, force=getattr(args, "force", False))


def write_json(path: str | Path, payload: dict) -> None:
    from .._atomic import atomic_path

    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


@contextlib.contextmanager
def dask_client(address: str | None):  # --dask ADDRESS|local: the sweep's client, then closed
    from ..sweep.pool import close_executor, open_executor

    kind = inputs.sweep_executor(address, None) if address else None
    client, cluster = open_executor(kind, None) if kind else (None, None)
    try:
        yield client
    finally:
        if kind:
            close_executor(client, cluster, kind, True)


def check_run(net, n_samples: int, args) -> None:
    inputs.check_run(net, n_samples, args.steps, batch=getattr(args, "batch_size", 256),
                     engine="hwsim" if getattr(args, "chip", None) else "reference engine")


def chip(args, name: str | None = None):
    """The card named by --chip (or ``name``), with the --set KEY=VALUE overrides."""
    return inputs.card(name or args.chip, getattr(args, "set", None))


def _number(text: str, cast, ok, want: str, what: str):
    try:
        v = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {short(text, 40)}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"must be {want}, got {short(text, 40)}")
    return v


def positive_float(t): return _number(t, float, lambda v: 0 < v < 1e300, "> 0 and finite", "a number")  # noqa: E704,E501
def positive_int(t): return _number(t, int, lambda v: v >= 1, ">= 1", "an integer")  # noqa: E704
def non_negative_int(t): return _number(t, int, lambda v: v >= 0, ">= 0", "an integer")  # noqa: E704
def seed(t): return _number(t, int, lambda v: 0 <= v < 2**63, "an integer in 0..2^63-1", "an integer")  # noqa: E704,E501


def within(lo: float, hi: float, cast=float):  # an argument type: a number in [lo, hi]
    return lambda t: _number(t, cast, lambda v: lo <= v <= hi, f"in [{lo:g}, {hi:g}]", "a number")


def threads(text: str) -> int:  # at most the threads Numba may use here
    from ..hwsim.jit import max_threads

    n = max_threads()
    return _number(text, int, lambda v: 1 <= v <= n, f"1..{n} (this machine's threads)", "an integer")
