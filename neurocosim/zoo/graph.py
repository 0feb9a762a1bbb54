"""The graph a zoo builder grows: nodes, edges, the weight generator and the dt."""

from __future__ import annotations

import numpy as np

from ..ir import blocks as B
from ..ir import nodes as N

__all__ = ["Graph"]


class Graph:
    """Nodes and edges being built, with the weight generator (``gamma``: the BatchNorm
    scale a builder gives its layers, when it uses one)."""

    def __init__(self, rng: np.random.Generator, dt: float, gamma: float = 1.0):
        self.rng, self.dt, self.gamma = rng, dt, gamma
        self.nodes: dict[str, N.Node] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: N.Node, *sources: str) -> str:
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return name

    def splice(self, block: B.Block) -> str:
        """Add a block of :mod:`neurocosim.ir.blocks`; its output node's name."""
        self.nodes |= block.nodes
        self.edges += block.edges
        return block.output
