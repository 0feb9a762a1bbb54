"""Read and write NIR 1.0 files (the ``nir`` package's HDF5 format).

NIR is continuous-time and stores no ``dt``; reading takes it explicitly (DESIGN §3.1).
What NIR cannot say is kept in node metadata under ``neurocosim_*`` keys, so that a
round trip is exact and other tools still read the file:

* ``neurocosim_reset`` (``"zero"``/``"subtract"``) and ``neurocosim_compare``
  (``">"``/``">="``) on spiking neurons (NIR's own semantics are zero reset and ``>``);
* ``neurocosim_type = "ILIF"`` and ``neurocosim_max_level`` on an integer-spike LIF, which
  is written as a NIR ``LIF`` (a plain NIR reader then sees a binary LIF);
* ``neurocosim_dt``, ``neurocosim_synaptic_delay`` and ``neurocosim_name`` on the graph.

* ``neurocosim_folded`` on the graph: the ``(batchnorm, layer)`` folds the network
  records (:func:`~neurocosim.ir.fold_batchnorm`), as an ``(n, 2)`` array of names.

**Extension nodes.** With ``write_nir(..., extensions=True)`` every IR node that NIR 1.0
has no node for is written as a node of type ``neurocosim.<Kind>`` (:func:`extension_types`,
every registered IR kind not in :data:`NATIVE_TYPES`: ``neurocosim.MaxPool2d``,
``neurocosim.BatchNorm`` (one left unfolded), ``neurocosim.TernaryLIF``,
``neurocosim.Add``, ``neurocosim.IAnd``, ``neurocosim.Concat``, ``neurocosim.Reshape``,
``neurocosim.Transpose``, ``neurocosim.Mul``, ``neurocosim.Gate``,
``neurocosim.ReduceSum``, ``neurocosim.MatMul``) whose datasets are the IR node's fields
under their IR names (``ir.Node.to_dict``): tuples of integers as integer arrays
(``kernel_size``, ``stride``, ``padding``, ``dilation``, ``shape``, ``axes``), numbers and
flags as scalars (``axis``, ``keepdim``, ``eps``, ``scale``), modes as strings (``reset``,
``compare``), array parameters as arrays (BatchNorm's ``gamma``, ``beta``,
``running_mean``, ``running_var``; a TernaryLIF's), and the ordered nodes' (IAnd,
Concat, Mul, Gate, MatMul) ``operands`` as an array of source node names *in operand order*
(IAnd's ``(1 − a)·b``: ``a`` first; MatMul's ``a·b``: ``a`` first; Gate: the enable
first). :func:`read_nir` rebuilds them through the IR's own validation
(``ir.Node.from_dict``), so a round trip is exact. A plain NIR reader refuses such a file
rather than misread it: ``nir.read`` (nir 1.0.x) fails on the first extension node with an
``AssertionError`` from ``nir.ir.str2NIRNode`` (``assert type in __all_ir``; a ``KeyError``
under ``python -O``); snnTorch's and Norse's importers go through ``nir.read`` first.
Without ``extensions`` such a node is refused with a ModelError (the default, so that a
file written without asking is always plain NIR).

NIR's ``Delay`` (``delay``: τ in seconds per element) becomes an IR
:class:`~neurocosim.ir.delay.Delay` of ``τ / dt`` steps (one whole number ≥ 1 for every
element, else the file is refused); an IR Delay is written back with ``delay`` =
``steps · dt`` everywhere. NIR's ``Conv1d`` is the IR :class:`~neurocosim.ir.conv1d.Conv1d`
both ways (its ``input_shape`` is inferred on reading).

Reading is total: any bytes give a :class:`~neurocosim.ir.Network` or a
:class:`~neurocosim.errors.NeurocosimError` naming the file and what is wrong, in bounded
time and memory. The HDF5 library itself is not safe on hostile files, so the file's
``node`` group is read in a forked child process with an address-space cap and a deadline
(:mod:`neurocosim.frontends.nir_sandbox`, which also holds :data:`HDF5_LOCK` and the
limits :data:`READ_SECONDS`, :data:`READ_SECONDS_PER_BYTE`, :data:`MAX_DEPTH` and
:data:`MAX_OBJECTS`; they are re-exported here). This module turns that tree into IR nodes
and writes networks back.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import ModelError, NeurocosimError
from ..ir import nodes as N
from ..ir.conv1d import Conv1d
from ..ir.delay import Delay
from ..ir.graph import Network
from ..ir.nodes import describe
from ..ir.tensors import TENSOR_TYPES
from .nir_sandbox import HDF5_LOCK as HDF5_LOCK
from .nir_sandbox import MAX_DEPTH as MAX_DEPTH
from .nir_sandbox import MAX_OBJECTS as MAX_OBJECTS
from .nir_sandbox import READ_SECONDS as READ_SECONDS
from .nir_sandbox import READ_SECONDS_PER_BYTE as READ_SECONDS_PER_BYTE
from .nir_sandbox import read_nir_tree

__all__ = ["read_nir", "write_nir", "SUPPORTED_NIR_TYPES", "EXTENSION_PREFIX",
           "EXTENSION_TYPES", "NATIVE_TYPES", "extension_types", "read_nir_tree"]

SUPPORTED_NIR_TYPES = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d",
    "AvgPool2d", "Flatten", "Delay", "IF", "LIF", "CubaLIF", "LI", "CubaLI",
)
#: prefix of the node types neurocosim writes where NIR 1.0 has no node (extension nodes)
EXTENSION_PREFIX = "neurocosim."
#: the IR node kinds NIR 1.0 has a node for (the ILIF travels as a LIF with metadata)
NATIVE_TYPES = ("Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d",
                "SumPool2d", "AvgPool2d", "Flatten", "Delay", "IF", "LIF", "CubaLIF", "LI",
                "CubaLI", "ILIF")


def extension_types() -> tuple[str, ...]:
    """Every registered IR node kind NIR 1.0 has no node for: written as a
    ``neurocosim.<Kind>`` extension node (module docstring). Computed on each call, so
    a node kind registered later (``ir.NODE_TYPES``) is covered too."""
    return tuple(k for k in N.NODE_TYPES if k not in NATIVE_TYPES)


#: :func:`extension_types` when this module was imported
EXTENSION_TYPES: tuple[str, ...] = extension_types()

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
        nodes[str(nname)] = _node_from_nir(path, str(nname), nd, float(dt))
    folded = meta.get("neurocosim_folded", ())
    if isinstance(folded, np.ndarray):
        folded = folded.tolist()
    try:
        return Network(nodes=nodes, edges=edges, dt=float(dt), synaptic_delay=int(delay),
                       name=name, folded=folded)
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
    "Conv1d": (("weight", "bias"), ("stride", "padding", "dilation", "groups")),
    "Conv2d": (("weight", "bias"), ("stride", "padding", "dilation", "groups", "input_shape")),
    "SumPool2d": (("kernel_size",), ("stride", "padding")),
    "AvgPool2d": (("kernel_size",), ("stride", "padding")),
    "Flatten": ((), ("start_dim", "end_dim")),
}


def _node_from_nir(path: Path, name: str, nd: Any, dt: float) -> N.Node:
    where = f"{path}: node {describe(name)}"
    if not isinstance(nd, dict):
        raise ModelError(f"{where} is not a group (got {describe(nd)}); not a NIR graph file")
    kind = _s(nd.get("type"))
    if kind is None:
        raise ModelError(f"{where} has no 'type'")
    if isinstance(kind, str) and kind.startswith(EXTENSION_PREFIX):
        return _extension_from_nir(where, kind, nd)
    if not isinstance(kind, str) or kind not in SUPPORTED_NIR_TYPES:
        hint = (" (flatten the subgraph into the top-level graph first)"
                if isinstance(kind, str) and kind == "NIRGraph" else "")
        raise ModelError(
            f"{where} has unsupported NIR type {describe(kind)}{hint}; supported types: "
            f"{', '.join(SUPPORTED_NIR_TYPES)}"
        )
    meta = _group(path, nd, "metadata", f"node/nodes/{describe(name)[1:-1]}/metadata")
    try:
        if kind == "Delay":
            return _delay(nd, dt)
        return _build_node(where, kind, nd, meta)
    except ModelError as exc:
        msg = str(exc)
        raise ModelError(msg if msg.startswith(str(path)) else f"{where}: {msg}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise ModelError(f"{where} ({kind}) is malformed: {describe(str(exc))}") from None


def _extension_from_nir(where: str, kind: str, nd: dict) -> N.Node:
    """The IR node of a ``neurocosim.<Kind>`` extension node (module docstring)."""
    own, known = kind[len(EXTENSION_PREFIX):], extension_types()
    if own not in known:
        raise ModelError(f"{where} has unknown extension type {describe(kind)}; this "
                         f"neurocosim reads {', '.join(EXTENSION_PREFIX + k for k in known)}"
                         " (written by a newer neurocosim? upgrade it)")
    cls = N.NODE_TYPES[own]
    # field -> its annotation (a string: the IR modules use postponed annotations)
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls) if f.name not in cls._arrays}
    data: dict[str, Any] = {"type": own}
    for key, value in nd.items():
        if key in ("type", "metadata"):
            continue
        value = _s(value)
        if isinstance(value, np.ndarray) and key in kinds:
            if value.dtype == object:  # names, in order
                value = [_s(v) for v in value.reshape(-1).tolist()]
            elif kinds[key].startswith("tuple") and value.ndim == 1 \
                    and value.dtype.kind in "iu":
                value = tuple(int(v) for v in value)
            elif value.size == 1:  # a scalar (the reader returns it 1-D)
                value = value.reshape(-1)[0].item()
        data[str(key)] = value
    try:
        return N.Node.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{where} ({kind}): {exc}") from None


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
        cls = {"SumPool2d": N.SumPool2d, "AvgPool2d": N.AvgPool2d,
               "Conv1d": Conv1d}.get(kind) or getattr(N, kind)
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


def _delay(nd: dict, dt: float) -> Delay:
    """An IR Delay from a NIR ``Delay`` node (``delay``: seconds per element)."""
    if "delay" not in nd:
        raise ModelError("(Delay) lacks parameter 'delay'")
    tau = np.asarray(_s(nd["delay"]))
    if tau.dtype.kind not in "iuf" or tau.size == 0 or not np.isfinite(tau).all():
        raise ModelError(f"(Delay) 'delay' must be finite numbers of seconds, got "
                         f"{describe(tau)}")
    if tau.min() != tau.max():
        raise ModelError(f"(Delay) 'delay' differs between elements ({tau.min():g} to "
                         f"{tau.max():g} s); only one delay per node is supported")
    steps = float(tau.reshape(-1)[0]) / dt
    if round(steps) < 1 or abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise ModelError(f"(Delay) 'delay' {float(tau.reshape(-1)[0]):g} s is not a whole "
                         f"number (>= 1) of steps of dt = {dt:g} s; pass a dt that divides it")
    return Delay(steps=int(round(steps)), shape=tau.shape if tau.ndim else (1,))


def write_nir(net: Network, path: str | Path, *, extensions: bool = False) -> Path:
    """Write ``net`` as a NIR file; atomic (a failed write leaves no partial file).

    ``extensions``: write the nodes NIR 1.0 has no node for as ``neurocosim.<Kind>``
    extension nodes (module docstring); without it such a node is refused (ModelError),
    so the file is always one every NIR tool reads."""
    import nir

    ext = extension_types()
    nodes = {}
    for name, node in net.nodes.items():
        kind = type(node).__name__
        if kind in ext and extensions:
            nodes[name] = _Extension(node)
        elif kind in ext and not isinstance(node, (N.MaxPool2d, N.BatchNorm,
                                                   *TENSOR_TYPES.values())):
            raise ModelError(f"write_nir: node '{name}' is a {kind}, which NIR 1.0 has no "
                             "node for; write it as a neurocosim extension node "
                             "(write_nir(..., extensions=True))")
        else:
            nodes[name] = _node_to_nir(net, name)
    meta = {"neurocosim_dt": float(net.dt),
            "neurocosim_synaptic_delay": int(net.synaptic_delay),
            "neurocosim_name": str(net.name)}
    if net.folded:
        meta["neurocosim_folded"] = np.array([list(f) for f in net.folded],
                                             dtype=_string_dtype())
    graph = nir.NIRGraph(nodes=nodes, edges=[tuple(e) for e in net.edges], metadata=meta,
                         type_check=False)
    path = Path(path)
    with atomic_path(path) as tmp, HDF5_LOCK:
        nir.write(tmp, graph)
    return path


def _string_dtype():
    import h5py

    return h5py.string_dtype()


class _Extension:
    """A ``neurocosim.<Kind>`` extension node as ``nir.write`` takes a node (its
    ``to_dict``): the IR node's fields, tuples of integers as integer arrays, names as
    string arrays in order, scalars as scalars (h5py cannot compress 0-d datasets)."""

    def __init__(self, node: N.Node) -> None:
        out: dict[str, Any] = {"type": EXTENSION_PREFIX + type(node).__name__}
        for key, value in node.to_dict().items():
            if key == "type" or value is None:
                continue
            if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                value = np.array(list(value), dtype=_string_dtype())
            elif isinstance(value, tuple):
                value = np.asarray(value, dtype=np.int64)
            elif isinstance(value, np.ndarray) and value.ndim == 0:
                value = value.item()
            out[key] = value
        self._dict = out

    def to_dict(self) -> dict[str, Any]:
        return dict(self._dict)


def _node_to_nir(net: Network, name: str):
    import nir

    node = net.nodes[name]
    a = np.asarray
    if isinstance(node, (N.MaxPool2d, N.BatchNorm)):
        fix = ("fold it into the synaptic layer before it (neurocosim.ir.fold_batchnorm) or "
               "save a dense network as a .npz weight bundle" if isinstance(node, N.BatchNorm)
               else "use a SumPool2d/AvgPool2d")
        raise ModelError(f"write_nir: node '{name}' is a {type(node).__name__}, which NIR "
                         f"1.0 has no node for; {fix}, or write it as a neurocosim extension "
                         "node (write_nir(..., extensions=True))")
    if isinstance(node, tuple(TENSOR_TYPES.values())):
        kind = type(node).__name__
        raise ModelError(f"write_nir: node '{name}' is a{'n' * (kind[0] in 'AEIOU')} {kind}, "
                         "which NIR 1.0 has no node for (it has no Add, IAnd, Concat, Reshape, "
                         "Transpose, Mul, ReduceSum or MatMul; edges into one node are summed, "
                         "so a membrane shortcut into a neuron can be written); write it as "
                         "a neurocosim extension node (write_nir(..., extensions=True))")
    if isinstance(node, Delay):
        return nir.Delay(delay=np.full(node.shape, node.steps * float(net.dt)))
    if isinstance(node, Conv1d):
        return nir.Conv1d(input_shape=int(net.in_shapes[name][1]), weight=a(node.weight),
                          stride=node.stride, padding=node.padding, dilation=node.dilation,
                          groups=node.groups, bias=a(node.bias))
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
