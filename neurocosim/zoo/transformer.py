"""Spiking vision transformers, built as :class:`~neurocosim.ir.Network` objects with the
papers' hyper-parameters and seeded random weights; the architecture follows each
paper's public code, read module by module (no code copied).

Common to both: SpikingJelly's ``MultiStepLIFNode(tau=2.0)`` everywhere (threshold 1,
0.5 in the attention; hard reset to 0, ``decay_input``: the IR LIF with τ = 2·dt, r = 1,
``compare=">="``, :func:`neurocosim.ir.blocks.attention_lif`); ``Conv1d``/``Linear``
layers applied token by token are 1×1 convolutions over the ``(C, H, W)`` token map (the
same products), ``BatchNorm1d`` over the channels is a :class:`~neurocosim.ir.BatchNorm`;
the head averages the tokens (``x.flatten(3).mean(3)``: an
:class:`~neurocosim.ir.AvgPool2d` over the whole map) and a Linear layer with bias makes
the logits, averaged over the steps by the Output (``head(x.mean(0))`` is the mean of the
per-step heads: the head is linear).

* **Spikformer** (Zhou et al., ICLR 2023; ``imagenet/model.py``, ``cifar10/model.py``):
  SPS — four conv3×3 (no bias) → BN → LIF stages of D/8, D/4, D/2, D channels, each
  followed by a 3×3 stride-2 max pool (padding 1) on ImageNet (224 → 14×14 tokens), on
  CIFAR-10 only the last two (32 → 8×8); then the relative position embedding
  conv3×3 → BN → LIF added to its input (``x + x_feat``, a spike sum). Each of the L
  blocks: ``x = x + SSA(x)``; ``x = x + MLP(x)`` (:class:`~neurocosim.ir.Add`: multi-level
  sums). SSA: q, k, v = LIF(BN(1×1 conv, no bias)) (CIFAR: ``nn.Linear`` with bias) →
  :func:`~neurocosim.ir.blocks.ssa` (scale 0.125; ImageNet code ``q @ (kᵀ @ v)``,
  ``associate="right"``; CIFAR ``(q @ kᵀ) @ v``, ``"left"``) → attn LIF (θ 0.5) → proj
  1×1 conv (bias) → BN → LIF. MLP: 1×1 conv (bias, 4·D) → BN → LIF → 1×1 conv (bias) →
  BN → LIF.
* **Spike-driven Transformer** (Yao et al., NeurIPS 2023; ``module/sps.py``,
  ``module/ms_conv.py``, ``model/spikeformer.py``): MS_SPS — the ImageNet SPS above with
  pooling ``"1111"``, except that stage 4 is conv → BN → max pool (``x_feat``, a
  membrane potential) → LIF → rpe conv → BN, added to ``x_feat`` (membrane shortcut).
  Each block: ``MS_SSA_Conv``: ``identity = x``; shortcut LIF; q, k, v =
  LIF(BN(1×1 conv, no bias)) → :func:`~neurocosim.ir.blocks.sdsa` → proj 1×1 conv (bias)
  → BN; ``+ identity``. ``MS_MLP_Conv``: LIF → 1×1 conv (bias, 4·D) → BN → LIF → 1×1
  conv (bias) → BN; ``+ identity`` (``res`` is false: hidden ≠ in). Head: token mean →
  head LIF → Linear.

* **QKFormer** (Zhou et al., NeurIPS 2024; ``imagenet/qkformer.py``,
  ``hierarchical_spiking_transformer``, heads 6/8/12 for D = 384/512/768 in every
  stage): three stages. ``PatchEmbedInit`` (D/4): conv3×3 3 → D/8 → BN → max pool →
  LIF (the pool before the neuron: of membrane potentials), conv3×3 → D/4 → BN → max
  pool → LIF → conv3×3 → BN → LIF, plus conv1×1 stride 2 → BN → LIF of the first LIF's
  spikes (``x + x_feat``). Stage 1: one ``TokenSpikingTransformer`` (``x + QKTA(x)``,
  ``x + MLP(x)``; QKTA: q, k = LIF(BN(1×1 conv, no bias)) →
  :func:`~neurocosim.ir.blocks.qkta` → proj 1×1 conv (bias) → BN → LIF) on 56×56
  tokens; ``PatchEmbeddingStage`` (D/2: conv3×3 → BN → max pool → LIF → conv3×3 → BN
  → LIF plus the conv1×1 stride-2 shortcut) and two token blocks on 28×28;
  ``PatchEmbeddingStage`` (D) and L − 3 Spikformer blocks (SSA, ``q @ (kᵀ @ v)``) on
  14×14; token mean, Linear head.

* **Variants of Spikformer** (``experts``, ``tim`` of the spec): ``spikformer-semm``,
  each block's MLP as a SEMM (Zhou et al., NeurIPS 2024): a router 1×1 conv (bias) → BN
  → LIF with one channel per expert, E experts each an MLP of hidden width 4D/E, mixed
  by :func:`~neurocosim.ir.blocks.semm`; ``spikformer-tim`` (kind ``spikformer-dvs``:
  the CIFAR10-DVS code, 2 input channels, four pools, scale 0.25, ``(q·kᵀ)·v``, no q/k/v
  bias), TIM (Shen et al., IJCAI 2024; :func:`~neurocosim.ir.blocks.tim`) on each
  block's q before the SSA, its Conv1d rewritten as a height-1 Conv2d
  (:func:`~neurocosim.ir.transforms.conv1d_as_conv2d`; shared by the heads, stored once
  per head: :func:`shared_copies`).

Modules the codes define but never call are not built: Spikformer's ``Block.norm1``,
``norm2`` (LayerNorm, 4·D parameters a block) and SDT's ``talking_heads`` Conv1d (h²
a block); :func:`unused_code_parameters` counts them.

Weights: convolutions Kaiming-normal over the fan-in (std √(2/fan_in)); their codes'
``trunc_normal_(std=.02)`` with untrained BatchNorm statistics (running mean 0, variance
1) would leave every LIF silent. The biases the codes have (proj, MLP, CIFAR q/k/v, head)
are drawn from PyTorch's default uniform bound 1/√fan_in; BatchNorm γ = 2 (``GAMMA``, as
SEW-ResNet's in :mod:`.resnet`, so that the small test variants fire in every stage within
2 steps), β = 0, running mean 0, variance 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..budget import check_memory
from ..errors import ModelError, short
from ..ir import blocks as B
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.graph import Network
from ..ir.transforms import conv1d_as_conv2d
from .graph import Graph

__all__ = ["TransformerSpec", "build_transformer", "biased_layers", "unused_code_parameters",
           "weight_count", "shared_copies"]

DT = 1e-3
GAMMA = 2.0


@dataclass(frozen=True)
class TransformerSpec:
    """One architecture: ``kind`` ``"spikformer"``, ``"spikformer-cifar"``,
    ``"spikformer-dvs"``, ``"sdt"`` or ``"qkformer"``;
    blocks (``depth``), embedding ``dim``, ``heads``, the steps, the input size and
    classes of the paper's dataset, and the paper (citation, table, parameter count)."""

    kind: str
    depth: int
    dim: int
    heads: int
    steps: int
    paper: str
    table: str
    paper_parameters: float
    input_hw: int = 224
    classes: int = 1000
    mlp_ratio: int = 4
    in_channels: int = 3  # 2: an event camera's polarities (the DVS variants)
    experts: int = 0  # > 0: each block's MLP is a SEMM of that many experts (EMSP)
    tim: bool = False  # TIM on each block's q


