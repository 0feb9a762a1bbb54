"""What every command shares: output checks, JSON writing (the input checks and the
argument types are :mod:`neurocosim.inputs`)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from .. import inputs

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
