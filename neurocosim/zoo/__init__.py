"""The model zoo: published spiking networks built as :class:`~neurocosim.ir.Network`
objects with the papers' hyper-parameters and seeded random weights (no trained weights
are shipped): residual networks (:mod:`.resnet`: SEW-ResNet, MS-ResNet) and spiking
transformers (:mod:`.transformer`: Spikformer, Spike-driven Transformer, QKFormer). ``load_network("zoo:NAME")`` builds one (BatchNorm folded at load, as for
any model file); ``neurocosim zoo list`` / ``zoo show NAME`` describe them.

* :func:`names` — the registered names;
* :func:`build` — ``build(name, seed=0, input_hw=None, classes=None)`` → the network
  (the paper's input and classes by default: ImageNet 224×224 and 1000, CIFAR-10 32×32
  and 10; a smaller input and fewer classes give a variant with the same blocks, for
  tests; a transformer also takes ``embed_dim``, ``depth`` and ``heads``);
* :func:`info` — ``parameters`` (counted before folding, as the papers' tables and
  PyTorch count them: :mod:`.stats`; ``parameters_folded`` after), ``layers`` (synaptic
  layers: convolutions, shortcut convolutions included, and the Linear), ``depth``
  (synaptic layers on the longest path: 18, 34), ``macs_per_step`` (multiply-accumulates
  of the synaptic layers in one time step), ``input_shape``, neurons, steps, ``paper``
  and ``table`` (citation, table) and ``paper_parameters``; a transformer also
  ``spike_ops_per_step`` (:func:`.stats.spike_ops`: the digital spike-spike operations)
  and ``unused_code_parameters`` (modules its code defines and never calls).
"""

from __future__ import annotations

from ..errors import ModelError, short
from ..ir.graph import Network
from . import stats
from .resnet import ResNetSpec, build_resnet
from .spikeyolo import SpikeYOLOSpec, build_spikeyolo, structural_biases
from .spikeyolo import biased_layers as spikeyolo_biased
from .transformer import (
    TransformerSpec,
    biased_layers,
    build_transformer,
    shared_copies,
    unused_code_parameters,
)

__all__ = ["names", "build", "info", "spec", "PREFIX"]

PREFIX = "zoo:"
_SEW = ("Fang, Yu, Chen, Huang, Masquelier, Tian: Deep Residual Learning in Spiking Neural "
        "Networks, NeurIPS 2021 (code: github.com/fangwei123456/Spike-Element-Wise-ResNet, "
        "imagenet/sew_resnet.py)")
_MS = ("Hu, Deng, Wu, Yao, Li: Advancing Spiking Neural Networks towards Deep Residual "
       "Learning, IEEE TNNLS 2024, doi:10.1109/TNNLS.2024.3355393 (code: "
       "github.com/Ariande1/MS-ResNet, models/MS_ResNet.py, ResNet_origin_18)")
_SPIKFORMER = ("Zhou, Zhu, He, Wang, Yan, Tian, Yuan: Spikformer: When Spiking Neural Network "
               "Meets Transformer, ICLR 2023 (code: github.com/ZK-Zhou/spikformer, "
               "imagenet/model.py, cifar10/model.py)")
_SDT = ("Yao, Hu, Zhou, Yuan, Tian, Xu, Li: Spike-driven Transformer, NeurIPS 2023 (code: "
        "github.com/BICLab/Spike-Driven-Transformer, model/spikeformer.py, module/sps.py, "
        "module/ms_conv.py)")
_QKFORMER = ("Zhou, Zhang, Zhou, Yu, Huang, Fan, Yuan, Ma, Zhou, Tian: QKFormer: Hierarchical "
             "Spiking Transformer using Q-K Attention, NeurIPS 2024 (code: "
             "github.com/zhouchenlin2096/QKFormer, imagenet/qkformer.py)")
_SEMM = ("Zhou, Lu, Jia, Che, Niu, Huang, Shi, Zhu, Li, Yu, Yuan: Spiking Transformer with "
         "Experts Mixture, NeurIPS 2024 (code: not public; EMSP, the MLP as 4 experts of "
         "hidden width 4D/4 mixed by a spiking router, is our sizing, on Spikformer-4-384 "
         "CIFAR-10: github.com/ZK-Zhou/spikformer, cifar10/model.py)")
