"""What every command shares: argument types, output checks, data loading with the
file named in errors, JSON writing. Presentation only: no domain logic here."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, NeurocosimError, short

FORCE_HELP = ("write even where the output holds files neurocosim did not write "
              "(those it would overwrite are replaced; nothing else is touched)")


def progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


@contextlib.contextmanager
def about(path, *kinds: type[NeurocosimError]):
    """Prefix errors raised while using the file ``path`` with its name (once)."""
    catch = tuple(kinds) or (DataError,)
    try:
        yield
    except catch as exc:
        if path and not str(exc).startswith(str(path)):
            raise type(exc)(f"{path}: {exc}") from None
        raise


def out_file(path: str | None, args: argparse.Namespace, option: str = "-o") -> None:
    """Refuse an output file before any work: exists (without --force), folder, under a file."""
    if path:
        from .._atomic import check_output_file

        check_output_file(path, force=getattr(args, "force", False), option=option)


def out_dir(path: str | None, args: argparse.Namespace) -> None:
    """Refuse an output folder of user files (without --force) before any work."""
    if path:
        from .._atomic import check_output_dir

        check_output_dir(path, force=getattr(args, "force", False))


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    from .._atomic import atomic_path

    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def load_data(path: str):
    from ..hwsim.encoders import load_data as load

    return load(path)


def labels(y, net, n_samples: int, source: str):
    """Labels checked against the network's outputs (never score unvalidated labels)."""
    if y is None:
        return None
    from ..hwsim.encoders import validate_labels

    return validate_labels(y, int(np.prod(net.output_shape)), n_samples, source)


def check_run(net, n_samples: int, args: argparse.Namespace) -> None:
    """The memory and time a run implies, checked before mapping or simulating."""
    from ..budget import check_simulation

    check_simulation(engine="hwsim" if getattr(args, "chip", None) else "reference engine",
                     n_samples=n_samples, steps=args.steps,
                     batch=getattr(args, "batch_size", 256),
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synapses(), per_sample=int(np.prod(net.output_shape)))


def encoder(kind: str, x, net, rng, source: str, steps: int):
    """The input encoder; data errors name ``source``."""
    from ..hwsim import make_encoder

    with about(source):
        enc = make_encoder(kind, x, net.input_shape, rng)
        if kind == "spikes" and x.shape[1] < steps:
            raise DataError(f"'x' holds {x.shape[1]} steps of spikes, --steps asks for {steps}")
    return enc


def read_time(text: str) -> float:
    from ..units import parse_duration

    try:
        t = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--read-time: {exc}") from None
    if not 0 <= t < float("inf"):
        raise ConfigError(f"--read-time {short(text)}: must be a finite time >= 0, e.g. 1d")
    return t


def chip(args: argparse.Namespace, name: str | None = None):
    """The card named by --chip (or ``name``), with the --set KEY=VALUE overrides."""
    from ..devices import apply_overrides, load_chip, parse_set

    card = load_chip(name or args.chip)
    sets = getattr(args, "set", None) or []
    return apply_overrides(card, parse_set(sets), source="--set") if sets else card


# -- argument types ------------------------------------------------------------------------
def _number(text: str, cast, lo, hi, what: str):
    try:
        v = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {short(text, 40)}") from None
    if not lo(v):
        raise argparse.ArgumentTypeError(f"must be {hi}, got {short(text, 40)}")
    return v


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "> 0", "a number")


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, ">= 1", "an integer")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, ">= 0", "an integer")


def seed(text: str) -> int:
    return _number(text, int, lambda v: 0 <= v < 2**63, "an integer in 0..2^63-1", "an integer")


def threads(text: str) -> int:
    from ..hwsim.jit import max_threads

    v = positive_int(text)
    if v > max_threads():
        raise argparse.ArgumentTypeError(f"{v} is more than this machine's {max_threads()} "
                                         f"threads; use 1..{max_threads()}")
    return v
