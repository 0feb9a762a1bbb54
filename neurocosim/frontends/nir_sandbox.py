"""Read the ``node`` group of a NIR (HDF5) file in a sandboxed child process.

The HDF5 library itself is not safe on hostile files (crafted or corrupt files make it
loop for ever or crash), so the file's ``node`` group is read in a forked child process
with an address-space cap and a deadline (:data:`READ_SECONDS` plus
:data:`READ_SECONDS_PER_BYTE` per byte of file); the child hands back plain arrays and
strings (no pickle). Every dataset's declared size is checked against the memory budget
(:func:`neurocosim.budget.check_memory`) before it is read; links other than hard links,
nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_OBJECTS` objects are refused.

:mod:`neurocosim.frontends.nir_io` turns the tree into a network (and re-exports
:func:`read_nir_tree`, :data:`HDF5_LOCK` and the limits; patch them here).
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import struct
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..budget import check_memory, memory_limit
from ..errors import BudgetError, ModelError, NeurocosimError
from ..ir.nodes import describe

__all__ = ["read_nir_tree", "HDF5_LOCK", "READ_SECONDS", "READ_SECONDS_PER_BYTE", "MAX_DEPTH",
           "MAX_OBJECTS"]

#: seconds the HDF5 structure of a file may take to read, plus READ_SECONDS_PER_BYTE
READ_SECONDS = 10.0
#: 20 MB/s: far below what gzip'd HDF5 reads at, so a valid file never hits the deadline
READ_SECONDS_PER_BYTE = 1 / 20e6
#: deepest group nesting under ``node`` (a NIR graph needs 4: nodes/NAME/metadata/KEY)
MAX_DEPTH = 8
#: most groups and datasets under ``node``
MAX_OBJECTS = 100_000
#: address space the reading child may add to what it inherits, beyond the memory budget
_CHILD_SLACK = 256 << 20
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: held by every use of h5py in this process and around the fork: a child forked while
#: another thread is inside h5py would inherit h5py's lock held, and hang
HDF5_LOCK = threading.Lock()


def _is_hdf5(path: Path) -> bool:
    """Whether ``path`` holds the HDF5 signature where a superblock may start
    (offset 0, 512, 1024, 2048, ...)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        off = 0
        while off + 8 <= size:
            fh.seek(off)
            if fh.read(8) == _HDF5_SIGNATURE:
                return True
            off = 512 if off == 0 else 2 * off
    return False


def _tree_payload(path: Path) -> bytes:
    """The ``node`` group of an HDF5 file as a stream of length-prefixed JSON headers and
    raw array bytes (see :func:`_parse_payload`). Raises ModelError/BudgetError."""
    import h5py

    out: list[bytes] = []
    total = 0.0  # bytes the datasets need once read (as float64 for numbers)

    def emit(header: dict, data: bytes = b"") -> None:
        h = json.dumps(header).encode()
        out.append(struct.pack("<IQ", len(h), len(data)))
        out.append(h)
        out.append(data)

    with h5py.File(path, "r") as f:
        link = f.get("node", getlink=True)
        if link is None:
            raise ModelError(f"{path}: not a NIR file (an HDF5 file without a 'node' group)")
        if not isinstance(link, h5py.HardLink):
            raise ModelError(f"{path}: 'node' is a {type(link).__name__}; NIR files hold no links")
        root = f["node"]
        if not isinstance(root, h5py.Group):
            raise ModelError(f"{path}: not a NIR file ('node' is not a group)")
        stack: list[tuple[tuple[str, ...], Any]] = [((), root)]
        count = 0
        while stack:
            parts, group = stack.pop()
            emit({"p": list(parts), "g": 1})
            for key in group.keys():
                count += 1
                where = "/".join(("node",) + parts + (key,))
                if count > MAX_OBJECTS:
                    raise ModelError(f"{path}: more than {MAX_OBJECTS} groups and datasets "
                                     "under 'node'; not a NIR graph")
                link = group.get(key, getlink=True)
                if link is None:
                    raise ModelError(f"{path}: {describe(where)} cannot be read (a corrupt file)")
                if not isinstance(link, h5py.HardLink):
                    raise ModelError(f"{path}: {describe(where)} is a {type(link).__name__}; NIR "
                                     "files hold no links (a link can make the file endless)")
                obj = group[key]
                if isinstance(obj, h5py.Group):
                    if len(parts) + 1 > MAX_DEPTH:
                        raise ModelError(f"{path}: groups nested deeper than {MAX_DEPTH} levels "
                                         f"at {describe(where)}; not a NIR graph")
                    stack.append((parts + (key,), obj))
                    continue
                if not isinstance(obj, h5py.Dataset):
                    raise ModelError(f"{path}: {describe(where)} is neither a group nor a dataset")
                total = _emit_dataset(path, where, parts + (key,), obj, total, emit)
    return b"".join(out)


