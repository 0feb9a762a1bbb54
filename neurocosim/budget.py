"""Memory and time budgets: every input is checked against what it implies *before* work.

A flag such as ``--steps 1000000000`` or a NIR file declaring a 10¹⁰-neuron layer must
end in one line saying what it would need, not in a ``MemoryError`` after minutes (or a
run that never ends). Callers estimate the bytes or the elementary operations of the
work they are about to start and call :func:`check_memory` / :func:`check_time`.

Limits (environment variables, read at each check):

* ``NEUROCOSIM_MAX_MEMORY`` — bytes one command may allocate for its arrays, with a unit
  (``"8 GiB"``, ``"512 MiB"``); default 80 % of the machine's physical memory;
* ``NEUROCOSIM_MAX_HOURS`` — estimated run time one command may take; default 24.

Time is estimated from a deliberately *optimistic* throughput (:data:`OPS_PER_SECOND`),
so a refused run would certainly have taken longer than the limit.
"""

from __future__ import annotations

import os
import re

from .errors import BudgetError, ConfigError

__all__ = ["memory_limit", "time_limit", "check_memory", "check_time", "format_bytes",
           "OPS_PER_SECOND"]

#: elementary operations (synaptic adds, neuron updates) per second on one core, an
#: upper bound on every engine here, so time estimates are lower bounds
OPS_PER_SECOND = 2e10

_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def format_bytes(n: float) -> str:
    """``9.3e12`` → ``"8.46 TiB"``."""
    if not n < float("inf"):  # nan, inf
        return "an unbounded amount"
    for unit, f in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30),
                    ("MiB", 2**20), ("KiB", 2**10)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{int(n)} B"


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def memory_limit() -> int:
    """Bytes one command may allocate (``NEUROCOSIM_MAX_MEMORY`` or 80 % of RAM)."""
    text = os.environ.get("NEUROCOSIM_MAX_MEMORY", "").strip()
    if not text:
        return int(0.8 * _physical_memory())
    m = re.fullmatch(r"([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ConfigError(f"NEUROCOSIM_MAX_MEMORY={text[:40]!r}: give bytes with a unit, "
                          "e.g. '8 GiB'")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def time_limit() -> float:
    """Seconds one command may run (``NEUROCOSIM_MAX_HOURS``, default 24 h)."""
    text = os.environ.get("NEUROCOSIM_MAX_HOURS", "").strip()
    try:
        hours = float(text) if text else 24.0
    except ValueError:
        raise ConfigError(f"NEUROCOSIM_MAX_HOURS={text[:40]!r}: give a number of hours") from None
    if not hours > 0:
        raise ConfigError(f"NEUROCOSIM_MAX_HOURS={text[:40]!r}: must be > 0")
    return hours * 3600.0


def check_memory(nbytes: float, what: str, fix: str = "") -> None:
    """Refuse work that needs more than :func:`memory_limit` bytes.

    ``what`` says what is allocated (``"the membrane record of 1e9 steps x 450 samples"``)."""
    limit = memory_limit()
    if not nbytes <= limit:  # also catches nan/inf
        tail = f"; {fix}" if fix else ""
        raise BudgetError(f"{what} needs {format_bytes(nbytes)}, over the "
                          f"{format_bytes(limit)} allowed (NEUROCOSIM_MAX_MEMORY){tail}")


def check_time(ops: float, what: str, fix: str = "", rate: float = OPS_PER_SECOND) -> None:
    """Refuse work whose ``ops`` operations, at ``rate`` per second (an upper bound on the
    engine's speed), exceed :func:`time_limit`."""
    seconds = ops / rate
    limit = time_limit()
    if not seconds <= limit:
        tail = f"; {fix}" if fix else ""
        raise BudgetError(f"{what} needs at least {_fmt_s(seconds)} ({ops:.3g} operations), "
                          f"over the {_fmt_s(limit)} allowed (NEUROCOSIM_MAX_HOURS){tail}")


def _fmt_s(s: float) -> str:
    if s != s or s == float("inf"):
        return "forever"
    for unit, f in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s:.3g} s"


def check_simulation(*, engine: str, n_samples: int, steps: int, batch: int, input_size: int,
                     neurons: int, synapses: int, recorded: int = 0, per_sample: int = 0) -> None:
    """Refuse a simulation whose arrays or run time exceed the limits, before it starts.

    ``recorded``: values recorded per sample and step (probes); ``per_sample``: values
    kept per sample (counters, outputs). Memory: input frames of one batch (float64),
    probes and per-sample results of all samples. Time: one operation per synaptic
    multiply-accumulate (``synapses``: a convolution's kernel counted at every output
    position) and neuron per sample and step (a lower bound for every engine here)."""
    n, steps, batch = int(n_samples), int(steps), max(1, min(int(batch), int(n_samples)))
    fix = "use fewer --steps or samples"
    nbytes = 8.0 * (batch * steps * input_size * 2 + n * steps * recorded + n * per_sample)
    check_memory(nbytes, f"{engine}: {n} samples x {steps} steps ({input_size} inputs, "
                         f"{recorded} recorded values per step)", fix)
    check_time(float(n) * steps * (synapses + neurons + input_size),
               f"{engine}: {n} samples x {steps} steps of {neurons} neurons and "
               f"{synapses} synaptic operations a step", fix)
