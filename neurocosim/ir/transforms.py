"""Transforms of the network IR: new networks computing the same function.

:func:`fold_batchnorm` folds every :class:`~neurocosim.ir.nodes.BatchNorm` that directly
follows a synaptic layer (Conv2d, Affine, Linear) into that layer's weight and bias; what
cannot be folded (a BatchNorm after a pool, at the input, or after a layer whose output
feeds other nodes too) stays and runs as a digital per-element scale and shift.

:func:`conv1d_as_conv2d` rewrites every :class:`~neurocosim.ir.conv1d.Conv1d` as the
equal Conv2d on a height-1 map, and :func:`expand_delays` every
:class:`~neurocosim.ir.delay.Delay` of ``d`` steps as a chain of ``d`` one-step Delays
(the engine keeps one step of history per node); :func:`engine_ready` applies both
(what the cycle-level engine's tables need; the reference needs neither).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ModelError
from . import nodes as N
from . import tensors as T
from .conv1d import Conv1d
from .delay import Delay
from .graph import Network

__all__ = ["fold_batchnorm", "conv1d_as_conv2d", "expand_delays", "engine_ready"]

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
        for a, b in edges:  # an ordered successor names the BatchNorm among its operands
            if a == name and isinstance(nodes[b], T.ORDERED):
                ops = tuple(src if o == name else o for o in nodes[b].operands)
                nodes[b] = dataclasses.replace(nodes[b], operands=ops)
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


def conv1d_as_conv2d(net: Network) -> Network:
    """``net`` with each Conv1d ``name`` on ``(C_in, L)`` replaced by a Reshape to
    ``(C_in, 1, L)`` (``{name}_h1``), the equal Conv2d (``{name}_conv2d``,
    :meth:`~neurocosim.ir.conv1d.Conv1d.as_conv2d`) and a Reshape back to
    ``(C_out, L_out)`` named ``name`` (so its successors and probes are unchanged).
    ``net`` is returned as is when it has no Conv1d."""
    convs = [n for n in net.order if isinstance(net.nodes[n], Conv1d)]
    if not convs:
        return net
    nodes, edges = dict(net.nodes), list(net.edges)
    for name in convs:
        c_in, length = net.in_shapes[name]
        h1, conv = f"{name}_h1", f"{name}_conv2d"
        for extra in (h1, conv):
            if extra in nodes:
                raise ModelError(f"node {extra!r} exists: cannot rewrite Conv1d {name!r} as a "
                                 "Conv2d; rename it")
        nodes[h1] = T.Reshape(shape=(c_in, 1, length))
        nodes[conv] = net.nodes[name].as_conv2d(length)
        nodes[name] = T.Reshape(shape=net.out_shapes[name])
        edges = [(a, h1 if b == name else b) for a, b in edges] + [(h1, conv), (conv, name)]
    return net.replace(nodes=nodes, edges=tuple(edges))


def expand_delays(net: Network) -> Network:
    """``net`` with each Delay ``name`` of ``d > 1`` steps replaced by ``d`` one-step
    Delays in a chain, ``{name}_1`` … ``{name}_{d−1}`` then ``name`` (its sources feed
    ``{name}_1``); the same values at every step. ``net`` is returned as is when no
    Delay is longer than one step."""
    long = [n for n in net.order if isinstance(net.nodes[n], Delay) and net.nodes[n].steps > 1]
    if not long:
        return net
    nodes, edges = dict(net.nodes), list(net.edges)
    for name in long:
        node = nodes[name]
        chain = [f"{name}_{i}" for i in range(1, node.steps)] + [name]
        for extra in chain[:-1]:
            if extra in nodes:
                raise ModelError(f"node {extra!r} exists: cannot expand Delay {name!r}; "
                                 "rename it")
        for n in chain:
            nodes[n] = Delay(steps=1, shape=node.shape)
        edges = [(a, chain[0] if b == name else b) for a, b in edges]
        edges += list(zip(chain[:-1], chain[1:], strict=True))
    return net.replace(nodes=nodes, edges=tuple(edges))


def engine_ready(net: Network) -> Network:
    """``net`` as the cycle-level engine takes it: :func:`conv1d_as_conv2d` then
    :func:`expand_delays` (each a no-op when there is nothing to rewrite)."""
    return expand_delays(conv1d_as_conv2d(net))
