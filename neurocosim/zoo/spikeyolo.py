"""SpikeYOLO's backbone (Luo, Yao, Zhou, Xu, Hu, Li: "Integer-Valued Training and
Spike-Driven Inference Spiking Neural Network for High-performance and Energy-efficient
Object Detection", ECCV 2024; code github.com/BICLab/SpikeYOLO,
``ultralytics/cfg/models/v8/snn_yolov8.yaml`` and ``ultralytics/nn/modules/
yolo_spikformer.py``, read module by module, no code copied), built as a
:class:`~neurocosim.ir.Network` with seeded weights.

**I-LIF** (``mem_update``): ``mem_t = (mem_{t−1} − s_{t−1})·0.25 + x_t``, ``s_t =
round(clamp(mem_t, 0, 4))`` — the IR :class:`~neurocosim.ir.ILIF` with α = dt/τ = 0.75,
``r = 4/3`` (α·r = 1 exactly), θ = 1, D = 4 (:func:`ilif`): its reset subtracts the
integer spike, and ``v + 0.75·(0 − v) + I`` is ``0.25·v + I``.

**Backbone** (the yaml's ``backbone``, at a ``width``/``depth`` scale: channels
``int(c·width)``, repeats ``max(round(n·depth), 1)``): MS_DownSampling 3 → 128w (7×7,
stride 4, padding 2, the first without a neuron), 3× MS_AllConvBlock; MS_DownSampling →
256w (3×3, stride 2), 6× MS_AllConvBlock; → 512w, 9× MS_ConvBlock (ratio 3); → 1024w,
3× MS_ConvBlock (ratio 2); SpikeSPPF (1024w, k 5). Every module reads membrane values
and fires them through its own I-LIF first (``lif(x)`` → conv → BN):

* MS_DownSampling: [I-LIF] → conv (bias) → BN;
* SepConv (kernel 7): I-LIF → 1×1 (C → 2C) → BN → I-LIF → depthwise 7×7 → BN → I-LIF →
  SepRepConv (BN padded with its own output for a zero input, 1×1 2C → C, depthwise
  3×3 without padding) → BN;
* MS_AllConvBlock: ``x = SepConv(x) + x``; ``x + conv2(conv1(x))`` with
  MS_StandardConv (I-LIF → 3×3 conv → BN) C → 4C → C;
* MS_ConvBlock (ratio r): ``x = SepConv(x) + x``; ``x + BN(RepConv(I-LIF(BN(RepConv(
  I-LIF(x))))))``, RepConv C → rC → C: 1×1 (C → C) → BN padded likewise → depthwise
  3×3 → 1×1 → BN;
* SpikeSPPF: SpikeConv (I-LIF → 1×1 → BN) C → C/2, three 5×5 stride-1 max pools in a
  row, the four concatenated, SpikeConv 2C → C.

The padded BatchNorm (``BNAndPadLayer``) pads with ``β − μγ/σ``, its output for a zero
input; with the seeded statistics (β = 0, μ = 0) that is 0, so the IR's BatchNorm then a
zero-padded depthwise convolution is exact. The Output is the SPPF's features (the P5
map the neck reads); the neck and the detection head are not built.

Weights: convolutions Kaiming-normal over the fan-in; the downsampling convolutions'
biases (``nn.Conv2d`` default ``bias=True``) PyTorch's uniform bound; BatchNorm γ = 1,
β = 0, mean 0, variance 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..budget import check_memory
from ..errors import ModelError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network
from .graph import Graph

__all__ = ["SpikeYOLOSpec", "build_spikeyolo", "ilif", "biased_layers", "structural_biases"]

DT = 1e-3
#: the backbone of snn_yolov8.yaml: (module, repeats, args)
BACKBONE = (("down", 1, (128, 7, 4, 2, True)), ("allconv", 3, (4, 7)),
            ("down", 1, (256, 3, 2, 1, False)), ("allconv", 6, (4, 7)),
            ("down", 1, (512, 3, 2, 1, False)), ("conv", 9, (3, 7)),
            ("down", 1, (1024, 3, 2, 1, False)), ("conv", 3, (2, 7)),
            ("sppf", 1, (1024, 5)))


@dataclass(frozen=True)
class SpikeYOLOSpec:
    """A scale of the yaml (``width``, ``depth``), steps, the paper and its figure."""

    width: float
    depth: float
    steps: int
    paper: str
    table: str
    paper_parameters: float
    input_hw: int = 640


def ilif(dt: float) -> N.ILIF:
    """SpikeYOLO's ``mem_update`` (see the module docstring) at step ``dt``."""
    return N.ILIF(tau=dt / 0.75, r=4.0 / 3.0, v_leak=0.0, v_threshold=1.0, max_level=4)