class _Graph(Graph):
    """A :class:`~neurocosim.zoo.graph.Graph` with this builder's layer helpers."""

    def lif(self, name: str, src: str, vth: float = 1.0) -> str:
        """SpikingJelly's ``MultiStepLIFNode(tau=2.0, v_threshold=vth)``."""
        return self.add(name, N.LIF(tau=2.0 * self.dt, r=1.0, v_leak=0.0, v_threshold=vth,
                                    v_reset=0.0, reset="zero", compare=">="), src)

    def conv_bn(self, name: str, src: str, c_in: int, c_out: int, k: int = 1,
                bias: bool = False, stride: int = 1) -> str:
        """conv k×k (padding k//2) → BatchNorm; returns the BatchNorm's name. ``bias``:
        the code's layer has a bias (drawn), else a structural zero."""
        fan_in = c_in * k * k
        w = self.rng.standard_normal((c_out, c_in, k, k)) * math.sqrt(2.0 / fan_in)
        bound = 1.0 / math.sqrt(fan_in)
        b = self.rng.uniform(-bound, bound, c_out) if bias else np.zeros(c_out)
        self.add(f"{name}_conv", N.Conv2d(weight=w, bias=b, stride=stride, padding=k // 2),
                 src)
        zero = np.zeros(c_out)
        bn = N.BatchNorm(gamma=np.full(c_out, GAMMA), beta=zero, running_mean=zero,
                         running_var=np.ones(c_out))
        return self.add(f"{name}_bn", bn, f"{name}_conv")

    def pool(self, name: str, src: str) -> str:
        return self.add(name, N.MaxPool2d(kernel_size=3, stride=2, padding=1), src)


def _sps(g: _Graph, s: TransformerSpec, dim: int) -> str:
    """The spiking patch splitting and the relative position embedding; returns the node
    holding the tokens ``(dim, H, W)``."""
    x, c_in = "input", s.in_channels
    pools = (True, True, True, True) if s.kind != "spikformer-cifar" else \
        (False, False, True, True)
    for i, (c, pool) in enumerate(zip((dim // 8, dim // 4, dim // 2, dim), pools,
                                      strict=True)):
        x = g.conv_bn(f"sps_conv{i}", x, c_in, c, 3)
        c_in = c
        if s.kind == "sdt" and i == 3:  # conv → BN → max pool (x_feat) → LIF
            x_feat = g.pool(f"sps_pool{i}", x)
            x = g.lif(f"sps_lif{i}", x_feat)
            rpe = g.conv_bn("sps_rpe", x, dim, dim, 3)
            return g.add("sps_add", T.Add(), rpe, x_feat)
        x = g.lif(f"sps_lif{i}", x)
        if pool:
            x = g.pool(f"sps_pool{i}", x)
    rpe = g.lif("sps_rpe_lif", g.conv_bn("sps_rpe", x, dim, dim, 3))
    return g.add("sps_add", T.Add(), rpe, x)


def _qkv(g: _Graph, p: str, src: str, dim: int, bias: bool) -> tuple[str, str, str]:
    return tuple(g.lif(f"{p}_{s}_lif", g.conv_bn(f"{p}_{s}", src, dim, dim, 1, bias))
                 for s in "qkv")


def _spikformer_block(g: _Graph, p: str, x: str, dim: int, hid: int,
                      shape_heads: tuple[tuple[int, ...], int], cifar: bool,
                      spec: TransformerSpec | None = None) -> str:
    shape, heads = shape_heads
    dvs = spec is not None and spec.kind == "spikformer-dvs"
    q, k, v = _qkv(g, f"{p}_attn", x, dim, cifar)
    if spec is not None and spec.tim:
        q = _tim(g, f"{p}_attn_tim", q, shape, heads)
    att = g.splice(B.ssa(q, k, v, shape=shape, heads=heads, scale=0.25 if dvs else 0.125,
                         associate="left" if cifar or dvs else "right", name=f"{p}_attn_ssa",
                         dt=g.dt))
    proj = g.lif(f"{p}_attn_proj_lif", g.conv_bn(f"{p}_attn_proj", att, dim, dim, 1, True))
    x = g.add(f"{p}_add1", T.Add(), x, proj)
    if spec is not None and spec.experts:
        return g.add(f"{p}_add2", T.Add(), x, _emsp(g, f"{p}_mlp", x, dim, hid, spec.experts,
                                                    shape))
    h = g.lif(f"{p}_mlp_fc1_lif", g.conv_bn(f"{p}_mlp_fc1", x, dim, hid, 1, True))
    h = g.lif(f"{p}_mlp_fc2_lif", g.conv_bn(f"{p}_mlp_fc2", h, hid, dim, 1, True))
    return g.add(f"{p}_add2", T.Add(), x, h)


def _emsp(g: _Graph, p: str, x: str, dim: int, hid: int, experts: int, shape) -> str:
    """The MLP as a SEMM (:func:`~neurocosim.ir.blocks.semm`): router 1×1 conv D → E
    (bias) → BN → LIF; E experts, each the MLP at a hidden width ``hid // E`` (1×1 conv →
    BN → LIF, twice); ``Σ_e r_e ⊙ expert_e``."""
    r = g.lif(f"{p}_router_lif", g.conv_bn(f"{p}_router", x, dim, experts, 1, True))
    outs, width = [], hid // experts
    for e in range(experts):
        h = g.lif(f"{p}_e{e}_fc1_lif", g.conv_bn(f"{p}_e{e}_fc1", x, dim, width, 1, True))
        outs.append(g.lif(f"{p}_e{e}_fc2_lif", g.conv_bn(f"{p}_e{e}_fc2", h, width, dim, 1,
                                                          True)))
    return g.splice(B.semm(r, outs, shape=shape, name=f"{p}_semm"))


#: TIM's interactor kernel (``nn.Conv1d(..., kernel_size=5, padding=2)``) and α
TIM_KERNEL, TIM_ALPHA = 5, 0.5


def _tim(g: _Graph, p: str, q: str, shape: tuple[int, ...], heads: int) -> str:
    """TIM on ``q`` (:func:`~neurocosim.ir.blocks.tim`): the interactor a Conv1d over the
    N tokens as channels, kernel 5, bias; Kaiming-normal weights, PyTorch's bias bound."""
    n = math.prod(shape[1:])
    fan_in = n * TIM_KERNEL
    w = g.rng.standard_normal((n, n, TIM_KERNEL)) * math.sqrt(2.0 / fan_in)
    b = g.rng.uniform(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), n)
    return g.splice(B.tim(q, shape=shape, heads=heads, weight=w, bias=b, alpha=TIM_ALPHA,
                          name=p, dt=g.dt))


def _sdt_block(g: _Graph, p: str, x: str, dim: int, hid: int,
               shape_heads: tuple[tuple[int, ...], int]) -> str:
    shape, heads = shape_heads
    s = g.lif(f"{p}_attn_shortcut_lif", x)
    q, k, v = _qkv(g, f"{p}_attn", s, dim, False)
    att = g.splice(B.sdsa(q, k, v, shape=shape, heads=heads, name=f"{p}_attn_sdsa",
                          dt=g.dt))
    proj = g.conv_bn(f"{p}_attn_proj", att, dim, dim, 1, True)
    x = g.add(f"{p}_add1", T.Add(), proj, x)  # membrane shortcut
    h = g.conv_bn(f"{p}_mlp_fc1", g.lif(f"{p}_mlp_fc1_lif", x), dim, hid, 1, True)
    h = g.conv_bn(f"{p}_mlp_fc2", g.lif(f"{p}_mlp_fc2_lif", h), hid, dim, 1, True)
    return g.add(f"{p}_add2", T.Add(), h, x)


def _qk_embed(g: _Graph, p: str, x: str, c_in: int, c: int, first: bool) -> str:
    """QKFormer's ``PatchEmbedInit`` (``first``: conv3×3 3 → c/2 → BN → max pool → LIF,
    then c/2 → c) or ``PatchEmbeddingStage`` (c_in → c): conv3×3 → BN → max pool → LIF →
    conv3×3 → BN → LIF, plus the shortcut conv1×1 stride 2 → BN → LIF of the stage's
    input (``x + x_feat``, a spike sum)."""
    if first:
        x = g.lif(f"{p}_lif0", g.pool(f"{p}_pool0", g.conv_bn(f"{p}_conv0", x, 3, c_in, 3)))
    a = g.lif(f"{p}_lif1", g.pool(f"{p}_pool1", g.conv_bn(f"{p}_conv1", x, c_in, c, 3)))
    a = g.lif(f"{p}_lif2", g.conv_bn(f"{p}_conv2", a, c, c, 3))
    r = g.lif(f"{p}_res_lif", g.conv_bn(f"{p}_res", x, c_in, c, 1, stride=2))
    return g.add(f"{p}_add", T.Add(), a, r)


def _qk_token_block(g: _Graph, p: str, x: str, dim: int,
                    shape_heads: tuple[tuple[int, ...], int]) -> str:
    """QKFormer's ``TokenSpikingTransformer``: ``x + QKTA(x)``, ``x + MLP(x)``."""
    shape, heads = shape_heads
    q, k = (g.lif(f"{p}_attn_{s}_lif", g.conv_bn(f"{p}_attn_{s}", x, dim, dim)) for s in "qk")
    att = g.splice(B.qkta(q, k, shape=shape, heads=heads, name=f"{p}_attn_qkta", dt=g.dt))
    proj = g.lif(f"{p}_attn_proj_lif", g.conv_bn(f"{p}_attn_proj", att, dim, dim, 1, True))
    x = g.add(f"{p}_add1", T.Add(), x, proj)
    h = g.lif(f"{p}_mlp_fc1_lif", g.conv_bn(f"{p}_mlp_fc1", x, dim, 4 * dim, 1, True))
    h = g.lif(f"{p}_mlp_fc2_lif", g.conv_bn(f"{p}_mlp_fc2", h, 4 * dim, dim, 1, True))
    return g.add(f"{p}_add2", T.Add(), x, h)


def _qkformer(g: _Graph, hw: int, dim: int, depth: int, heads: int) -> tuple[str, int]:
    """QKFormer's hierarchical spiking transformer up to its token mean: stage 1 (one
    QKTA block at D/4 on H/4), stage 2 (two at D/2 on H/8), stage 3 (depth − 3 SSA
    blocks at D on H/16); returns the last node and the side of its token map."""
    x, c_in = "input", dim // 8
    for stage, (c, blocks) in enumerate(((dim // 4, 1), (dim // 2, 2), (dim, depth - 3)),
                                        start=1):
        x = _qk_embed(g, f"embed{stage}", x, c_in, c, stage == 1)
        for _ in range(2 if stage == 1 else 1):
            hw = (hw - 1) // 2 + 1
        c_in = c
        for i in range(blocks):
            p, sh = f"stage{stage}_block{i}", ((c, hw, hw), heads)
            x = _qk_token_block(g, p, x, c, sh) if stage < 3 else \
                _spikformer_block(g, p, x, c, 4 * c, sh, False)
    return x, hw


def tokens_hw(spec: TransformerSpec, input_hw: int) -> int:
    """The side of the token map: the SPS pools 4 times (CIFAR code: twice)."""
    hw = input_hw
    for _ in range(2 if spec.kind == "spikformer-cifar" else 4):
        hw = (hw - 1) // 2 + 1
    return hw


def weight_count(spec: TransformerSpec, dim: int, depth: int, classes: int,
                 tokens: int = 0, heads: int = 1) -> int:
    """The weights and biases drawn (an upper bound of the parameters, for the budget;
    ``tokens``, ``heads``: TIM's interactor, stored once per head)."""
    hid = spec.mlp_ratio * dim
    sps = 9 * (3 * dim // 8 + dim * dim // 32 + dim * dim // 8 + dim * dim // 2 + dim * dim)
    extra = 4 * dim * dim if spec.kind == "qkformer" else 0  # its larger patch embeddings
    if spec.tim:  # the interactor (N, N, k) and its bias, a copy per head
        extra += depth * heads * (TIM_KERNEL + 1) * tokens * tokens
    if spec.experts:  # the routers (the experts share the MLP's width)
        extra += depth * (dim + 3) * spec.experts
    return sps + extra + depth * (4 * dim * dim + 2 * dim * hid + 6 * dim + hid) \
        + (dim + 1) * classes


def _check(name: str, what: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= 10**5:
        raise ModelError(f"zoo model {name}: {what} must be an integer in [{lo}, 100000], "
                         f"got {short(value, 40)}")
    return value


def build_transformer(spec: TransformerSpec, name: str, *, seed: int = 0,
                      input_hw: int | None = None, classes: int | None = None,
                      dt: float = DT, sizes: dict | None = None) -> Network:
    """The network ``spec`` describes, weights drawn from ``seed``, on a
    ``(3, input_hw, input_hw)`` input with ``classes`` outputs (default: the paper's
    dataset); ``sizes`` may override ``embed_dim``, ``depth`` and ``heads`` (a small
    variant for tests: the same blocks, fewer and narrower)."""
    sizes = dict(sizes or {})
    unknown = sorted(set(sizes) - {"embed_dim", "depth", "heads"})
    if unknown:
        raise ModelError(f"zoo model {name}: unknown size(s) {short(unknown)}; give "
                         "embed_dim, depth or heads")
    qk = spec.kind == "qkformer"
    dim = _check(name, "embed_dim", sizes.get("embed_dim", spec.dim), 8)
    depth = _check(name, "depth", sizes.get("depth", spec.depth), 3 if qk else 0)
    heads = _check(name, "heads", sizes.get("heads", spec.heads), 1)
    if dim % 8 or (dim // 4 if qk else dim) % heads:
        raise ModelError(f"zoo model {name}: embed_dim {dim} must be a multiple of 8, and "
                         f"{'a quarter of it' if qk else 'it'} a multiple of heads {heads}")
    hw = spec.input_hw if input_hw is None else input_hw
    n_out = spec.classes if classes is None else classes
    side = tokens_hw(spec, hw)
    check_memory(8.0 * weight_count(spec, dim, depth, n_out, side * side, heads),
                 f"zoo model '{name}' (its float64 weights)",
                 "raise NEUROCOSIM_MAX_MEMORY or build a smaller variant")
    g = _Graph(np.random.default_rng(seed), dt)
    g.add("input", N.Input(shape=(spec.in_channels, hw, hw)))
    if qk:
        x, side = _qkformer(g, hw, dim, depth, heads)
    else:
        x, side = _sps(g, spec, dim), tokens_hw(spec, hw)
    shape_heads = ((dim, side, side), heads)
    for i in range(0 if qk else depth):
        if spec.kind == "sdt":
            x = _sdt_block(g, f"block{i}", x, dim, spec.mlp_ratio * dim, shape_heads)
        else:
            x = _spikformer_block(g, f"block{i}", x, dim, spec.mlp_ratio * dim, shape_heads,
                                  spec.kind == "spikformer-cifar", spec)
    x = g.add("head_mean", N.AvgPool2d(kernel_size=side, stride=side), x)
    if spec.kind == "sdt":
        x = g.lif("head_lif", x)
    x = g.add("flatten", N.Flatten(), x)
    bound = 1.0 / math.sqrt(dim)
    g.add("head", N.Affine(weight=g.rng.uniform(-bound, bound, (n_out, dim)),
                           bias=g.rng.uniform(-bound, bound, n_out)), x)
    g.add("output", N.Output(), "head")
    net = Network(nodes=g.nodes, edges=tuple(g.edges), dt=dt, name=name)
    return conv1d_as_conv2d(net)  # TIM's Conv1d: as the equal height-1 Conv2d


_BIASED = ("_attn_proj_conv", "_fc1_conv", "_fc2_conv", "_router_conv")
_BIASED_CIFAR = ("_attn_q_conv", "_attn_k_conv", "_attn_v_conv")


def biased_layers(spec: TransformerSpec, net: Network) -> list[str]:
    """The convolutions followed by a BatchNorm whose bias the paper's code has (and
    counts): proj and MLP convs (``nn.Conv2d``/``Conv1d`` default ``bias=True``), and on
    CIFAR the q, k, v ``nn.Linear``."""
    ends = _BIASED + (_BIASED_CIFAR if spec.kind == "spikformer-cifar" else ())
    return [n for n in net.nodes if n.endswith(ends)]


def shared_copies(net: Network) -> int:
    """Weights and biases stored more than once: TIM's interactor is one Conv1d shared
    by the heads, built as a grouped layer holding a copy per head; the copies beyond
    the first (to subtract from the counted parameters)."""
    n = 0
    for name, node in net.nodes.items():
        if name.endswith("_tim_conv_conv2d"):
            n += (node.weight.size + node.bias.size) * (node.groups - 1) // node.groups
    return n


def unused_code_parameters(spec: TransformerSpec, dim: int | None = None,
                           depth: int | None = None, heads: int | None = None) -> int:
    """Parameters of modules the paper's code defines but never calls (not built, not
    in ``parameters``): Spikformer's two LayerNorms a block (γ, β: 4·D), SDT's
    ``talking_heads`` Conv1d (h×h, no bias)."""
    dim = spec.dim if dim is None else dim
    depth = spec.depth if depth is None else depth
    heads = spec.heads if heads is None else heads
    if spec.kind == "qkformer":
        return 0
    return depth * (heads * heads if spec.kind == "sdt" else 4 * dim)