_TIM = ("Shen, Zhao, Shen, Zeng: TIM: An Efficient Temporal Interaction Module for Spiking "
        "Transformer, IJCAI 2024 (code: the TIM module as published in BrainCog-based "
        "repositories: Conv1d over the tokens, kernel 5, alpha 0.5, thresholds 0.3/0.5, "
        "10 steps; on Spikformer-2-256 CIFAR10-DVS, github.com/ZK-Zhou/spikformer, "
        "cifar10dvs/model.py: 2x128x128 events, scale 0.25, (q kT) v)")
_BASE_ONLY = ("no count of this variant is published; paper_parameters is the base model's "
              "(Spikformer's {} table, column Param (M): {} M)")
_SPIKEYOLO = ("Luo, Yao, Zhou, Xu, Hu, Li: Integer-Valued Training and Spike-Driven Inference "
              "Spiking Neural Network for High-performance and Energy-efficient Object "
              "Detection, ECCV 2024 (code: github.com/BICLab/SpikeYOLO, "
              "ultralytics/cfg/models/v8/snn_yolov8.yaml scale s, "
              "ultralytics/nn/modules/yolo_spikformer.py); the backbone only, I-LIF D = 4")
_SPIKFORMER_IN = "ImageNet comparison table, column Param (M)"
_SPIKFORMER_C10 = "CIFAR comparison table, column Param (M)"
_SDT_IN = "ImageNet comparison table, column Param (M)"
_QKFORMER_IN = ("ImageNet-1K comparison table, column Param (M) (also the repository's "
                "README and imagenet/logs: 'number of params (M)')")
_SEW_TABLE = "ImageNet comparison table, column Params (M)"
_MS_TABLE = "ImageNet comparison table, column Params"

_MODELS: dict[str, ResNetSpec | TransformerSpec | SpikeYOLOSpec] = {
    "sew-resnet-18": ResNetSpec("sew", (2, 2, 2, 2), 4, _SEW, _SEW_TABLE + ": 11.69 M", 11.69e6),
    "sew-resnet-34": ResNetSpec("sew", (3, 4, 6, 3), 4, _SEW, _SEW_TABLE + ": 21.79 M "
                                "(21,797,672 truncated)", 21.79e6),
    "ms-resnet-18": ResNetSpec("ms", (2, 2, 2, 2), 6, _MS, _MS_TABLE + ": 11.69 M", 11.69e6),
    "spikformer-4-384-cifar": TransformerSpec("spikformer-cifar", 4, 384, 12, 4, _SPIKFORMER,
                                              _SPIKFORMER_C10 + ": 9.32 M", 9.32e6,
                                              input_hw=32, classes=10),
    "spikformer-semm": TransformerSpec("spikformer-cifar", 4, 384, 12, 4, _SEMM,
                                       _BASE_ONLY.format("CIFAR", "9.32"), 9.32e6,
                                       input_hw=32, classes=10, experts=4),
    "spikformer-tim": TransformerSpec("spikformer-dvs", 2, 256, 16, 10, _TIM,
                                      _BASE_ONLY.format("neuromorphic (CIFAR10-DVS)", "2.57"),
                                      2.57e6, input_hw=128, classes=10, in_channels=2,
                                      tim=True),
    "spikeyolo-backbone": SpikeYOLOSpec(0.5, 0.33, 1, _SPIKEYOLO,
                                        "snn_yolov8.yaml comment 'SpikeYOLOs 23.1M': the whole "
                                        "detector (backbone, neck, head); the backbone alone "
                                        "is not tabulated", 23.1e6),
    **{f"spikformer-8-{d}": TransformerSpec("spikformer", 8, d, 8, 4, _SPIKFORMER,
                                             f"{_SPIKFORMER_IN}: {p:.2f} M", p * 1e6)
       for d, p in ((384, 16.81), (512, 29.68), (768, 66.34))},
    **{f"sdt-8-{d}": TransformerSpec("sdt", 8, d, 8, 4, _SDT, f"{_SDT_IN}: {p:.2f} M", p * 1e6)
       for d, p in ((384, 16.81), (512, 29.68), (768, 66.34))},
    **{f"qkformer-10-{d}": TransformerSpec("qkformer", 10, d, h, 4, _QKFORMER,
                                           f"{_QKFORMER_IN}: HST-10-{d} {p:.2f} M", p * 1e6)
       for d, h, p in ((384, 6, 16.47), (512, 8, 29.08), (768, 12, 64.96))},
}


