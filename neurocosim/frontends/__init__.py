"""Model frontends: NIR files, ``.npz`` weight bundles, ANN→SNN conversion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._yaml import input_file
from ..errors import ModelError
from ..ir.graph import Network
from ..ir.nodes import describe
from ..ir.transforms import fold_batchnorm
from ..zoo import PREFIX as ZOO
from ..zoo import build as build_zoo_model
from .ann import convert_mlp, layer_scales, load_mlp
from .nir_io import SUPPORTED_NIR_TYPES, read_nir, write_nir
from .npz import network_from_weights, read_npz, write_npz

__all__ = [
    "load_network", "save_network", "read_nir", "write_nir", "read_npz", "write_npz",
    "network_from_weights", "convert_mlp", "layer_scales", "load_mlp", "SUPPORTED_NIR_TYPES",
]


def load_network(path: str | Path, dt: float | None = None) -> Network:
    """Load a model file by extension: ``.nir`` (NIR) or ``.npz`` (weight bundle), or
    build ``zoo:NAME`` from the model zoo (:mod:`neurocosim.zoo`, seed 0).

    ``dt`` (seconds) discretises every time constant (DESIGN §3.1); NIR stores none, so it
    is required for NIR files not written by neurocosim. Every BatchNorm that follows a
    synaptic layer is folded into it (:func:`~neurocosim.ir.fold_batchnorm`; the folds are
    in the network's ``folded``, which ``neurocosim info`` lists).

    Total: any file (or folder, or missing path) gives a network or a
    :class:`~neurocosim.errors.ModelError` (a :class:`~neurocosim.errors.BudgetError` for
    arrays beyond the memory budget) naming the file and what is wrong.
    """
    zoo_name = path[len(ZOO):] if isinstance(path, str) and path.startswith(ZOO) else None
    if zoo_name is None:
        path = input_file(path, "model file", ModelError, "a .nir or .npz file")
    if dt is not None:
        ok = isinstance(dt, (int, float, np.number)) and not isinstance(dt, (bool, np.bool_))
        if not (ok and math.isfinite(float(dt)) and float(dt) > 0):
            raise ModelError(f"dt must be a positive number of seconds, got {describe(dt)}")
        dt = float(dt)
    if zoo_name is not None:
        return fold_batchnorm(build_zoo_model(zoo_name, dt=dt))
    suffix = path.suffix.lower()
    if suffix in (".nir", ".h5", ".hdf5"):
        return fold_batchnorm(read_nir(path, dt))
    if suffix == ".npz":
        return fold_batchnorm(read_npz(path, dt))
    raise ModelError(f"{path}: unknown model format {describe(suffix)}; use a .nir or .npz file")


def save_network(net: Network, path: str | Path, *, extensions: bool = False) -> Path:
    """Save ``net`` as NIR (``.nir``) or as a weight bundle (``.npz``), atomically;
    ``extensions``: NIR's missing nodes as ``neurocosim.<Kind>`` nodes (:mod:`.nir_io`)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return write_npz(net, path)
    if path.suffix.lower() != ".nir":
        raise ModelError(f"{path}: save as .nir (NIR) or .npz (weight bundle)")
    return write_nir(net, path, extensions=extensions)