class _Graph(Graph):
    def lif(self, name: str, src: str) -> str:
        return self.add(name, ilif(self.dt), src)

    def conv(self, name: str, src: str, cin: int, cout: int, k: int, stride: int = 1,
             pad: int | None = None, groups: int = 1, bias: bool = False) -> str:
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * math.sqrt(2.0 / fan_in)
        b = self.rng.uniform(-1, 1, cout) / math.sqrt(fan_in) if bias else np.zeros(cout)
        return self.add(name, N.Conv2d(weight=w, bias=b, stride=stride, groups=groups,
                                       padding=k // 2 if pad is None else pad), src)

    def bn(self, name: str, src: str, c: int) -> str:
        z = np.zeros(c)
        return self.add(name, N.BatchNorm(gamma=np.ones(c), beta=z, running_mean=z,
                                          running_var=np.ones(c)), src)

    def conv_bn(self, name: str, src: str, cin: int, cout: int, k: int, **kw) -> str:
        return self.bn(f"{name}_bn", self.conv(f"{name}_conv", src, cin, cout, k, **kw), cout)


def _sep(g: _Graph, p: str, x: str, c: int, k: int) -> str:
    """SepConv: I-LIF → pw → BN → I-LIF → dw k×k → BN → I-LIF → SepRepConv → BN."""
    x = g.conv_bn(f"{p}_pw1", g.lif(f"{p}_lif1", x), c, 2 * c, 1)
    x = g.conv_bn(f"{p}_dw2", g.lif(f"{p}_lif2", x), 2 * c, 2 * c, k, groups=2 * c)
    x = g.bn(f"{p}_rep_bn", g.lif(f"{p}_lif3", x), 2 * c)
    x = g.conv(f"{p}_rep_pw", x, 2 * c, c, 1)
    return g.conv_bn(f"{p}_rep_dw", x, c, c, 3, groups=c)


def _rep(g: _Graph, p: str, x: str, cin: int, cout: int) -> str:
    """RepConv: 1×1 → padded BN → dw 3×3 → 1×1 → BN."""
    x = g.conv_bn(f"{p}_pw1", x, cin, cin, 1)
    x = g.conv(f"{p}_dw", x, cin, cin, 3, groups=cin)
    return g.conv_bn(f"{p}_pw2", x, cin, cout, 1)


def _block(g: _Graph, p: str, x: str, c: int, kind: str, ratio: int, k: int) -> str:
    """MS_AllConvBlock (``kind`` "allconv") or MS_ConvBlock ("conv")."""
    x = g.add(f"{p}_add1", T.Add(), _sep(g, f"{p}_sep", x, c, k), x)
    h = ratio * c
    if kind == "allconv":
        y = g.conv_bn(f"{p}_conv1", g.lif(f"{p}_conv1_lif", x), c, h, 3)
        y = g.conv_bn(f"{p}_conv2", g.lif(f"{p}_conv2_lif", y), h, c, 3)
    else:
        y = g.bn(f"{p}_bn1", _rep(g, f"{p}_rep1", g.lif(f"{p}_lif1", x), c, h), h)
        y = g.bn(f"{p}_bn2", _rep(g, f"{p}_rep2", g.lif(f"{p}_lif2", y), h, c), c)
    return g.add(f"{p}_add2", T.Add(), x, y)


def _sppf(g: _Graph, p: str, x: str, c1: int, c2: int, k: int) -> str:
    a = g.conv_bn(f"{p}_cv1", g.lif(f"{p}_cv1_lif", x), c1, c1 // 2, 1)
    pools = [a]
    for i in range(3):
        pools.append(g.add(f"{p}_pool{i}", N.MaxPool2d(kernel_size=k, stride=1,
                                                       padding=k // 2), pools[-1]))
    cat = g.add(f"{p}_cat", T.Concat(operands=tuple(pools), axis=0), *pools)
    return g.conv_bn(f"{p}_cv2", g.lif(f"{p}_cv2_lif", cat), 2 * c1, c2, 1)


def neurons_estimate(spec: SpikeYOLOSpec, hw: int) -> float:
    """Upper bound of the neurons (every I-LIF, 6 arrays each), for the memory budget."""
    c, n = int(128 * spec.width), 0.0
    side = (hw + 4 - 7) // 4 + 1
    for kind, reps, args in BACKBONE:
        if kind == "down" and args[4] is False:
            c, side = int(args[0] * spec.width), (side - 1) // 2 + 1
        if kind in ("allconv", "conv"):
            n += max(round(reps * spec.depth), 1) * (6 + args[0]) * c * side * side
    return n


def build_spikeyolo(spec: SpikeYOLOSpec, name: str, *, seed: int = 0,
                    input_hw: int | None = None, dt: float = DT) -> Network:
    """The backbone ``spec`` describes on a ``(3, input_hw, input_hw)`` image (default
    640), weights from ``seed``."""
    hw = spec.input_hw if input_hw is None else input_hw
    if hw < 32:
        raise ModelError(f"zoo model {name}: input_hw must be >= 32 (five halvings)")
    check_memory(8.0 * 7 * neurons_estimate(spec, hw), f"zoo model '{name}' (its neurons' "
                 "state and parameters)", "build it on a smaller input_hw")
    g = _Graph(np.random.default_rng(seed), dt)
    x, c = g.add("input", N.Input(shape=(3, hw, hw))), 3
    i = 0
    for kind, reps, args in BACKBONE:
        for _ in range(max(round(reps * spec.depth), 1) if reps > 1 else 1):
            p = f"l{i}"
            i += 1
            if kind == "down":
                out, k, s, pad, first = int(args[0] * spec.width), *args[1:]
                src = x if first else g.lif(f"{p}_lif", x)
                x, c = g.conv_bn(p, src, c, out, k, stride=s, pad=pad, bias=True), out
            elif kind == "sppf":
                x = _sppf(g, p, x, c, int(args[0] * spec.width), args[1])
            else:
                x = _block(g, p, x, c, kind, *args)
    g.add("output", N.Output(), x)
    return Network(nodes=g.nodes, edges=tuple(g.edges), dt=dt, name=name)


def biased_layers(net: Network) -> list[str]:
    """The downsampling convolutions (their code's ``nn.Conv2d`` keeps ``bias=True``
    before the BatchNorm)."""
    return [n for n, v in net.nodes.items() if isinstance(v, N.Conv2d)
            and n.endswith("_conv") and n.count("_") == 1]


def structural_biases(net: Network) -> int:
    """Biases of convolutions that have none in the code (``bias=False``) and no
    BatchNorm after them (SepRepConv's and RepConv's inner 1×1 and depthwise layers):
    structural zeros, which :func:`~neurocosim.zoo.stats.parameters` would count as a
    layer's bias (to subtract)."""
    return sum(int(v.bias.size) for n, v in net.nodes.items()
               if isinstance(v, N.Conv2d) and n.endswith(("_rep_pw", "_dw")))
