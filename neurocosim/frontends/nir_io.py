"""Read and write NIR 1.0 files (the ``nir`` package's HDF5 format).

NIR is continuous-time and stores no ``dt``; reading takes it explicitly (DESIGN §3.1).
What NIR cannot say is kept in node metadata under ``neurocosim_*`` keys, so that a
round trip is exact and other tools still read the file:

* ``neurocosim_reset`` (``"zero"``/``"subtract"``) and ``neurocosim_compare``
  (``">"``/``">="``) on spiking neurons (NIR's own semantics are zero reset and ``>``);
* ``neurocosim_type = "ILIF"`` and ``neurocosim_max_level`` on an integer-spike LIF, which
  is written as a NIR ``LIF`` (a plain NIR reader then sees a binary LIF);
* ``neurocosim_dt``, ``neurocosim_synaptic_delay`` and ``neurocosim_name`` on the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import ModelError
from ..ir import nodes as N
from ..ir.graph import Network

__all__ = ["read_nir", "write_nir", "SUPPORTED_NIR_TYPES"]

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
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "SO":
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
        Unreadable file, unsupported node (its name, type and the supported list), bad
        shapes, NaN parameters, or ``dt/τ > 1``.
    """
    import h5py
    from nir.serialization import hdf2dict

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise ModelError(f"{path}: not a NIR file (no 'node' group)")
            data = hdf2dict(f["node"])
    except OSError as exc:
        raise ModelError(f"{path}: cannot read as a NIR (HDF5) file: {exc}") from None
    if _s(data.get("type")) != "NIRGraph":
        raise ModelError(f"{path}: the top-level node is {_s(data.get('type'))!r}, not a NIRGraph")
    meta = {k: _s(v) for k, v in (data.get("metadata") or {}).items()}
    if dt is None:
        if "neurocosim_dt" not in meta:
            raise ModelError(
                f"{path}: NIR files store no time step; pass dt explicitly "
                "(API: dt=1e-3; CLI: --dt 1e-3)"
            )
        dt = float(meta["neurocosim_dt"])
    nodes = {}
    for name, nd in data["nodes"].items():
        nodes[str(name)] = _node_from_nir(path, str(name), nd)
    edges = tuple((str(_s(a)), str(_s(b))) for a, b in np.asarray(data["edges"]).reshape(-1, 2))
    try:
        return Network(
            nodes=nodes,
            edges=edges,
            dt=float(dt),
            synaptic_delay=int(meta.get("neurocosim_synaptic_delay", 0)),
            name=str(meta.get("neurocosim_name", path.stem)),
        )
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


def _node_from_nir(path: Path, name: str, nd: dict[str, Any]) -> N.Node:
    kind = _s(nd.get("type"))
    meta = {k: _s(v) for k, v in (nd.get("metadata") or {}).items()}
    where = f"{path}: node '{name}'"
    if kind not in SUPPORTED_NIR_TYPES:
        hint = " (flatten the subgraph into the top-level graph first)" if kind == "NIRGraph" else ""
        raise ModelError(
            f"{where} has unsupported NIR type {kind!r}{hint}; supported types: "
            f"{', '.join(SUPPORTED_NIR_TYPES)}"
        )
    g = nd.get
    try:
        if kind == "Input":
            return N.Input(shape=tuple(np.atleast_1d(g("shape"))))
        if kind == "Output":
            return N.Output(shape=tuple(np.atleast_1d(g("shape"))))
        if kind == "Affine":
            return N.Affine(weight=g("weight"), bias=g("bias"))
        if kind == "Linear":
            return N.Linear(weight=g("weight"))
        if kind == "Scale":
            return N.Scale(scale=g("scale"))
        if kind == "Conv2d":
            ishape = g("input_shape")
            return N.Conv2d(
                weight=g("weight"), bias=g("bias"), stride=g("stride"),
                padding=_s(g("padding")), dilation=g("dilation"), groups=g("groups"),
                input_shape=None if ishape is None else tuple(np.atleast_1d(ishape)),
            )
        if kind in ("SumPool2d", "AvgPool2d"):
            cls = N.SumPool2d if kind == "SumPool2d" else N.AvgPool2d
            return cls(kernel_size=g("kernel_size"), stride=g("stride"), padding=g("padding"))
        if kind == "Flatten":
            return N.Flatten(start_dim=g("start_dim", 1), end_dim=g("end_dim", -1))
        # neurons
        params = {}
        for f in _NEURON_FIELDS[kind]:
            if f in nd:
                params[f] = nd[f]
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
        if kind == "LIF" and meta.get("neurocosim_type") == "ILIF":
            return N.ILIF(tau=params["tau"], r=params["r"], v_leak=params["v_leak"],
                          v_threshold=params["v_threshold"],
                          max_level=int(meta.get("neurocosim_max_level", 4)))
        cls = N.NEURON_TYPES[kind]
        return cls(**params, **(modes if cls.spiking else {}))
    except ModelError as exc:
        msg = str(exc)
        raise ModelError(msg if msg.startswith(str(path)) else f"{where}: {msg}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelError(f"{where} ({kind}) is malformed: {exc}") from None


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
    with atomic_path(path) as tmp:
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