def _emit_dataset(path, where, parts, ds, total, emit) -> float:
    import h5py

    shape, dtype = ds.shape, ds.dtype
    if shape is None:  # an HDF5 "empty" dataset
        emit({"p": list(parts), "e": 1})
        return total
    count = math.prod(shape)
    string = h5py.check_string_dtype(dtype)
    simple = dtype.fields is None and dtype.subdtype is None
    if string is None and not (simple and dtype.kind in "biufc"):
        raise ModelError(f"{path}: dataset {describe(where)} has an HDF5 type NIR does not use "
                         f"({describe(str(dtype))})")
    total += float(count) * max(8, dtype.itemsize)
    check_memory(total, f"{path}: dataset {describe(where)} of shape {describe(shape)} (with the "
                 "datasets read before it)", "the file declares arrays far larger than a "
                 "network it can hold; check the file")
    value = ds[()]
    if string is not None:
        flat = np.asarray(value, dtype=object).ravel().tolist()
        text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
        emit({"p": list(parts), "t": text, "s": list(shape)})
        return total
    arr = np.ascontiguousarray(np.asarray(value))
    emit({"p": list(parts), "d": arr.dtype.str, "s": list(arr.shape)}, arr.tobytes())
    return total


def _parse_payload(path: Path, payload: bytes | memoryview) -> dict[str, Any]:
    """Rebuild the nested dict (groups as dicts, numbers as arrays, strings as ``str``
    or object arrays of ``str``) from :func:`_tree_payload`'s stream."""
    try:
        return _parse_payload1(path, memoryview(payload))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error):
        raise ModelError(f"{path}: cannot read as a NIR (HDF5) file: the reader returned a "
                         "malformed result") from None


def _parse_payload1(path: Path, payload: memoryview) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    pos, n = 0, len(payload)
    bad = ModelError(f"{path}: the HDF5 reader returned a malformed result")
    while pos < n:
        if pos + 12 > n:
            raise bad
        hlen, dlen = struct.unpack_from("<IQ", payload, pos)
        pos += 12
        if pos + hlen + dlen > n:
            raise bad
        head = json.loads(bytes(payload[pos:pos + hlen]))
        pos += hlen
        data = payload[pos:pos + dlen]
        pos += dlen
        *parents, last = head["p"] or [None]
        node = tree
        for key in parents:
            node = node[key]
        if "g" in head:
            if last is not None:
                node[last] = {}
            continue
        shape = tuple(head.get("s", ()))
        if "e" in head:
            value: Any = np.zeros(0)
        elif "t" in head:
            text = head["t"]
            if shape == ():
                value = text[0]
            else:
                value = np.empty(len(text), dtype=object)
                value[:] = text
                value = value.reshape(shape)
        else:
            value = np.frombuffer(data, dtype=np.dtype(head["d"])).reshape(shape).copy()
        node[last] = value
    return tree


def _child_limits(seconds: float, budget: int) -> None:
    import resource

    try:
        with open("/proc/self/statm") as fh:
            vsize = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        vsize = None
    if vsize is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = vsize + budget + _CHILD_SLACK
        for lim in (soft, hard):
            if lim != resource.RLIM_INFINITY:
                want = min(want, lim)
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu = int(seconds) + 2
    if hard == resource.RLIM_INFINITY or cpu <= hard:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))


def _child_main(path: Path, wfd: int, seconds: float, budget: int) -> None:
    """In the forked child: read, send the payload or the error, never return."""
    try:
        import faulthandler

        faulthandler.disable()  # a crash here is reported by the parent, not dumped
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        _child_limits(seconds, budget)
        try:
            msg = b"OK" + _tree_payload(path)
        except NeurocosimError as exc:
            kind = "BudgetError" if isinstance(exc, BudgetError) else "ModelError"
            msg = b"ER" + json.dumps([kind, str(exc)]).encode()
        except MemoryError:
            msg = b"ER" + json.dumps(["BudgetError", f"{path}: reading the HDF5 file needs "
                                      "more memory than the budget allows (corrupt or hostile "
                                      "file?) (NEUROCOSIM_MAX_MEMORY)"]).encode()
        except BaseException as exc:  # noqa: BLE001 - anything the HDF5 layer raises
            msg = b"ER" + json.dumps(["ModelError", f"{path}: cannot read as a NIR (HDF5) "
                                      f"file: {describe(str(exc))}"]).encode()
        view = memoryview(msg)
        while view:
            view = view[os.write(wfd, view):]
    finally:
        os._exit(0)


