"""The ``.npz`` weight bundle: a feed-forward dense spiking network in plain NumPy arrays.

Format (``numpy.savez``; keys, shapes and defaults)::

    weight_0 .. weight_{L-1}   (n_out, n_in) float   required, consecutive from 0
    bias_0 .. bias_{L-1}       (n_out,)      float   optional, default 0
    dt                         ()            float   seconds, required
    neuron                     ()            str     "LIF" (default) or "IF" for every layer
    output_neuron              ()            str     layer L-1: "LIF"/"IF"/"LI" (default = neuron)
    beta                       () or (L,)    float   per-step membrane decay in (0, 1], default 1
                                                     (LIF: tau = dt/(1-beta), r = tau/dt, so that
                                                      v <- beta*v + I exactly; beta = 1 with
                                                      "LIF" is refused, use "IF")
    v_threshold                () or (L,)    float   default 1
    reset                      ()            str     "zero" (default) or "subtract"
    compare                    ()            str     ">" (default) or ">="
    synaptic_delay             ()            int     0 (default) or 1
    bn_gamma_l, bn_beta_l,     (n_out,)      float   optional, all four or none: a BatchNorm
    bn_mean_l, bn_var_l                              after layer l's synapses (running
                                                     statistics); load_network folds it into
                                                     the layer's weight and bias
    bn_eps                     ()            float   > 0, default 1e-5 (every BatchNorm)

Any other key is refused (a typo would otherwise be silently ignored).

Reading is total (:func:`load_npz_arrays`): any bytes give a network or a
:class:`~neurocosim.errors.NeurocosimError` naming the file and the key, in bounded time
and memory. Nothing is ever unpickled; every array's declared size is checked against the
memory budget before it is read.
"""

from __future__ import annotations

import lzma
import math
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..budget import check_memory
from ..errors import ModelError, NeurocosimError
from ..ir import nodes as N
from ..ir.graph import Network
from ..ir.nodes import describe
from ..ir.tensors import TENSOR_TYPES

__all__ = ["read_npz", "write_npz", "network_from_weights", "load_npz_arrays"]

#: most arrays an ``.npz`` may hold (a weight bundle holds 2 per layer and a few scalars)
MAX_MEMBERS = 4096
#: largest zip central directory read (bytes)
_MAX_DIRECTORY = 16 << 20
_NPY_MAGIC = b"\x93NUMPY"
#: what a corrupt zip or ``.npy`` member can raise while it is read
_READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, KeyError,
                TypeError, OverflowError, IndexError, SyntaxError, zipfile.BadZipFile,
                zipfile.LargeZipFile, zlib.error, lzma.LZMAError, struct.error)


