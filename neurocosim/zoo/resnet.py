"""Residual spiking networks at ImageNet scale, built as :class:`~neurocosim.ir.Network`
objects with the papers' hyper-parameters and seeded random weights.

* **SEW-ResNet** (Fang et al., "Deep Residual Learning in Spiking Neural Networks",
  NeurIPS 2021; architecture read from their ``imagenet/sew_resnet.py``): the stem is a
  7×7 stride-2 convolution (no bias), BatchNorm, an IF neuron and a 3×3 stride-2 max
  pool (padding 1); each basic block is conv3×3 → BN → IF → conv3×3 → BN → IF, joined
  to the shortcut by ADD (``ir.Add``: outputs are integer spike counts, not binary); a
  block that changes the stride or the width has the shortcut conv1×1 (stride 2) → BN →
  IF; then a global average pool, Flatten and a 1000-way Linear layer with bias (the
  logits, averaged over the steps by the Output's sum). Their ImageNet neurons are
  spikingjelly's ``MultiStepIFNode`` defaults: :math:`v \\leftarrow v + x`, a spike
  where :math:`v \\ge 1`, hard reset to 0 (``IF(r=1, v_threshold=1, compare=">=",
  reset="zero")``); T = 4 steps.
* **MS-ResNet** (Hu et al., "Advancing Spiking Neural Networks towards Deep Residual
  Learning", IEEE TNNLS 2024; read from their ``models/MS_ResNet.py``,
  ``ResNet_origin_18``): the membrane shortcut. The stem is a 7×7 stride-2 convolution
  and BatchNorm only (no neuron; their max pool is defined but not called in
  ``forward``, and the first stage has stride 2 instead, so every map has the usual
  ResNet size); each block is LIF → conv3×3 → BN → LIF → conv3×3 → BN, added (``ir.Add``)
  to the block's input, the *pre-activation* (membrane) sum, or to conv1×1 (stride 2)
  → BN of it where the stride or width changes (so stage 1 has a shortcut conv too).
  After the last stage: LIF → global average pool → Flatten → Linear (with bias). The
  LIF is theirs: :math:`v_t = 0.25\\,v_{t-1}(1 - s_{t-1}) + x_t`, a spike where
  :math:`v > 0.5`, i.e. ``LIF(tau = dt/0.75, r = 4/3, v_threshold = 0.5, reset="zero")``;
  T = 6 steps.

Weights: convolutions Kaiming-normal (fan-out, ReLU gain, as both codes initialise
them), the Linear layer PyTorch's default uniform bound; BatchNorm β = 0, running mean
0, running variance 1 (an untrained network in ``eval()`` mode) and γ = 1 (MS-ResNet) or
γ = 2 (SEW-ResNet: its IF threshold is 1, and with γ = 1 the activity dies out by stage 3
within 4 steps; with 2 every stage fires at about 10-30 % per step on uniform random
images of 64×64). A
convolution before a BatchNorm has ``bias=False`` in both codes: its IR bias is a
structural zero, not a parameter (see :func:`neurocosim.zoo.stats.parameters`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..budget import check_memory
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network
from .graph import Graph

__all__ = ["ResNetSpec", "build_resnet", "weight_bytes"]

DT = 1e-3
WIDTHS = (64, 128, 256, 512)


@dataclass(frozen=True)
class ResNetSpec:
    """One architecture: ``kind`` ``"sew"`` or ``"ms"``, blocks per stage, the default
    steps, and the paper (citation, table, parameter count)."""

    kind: str
    blocks: tuple[int, int, int, int]
    steps: int
    paper: str
    table: str
    paper_parameters: float


class _Graph(Graph):
    """A :class:`~neurocosim.zoo.graph.Graph` with this builder's layer helpers."""

    def conv_bn(self, name: str, src: str, c_in: int, c_out: int, k: int, stride: int) -> str:
        """conv k×k (padding k//2, no bias) → BatchNorm; returns the BatchNorm's name."""
        std = math.sqrt(2.0 / (c_out * k * k))  # Kaiming normal, fan-out, ReLU gain
        w = self.rng.standard_normal((c_out, c_in, k, k)) * std
        self.add(f"{name}_conv", N.Conv2d(weight=w, bias=np.zeros(c_out), stride=stride,
                                          padding=k // 2), src)
        zero = np.zeros(c_out)
        bn = N.BatchNorm(gamma=np.full(c_out, self.gamma), beta=zero, running_mean=zero,
                         running_var=np.ones(c_out))
        return self.add(f"{name}_bn", bn, f"{name}_conv")


def _if() -> N.IF:
    return N.IF(r=1.0, v_threshold=1.0, v_reset=0.0, reset="zero", compare=">=")


def _lif(dt: float) -> N.LIF:
    return N.LIF(tau=dt / 0.75, r=4.0 / 3.0, v_leak=0.0, v_threshold=0.5, v_reset=0.0,
                 reset="zero", compare=">")


def _sew_block(g: _Graph, name: str, src: str, c_in: int, c_out: int, stride: int) -> str:
    a = g.add(f"{name}_sn1", _if(), g.conv_bn(f"{name}_conv1", src, c_in, c_out, 3, stride))
    b = g.add(f"{name}_sn2", _if(), g.conv_bn(f"{name}_conv2", a, c_out, c_out, 3, 1))
    short = src
    if stride != 1 or c_in != c_out:
        short = g.add(f"{name}_downsample_sn", _if(),
                      g.conv_bn(f"{name}_downsample", src, c_in, c_out, 1, stride))
    return g.add(f"{name}_add", T.Add(), b, short)


def _ms_block(g: _Graph, name: str, src: str, c_in: int, c_out: int, stride: int) -> str:
    a = g.add(f"{name}_sn1", _lif(g.dt), src)
    b = g.add(f"{name}_sn2", _lif(g.dt), g.conv_bn(f"{name}_conv1", a, c_in, c_out, 3, stride))
    res = g.conv_bn(f"{name}_conv2", b, c_out, c_out, 3, 1)
    short = src
    if stride != 1 or c_in != c_out:
        short = g.conv_bn(f"{name}_shortcut", src, c_in, c_out, 1, stride)
    return g.add(f"{name}_add", T.Add(), res, short)


def weight_bytes(spec: ResNetSpec, classes: int) -> float:
    """An upper bound of the float64 bytes of the weights (checked before drawing)."""
    n = 3 * 64 * 49 + 512 * classes + classes
    c_in = 64
    for c, blocks in zip(WIDTHS, spec.blocks, strict=True):
        n += 9 * c * (c_in + c) + c * c_in + 9 * c * c * 2 * (blocks - 1)
        c_in = c
    return 8.0 * n


def build_resnet(spec: ResNetSpec, name: str, *, seed: int = 0, input_hw: int = 224,
                 classes: int = 1000, dt: float = DT) -> Network:
    """The network ``spec`` describes, weights drawn from ``seed``, on a
    ``(3, input_hw, input_hw)`` input with ``classes`` outputs (the paper: 224, 1000);
    ``dt`` scales the LIF time constants (the dynamics per step do not change)."""
    check_memory(weight_bytes(spec, classes), f"zoo model '{name}' (its float64 weights)",
                 "raise NEUROCOSIM_MAX_MEMORY or build a smaller variant")
    g = _Graph(np.random.default_rng(seed), dt, 2.0 if spec.kind == "sew" else 1.0)
    g.add("input", N.Input(shape=(3, input_hw, input_hw)))
    x = g.conv_bn("conv1", "input", 3, 64, 7, 2)
    if spec.kind == "sew":
        x = g.add("sn1", _if(), x)
        x = g.add("maxpool", N.MaxPool2d(kernel_size=3, stride=2, padding=1), x)
    block = _sew_block if spec.kind == "sew" else _ms_block
    c_in = 64
    for stage, (c, blocks) in enumerate(zip(WIDTHS, spec.blocks, strict=True), start=1):
        for i in range(blocks):
            stride = 2 if i == 0 and (stage > 1 or spec.kind == "ms") else 1
            x = block(g, f"layer{stage}_{i}", x, c_in, c, stride)
            c_in = c
    if spec.kind == "ms":
        x = g.add("sn_out", _lif(g.dt), x)
    hw = input_hw
    for _ in range(5):  # the stem's conv and pool (sew) or stage 1 (ms), then 3 stages
        hw = (hw - 1) // 2 + 1
    x = g.add("avgpool", N.AvgPool2d(kernel_size=hw, stride=hw), x)
    x = g.add("flatten", N.Flatten(), x)
    bound = 1.0 / math.sqrt(512)
    g.add("fc", N.Affine(weight=g.rng.uniform(-bound, bound, (classes, 512)),
                         bias=g.rng.uniform(-bound, bound, classes)), x)
    g.add("output", N.Output(), "fc")
    return Network(nodes=g.nodes, edges=tuple(g.edges), dt=dt, name=name)
