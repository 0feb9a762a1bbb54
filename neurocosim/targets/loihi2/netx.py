"""lava-dl netx export: the Loihi 2 network as an HDF5 ``.net`` file, written with h5py,
in the form lava-dl 0.6.0's ``lava.lib.dl.netx.hdf5.Network`` reads back bit-exactly.

Layout (lava-dl's hdf5 network description)::

    /layer/0/type = "input", /layer/0/shape = [n_in]   (no neuron: lava-dl then feeds the
                                                      input spikes straight into layer 1's
                                                      synapses, as the chip does)
    /layer/0/num_message_bits = B, /layer/0/input_max   (graded input only: B-bit payloads,
                                                      one unit being input_max / (2^B − 1)
                                                      of input; absent: binary spikes. lava-dl
                                                      takes B only as Network(...,
                                                      input_message_bits=B))
    /layer/<i>/type = "dense"                        (i = 1 … L)
    /layer/<i>/shape = [n_out]
    /layer/<i>/weight = W_q · 2^weight_exp           (whole numbers: lava-dl reads them as
                                                      integers at exponent 0 and picks its own
                                                      weight bits and exponent, exactly)
    /layer/<i>/bias = bias_mant · 2^(bias_exp − 6)   (whole numbers: lava-dl reads the bias as
                                                      a mantissa at its fixed bias_exp 6)
    /layer/<i>/neuron/type = "CUBA"
    /layer/<i>/neuron/iDecay = du + 1, vDecay = dv, vThMant = vth (lava-dl: vth = vThMant),
    /layer/<i>/neuron/refDelay = 1, gradedSpike = False

plus the raw integers (``weight_mant``, ``weight_exp``, ``num_weight_bits``,
``bias_mant``, ``bias_exp``) for an exact round trip with :func:`read_netx`. Written
atomically.

A layer lava-dl would misread (weights that are not whole numbers at exponent 0 or fall
outside its 8-bit range, biases that are not whole mantissas at exponent 6, all-zero
weights) gets no ``weight``/``bias``/``neuron`` datasets — lava-dl then stops on the
missing ``weight`` instead of running different integers — and its reason in the layer's
``lavadl`` attribute; ``write_netx(..., require_lavadl=True)`` raises :class:`NetxError`
instead. :func:`quantize_loihi2` caps ``weight_exp`` at 0 and puts biases at exponent 6
where it is 0, so a layer is representable whenever its worst-case step input fits ``u`` at
exponent 0 (the digits network's do; a graded first layer does not).

Conv layers are not exported: :func:`write_netx` raises :class:`NetxError` for a network
that has one (``deploy`` then writes no ``model.net`` and says so in its report).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._atomic import atomic_path
from ...errors import ModelError
from .network import LoihiLayer, LoihiNetwork, sign_mode

__all__ = ["write_netx", "read_netx", "lavadl_problem", "netx_refusal", "NetxError",
           "NETX_BIAS_EXP"]

NETX_BIAS_EXP = 6  # lava-dl's CUBA neuron: bias_mant = the file's bias, bias_exp = 6
BIAS_MANT_MAX = 4095  # 13-bit signed mantissa


class NetxError(ModelError):
    """A layer that lava-dl's netx reader cannot represent."""


def _lavadl_weight(L: LoihiLayer) -> tuple[np.ndarray | None, str]:
    """The file's ``weight`` (integers at exponent 0) or None and why lava-dl cannot hold it."""
    w = L.weight.astype(np.int64)
    e = int(L.weight_exp)
    if not w.any():
        return None, "all its weights are 0 (lava-dl cannot size them); fix: prune the layer"
    if e < 0 and (w % (1 << -e)).any():
        return None, (f"its weights at weight_exp {e} are not whole numbers at exponent 0 "
                      "(lava-dl would truncate them); fix: deploy with binary input spikes "
                      "and a worst-case step input inside the 24-bit u, so that "
                      "quantize_loihi2 picks weight_exp 0")
    wf = w << e if e >= 0 else w >> -e
    lo, hi = int(wf.min()), int(wf.max())
    top = 255 if lo >= 0 else 254
    if hi > top or lo < -256:
        return None, (f"its weights × 2^weight_exp span {lo}..{hi}, outside lava-dl's 8-bit "
                      f"range -256..{top}; fix: quantise with weight_exp ≤ 0 (quantize_loihi2 "
                      "does)")
    return wf, ""


def _lavadl_bias(L: LoihiLayer) -> tuple[np.ndarray | None, str]:
    """The file's ``bias`` (mantissas at exponent 6) or None and why lava-dl cannot hold it."""
    b = L.bias_mant.astype(np.int64)
    shift = int(L.bias_exp) - NETX_BIAS_EXP
    if shift < 0 and (b % (1 << -shift)).any():
        return None, (f"its bias mantissas at bias_exp {L.bias_exp} are not whole multiples of "
                      f"2^{-shift} (lava-dl fixes bias_exp at {NETX_BIAS_EXP}); fix: quantise "
                      f"with bias_exp {NETX_BIAS_EXP} (quantize_loihi2 does when weight_exp is 0)")
    bf = b << shift if shift >= 0 else b >> -shift
    if np.abs(bf).max(initial=0) > BIAS_MANT_MAX:
        return None, (f"its biases need mantissas up to {int(np.abs(bf).max())} at lava-dl's "
                      f"bias_exp {NETX_BIAS_EXP} (13-bit limit {BIAS_MANT_MAX}); fix: lower "
                      "the layer's biases")
    return bf, ""