def load_npz_arrays(
    path: str | Path,
    *,
    what: str,
    error: type[NeurocosimError],
    keys: Iterable[str] | None = None,
    required: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path`` (those named in ``keys``, else all).

    Never unpickles (object arrays are refused), and checks each array's declared size
    against the file (truncation) and the memory budget (:func:`~neurocosim.budget.check_memory`)
    before reading it. ``what`` names the file's role in messages (``"weight bundle"``);
    every problem raises ``error`` (a BudgetError for sizes over the budget), naming the
    file and the key. ``required`` keys must be present.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise error(f"{path}: is a folder, not a .npz {what}")
        if path.exists() and not path.is_file():
            raise error(f"{path}: is not a regular file (a device or a pipe?); give a .npz {what}")
        with open(path, "rb") as fh:
            head = fh.read(len(_NPY_MAGIC))
            _check_directory(fh, path, what, error)
            zf = zipfile.ZipFile(fh)
            return _read_members(zf, path, what, error, keys, tuple(required))
    except NeurocosimError:
        raise
    except FileNotFoundError:
        raise error(f"{path}: no such file (a .npz {what})") from None
    except zipfile.BadZipFile as exc:
        if head == _NPY_MAGIC:
            raise error(f"{path}: a single .npy array, not a .npz {what} (an archive of named "
                        "arrays); write it with numpy.savez(path, name=array, ...)") from None
        raise error(f"{path}: cannot read as a .npz {what}: not a complete zip archive "
                    f"(truncated, or another format): {describe(str(exc))}") from None
    except MemoryError:
        raise error(f"{path}: cannot read as a .npz {what}: out of memory") from None
    except _READ_ERRORS as exc:
        why = getattr(exc, "strerror", None) or describe(str(exc))
        raise error(f"{path}: cannot read as a .npz {what}: {type(exc).__name__}: {why}") from None


def _check_directory(fh, path: Path, what: str, error) -> None:
    """Refuse a zip whose central directory is huge before ``zipfile`` reads all of it."""
    end = getattr(zipfile, "_EndRecData", None)
    if end is None:  # pragma: no cover - zipfile without the helper
        return
    rec = end(fh)
    if rec is None:
        raise zipfile.BadZipFile("no end of central directory record")
    entries, size = rec[zipfile._ECD_ENTRIES_TOTAL], rec[zipfile._ECD_SIZE]
    if entries > MAX_MEMBERS or size > _MAX_DIRECTORY:
        raise error(f"{path}: the archive lists {entries} members ({size} bytes of "
                    f"directory), more than the {MAX_MEMBERS} a .npz {what} may hold")
    fh.seek(0)


def _read_members(zf: zipfile.ZipFile, path: Path, what: str, error, keys, required):
    members: dict[str, zipfile.ZipInfo] = {}
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise error(f"{path}: the archive holds {len(infos)} members, more than the "
                    f"{MAX_MEMBERS} a .npz {what} may hold")
    for info in infos:
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise error(f"{path}: not a .npz {what}: the zip member {describe(name)} is not a "
                        ".npy array")
        key = name[:-4]
        if key in members:
            raise error(f"{path}: the array {describe(key)} appears twice in the archive")
        members[key] = info
    for key in required:
        if key not in members:
            raise error(f"{path}: the {what} has no array '{key}' (it holds "
                        f"{describe(sorted(members))})")
    wanted = list(members) if keys is None else [k for k in keys if k in members]
    out: dict[str, np.ndarray] = {}
    total = 0.0
    for key in wanted:
        arr, total = _read_npy(zf, members[key], path, what, error, key, total)
        out[key] = arr
    return out


def _read_npy(zf, info, path, what, error, key, total):
    where = f"{path}: array {describe(key)}"
    try:
        return _read_npy1(zf, info, where, what, error, total)
    except NeurocosimError:
        raise
    except MemoryError:
        raise error(f"{where}: out of memory reading it") from None
    except _READ_ERRORS as exc:
        why = getattr(exc, "strerror", None) or describe(str(exc))
        raise error(f"{where} cannot be read ({type(exc).__name__}: {why}): a corrupt or "
                    "truncated file") from None


def _read_npy1(zf, info, where, what, error, total):
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                shape, fortran, dtype = np.lib.format._read_array_header(fh, version)
        except _READ_ERRORS as exc:
            raise error(f"{where}: not a valid .npy array header "
                        f"({type(exc).__name__}: {describe(str(exc))})") from None
        if dtype.hasobject:
            raise error(f"{where} holds Python objects (dtype {describe(str(dtype))}); "
                        "neurocosim never unpickles: store numbers or strings")
        if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcSU":
            raise error(f"{where} has an unsupported dtype {describe(str(dtype))}; store numbers "
                        "or strings")
        if not (isinstance(shape, tuple) and len(shape) <= N.MAX_DIMS
                and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise error(f"{where} declares an invalid shape {describe(shape)}")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        total += float(count) * max(8, dtype.itemsize)
        check_memory(total, f"{where} of shape {describe(shape)} (with the arrays read before it)",
                     f"the {what} declares arrays far larger than it can hold; check the file")
        if nbytes > info.file_size:
            raise error(f"{where} declares shape {describe(shape)} ({nbytes} bytes) but its "
                        f"member holds {info.file_size} bytes: a truncated or corrupt file")
        if dtype.itemsize == 0:
            raise error(f"{where} has an empty dtype {describe(str(dtype))}")
        arr = np.empty(count, dtype=dtype)
        buf = memoryview(arr.view(np.uint8)) if count else memoryview(b"")
        got = 0
        while got < nbytes:
            n = fh.readinto(buf[got:])
            if not n:
                raise error(f"{where}: the data end after {got} of {nbytes} bytes: "
                            "a truncated file")
            got += n
    return arr.reshape(shape, order="F" if fortran else "C"), total

_SCALAR_KEYS = {"dt", "neuron", "output_neuron", "beta", "v_threshold", "reset", "compare",
                "synaptic_delay", "bn_eps"}
#: a layer's BatchNorm keys (``bn_gamma_0``, ...) → the BatchNorm field each holds
_BN_KEYS = {"gamma": "gamma", "beta": "beta", "mean": "running_mean", "var": "running_var"}


def network_from_weights(
    weights: list[np.ndarray],
    biases: list[np.ndarray | None] | None = None,
    *,
    dt: float,
    neuron: str = "LIF",
    output_neuron: str | None = None,
    beta: float | list[float] = 1.0,
    v_threshold: float | list[float] = 1.0,
    reset: str = "zero",
    compare: str = ">",
    synaptic_delay: int = 0,
    name: str = "network",
    batchnorm: list[dict | None] | None = None,
) -> Network:
    """Build a dense feed-forward network ``Input → (Affine → neuron) × L → Output``.

    ``weights[l]`` is ``(n_out, n_in)``. See the module docstring for the meaning of the
    neuron options. Layer names are ``fc{l}`` (synapses) and ``{neuron}{l}`` → ``lif0``…
    ``batchnorm[l]`` (the :class:`~neurocosim.ir.BatchNorm` fields) puts a BatchNorm
    ``bn{l}`` between layer ``l``'s synapses and its neurons (not folded here).
    """
    weights = [_matrix(w, f"weight_{i}") for i, w in enumerate(weights)]
    L = len(weights)
    if L == 0:
        raise ModelError("a weight bundle needs at least one layer (weight_0)")
    for i in range(1, L):
        if weights[i].shape[1] != weights[i - 1].shape[0]:
            raise ModelError(
                f"'weight_{i}' has shape {weights[i].shape}: its {weights[i].shape[1]} inputs "
                f"do not match the {weights[i - 1].shape[0]} outputs of 'weight_{i - 1}'")
    biases = list(biases) if biases is not None else [None] * L
    if len(biases) != L:
        raise ModelError(f"{len(biases)} biases for {L} weight matrices")
    biases = [None if b is None else _bias(b, f"bias_{i}", weights[i].shape[0])
              for i, b in enumerate(biases)]
    bns = list(batchnorm) if batchnorm is not None else [None] * L
    if len(bns) != L:
        raise ModelError(f"{len(bns)} batchnorm entries for {L} weight matrices")
    betas = _per_layer(beta, "beta", L)
    ths = _per_layer(v_threshold, "v_threshold", L)
    output_neuron = output_neuron or neuron
    for key, val in (("neuron", neuron), ("output_neuron", output_neuron), ("reset", reset),
                     ("compare", compare)):
        if not isinstance(val, str):
            raise ModelError(f"'{key}' must be a string, got {describe(val)}")
    nodes: dict[str, N.Node] = {"input": N.Input(shape=(weights[0].shape[1],))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for layer, w in enumerate(weights):
        b = np.zeros(w.shape[0]) if biases[layer] is None else biases[layer]
        kind = output_neuron if layer == L - 1 else neuron
        syn, neu = f"fc{layer}", f"{kind.lower()}{layer}"
        nodes[syn] = N.Affine(weight=w, bias=b)
        nodes[neu] = _neuron(kind, float(betas[layer]), float(ths[layer]), dt, reset, compare,
                             where=f"layer {layer}")
        edges.append((prev, syn))
        if bns[layer] is not None:
            try:
                nodes[f"bn{layer}"] = N.BatchNorm(**bns[layer])
            except ModelError as exc:
                raise ModelError(f"layer {layer}: {exc}") from None
            edges.append((syn, f"bn{layer}"))
            syn = f"bn{layer}"
        edges.append((syn, neu))
        prev = neu
    nodes["output"] = N.Output()
    edges.append((prev, "output"))
    return Network(nodes=nodes, edges=tuple(edges), dt=dt, synaptic_delay=synaptic_delay,
                   name=name)


def _numeric(value: Any, key: str) -> np.ndarray:
    if isinstance(value, (str, bytes, dict)):
        raise ModelError(f"'{key}' must be numeric, got {describe(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelError(f"'{key}' must be a numeric array, got {describe(value)}") from None
    if arr.dtype.kind not in "iuf":
        raise ModelError(f"'{key}' must hold real numbers, got {arr.dtype.name} data "
                         f"{describe(value)}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ModelError(f"'{key}' contains NaN or inf (first at {key}{list(idx)} = "
                         f"{arr[idx]}); fix the model (e.g. retrain or clip)")
    return arr


def _matrix(value: Any, key: str) -> np.ndarray:
    arr = _numeric(value, key)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ModelError(f"'{key}' must be a 2-D (n_out, n_in) matrix, got shape {arr.shape}")
    return arr


def _bias(value: Any, key: str, n_out: int) -> np.ndarray:
    arr = _numeric(value, key)
    if arr.shape not in ((), (n_out,)):
        raise ModelError(f"'{key}' must be a scalar or of shape ({n_out},) like its layer's "
                         f"outputs, got shape {arr.shape}")
    return np.broadcast_to(arr, (n_out,)).copy()


def _per_layer(value: Any, key: str, n_layers: int) -> np.ndarray:
    arr = _numeric(value, key)
    if arr.size == 1:
        return np.full(n_layers, float(arr.reshape(())))
    if arr.shape != (n_layers,):
        raise ModelError(f"'{key}' must be one number or one per layer ({n_layers}), got shape "
                         f"{arr.shape}")
    return arr


def _neuron(kind: str, beta: float, th: float, dt: float, reset: str, compare: str, where: str):
    if kind == "IF":
        return N.IF(r=1.0, v_threshold=th, reset=reset, compare=compare)
    if kind in ("LIF", "LI"):
        if not 0.0 < beta < 1.0:
            raise ModelError(
                f"{where}: beta must lie in (0, 1) for {kind} (got {beta}); beta = 1 means no "
                "leak: use neuron 'IF'"
            )
        tau = dt / (1.0 - beta)
        if kind == "LI":
            return N.LI(tau=tau, r=tau / dt, v_leak=0.0)
        return N.LIF(tau=tau, r=tau / dt, v_leak=0.0, v_threshold=th, reset=reset,
                     compare=compare)
    raise ModelError(f"{where}: neuron must be 'IF', 'LIF' or 'LI', got {describe(kind)}")


def read_npz(path: str | Path, dt: float | None = None) -> Network:
    """Read a weight bundle (format in the module docstring). ``dt`` overrides the file's."""
    path = Path(path)
    data = load_npz_arrays(path, what="weight bundle", error=ModelError)
    L = 0
    while f"weight_{L}" in data:
        L += 1
    allowed = _SCALAR_KEYS | {f"weight_{i}" for i in range(L)} | {f"bias_{i}" for i in range(L)}
    allowed |= {f"bn_{k}_{i}" for k in _BN_KEYS for i in range(L)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ModelError(
            f"{path}: unknown key(s) {describe(unknown)}; a weight bundle holds weight_0..weight_N, "
            f"bias_0..bias_N and {sorted(_SCALAR_KEYS)}"
        )
    if L == 0:
        raise ModelError(f"{path}: no 'weight_0' in the bundle; a weight bundle holds "
                         "weight_0..weight_N (n_out, n_in) matrices")
    try:
        if dt is None:
            if "dt" not in data:
                raise ModelError("no 'dt' in the bundle; pass dt explicitly (--dt)")
            dt = _scalar(data, "dt")
            if not dt > 0:
                raise ModelError(f"'dt' must be a positive number of seconds, got {dt:g}")
        delay = _scalar(data, "synaptic_delay", 0.0)
        if delay not in (0.0, 1.0):
            raise ModelError(f"'synaptic_delay' must be 0 or 1, got {delay:g}")
        neuron = _text(data, "neuron", "LIF")
        return network_from_weights(
            [data[f"weight_{i}"] for i in range(L)],
            [data.get(f"bias_{i}") for i in range(L)],
            dt=dt,
            neuron=neuron,
            output_neuron=_text(data, "output_neuron", "") or None,
            beta=data.get("beta", 1.0 if neuron == "IF" else 0.9),
            v_threshold=data.get("v_threshold", 1.0),
            reset=_text(data, "reset", "zero"),
            compare=_text(data, "compare", ">"),
            synaptic_delay=int(delay),
            name=path.stem,
            batchnorm=[_batchnorm(data, i) for i in range(L)],
        )
    except NeurocosimError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def _batchnorm(data: dict[str, np.ndarray], layer: int) -> dict | None:
    """Layer ``layer``'s BatchNorm fields from its ``bn_*`` keys (None: it has none)."""
    keys = {k: f"bn_{k}_{layer}" for k in _BN_KEYS}
    have = [key for key in keys.values() if key in data]
    if not have:
        return None
    missing = [key for key in keys.values() if key not in data]
    if missing:
        raise ModelError(f"layer {layer} has {', '.join(have)} but not {', '.join(missing)}; "
                         "a BatchNorm needs all four of bn_gamma, bn_beta, bn_mean, bn_var")
    fields = {_BN_KEYS[k]: _numeric(data[key], key) for k, key in keys.items()}
    return {**fields, "eps": _scalar(data, "bn_eps", 1e-5)}


def _scalar(data: dict[str, np.ndarray], key: str, default: float | None = None) -> float:
    """A finite number stored under ``key`` (one element)."""
    if key not in data:
        return default  # type: ignore[return-value]
    arr = data[key]
    if arr.dtype.kind not in "iuf" or arr.size != 1:
        raise ModelError(f"'{key}' must be one real number, got {describe(arr)}")
    value = float(arr.reshape(()))
    if not math.isfinite(value):
        raise ModelError(f"'{key}' must be a finite number, got {value}")
    return value


def _text(data: dict[str, np.ndarray], key: str, default: str) -> str:
    if key not in data:
        return default
    arr = data[key]
    if arr.dtype.kind not in "US" or arr.shape != ():
        raise ModelError(f"'{key}' must be one string, got {describe(arr)}")
    value = arr.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def write_npz(net: Network, path: str | Path) -> Path:
    """Write a dense feed-forward IF/LIF/LI network as a weight bundle (atomic); a
    BatchNorm between a layer's synapses and its neurons is written as its ``bn_*`` keys."""
    for name in net.order:  # residual blocks and token layouts: no bundle keys for them
        node = net.nodes[name]
        if isinstance(node, tuple(TENSOR_TYPES.values())) or (
                isinstance(node, N.Neuron) and len(net.predecessors(name)) != 1):
            kind = type(node).__name__
            what = (f"a{'n' * (kind[0] in 'AEIOU')} {kind}" if not isinstance(node, N.Neuron)
                    else f"a neuron layer with {len(net.predecessors(name))} inputs")
            raise ModelError(f"write_npz: node '{name}' is {what}, which a weight bundle (a "
                             "dense chain Affine → neurons) cannot hold; keep the network in "
                             "Python (Network.to_dict)")
    layers = net.layers()
    data: dict[str, np.ndarray] = {"dt": np.float64(net.dt),
                                   "synaptic_delay": np.int64(net.synaptic_delay)}
    betas, ths, kinds = [], [], []
    for i, layer in enumerate(layers):
        (syn, _), = net.predecessors(layer)
        if isinstance(net.nodes[syn], N.BatchNorm) and len(net.predecessors(syn)) == 1:
            _write_batchnorm(data, i, net.nodes[syn])
            (syn, _), = net.predecessors(syn)
        node, snode = net.nodes[layer], net.nodes[syn]
        if not isinstance(snode, N.Affine) or type(node) not in (N.IF, N.LIF, N.LI):
            raise ModelError(f"write_npz: layer '{layer}' is not Affine → IF/LIF/LI")
        data[f"weight_{i}"], data[f"bias_{i}"] = np.array(snode.weight), np.array(snode.bias)
        kinds.append(type(node).__name__)
        d = net.discretised(layer)
        betas.append(float(1.0 - d.alpha.flat[0]) if not isinstance(node, N.IF) else 1.0)
        ths.append(float(node.v_threshold.flat[0]) if node.spiking else 1.0)
        if node.spiking:
            data["reset"], data["compare"] = np.str_(node.reset), np.str_(node.compare)
    data["neuron"] = np.str_(kinds[0])
    data["output_neuron"] = np.str_(kinds[-1])
    data["beta"], data["v_threshold"] = np.array(betas), np.array(ths)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **data)
    return path


def _write_batchnorm(data: dict[str, np.ndarray], layer: int, bn: N.BatchNorm) -> None:
    """Layer ``layer``'s BatchNorm as its ``bn_*`` keys (one ``bn_eps`` for the bundle)."""
    if "bn_eps" in data and float(data["bn_eps"]) != bn.eps:
        raise ModelError(f"write_npz: the BatchNorm of layer {layer} has eps {bn.eps:g} but an "
                         f"earlier one {float(data['bn_eps']):g}; a bundle holds one bn_eps")
    data["bn_eps"] = np.float64(bn.eps)
    for key, field in _BN_KEYS.items():
        data[f"bn_{key}_{layer}"] = np.array(getattr(bn, field))
