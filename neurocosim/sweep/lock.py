"""Process safety of a sweep: the run folder's exclusive lock, and pool workers that die
with the sweep.

The lock
    While a sweep writes ``OUT`` it holds an exclusive ``flock`` (via the ``filelock``
    package) on ``OUT/.neurocosim-tmp-sweep.lock`` and writes its pid beside it; a second
    sweep on the same folder is refused at once naming that pid. The kernel releases a
    ``flock`` when its holder dies, so a killed sweep (even ``SIGKILL``) never leaves a
    stale lock. The lock file stays (deleting a lock file others may hold breaks mutual
    exclusion).

Workers
    Local pool workers set ``PR_SET_PDEATHSIG`` (Linux) and run a daemon thread polling
    their parent, so after a ``SIGKILL`` of the sweep they exit within a second.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputError
from .table import one_line

__all__ = ["sweep_lock", "worker_init", "LOCK_NAME"]

#: the lock file; the ``.neurocosim-tmp-`` prefix keeps it out of the folder checks
LOCK_NAME = ".neurocosim-tmp-sweep.lock"
_PID_NAME = ".neurocosim-tmp-sweep.pid"
_HELD: dict[str, list] = {}  # resolved folder -> [lock, depth]
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def sweep_lock(out: str | Path) -> Iterator[Path]:
    """Hold the folder's sweep lock (re-entrant in one process); refuse if another
    process holds it (:class:`~neurocosim.errors.OutputError` naming its pid)."""
    import inspect
    import warnings

    from filelock import FileLock, Timeout

    out = Path(out)
    key = str(out.resolve())
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield out
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    kw: dict[str, Any] = {"timeout": 0}
    params = inspect.signature(FileLock.__init__).parameters
    if "fallback_to_soft" in params:  # a soft (existence) lock would outlive a SIGKILL
        kw["fallback_to_soft"] = False
    if "thread_local" in params:
        kw["thread_local"] = False
    lock = FileLock(str(out / LOCK_NAME), **kw)
    acquired = False
    try:
        lock.acquire()
        acquired = True
    except Timeout:
        pid = "?"
        with contextlib.suppress(OSError, ValueError):
            pid = str(int((out / _PID_NAME).read_text()[:20].strip()))
        raise OutputError(f"another sweep (pid {pid}) is writing {out}; wait for it to finish "
                          "(or stop it, then continue with --resume), or choose another "
                          "folder with -o") from None
    except (OSError, NotImplementedError) as exc:
        import errno

        if isinstance(exc, OSError) and exc.errno not in (errno.ENOSYS, errno.EOPNOTSUPP,
                                                          errno.ENOLCK):
            raise OutputError(f"{out}: cannot lock the folder for the sweep: "
                              f"{exc.strerror or one_line(exc, 120)}") from None
        # a file system without flock (some network mounts): run, but say so
        warnings.warn(f"{out}: the file system cannot lock the folder; make sure no other "
                      "sweep writes it at the same time", stacklevel=3)
    try:
        if acquired:  # (not atomic_path: its temporary name would not be ignored)
            with contextlib.suppress(OSError):
                fd = os.open(out / _PID_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, f"{os.getpid()}\n".encode())
                finally:
                    os.close(fd)
        with _HELD_GUARD:
            _HELD[key] = [lock, 1]
        yield out
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        if acquired:
            lock.release()


# -- workers ---------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(1)


def worker_init(parent: int) -> None:
    """Pool initializer: end this worker when the sweep process is gone (killed too)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="neurocosim-parent-watch").start()
