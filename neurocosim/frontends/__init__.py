"""Model frontends: NIR files, ``.npz`` weight bundles, ANN→SNN conversion."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..ir.graph import Network
from .ann import convert_mlp, layer_scales
from .nir_io import SUPPORTED_NIR_TYPES, read_nir, write_nir
from .npz import network_from_weights, read_npz, write_npz

__all__ = [
    "load_network", "save_network", "read_nir", "write_nir", "read_npz", "write_npz",
    "network_from_weights", "convert_mlp", "layer_scales", "SUPPORTED_NIR_TYPES",
]


def load_network(path: str | Path, dt: float | None = None) -> Network:
    """Load a model file by extension: ``.nir`` (NIR) or ``.npz`` (weight bundle).

    ``dt`` (seconds) discretises every time constant (DESIGN §3.1); NIR stores none, so it
    is required for NIR files not written by neurocosim.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if dt is not None and not (dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {dt!r}")
    suffix = path.suffix.lower()
    if suffix in (".nir", ".h5", ".hdf5"):
        return read_nir(path, dt)
    if suffix == ".npz":
        return read_npz(path, dt)
    raise ModelError(f"{path}: unknown model format {suffix!r}; use a .nir or .npz file")


def save_network(net: Network, path: str | Path) -> Path:
    """Save ``net`` as NIR (``.nir``) or as a weight bundle (``.npz``), atomically."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return write_npz(net, path)
    if path.suffix.lower() != ".nir":
        raise ModelError(f"{path}: save as .nir (NIR) or .npz (weight bundle)")
    return write_nir(net, path)
