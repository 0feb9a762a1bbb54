"""Counts of a zoo network, computed from its IR: parameters (as the papers' tables count
them), multiply-accumulates of one time step, depth.

**Parameters are counted before BatchNorm folding**, as PyTorch counts a model's
trainable parameters and as both papers' tables do: every synaptic weight, the bias of a
synaptic layer that no BatchNorm follows (a convolution followed by a BatchNorm has
``bias=False`` in the papers' code; its IR bias is a structural zero), and each
BatchNorm's γ and β (running statistics are buffers, not parameters).
:func:`parameters_folded` counts what the chip stores after
:func:`~neurocosim.ir.fold_batchnorm`: weights and every bias.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network

__all__ = ["parameters", "parameters_folded", "macs_per_step", "depth", "spike_ops"]

_SYN = (N.Conv2d, N.Affine, N.Linear)


def _followed_by_bn(net: Network, name: str) -> bool:
    outs = [b for a, b in net.edges if a == name]
    return len(outs) == 1 and isinstance(net.nodes[outs[0]], N.BatchNorm)


def parameters(net: Network, biased: Collection[str] = ()) -> int:
    """Trainable parameters as PyTorch counts them (see the module docstring); the
    layers named in ``biased`` have a trainable bias even before a BatchNorm (the
    transformers' codes keep ``bias=True`` there)."""
    n = 0
    biased = set(biased)
    for name, node in net.nodes.items():
        if isinstance(node, _SYN):
            n += node.weight.size
            if not isinstance(node, N.Linear) and (name in biased
                                                   or not _followed_by_bn(net, name)):
                n += node.bias.size
        elif isinstance(node, N.BatchNorm):
            n += node.gamma.size + node.beta.size
    return int(n)


def parameters_folded(net: Network) -> int:
    """Weights and biases stored once every BatchNorm is folded (``net`` folded or not)."""
    n = 0
    for name, node in net.nodes.items():
        if isinstance(node, _SYN):
            n += node.weight.size
            if not isinstance(node, N.Linear):
                n += node.weight.shape[0]
        elif isinstance(node, N.BatchNorm) and not _after_synaptic(net, name):
            n += 2 * node.gamma.size
    return int(n)


def _after_synaptic(net: Network, name: str) -> bool:
    ins = [a for a, b in net.edges if b == name]
    return len(ins) == 1 and isinstance(net.nodes[ins[0]], _SYN)


def macs_per_step(net: Network) -> int:
    """Multiply-accumulates of the synaptic layers in one time step (dense: in·out;
    convolution: C_out·C_in/groups·k_h·k_w·H_out·W_out); BatchNorm, pooling and the
    residual adds are not counted."""
    n = 0
    for name in net.order:
        node = net.nodes[name]
        if isinstance(node, N.Conv2d):
            n += node.weight.size * math.prod(net.out_shapes[name][1:])
        elif isinstance(node, (N.Affine, N.Linear)):
            n += node.weight.size
    return int(n)


def depth(net: Network) -> int:
    """Synaptic layers on the longest path from the input (ResNet-18: 18)."""
    best: dict[str, int] = {}
    for name in net.order:
        here = 1 if isinstance(net.nodes[name], _SYN) else 0
        ins = [best[a] for a, b in net.edges if b == name and a in best]
        best[name] = max(ins, default=0) + here
    return best[net.output_name]


def spike_ops(net: Network) -> dict[str, int]:
    """Operations per step of the spike-spike primitives, from the shapes:
    ``mul`` (element products, ANDs over spikes), ``reduce_adds`` (``n − 1`` adds per
    output of a ReduceSum over ``n`` values), ``matmul_macs`` (``L·M·K·N`` per MatMul)."""
    out = {"mul": 0, "reduce_adds": 0, "matmul_macs": 0}
    for name in net.order:
        node = net.nodes[name]
        if isinstance(node, T.Mul):
            out["mul"] += math.prod(net.out_shapes[name])
        elif isinstance(node, T.ReduceSum):
            shape = net.in_shapes[name]
            n = shape[node.norm_axis(len(shape))]
            out["reduce_adds"] += (n - 1) * math.prod(net.out_shapes[name])
        elif isinstance(node, T.MatMul):
            out["matmul_macs"] += math.prod(node.dims(*(net.out_shapes[s]
                                                        for s in node.operands)))
    return out