def names() -> list[str]:
    """The zoo's model names."""
    return sorted(_MODELS)


def spec(name: str) -> ResNetSpec | TransformerSpec | SpikeYOLOSpec:
    """The architecture registered as ``name`` (ModelError listing the names if none)."""
    if name.startswith(PREFIX):
        name = name[len(PREFIX):]
    if name not in _MODELS:
        raise ModelError(f"zoo: no model named {short(name, 60)}; the zoo has "
                         f"{', '.join(names())} (neurocosim zoo list)")
    return _MODELS[name]


def build(name: str, seed: int = 0, *, input_hw: int | None = None,
          classes: int | None = None, dt: float | None = None, **sizes: int) -> Network:
    """Model ``name`` with weights drawn from ``seed`` (BatchNorm not folded); ``dt``
    (default 1 ms) scales the time constants, not the dynamics per step. A transformer
    also takes ``embed_dim``, ``depth`` and ``heads`` (a smaller variant)."""
    s = spec(name)
    name = name.removeprefix(PREFIX)
    if isinstance(s, SpikeYOLOSpec):
        if classes is not None or sizes:
            raise ModelError(f"zoo model {name}: a backbone has no classes and no sizes; it "
                             "takes seed, input_hw and dt")
        return build_spikeyolo(s, name, seed=seed, input_hw=input_hw,
                               **({} if dt is None else {"dt": float(dt)}))
    transformer = isinstance(s, TransformerSpec)
    hw = (s.input_hw if transformer else 224) if input_hw is None else input_hw
    n_out = (s.classes if transformer else 1000) if classes is None else classes
    for value, what, lo in ((hw, "input_hw", 32), (n_out, "classes", 1), (seed, "seed", 0)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= 10**6:
            raise ModelError(f"zoo model {name}: {what} must be an integer in "
                             f"[{lo}, 1000000], got {short(value, 40)}")
    kw = {} if dt is None else {"dt": float(dt)}
    if transformer:
        return build_transformer(s, name, seed=seed, input_hw=hw, classes=n_out,
                                 sizes=sizes, **kw)
    if sizes:
        raise ModelError(f"zoo model {name}: {short(sorted(sizes))} apply to transformers "
                         "only; a ResNet takes seed, input_hw, classes and dt")
    return build_resnet(s, name, seed=seed, input_hw=hw, classes=n_out, **kw)


def info(name: str, net: Network | None = None) -> dict:
    """What ``zoo show`` reports about model ``name`` (``net``: its built network, else
    built here with seed 0)."""
    s = spec(name)
    net = build(name) if net is None else net
    syn = [n for n in net.order if type(net.nodes[n]).__name__ in ("Conv2d", "Affine", "Linear")]
    transformer = isinstance(s, TransformerSpec)
    biased = biased_layers(s, net) if transformer else \
        spikeyolo_biased(net) if isinstance(s, SpikeYOLOSpec) else []
    out = {
        "name": name.removeprefix(PREFIX),
        "paper": s.paper,
        "table": s.table,
        "paper_parameters": int(round(s.paper_parameters)),
        "parameters": stats.parameters(net, biased) - (
            shared_copies(net) if transformer else
            structural_biases(net) if isinstance(s, SpikeYOLOSpec) else 0),
        "parameters_folded": stats.parameters_folded(net),
        "parameters_counted": "before BatchNorm folding: weights, biases of layers no "
                              "BatchNorm follows" + (" and those the code has before one"
                                                     if transformer else "")
                              + ", BatchNorm gamma and beta (as the paper)",
        "layers": len(syn),
        "depth": stats.depth(net),
        "macs_per_step": stats.macs_per_step(net),
        "input_shape": list(net.input_shape),
        "output_shape": list(net.output_shape),
        "neurons": net.n_neurons(),
        "neuron_layers": len(net.layers()),
        "neuron": type(net.nodes[net.layers()[0]]).__name__,
        "steps": s.steps,
        "dt": net.dt,
    }
    if transformer:
        out["unused_code_parameters"] = unused_code_parameters(s)
        out["spike_ops_per_step"] = stats.spike_ops(net)
    return out
