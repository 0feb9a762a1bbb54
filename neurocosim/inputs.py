"""The checks of user inputs that every command shares, in one place: data files with
labels validated against a network, the encoder of a data file, the run budget a data
set implies, a time after programming, a card with ``--set`` overrides. Errors name the
file or flag (one line; see :mod:`neurocosim.errors`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, NeurocosimError, short

__all__ = ["split_for_pruning", "prune_sets", "prune_network", "times_after_programming",
           "about", "labelled_data", "labels_for", "encoder_for", "check_run", "read_time",
           "card", "calibration_inputs", "calibration_encoder", "seeded_encoder",
           "CLI_CALIBRATION", "ChipInputs", "chip_inputs"]

#: how ``simulate`` names the calibration file and the count (the sweep passes its fields)
CLI_CALIBRATION = ("--calibration-data", "--adc-calibration")


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


def labels_for(y, net, n_samples: int, source: str):
    """Labels checked against the network's outputs (never score unvalidated labels)."""
    from .hwsim.encoders import validate_labels

    return None if y is None else validate_labels(y, int(np.prod(net.output_shape)),
                                                  n_samples, source)


def labelled_data(path: str, net):
    """``x`` and validated ``y`` (or None) of a data file for ``net``."""
    from .hwsim.encoders import load_data

    x, y = load_data(path)
    return x, labels_for(y, net, len(x), path)


def encoder_for(kind: str, x, net, rng, source: str, steps: int):
    """The input encoder of a data file; data errors name ``source``."""
    from .hwsim import make_encoder

    with about(source):
        enc = make_encoder(kind, x, net.input_shape, rng)
        if kind == "spikes" and x.shape[1] < steps:
            raise DataError(f"'x' holds {x.shape[1]} steps of spikes, --steps asks for {steps}")
    return enc


