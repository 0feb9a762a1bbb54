"""lava-dl netx export: the Loihi 2 network as an HDF5 ``.net`` file, written with h5py.

Layout (lava-dl's hdf5 network description)::

    /layer/0/type = "input", /layer/0/shape = [n_in]
    /layer/0/num_message_bits = B, /layer/0/input_max   (graded input only: B-bit payloads,
                                                      one unit being input_max / (2^B − 1)
                                                      of input; absent: binary spikes)
    /layer/<i>/type = "dense"                        (i = 1 … L)
    /layer/<i>/shape = [n_out]
    /layer/<i>/weight = W_q · 2^weight_exp           (float; the integer weights with their
                                                      exponent, as netx stores them)
    /layer/<i>/bias = bias_mant · 2^bias_exp        (float, membrane units per step)
    /layer/<i>/neuron/type = "CUBA"
    /layer/<i>/neuron/iDecay = du + 1, vDecay = dv, vThMant = vth,
    /layer/<i>/neuron/refDelay = 1, gradedSpike = False

plus the raw integers (``weight_mant``, ``weight_exp``, ``num_weight_bits``,
``bias_mant``, ``bias_exp``) for an exact round trip. Written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._atomic import atomic_path
from .network import LoihiLayer, LoihiNetwork, sign_mode

__all__ = ["write_netx", "read_netx"]


def write_netx(net: LoihiNetwork, path: str | Path) -> Path:
    import h5py

    from ...frontends.nir_io import HDF5_LOCK

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
            g = layer.create_group(str(i))
            g.create_dataset("type", data="dense", dtype=h5py.string_dtype())
            g.create_dataset("name", data=L.name, dtype=h5py.string_dtype())
            g.create_dataset("shape", data=np.array([L.n_out], np.int64))
            g.create_dataset("weight", data=L.weight.astype(np.float64) * 2.0**L.weight_exp)
            g.create_dataset("bias", data=(L.bias_mant.astype(np.float64) * 2.0**L.bias_exp))
            g.create_dataset("weight_mant", data=L.weight.astype(np.int32))
            g.create_dataset("weight_exp", data=np.int32(L.weight_exp))
            g.create_dataset("num_weight_bits", data=np.int32(L.num_weight_bits))
            g.create_dataset("bias_mant", data=L.bias_mant.astype(np.int32))
            g.create_dataset("bias_exp", data=np.int32(L.bias_exp))
            n = g.create_group("neuron")
            n.create_dataset("type", data="CUBA", dtype=h5py.string_dtype())
            n.create_dataset("iDecay", data=np.int32(L.du + 1))
            n.create_dataset("vDecay", data=np.int32(L.dv))
            n.create_dataset("vThMant", data=np.int32(L.vth))
            n.create_dataset("refDelay", data=np.int32(1))
            n.create_dataset("gradedSpike", data=False)
    return path


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
            layers.append(LoihiLayer(
                name=g["name"][()].decode() if isinstance(g["name"][()], bytes) else str(g["name"][()]),
                weight=w, weight_exp=int(g["weight_exp"][()]),
                num_weight_bits=int(g["num_weight_bits"][()]), sign_mode=sign_mode(w),
                du=int(g["neuron"]["iDecay"][()]) - 1, dv=int(g["neuron"]["vDecay"][()]),
                vth=int(g["neuron"]["vThMant"][()]), bias_mant=g["bias_mant"][()].astype(np.int64),
                bias_exp=int(g["bias_exp"][()])))
    return LoihiNetwork(name=name, layers=tuple(layers), num_message_bits=bits,
                        input_max=input_max)
