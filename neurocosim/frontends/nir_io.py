"""Read and write NIR 1.0 files (the ``nir`` package's HDF5 format).

NIR is continuous-time and stores no ``dt``; reading takes it explicitly (DESIGN §3.1).
What NIR cannot say is kept in node metadata under ``neurocosim_*`` keys, so that a
round trip is exact and other tools still read the file:

* ``neurocosim_reset`` (``"zero"``/``"subtract"``) and ``neurocosim_compare``
  (``">"``/``">="``) on spiking neurons (NIR's own semantics are zero reset and ``>``);
* ``neurocosim_type = "ILIF"`` and ``neurocosim_max_level`` on an integer-spike LIF, which
  is written as a NIR ``LIF`` (a plain NIR reader then sees a binary LIF);
* ``neurocosim_dt``, ``neurocosim_synaptic_delay`` and ``neurocosim_name`` on the graph.

Reading is total: any bytes give a :class:`~neurocosim.ir.Network` or a
:class:`~neurocosim.errors.NeurocosimError` naming the file and what is wrong, in bounded
time and memory. The HDF5 library itself is not safe on hostile files (crafted or corrupt
files make it loop for ever or crash), so the file's ``node`` group is read in a forked
child process with an address-space cap and a deadline (:data:`READ_SECONDS` plus
:data:`READ_SECONDS_PER_BYTE` per byte of file); the child hands back plain arrays and
strings (no pickle). Every dataset's declared size is checked against the memory budget
(:func:`neurocosim.budget.check_memory`) before it is read; links other than hard links,
nesting deeper than :data:`MAX_DEPTH` and more than :data:`MAX_OBJECTS` objects are refused.
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

from .._atomic import atomic_path
from ..budget import check_memory, memory_limit
from ..errors import BudgetError, ModelError, NeurocosimError
from ..ir import nodes as N
from ..ir.graph import Network
from ..ir.nodes import describe

__all__ = ["read_nir", "write_nir", "SUPPORTED_NIR_TYPES", "read_nir_tree"]

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

SUPPORTED_NIR_TYPES = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv2d", "SumPool2d", "AvgPool2d",
    "Flatten", "IF", "LIF", "CubaLIF", "LI", "CubaLI",
)

_NEURON_FIELDS = {
    "IF": ("r", "v_threshold", "v_reset"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "LI": ("tau", "r", "v_leak"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
}


def _s(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf8", "replace")
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "SOU":
        return _s(v.item())
    return v


# -- reading the HDF5 tree (bounded; in a child process) -------------------------------
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
    budget = memory_limit()
    if not hasattr(os, "fork") or sys.platform == "win32":  # pragma: no cover - non-POSIX
        with HDF5_LOCK:
            return _parse_payload(path, _tree_payload(path))
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
        with HDF5_LOCK:
            return _parse_payload(path, _tree_payload(path))
    if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
        os.close(rfd)
        _child_main(path, wfd, seconds, budget)
    os.close(wfd)
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
    if timed_out:
        raise ModelError(f"{path}: the HDF5 library did not finish reading the file within "
                         f"{seconds:.3g} s (a corrupt or hostile file)")
    payload = b"".join(chunks)
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


def read_nir(path: str | Path, dt: float | None = None) -> Network:
    """Read a NIR file into a :class:`~neurocosim.ir.Network`.

    Parameters
    ----------
    path
        A ``.nir`` (HDF5) file as written by ``nir.write`` (snnTorch, Norse, Sinabs, …).
    dt
        Step in seconds used to discretise every time constant. Required unless the file
        was written by neurocosim, which records its ``dt`` in the graph metadata.

    Raises
    ------
    ModelError
        Unreadable file, not a NIR graph, unsupported node (its name, type and the
        supported list), malformed fields, bad shapes, NaN parameters, or ``dt/τ > 1``.
    BudgetError
        Arrays declared (or implied by broadcasting) beyond the memory budget.
    """
    path = Path(path)
    data = read_nir_tree(path)
    kind = _s(data.get("type"))
    if not (isinstance(kind, str) and kind == "NIRGraph"):
        raise ModelError(f"{path}: the top-level node is {describe(kind)}, not a NIRGraph "
                         "('node/type')")
    meta = _group(path, data, "metadata", "node/metadata")
    nodes_g = data.get("nodes")
    if not isinstance(nodes_g, dict):
        raise ModelError(f"{path}: no 'node/nodes' group (the graph's nodes); "
                         "not a NIR graph file")
    if "edges" not in data:
        raise ModelError(f"{path}: no 'node/edges' dataset (the graph's edges); "
                         "not a NIR graph file")
    edges = _nir_edges(path, data["edges"])
    if dt is None:
        if "neurocosim_dt" not in meta:
            raise ModelError(
                f"{path}: NIR files store no time step; pass dt explicitly "
                "(API: dt=1e-3; CLI: --dt 1e-3)"
            )
        dt = _meta_number(path, meta, "neurocosim_dt")
        if not dt > 0:
            raise ModelError(f"{path}: metadata 'neurocosim_dt' must be a positive number of "
                             f"seconds, got {describe(meta['neurocosim_dt'])}")
    delay = 0.0
    if "neurocosim_synaptic_delay" in meta:
        delay = _meta_number(path, meta, "neurocosim_synaptic_delay")
    if delay not in (0, 1):
        raise ModelError(f"{path}: metadata 'neurocosim_synaptic_delay' must be 0 or 1, got "
                         f"{describe(meta['neurocosim_synaptic_delay'])}")
    name = _s(meta.get("neurocosim_name", path.stem))
    name = name[:200] if isinstance(name, str) else path.stem
    nodes = {}
    for nname, nd in nodes_g.items():
        nodes[str(nname)] = _node_from_nir(path, str(nname), nd)
    try:
        return Network(nodes=nodes, edges=edges, dt=float(dt), synaptic_delay=int(delay),
                       name=name)
    except NeurocosimError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _group(path: Path, parent: dict, key: str, where: str) -> dict:
    """``parent[key]`` as a dict of plain values (missing: empty)."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelError(f"{path}: '{where}' must be a group, got {describe(value)}")
    return {str(k): _s(v) for k, v in value.items()}


