"""Where a sweep's runs execute: a local process pool (default) or a ``dask.distributed``
cluster. Runs are submitted a few at a time (never the whole study at once) and each
finished run is appended to the results table as one complete line (a single ``write`` on
a file opened for appending, then ``fsync``). An exception in a worker comes back as a
one-line error record and is raised here as one line: a
:class:`~neurocosim.errors.NeurocosimError` as its own class, anything else as
:class:`SweepRunError` (a bug: the CLI exits 3)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import errors as _errors
from ..errors import ConfigError, NeurocosimError, SimulationError, short
from .lock import worker_init
from .runs import RunSpec
from .study import Study
from .table import line, one_line, row

__all__ = ["SweepRunError", "raise_remote", "run_pending"]


class SweepRunError(RuntimeError):
    """An unexpected exception in a sweep run (a bug), reduced to one line."""


def raise_remote(err: dict) -> None:
    """Raise the error record a worker returned (see ``runner._run_guarded``)."""
    if err.get("ours"):
        cls = getattr(_errors, str(err.get("class")), None)
        if not (isinstance(cls, type) and issubclass(cls, NeurocosimError)):
            cls = NeurocosimError
        raise cls(err["message"])
    raise SweepRunError(err["message"])


def open_executor(kind: str, workers: int | None):
    """(pool, cluster) for ``kind``: ``local`` (processes), ``dask-local`` (a LocalCluster
    of one-thread workers, its dashboard on a free port) or ``dask:ADDRESS``; close with
    :func:`close_executor`."""
    if kind == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                   mp_context=mp.get_context("spawn"),
                                   initializer=worker_init, initargs=(os.getpid(),)), None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--dask needs dask.distributed: pip install 'neurocosim[dask]'") from None

    if kind == "dask-local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=":0")
        return Client(cluster), cluster
    address = kind.removeprefix("dask:")
    try:
        return Client(address, timeout="10s"), None
    except (OSError, ValueError, TypeError, TimeoutError, MemoryError) as exc:
        raise ConfigError(f"--dask {short(address)}: cannot reach a dask.distributed "
                          f"scheduler there ({type(exc).__name__}: {short(str(exc), 80)}); "
                          "give tcp://HOST:PORT of a running scheduler, or 'local'") from None


def _waiter(executor: str):
    """``(wait_any, FIRST_COMPLETED)`` of the executor's kind of futures."""
    if executor == "local":
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_any

        return wait_any, FIRST_COMPLETED
    from distributed import wait as dask_wait

    def wait_any(fs, return_when):
        return dask_wait(list(fs), return_when=return_when)

    return wait_any, "FIRST_COMPLETED"


def close_executor(pool, cluster, executor: str, ok: bool) -> None:
    if executor != "local":
        with contextlib.suppress(Exception):
            pool.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        return
    if ok:
        pool.shutdown(wait=True)
        return
    # an error or an interrupt: do not wait for the runs in flight (they are not recorded)
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_pending(study: Study, table: Path, pending: Iterator[RunSpec], n: int, done: dict,
                task: Callable, payload: dict, executor: str, workers: int | None,
                progress: bool) -> None:
    """Run ``n`` runs from ``pending`` as ``task(payload, index, params, seed)``, appending
    each finished run's row to ``table`` and to ``done`` (by run_id)."""
    n_workers = min(workers or os.cpu_count() or 1, n)
    pool, cluster = open_executor(executor, n_workers)
    wait_any, first_completed = _waiter(executor)
    window = max(2 * n_workers, n_workers + 2)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=study.name, unit="run")
    ok = False
    fd = os.open(table, os.O_WRONLY | os.O_APPEND)
    try:
        inflight: set = set()
        specs: dict[int, RunSpec] = {}
        exhausted = False
        while True:
            while not exhausted and len(inflight) < window:
                spec = next(pending, None)
                if spec is None:
                    exhausted = True
                    break
                specs[spec.index] = spec
                inflight.add(pool.submit(task, payload, spec.index, dict(spec.params),
                                         spec.seed))
            if not inflight:
                break
            finished, not_done = wait_any(inflight, return_when=first_completed)
            inflight = set(not_done)
            for fut in finished:
                result = _result(fut, executor)
                if "error" in result:
                    raise_remote(result["error"])
                spec = specs.pop(result["index"])
                fields = row(study, spec, result)
                os.write(fd, line(fields).encode())  # one complete line per finished run
                os.fsync(fd)
                done[spec.run_id] = fields
                if bar is not None:
                    bar.update(1)
        ok = True
    finally:
        os.close(fd)
        if bar is not None:
            bar.close()
        close_executor(pool, cluster, executor, ok)


def _result(fut, executor: str) -> dict:
    try:
        return fut.result()
    except NeurocosimError as exc:  # raised outside run_one (e.g. unpicklable arguments)
        raise type(exc)(one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001
        name = type(exc).__name__
        if name in ("BrokenProcessPool", "KilledWorker"):
            raise SimulationError("a sweep worker process died abruptly (killed, or out of "
                                  "memory); continue with --resume, perhaps with fewer "
                                  "--workers") from None
        raise SweepRunError(f"sweep executor '{executor}': {name}: {one_line(exc, 300)}") \
            from None
