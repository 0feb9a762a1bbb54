"""The IR around a framework neuron whose update one IR neuron does not hold alone.

:class:`~.neurons.NeuronSpec` names the parts (the update side by side in
:mod:`.snntorch_neurons`); here they become nodes and edges, with the layer's spikes
one step late from a one-step :class:`~neurocosim.ir.delay.Delay` (which may close a
cycle: its incoming edge is a recurrent edge of the network)::

    synapse        x ─▶ syn = Scale(1);   syn ─▶ Delay ─▶ Scale(α) ─▶ syn
    recurrent      neuron ─▶ Delay ─▶ V (Affine | Conv2d | Scale) ─▶ neuron
    late_subtract  neuron ─▶ Delay ─▶ Scale(−θ/r) ─▶ neuron
    gate           IAnd(Delay(neuron), Add(x|syn, V)) ─▶ neuron  ((1 − s_{t−1})·input)

(one Delay of the neuron serves all three), and SpikingJelly's TernaryIFNode as a
memoryless TernaryLIF on an accumulator (:func:`_accumulated`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...ir import nodes as N
from ...ir import tensors as T
from ...ir.delay import Delay
from .layout import TV, Builder

__all__ = ["wire_neuron"]


def wire_neuron(b: Builder, name: str, spec, tv: TV) -> TV:
    """Neuron ``spec.node`` (named ``name``, made unique) fed by ``tv`` with the parts
    ``spec`` names; its spikes."""
    shape, lead = tv.shape, tv.lead
    if spec.accumulate is not None:
        return _accumulated(b, name, spec, tv)
    x = tv
    if spec.synapse:  # syn_t = α·syn_{t−1} + x_t (α = 0: syn = x)
        s = b.add(f"{name}_syn", N.Scale(scale=1.0), x)
        d = b.add(f"{name}_syn_prev", Delay(steps=1, shape=shape), TV(s, shape, lead))
        k = b.add(f"{name}_syn_decay", N.Scale(scale=float(spec.synapse)),
                  TV(d, shape, lead))
        b.edges.append((k, s))
        x = TV(s, shape, lead)
    nrn = b.add(name, spec.node)
    ins = [x]
    if spec.recurrent is None and spec.late_subtract is None and not spec.gate:
        b.edges.append((x.name, nrn))
        return TV(nrn, shape, lead)
    prev = TV(b.add(f"{nrn}_late", Delay(steps=1, shape=shape), TV(nrn, shape, lead)),
              shape, lead)
    if spec.recurrent is not None:
        ins.append(TV(b.add(f"{nrn}_rec", _fit(spec.recurrent, shape), prev), shape, lead))
    if spec.late_subtract is not None:
        node = N.Scale(scale=np.full(shape, float(spec.late_subtract)))
        ins.append(TV(b.add(f"{nrn}_late_scale", node, prev), shape, lead))
    if spec.gate:
        total = ins[0] if len(ins) == 1 else TV(b.add(f"{nrn}_in", T.Add(), *ins), shape,
                                                  lead)
        gate = T.IAnd(operands=(prev.name, total.name))
        ins = [TV(b.add(f"{nrn}_gate", gate, prev, total), shape, lead)]
    b.edges.extend((i.name, nrn) for i in ins)
    return TV(nrn, shape, lead)


def _accumulated(b: Builder, name: str, spec, x: TV) -> TV:
    """A memoryless neuron (α = 1) on an accumulator ``A`` holding the membrane:
    ``A_t = x_t + A_{t−1} − θ·s_{t−1}`` (subtract) or ``x_t + (1 − s_{t−1}²)·A_{t−1}``
    (zero; ``s²`` the product of two one-step Delays of the signed spikes)."""
    shape, lead = x.shape, x.lead
    mode, theta = spec.accumulate
    acc = b.add(f"{name}_acc", N.Scale(scale=1.0), x)
    nrn = b.add(name, spec.node, TV(acc, shape, lead))
    one = lambda src, tag: TV(b.add(f"{nrn}_{tag}", Delay(steps=1, shape=shape),  # noqa: E731
                                    TV(src, shape, lead)), shape, lead)
    acc_prev, prev = one(acc, "acc_prev"), one(nrn, "late")
    if mode == "subtract":
        k = b.add(f"{nrn}_late_scale", N.Scale(scale=np.full(shape, -float(theta))), prev)
        b.edges += [(acc_prev.name, acc), (k, acc)]
    else:
        prev2 = one(nrn, "late2")
        sq = TV(b.add(f"{nrn}_fired", T.Mul(operands=(prev.name, prev2.name)), prev, prev2),
                shape, lead)
        gate = b.add(f"{nrn}_gate", T.IAnd(operands=(sq.name, acc_prev.name)), sq, acc_prev)
        b.edges.append((gate, acc))
    return TV(nrn, shape, lead)


def _fit(node: N.Node, shape: tuple[int, ...]) -> N.Node:
    """The recurrent node for a layer of ``shape`` (a Conv2d's input size, a Scale's
    factor broadcast)."""
    if isinstance(node, N.Conv2d):
        return dataclasses.replace(node, input_shape=tuple(shape[1:]))
    if isinstance(node, N.Scale):
        return N.Scale(scale=np.broadcast_to(np.asarray(node.scale, dtype=np.float64),
                                             shape).copy())
    return node