def _meta_number(path: Path, meta: dict, key: str) -> float:
    value = meta[key]
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        value, ok = value.reshape(()).item(), True
    number = float(value) if ok else float("nan")
    if not math.isfinite(number):
        raise ModelError(f"{path}: metadata '{key}' must be a number, got {describe(value)}")
    return number


def _nir_edges(path: Path, value: Any) -> tuple[tuple[str, str], ...]:
    arr = value if isinstance(value, np.ndarray) else None
    if arr is not None and arr.size == 0:
        return ()
    ok = (arr is not None and arr.dtype == object
          and (arr.ndim == 2 and arr.shape[1] == 2 or arr.shape == (2,))
          and all(isinstance(v, str) for v in arr.flat))
    if not ok:
        what = f"shape {arr.shape} of {arr.dtype}" if arr is not None else describe(value)
        raise ModelError(f"{path}: 'node/edges' must be an (n, 2) array of node names, "
                         f"got {what}")
    return tuple((str(a), str(b)) for a, b in arr.reshape(-1, 2))


#: per NIR type: required fields, optional fields (missing: the IR node's default)
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Affine": (("weight", "bias"), ()),
    "Linear": (("weight",), ()),
    "Scale": (("scale",), ()),
    "Conv2d": (("weight", "bias"), ("stride", "padding", "dilation", "groups", "input_shape")),
    "SumPool2d": (("kernel_size",), ("stride", "padding")),
    "AvgPool2d": (("kernel_size",), ("stride", "padding")),
    "Flatten": ((), ("start_dim", "end_dim")),
}


