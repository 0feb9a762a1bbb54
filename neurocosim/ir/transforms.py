"""Transforms of the network IR: new networks computing the same function.

:func:`fold_batchnorm` folds every :class:`~neurocosim.ir.nodes.BatchNorm` that directly
follows a synaptic layer (Conv2d, Affine, Linear) into that layer's weight and bias; what
cannot be folded (a BatchNorm after a pool, at the input, or after a layer whose output
feeds other nodes too) stays and runs as a digital per-element scale and shift.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import nodes as N
from .graph import Network

__all__ = ["fold_batchnorm"]

_FOLDABLE = (N.Conv2d, N.Affine, N.Linear)


def fold_batchnorm(net: Network) -> Network:
    """``net`` with each BatchNorm that follows a synaptic layer folded into it.

    With :math:`s = \\gamma / \\sqrt{\\sigma^2 + \\epsilon}` and :math:`b = \\beta - \\mu s`
    per output channel, a layer :math:`z = W x + b_0` followed by the BatchNorm becomes
    :math:`W' = s W` (row / output channel ``o`` scaled by ``s[o]``) and
    :math:`b' = s b_0 + b`; a Linear becomes an Affine. A BatchNorm is folded when its
    only input is such a layer (not along a recurrent edge) and that layer feeds nothing
    else. The folds are recorded in :attr:`Network.folded` (``(batchnorm, layer)``);
    ``net`` itself is not changed and is returned as is when nothing folds.
    """
    nodes = dict(net.nodes)
    edges = list(net.edges)
    folded = list(net.folded)
    for name in net.order:
        bn = nodes.get(name)
        if not isinstance(bn, N.BatchNorm):
            continue
        into = [(a, b) for a, b in edges if b == name]
        if len(into) != 1 or (into[0] in net.back_edges):
            continue
        src = into[0][0]
        layer = nodes[src]
        if not isinstance(layer, _FOLDABLE) or sum(a == src for a, _ in edges) != 1:
            continue
        nodes[src] = _folded_layer(layer, bn)
        del nodes[name]
        edges = [(src if a == name else a, b) for a, b in edges if (a, b) != (src, name)]
        folded.append((name, src))
    if len(folded) == len(net.folded):
        return net
    return net.replace(nodes=nodes, edges=tuple(edges), folded=tuple(folded))


def _folded_layer(layer: N.Node, bn: N.BatchNorm) -> N.Node:
    """``layer`` with ``bn`` folded into its weight and bias (float64)."""
    s, b = bn.scale_shift()
    w = np.asarray(layer.weight, np.float64)
    w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    if isinstance(layer, N.Linear):
        return N.Affine(weight=w, bias=b)
    bias = np.broadcast_to(np.asarray(layer.bias, np.float64), s.shape)
    return dataclasses.replace(layer, weight=w, bias=bias * s + b)
