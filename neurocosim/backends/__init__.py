"""Deployment backends: Loihi 2 fixed-point quantisation, Lava process graphs, netx and
NIR exports. Lava itself is imported only when a graph is built or run."""

from .loihi import LoihiWarning, quantize_loihi2
from .netx import read_netx, write_netx

__all__ = ["quantize_loihi2", "LoihiWarning", "write_netx", "read_netx"]