def seeded_encoder(kind: str, x, net, seed: int, source: str, steps: int):
    """:func:`encoder_for` drawing from the first stream of ``seed`` (``SeedSequence(seed)
    .spawn(n)[0]``: a run's encoder stream, whatever else it spawns)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return encoder_for(kind, x, net, rng, source, steps)


def check_run(net, n_samples: int, steps: int, *, batch: int = 256, engine: str = "hwsim"):
    """The memory and time a run implies, checked before mapping or simulating."""
    from .budget import check_simulation

    check_simulation(engine=engine, n_samples=n_samples, steps=steps, batch=batch,
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synaptic_ops(), per_sample=int(np.prod(net.output_shape)))


def chip_run_options(flags, *, progress: bool = False):
    """The :class:`~neurocosim.pipeline.ChipRunOptions` of a command's flags (an argparse
    namespace whose names are the fields; ``read_time`` as text, e.g. ``1d``), checked
    before any work: early-stop policy, read time, precision."""
    from dataclasses import fields

    from .hwsim.early_stop import parse_early_stop
    from .pipeline import ChipRunOptions

    given = {f.name: getattr(flags, f.name) for f in fields(ChipRunOptions)
             if getattr(flags, f.name, None) is not None}
    parse_early_stop(given.get("early_stop", "none"))
    if given.get("precision", "float64") not in ("float32", "float64"):
        raise ConfigError(f"--precision {short(given['precision'])}: use float32 or float64")
    return ChipRunOptions(**given | {"read_time": read_time(str(given.get("read_time", 0))),
                                     "progress": progress})


def card_output(path, force: bool) -> None:
    """A card to write (``calibrate -o``): .yaml, and none of its three files in the way."""
    from pathlib import Path

    from ._atomic import check_output_file

    out = Path(path)
    if out.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"-o {short(str(path))}: the card to write must end in .yaml")
    for f in (out, out.with_suffix(".fit.json"), out.with_suffix(".fit.png")):
        check_output_file(f, force=force, option="-o")


def sweep_executor(dask: str | None, workers: int | None) -> str:
    """``local``, ``dask-local`` or ``dask:ADDRESS``; local workers at most the cores here."""
    import os

    executor = "local" if not dask else ("dask-local" if dask == "local" else f"dask:{dask}")
    cores = os.cpu_count() or 1
    if workers and workers > cores and not executor.startswith("dask:"):
        raise ConfigError(f"--workers {workers}: more than the {cores} cores here; "
                          f"use --workers {cores} or fewer")
    return executor


def simulate_flags(flags) -> None:
    """``simulate`` (its argparse namespace): --chip goes with -o, --set, --precision and
    --dask; the reference engine with --json."""
    chip, output, sets, json = flags.chip, flags.output, flags.set, flags.json
    for flag, value in (("--precision", flags.precision), ("--dask", flags.dask)):
        if value and not chip:
            raise ConfigError(f"{flag} is an option of the cycle-level engine: give --chip CARD "
                              "(the reference engine runs here, in float64)")
    if bool(chip) != bool(output):
        raise ConfigError("simulate --chip writes a run folder: give -o RUN/" if chip else
                          "-o/--output needs --chip (the reference engine writes --json)")
    if sets and not chip:
        raise ConfigError("--set changes the card of --chip: give --chip")
    if json and chip:
        raise ConfigError("--json is for the reference engine; with --chip the results are "
                          "in RUN/summary.json")
    if getattr(flags, "calibration_data", None) and not chip:
        raise ConfigError("--calibration-data calibrates the chip of --chip: give --chip (the "
                          "reference engine calibrates nothing)")


def distinct_outputs(**paths) -> None:
    """Two output options (``plot=..., json=...``) must not name the same file."""
    from pathlib import Path

    seen: dict = {}
    for flag, p in paths.items():
        if p:
            key = Path(p).resolve()
            if key in seen:
                raise ConfigError(f"--{seen[key]} and --{flag} name the same file {p}: give "
                                  "two names")
            seen[key] = flag


def read_time(text: str, flag: str = "--read-time") -> float:
    """A finite time after programming, ≥ 0 (``"1d"``, ``"30 s"``)."""
    from .units import parse_duration

    try:
        t = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None
    if not 0 <= t < float("inf"):
        raise ConfigError(f"{flag} {short(text)}: must be a finite time >= 0, e.g. 1d")
    return t


def card(name: str, sets: list[str] | None = None):
    """A chip card (preset or file) with ``--set KEY=VALUE`` overrides applied."""
    from .devices import apply_overrides, load_chip, parse_set

    c = load_chip(name)
    return apply_overrides(c, parse_set(sets), source="--set") if sets else c


def times_after_programming(text: str, flag: str = "--times") -> list[float]:
    """``"1h,1d,30d"`` → seconds: 1 to 16 finite times > 0 (below 30,000 years)."""
    from .units import parse_duration

    try:
        times = [parse_duration(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None
    if not times or len(times) > 16 or not all(0 < t < 1e12 for t in times):
        raise ConfigError(f"{flag} {short(text)}: give 1 to 16 finite times after "
                          "programming, each > 0 and below 30,000 years, e.g. 1h,1d,30d")
    return times


def prune_sets(net, data: str, test: str | None, *, seed: int, steps: int):
    """(train, test) pairs ``(x, y)`` for prune-on-chip: labels required and validated; the
    test set is ``test`` or a stratified 25 % of ``data``."""
    from .hwsim.encoders import load_data

    x, y = load_data(data)
    if y is None:
        raise DataError(f"{data}: labels 'y' are needed to learn a mask")
    y = labels_for(y, net, len(x), data)
    encoder_for("rate", x, net, np.random.default_rng(0), data, steps)  # x fits the network
    if not test:
        x, xte, y, yte = split_for_pruning(x, y, seed, data)
        return (x, y), (xte, yte)
    xte, yte = load_data(test)
    if yte is None:
        raise DataError(f"{test}: labels 'y' are needed to score the pruned chip")
    encoder_for("rate", xte, net, np.random.default_rng(0), test, steps)
    return (x, y), (xte, labels_for(yte, net, len(xte), test))


def prune_network(model: str, *, seed: int, dt: float | None):
    """``random:IN-HIDDEN-OUT`` (PRIME's network, placeholder weights from the seed's
    first stream) or a model file; and whether its weights are random."""
    from .frontends import load_network
    from .training import parse_random_spec, prime_network

    if not str(model).startswith("random:"):
        return load_network(model, dt=dt), False
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[0])
    return prime_network(parse_random_spec(model), rng=rng), True


def split_for_pruning(x: np.ndarray, y: np.ndarray, seed: int, source: str):
    """The 25 % stratified test split used when no test set is given."""
    from sklearn.model_selection import train_test_split

    classes, members = np.unique(y, return_counts=True)
    if members.min() < 2 or len(y) < 2 * len(classes):
        raise DataError(f"{source}: class {int(classes[members.argmin()])} has "
                        f"{int(members.min())} sample(s); the 25 % test split needs at "
                        "least 2 per class: add samples or give --test TEST.npz")
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def calibration_inputs(data: str, x, y, k: int, calibration_data: str | None, *,
                       flags: tuple[str, str] = CLI_CALIBRATION, adc_count: int | None = None):
    """The samples a run scores and the ``k`` that calibrate it, never the same:
    ``(x, y, calibration x, split)``
    (:class:`~neurocosim.calibration.split.CalibrationSplit`); ``k``: see
    :func:`~neurocosim.pipeline.calibration_samples` (0: nothing calibrates, all of
    ``data`` is scored).

    With ``calibration_data``, its first ``k`` samples calibrate and all of ``data`` is
    scored (the same file, or one whose calibration samples all equal scored ones, is
    refused). Without it, the first ``k`` samples of ``data`` are held out to calibrate
    and the rest are scored. ``flags``: the names of the calibration file and of the
    count in messages; ``adc_count``: the count's value (a smaller one is a fix when it
    is what asks for ``k``)."""
    from .calibration.split import CalibrationSplit

    if calibration_data is not None:
        xc, split = _calibration_file(str(data), x, calibration_data, k, flags, adc_count)
        return x, y, xc, split
    if k and len(x) <= k:
        raise DataError(f"{data}: {len(x)} samples, and the first {k} are held out to "
                        f"calibrate the chip ({_why(k, flags, adc_count)}), leaving none to "
                        f"score; give {flags[0]} CAL.npz (e.g. training samples)"
                        + (f" or a smaller {flags[1]}" if k == adc_count else ""))
    split = CalibrationSplit(scored_file=str(data), scored=(k, len(x)),
                             file=str(data) if k else None, samples=(0, k))
    return x[k:], None if y is None else y[k:], x[:k], split


def calibration_encoder(xc, split, net, encoding: str, steps: int, rng, *,
                        flags: tuple[str, str] = CLI_CALIBRATION):
    """The ``encoding`` of the calibration samples ``xc`` (None when there are none);
    errors about a calibration file name its flag and say what to give."""
    if split.n_calibration == 0:
        return None
    with _calibration_errors(flags[0], split.file, split.scored_file) if not split.held_out \
            else contextlib.nullcontext():
        return encoder_for(encoding, xc, net, rng, str(split.file), steps)


def _why(k: int, flags: tuple[str, str], adc_count: int | None) -> str:
    return f"{flags[1]} {k}" if k == adc_count else f"threshold re-balancing uses {k}"


def _calibration_file(data: str, x, path: str, k: int, flags, adc_count):
    """The first ``k`` samples of the calibration file ``path`` and the split."""
    import os

    from .calibration.split import CalibrationSplit, count_identical
    from .hwsim.encoders import load_data

    try:
        same = os.path.samefile(path, data)
    except (OSError, ValueError, TypeError):
        same = False
    if same:
        raise ConfigError(f"{flags[0]} {path}: is the scored data file itself; "
                          "give separate calibration samples (e.g. the training set), or "
                          f"leave {flags[0]} out to hold out the first samples of it")
    with _calibration_errors(flags[0], path, data):
        xc, _ = load_data(path)
    if len(xc) < k:
        raise DataError(f"{flags[0]} {path}: 'x' holds {len(xc)} calibration samples, the "
                        f"run needs {k} ({_why(k, flags, adc_count)}); give at least {k}"
                        + (f" or {flags[1]} {len(xc)}" if k == adc_count else ""))
    xc = xc[:k]
    n_same = count_identical(xc, x)
    if k and n_same == k:
        raise DataError(f"{flags[0]} {path}: all {k} calibration samples in 'x' are also "
                        f"scored samples of {data} (a copy of it?); calibrate on other "
                        "samples, e.g. the training set")
    split = CalibrationSplit(scored_file=data, scored=(0, len(x)), file=str(path),
                             samples=(0, k), identical_to_scored=n_same)
    return xc, split


@contextlib.contextmanager
def _calibration_errors(flag: str, path, data):
    """A data error about the calibration file: named by its flag, with the fix."""
    try:
        yield
    except DataError as exc:
        msg = str(exc)
        msg = msg[len(str(path)):].lstrip(": ") if msg.startswith(str(path)) else msg
        raise DataError(f"{flag} {path}: {msg}; give {flag} a .npz whose 'x' holds "
                        f"calibration samples shaped like those of {data}") from None


@dataclass(frozen=True, kw_only=True)
class ChipInputs:
    """What a run on a chip scores and what calibrates it (:func:`chip_inputs`)."""

    encoder: Any              # the scored samples
    y: Any                    # their labels (or None)
    calibration: Any          # encoder of the calibration samples (None: none needed)
    split: Any                # calibration.split.CalibrationSplit
    seed: int
    seeds: tuple              # encoder, programming, read noise, calibration encoder


def chip_inputs(net, chip, opts, data: tuple, seed: int,
                calibration_data: str | None = None) -> ChipInputs:
    """The checked inputs of ``simulate --chip``; ``data``: ``(path, x, y)``. The chip is
    calibrated on ``calibration_data`` or on a slice held out of ``data`` and never scored
    (:func:`calibration_inputs`). The seed's streams: the encoder, the
    programming, the read noise, the calibration encoder."""
    from .pipeline import calibration_samples

    path, x, y = data
    x, y, xc, split = calibration_inputs(path, x, y, calibration_samples(chip, opts),
                                         calibration_data, adc_count=opts.adc_calibration)
    check_run(net, len(x), opts.steps, batch=opts.batch_size)
    seeds = tuple(np.random.SeedSequence(seed).spawn(4))
    enc = encoder_for(opts.encoding, x, net, np.random.default_rng(seeds[0]), path, opts.steps)
    cal = calibration_encoder(xc, split, net, opts.encoding, opts.steps,
                              np.random.default_rng(seeds[3]))
    return ChipInputs(encoder=enc, y=y, calibration=cal, split=split, seed=seed, seeds=seeds)


# -- argument types of the command line (argparse ``type=``): a bad value is one line ---
def _number(text: str, cast, ok, want: str, what: str):
    import argparse

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
    from .hwsim.jit import max_threads

    n = max_threads()
    return _number(text, int, lambda v: 1 <= v <= n, f"1..{n} (this machine's threads)", "an integer")