def lavadl_problem(L: LoihiLayer) -> str:
    """Why lava-dl's netx reader would misread layer ``L``, or "" when it reads it exactly."""
    return _lavadl_weight(L)[1] or _lavadl_bias(L)[1]


def netx_refusal(net: LoihiNetwork) -> str:
    """Why :func:`write_netx` refuses ``net`` (one line), or "" when it writes it."""
    conv = [L.name for L in net.layers if L.conv is not None]
    if conv:
        return (f"netx export of conv layers is not supported yet (layer '{conv[0]}'); deploy "
                "writes the NIR file and runs in Lava")
    return ""


def write_netx(net: LoihiNetwork, path: str | Path, *, require_lavadl: bool = False) -> Path:
    """Write ``net`` (see the module docstring). ``require_lavadl``: raise
    :class:`NetxError` naming the first layer lava-dl could not read exactly. A network
    with conv layers is refused (:func:`netx_refusal`): no file is written rather than one
    lava-dl would read as a different network."""
    import h5py

    from ...frontends.nir_io import HDF5_LOCK

    if why := netx_refusal(net):
        raise NetxError(why)

    if require_lavadl:
        for L in net.layers:
            if why := lavadl_problem(L):
                raise NetxError(f"netx export: layer '{L.name}' cannot be written for lava-dl: "
                                f"{why}")
    path = Path(path)
    with HDF5_LOCK, atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["producer"] = "neurocosim"
        f.attrs["name"] = net.name
        layer = f.create_group("layer")
        inp = layer.create_group("0")
        inp.create_dataset("type", data="input", dtype=h5py.string_dtype())
        inp.create_dataset("shape", data=np.array([net.input_size], np.int64))
        if net.graded:  # binary inputs: the layout written before graded spikes
            inp.create_dataset("num_message_bits", data=np.int32(net.num_message_bits))
            inp.create_dataset("input_max", data=np.float64(net.input_max))
        for i, L in enumerate(net.layers, start=1):
            _write_layer(layer.create_group(str(i)), L, h5py)
    return path


def _write_layer(g, L: LoihiLayer, h5py) -> None:
    """One dense layer: lava-dl's datasets when it reads them exactly, and the raw integers."""
    g.create_dataset("type", data="dense", dtype=h5py.string_dtype())
    g.create_dataset("name", data=L.name, dtype=h5py.string_dtype())
    g.create_dataset("shape", data=np.array([L.n_out], np.int64))
    g.create_dataset("weight_mant", data=L.weight.astype(np.int32))
    g.create_dataset("weight_exp", data=np.int32(L.weight_exp))
    g.create_dataset("num_weight_bits", data=np.int32(L.num_weight_bits))
    g.create_dataset("bias_mant", data=L.bias_mant.astype(np.int32))
    g.create_dataset("bias_exp", data=np.int32(L.bias_exp))
    n = g.create_group("neuron_neurocosim")
    n.create_dataset("iDecay", data=np.int32(L.du + 1))
    n.create_dataset("vDecay", data=np.int32(L.dv))
    n.create_dataset("vThMant", data=np.int32(L.vth))
    if why := lavadl_problem(L):
        g.attrs["lavadl"] = f"not readable by lava-dl: {why}"
        return
    g.attrs["lavadl"] = "exact"
    g.create_dataset("weight", data=_lavadl_weight(L)[0].astype(np.float64))
    g.create_dataset("bias", data=_lavadl_bias(L)[0].astype(np.float64))
    n = g.create_group("neuron")
    n.create_dataset("type", data="CUBA", dtype=h5py.string_dtype())
    n.create_dataset("iDecay", data=np.int32(L.du + 1))
    n.create_dataset("vDecay", data=np.int32(L.dv))
    n.create_dataset("vThMant", data=np.int32(L.vth))
    n.create_dataset("refDelay", data=np.int32(1))
    n.create_dataset("gradedSpike", data=False)


def read_netx(path: str | Path) -> LoihiNetwork:
    """Read back a file written by :func:`write_netx` (exact integers)."""
    import h5py

    from ...frontends.nir_io import HDF5_LOCK

    layers = []
    with HDF5_LOCK, h5py.File(path, "r") as f:
        name = str(f.attrs.get("name", Path(path).stem))
        keys = sorted((k for k in f["layer"] if k != "0"), key=int)
        inp = f["layer"]["0"]
        bits = int(inp["num_message_bits"][()]) if "num_message_bits" in inp else 0
        input_max = float(inp["input_max"][()]) if "input_max" in inp else 1.0
        for k in keys:
            g = f["layer"][k]
            w = g["weight_mant"][()].astype(np.int64)
            nk = "neuron_neurocosim" if "neuron_neurocosim" in g else "neuron"
            layers.append(LoihiLayer(
                name=g["name"][()].decode() if isinstance(g["name"][()], bytes) else str(g["name"][()]),
                weight=w, weight_exp=int(g["weight_exp"][()]),
                num_weight_bits=int(g["num_weight_bits"][()]), sign_mode=sign_mode(w),
                du=int(g[nk]["iDecay"][()]) - 1, dv=int(g[nk]["vDecay"][()]),
                vth=int(g[nk]["vThMant"][()]), bias_mant=g["bias_mant"][()].astype(np.int64),
                bias_exp=int(g["bias_exp"][()])))
    return LoihiNetwork(name=name, layers=tuple(layers), num_message_bits=bits,
                        input_max=input_max)