def read_nir_tree(path: str | Path) -> dict[str, Any]:
    """The ``node`` group of the NIR (HDF5) file ``path`` as nested dicts, read in a
    sandboxed child process (or in-process where ``os.fork`` does not exist).

    Raises ModelError (unreadable, not NIR, a crash or a timeout of the HDF5 library)
    or BudgetError (datasets declared beyond the memory budget)."""
    import h5py  # noqa: F401 - imported before the fork, so the child does not import

    path = Path(path)
    size = _checked_size(path)
    budget = memory_limit()
    if not hasattr(os, "fork") or sys.platform == "win32":  # pragma: no cover - non-POSIX
        return _read_here(path)
    seconds = READ_SECONDS + size * READ_SECONDS_PER_BYTE
    rfd, wfd = os.pipe()
    try:
        with HDF5_LOCK, warnings.catch_warnings():
            # Python >= 3.12 warns on fork in a threaded process; the child only runs h5py
            # (no thread holds it: HDF5_LOCK) and leaves with os._exit
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # pragma: no cover - no process left: read here
        os.close(rfd)
        os.close(wfd)
        return _read_here(path)
    if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
        os.close(rfd)
        _child_main(path, wfd, seconds, budget)
    os.close(wfd)
    payload, status, timed_out = _collect(path, pid, rfd, seconds, budget)
    if timed_out:
        raise ModelError(f"{path}: the HDF5 library did not finish reading the file within "
                         f"{seconds:.3g} s (a corrupt or hostile file)")
    return _child_result(path, payload, status)


def _checked_size(path: Path) -> int:
    """The size of ``path``, a regular file with the HDF5 signature (else ModelError)."""
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise ModelError(f"{path}: is not a regular file (a device or a pipe?); give a "
                             ".nir file")
        if not _is_hdf5(path):
            raise ModelError(f"{path}: cannot read as a NIR (HDF5) file: it has no HDF5 "
                             "signature (truncated, or another format)")
        size = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file: "
                         f"{exc.strerror or describe(str(exc))}") from None
    return size


def _read_here(path: Path) -> dict[str, Any]:
    """Read the tree in this process (no fork available)."""
    with HDF5_LOCK:
        return _parse_payload(path, _tree_payload(path))


def _collect(path: Path, pid: int, rfd: int, seconds: float,
             budget: int) -> tuple[bytes, int, bool]:
    """The child's answer, its wait status and whether it ran past ``seconds``; a child
    not finished (timed out, over budget or interrupted) is killed, and always reaped."""
    chunks: list[bytes] = []
    got, timed_out, finished = 0, False, False
    try:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                finished = True
                break
            got += len(chunk)
            if got > budget + _CHILD_SLACK:
                raise BudgetError(f"{path}: the HDF5 file's 'node' group holds more than the "
                                  "memory budget allows (NEUROCOSIM_MAX_MEMORY)")
            chunks.append(chunk)
    finally:
        os.close(rfd)
        if not finished:  # timed out, over budget or interrupted: end the child now
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover
                pass
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # pragma: no cover - reaped by someone else's handler
            status = 0
    return b"".join(chunks), status, timed_out


def _child_result(path: Path, payload: bytes, status: int) -> dict[str, Any]:
    """The tree the child sent, or the error it reported or died of."""
    if payload[:2] == b"OK":
        return _parse_payload(path, memoryview(payload)[2:])
    if payload[:2] == b"ER":
        try:
            kind, msg = json.loads(payload[2:])
        except (ValueError, TypeError):
            kind, msg = "ModelError", f"{path}: cannot read as a NIR (HDF5) file"
        raise (BudgetError if kind == "BudgetError" else ModelError)(str(msg))
    how = (f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
           else f"ended (status {os.WEXITSTATUS(status)}) without a result")
    raise ModelError(f"{path}: cannot read as a NIR (HDF5) file: the HDF5 library {how} "
                     "reading it (a corrupt or hostile file)")