def _node_from_nir(path: Path, name: str, nd: Any) -> N.Node:
    where = f"{path}: node {describe(name)}"
    if not isinstance(nd, dict):
        raise ModelError(f"{where} is not a group (got {describe(nd)}); not a NIR graph file")
    kind = _s(nd.get("type"))
    if kind is None:
        raise ModelError(f"{where} has no 'type'")
    if not isinstance(kind, str) or kind not in SUPPORTED_NIR_TYPES:
        hint = (" (flatten the subgraph into the top-level graph first)"
                if isinstance(kind, str) and kind == "NIRGraph" else "")
        raise ModelError(
            f"{where} has unsupported NIR type {describe(kind)}{hint}; supported types: "
            f"{', '.join(SUPPORTED_NIR_TYPES)}"
        )
    meta = _group(path, nd, "metadata", f"node/nodes/{describe(name)[1:-1]}/metadata")
    try:
        return _build_node(where, kind, nd, meta)
    except ModelError as exc:
        msg = str(exc)
        raise ModelError(msg if msg.startswith(str(path)) else f"{where}: {msg}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise ModelError(f"{where} ({kind}) is malformed: {describe(str(exc))}") from None


def _build_node(where: str, kind: str, nd: dict, meta: dict) -> N.Node:
    def get(field):
        return _s(nd[field])

    if kind in ("Input", "Output"):
        alt = "input_type" if kind == "Input" else "output_type"
        shape = nd.get("shape")
        if shape is None and isinstance(nd.get(alt), dict):
            shape = next(iter(nd[alt].values()), None)
        if shape is None:
            if kind == "Output":
                return N.Output()
            raise ModelError(f"{where} (Input) lacks parameter 'shape'")
        return (N.Input if kind == "Input" else N.Output)(shape=shape)
    if kind in _FIELDS:
        required, optional = _FIELDS[kind]
        for f in required:
            if f not in nd:
                raise ModelError(f"{where} ({kind}) lacks parameter '{f}'")
        kw = {f: get(f) for f in required + optional if f in nd}
        if kind == "Flatten":
            kw.setdefault("start_dim", 1)
        cls = {"SumPool2d": N.SumPool2d, "AvgPool2d": N.AvgPool2d}.get(kind) or getattr(N, kind)
        return cls(**kw)
    # neurons
    params = {}
    for f in _NEURON_FIELDS[kind]:
        if f in nd:
            params[f] = get(f)
        elif f == "v_reset":
            params[f] = 0.0
        elif f == "w_in":
            params[f] = 1.0
        else:
            raise ModelError(f"{where} ({kind}) lacks parameter '{f}'")
    modes = {}
    if "neurocosim_reset" in meta:
        modes["reset"] = meta["neurocosim_reset"]
    if "neurocosim_compare" in meta:
        modes["compare"] = meta["neurocosim_compare"]
    if kind == "LIF" and isinstance(meta.get("neurocosim_type"), str) \
            and meta["neurocosim_type"] == "ILIF":
        return N.ILIF(tau=params["tau"], r=params["r"], v_leak=params["v_leak"],
                      v_threshold=params["v_threshold"],
                      max_level=meta.get("neurocosim_max_level", 4))
    cls = N.NEURON_TYPES[kind]
    return cls(**params, **(modes if cls.spiking else {}))

def write_nir(net: Network, path: str | Path) -> Path:
    """Write ``net`` as a NIR file; atomic (a failed write leaves no partial file)."""
    import nir

    nodes = {name: _node_to_nir(net, name) for name in net.nodes}
    graph = nir.NIRGraph(
        nodes=nodes,
        edges=[tuple(e) for e in net.edges],
        metadata={
            "neurocosim_dt": float(net.dt),
            "neurocosim_synaptic_delay": int(net.synaptic_delay),
            "neurocosim_name": str(net.name),
        },
        type_check=False,
    )
    path = Path(path)
    with atomic_path(path) as tmp, HDF5_LOCK:
        nir.write(tmp, graph)
    return path


def _node_to_nir(net: Network, name: str):
    import nir

    node = net.nodes[name]
    a = np.asarray
    if isinstance(node, N.Input):
        return nir.Input(input_type={"input": a(node.shape)})
    if isinstance(node, N.Output):
        return nir.Output(output_type={"output": a(net.in_shapes[name])})
    if isinstance(node, N.Affine):
        return nir.Affine(weight=a(node.weight), bias=a(node.bias))
    if isinstance(node, N.Linear):
        return nir.Linear(weight=a(node.weight))
    if isinstance(node, N.Scale):
        return nir.Scale(scale=a(node.scale))
    if isinstance(node, N.Conv2d):
        return nir.Conv2d(
            input_shape=tuple(node.input_shape), weight=a(node.weight), stride=node.stride,
            padding=node.padding, dilation=node.dilation, groups=node.groups,
            bias=a(node.bias),
        )
    if isinstance(node, (N.SumPool2d, N.AvgPool2d)):
        cls = nir.SumPool2d if isinstance(node, N.SumPool2d) else nir.AvgPool2d
        return cls(kernel_size=a(node.kernel_size), stride=a(node.stride),
                   padding=a(node.padding))
    if isinstance(node, N.Flatten):
        return nir.Flatten(input_type={"input": a(net.in_shapes[name])},
                           start_dim=node.start_dim, end_dim=node.end_dim)
    if isinstance(node, N.ILIF):
        return nir.LIF(tau=a(node.tau), r=a(node.r), v_leak=a(node.v_leak),
                       v_threshold=a(node.v_threshold), v_reset=np.zeros_like(node.tau),
                       metadata={"neurocosim_type": "ILIF",
                                 "neurocosim_max_level": int(node.max_level)})
    kind = type(node).__name__
    params = {f: a(getattr(node, f)) for f in _NEURON_FIELDS[kind]}
    meta = {}
    if node.spiking:
        meta = {"neurocosim_reset": node.reset, "neurocosim_compare": node.compare}
    return getattr(nir, kind)(**params, metadata=meta)
