"""A mapping folder's network when NIR cannot hold it (max pooling, the spiking
transformers' products and residual sums): ``network.json`` (the graph,
:meth:`~neurocosim.ir.Network.to_dict`, every array replaced by a reference) beside
``network_arrays.npz`` (the arrays, read with ``allow_pickle=False``; an array holding one
value, such as a layer's per-neuron constants, is written as that value and its shape).

Only neurocosim writes these files, into the mapping folders it writes; they are read
back by :func:`~neurocosim.mapping.load_mapped` and validated as any network is
(:meth:`~neurocosim.ir.Network.from_dict`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MappingError
from ..ir.graph import Network

__all__ = ["write_network_files", "read_network_files", "GRAPH", "ARRAYS"]

GRAPH, ARRAYS = "network.json", "network_arrays.npz"
_REF, _FULL = "__array__", "__full__"


def _encode(v: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(v, np.ndarray):
        flat = v.reshape(-1)
        if flat.size > 1 and v.dtype.kind in "biuf" and (flat == flat[0]).all():
            return {_FULL: [flat[0].item(), list(v.shape), v.dtype.str]}  # one value repeated
        key = f"a{len(arrays)}"
        arrays[key] = v
        return {_REF: key}
    if isinstance(v, dict):
        return {str(k): _encode(x, arrays) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return {"__tuple__": [_encode(x, arrays) for x in v]} if isinstance(v, tuple) else \
            [_encode(x, arrays) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decode(v: Any, arrays) -> Any:
    if isinstance(v, dict):
        if set(v) == {_REF}:
            return arrays[v[_REF]]
        if set(v) == {_FULL}:
            value, shape, dtype = v[_FULL]
            return np.full(tuple(shape), value, dtype=np.dtype(dtype))
        if set(v) == {"__tuple__"}:
            return tuple(_decode(x, arrays) for x in v["__tuple__"])
        return {k: _decode(x, arrays) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, arrays) for x in v]
    return v


def write_network_files(net: Network, folder: Path) -> None:
    """Write ``net`` as :data:`GRAPH` and :data:`ARRAYS` into ``folder``."""
    arrays: dict[str, np.ndarray] = {}
    graph = _encode(net.to_dict(), arrays)
    with open(folder / ARRAYS, "wb") as fh:
        np.savez(fh, **arrays)
    (folder / GRAPH).write_text(json.dumps(graph) + "\n")


def read_network_files(folder: Path) -> Network:
    """The network written by :func:`write_network_files` into ``folder``."""
    try:
        graph = json.loads((folder / GRAPH).read_text())
        with np.load(folder / ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise MappingError(f"{folder}: unreadable network files ({exc})") from None
    return Network.from_dict(_decode(graph, arrays))
