"""Spiking self-attention blocks as compositions of IR primitives.

Each builder returns a :class:`Block`: the nodes and edges to splice into a network
(``nodes |= block.nodes``, ``edges += block.edges``) after the layers that make the
block's ``q``, ``k``, ``v`` spikes (e.g. a 1×1 convolution or Linear, BatchNorm, LIF), and
the name of the node that holds its result, in the shape of ``q``. Node names are the
block's ``name`` and a suffix joined by ``_`` (never ``.``, which probes reserve).

The operands arrive channel-major, ``(C, H, W)`` or ``(C, N)`` (C = heads · d,
channel ``c`` = head ``c // d``, feature ``c % d``; N = H·W tokens), and are put in the
token layout of the papers' code with a :class:`~.tensors.Reshape` to ``(h, d, N)`` and,
where the code permutes to ``(h, N, d)``, a :class:`~.tensors.Transpose`
(``x.flatten(3).transpose(-1, -2).reshape(T, B, N, h, d).permute(0, 1, 3, 2, 4)``
is that pair). The result goes back to ``q``'s shape the same way.

* :func:`sdsa` — Spike-driven Transformer (Yao et al., NeurIPS 2023, ``MS_SSA_Conv``):
  ``kv = k ⊙ v`` summed over the tokens of each head → LIF (θ 0.5) →
  ``q ⊙ kv``;
* :func:`ssa` — Spikformer (Zhou et al., ICLR 2023, ``SSA``): ``(q · (kᵀ · v)) · scale``
  (``associate="right"``, the order of its ImageNet code) or ``((q · kᵀ) · v) · scale``
  (``"left"``), then LIF (θ 0.5); over spikes both are exact and equal;
* :func:`qkta` — QKFormer (Zhou et al., NeurIPS 2024, ``Token_QK_Attention``): ``q``
  summed over each head's channels → LIF (θ 0.5): a token mask; ``mask ⊙ k``;
* :func:`qkca` — QKFormer's Q-K *channel* attention (the paper's QKCA, §3.2; the public
  code ships only the token form): ``q`` summed over the tokens of each channel → LIF
  (θ 0.5): a channel mask; ``mask ⊙ k``;
* :func:`semm` — the Spiking Experts Mixture Mechanism (Zhou et al., NeurIPS 2024):
  ``y = Σ_e r_e ⊙ expert_e(x)`` with ``r`` the binary output of a router
  (Linear → BN → LIF, one channel per expert), through a :class:`~.tensors.Gate`;
* :func:`tim` — the Temporal Interaction Module (Shen et al., IJCAI 2024, ``TIM``) on
  ``q``: ``x̃_0 = q_0``, ``x̃_t = LIF(α·LIF(Conv1d(x̃_{t−1})) + (1 − α)·q_t)``, the
  recurrence through a one-step :class:`~.delay.Delay`.

Their LIF is SpikingJelly's ``MultiStepLIFNode(tau=2.0, v_threshold=0.5)`` (hard reset
to 0, ``decay_input``): ``H = V + (X − V)/2``, ``S = (H ≥ 0.5)``, ``V = H·(1 − S)``. The
IR's LIF ``v ← v + α(v_leak − v) + α·r·I`` reproduces it exactly with ``α = dt/τ = 1/2``
(``tau = 2·dt``), ``r = 1``, ``v_leak = 0``, ``v_threshold = 0.5``, ``compare=">="``,
``reset="zero"``, ``v_reset = 0`` (:func:`attention_lif`): ``v + (0.5·(0 − v) + 0.5·X)``
is ``v + (X − v)/2`` to the last bit (halving is exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ModelError
from . import nodes as N
from . import tensors as T
from .checks import _frozen_array, _int, describe
from .conv1d import Conv1d
from .delay import Delay

__all__ = ["Block", "attention_lif", "sdsa", "ssa", "qkta", "qkca", "semm", "tim"]


@dataclass(frozen=True)
class Block:
    """Nodes and edges of a block, and the node holding its result (``output``)."""

    nodes: dict[str, N.Node]
    edges: list[tuple[str, str]]
    output: str


def attention_lif(dt: float, v_threshold: float = 0.5) -> N.LIF:
    """SpikingJelly's ``MultiStepLIFNode(tau=2.0, v_threshold=0.5)`` (hard reset to 0) at
    a network step ``dt`` (see the module docstring); another ``v_threshold`` if given."""
    return N.LIF(tau=2.0 * dt, r=1.0, v_leak=0.0, v_threshold=v_threshold, v_reset=0.0,
                 reset="zero", compare=">=")


def _layout(name: str, shape, heads) -> tuple[tuple[int, ...], int, int, int]:
    """``shape`` (channel-major) checked, ``(shape, h, d, N)``."""
    here = f"block {describe(name)}"
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ModelError(f"{here}: 'shape' must be the (C, H, W) or (C, N) shape of q, k "
                         f"and v, got {describe(shape)}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise ModelError(f"{here}: 'shape' must be the (C, H, W) or (C, N) shape of q, k "
                         f"and v, got {describe(shape)}")
    h = _int(heads, "heads", here, lo=1)
    if shape[0] % h:
        raise ModelError(f"{here}: 'heads' {h} must divide the {shape[0]} channels of q, k "
                         "and v")
    return shape, h, shape[0] // h, math.prod(shape[1:])


def _heads(block: Block, name: str, src: str, hdn: tuple[int, int, int],
           tokens: bool) -> str:
    """Add ``src`` in the layout ``(h, d, N)`` (``tokens``: then ``(h, N, d)``); return
    the name of the node holding it."""
    block.nodes[f"{name}_{src}_heads"] = T.Reshape(shape=hdn)
    block.edges.append((src, f"{name}_{src}_heads"))
    if not tokens:
        return f"{name}_{src}_heads"
    block.nodes[f"{name}_{src}_tokens"] = T.Transpose(axes=(0, 2, 1))
    block.edges.append((f"{name}_{src}_heads", f"{name}_{src}_tokens"))
    return f"{name}_{src}_tokens"


def _add(block: Block, name: str, node: N.Node, *sources: str) -> str:
    block.nodes[name] = node
    block.edges.extend((s, name) for s in sources)
    return name


def _back(block: Block, name: str, src: str, shape, tokens: bool) -> str:
    """``src`` ``(h, N, d)`` (``tokens``) or ``(h, d, N)`` back to ``shape``."""
    if tokens:
        src = _add(block, f"{name}_untokens", T.Transpose(axes=(0, 2, 1)), src)
    return _add(block, f"{name}_merge", T.Reshape(shape=shape), src)


def sdsa(q: str, k: str, v: str, *, shape, heads: int, name: str = "sdsa",
         dt: float = 1e-3) -> Block:
    """Spike-driven self-attention (SDT's ``MS_SSA_Conv`` core), output ``{name}_merge``:
    ``kv = k ⊙ v`` → sum over the tokens N of each head (keepdim: ``(h, 1, d)``) → LIF
    (θ 0.5, :func:`attention_lif`) → ``q ⊙ kv`` ``(h, N, d)`` → ``q``'s shape. ``dt`` is
    the network's step (the LIF's τ is 2·dt)."""
    shape, h, d, n = _layout(name, shape, heads)
    b = Block({}, [], "")
    qt, kt, vt = (_heads(b, name, s, (h, d, n), True) for s in (q, k, v))
    kv = _add(b, f"{name}_kv", T.Mul(operands=(kt, vt)), kt, vt)
    kv = _add(b, f"{name}_kv_sum", T.ReduceSum(axis=1, keepdim=True), kv)
    kv = _add(b, f"{name}_kv_lif", attention_lif(dt), kv)
    out = _add(b, f"{name}_qkv", T.Mul(operands=(qt, kv)), qt, kv)
    return Block(b.nodes, b.edges, _back(b, name, out, shape, True))


def ssa(q: str, k: str, v: str, *, shape, heads: int, scale: float = 0.125,
        associate: str = "right", name: str = "ssa", dt: float = 1e-3) -> Block:
    """Spiking self-attention (Spikformer's ``SSA``), output ``{name}_lif``:
    ``associate="right"`` computes ``q · (kᵀ · v)`` (``(h, d, d)`` in between, the order of
    Spikformer's ImageNet code), ``"left"`` ``(q · kᵀ) · v`` (``(h, N, N)``); the last
    product is times ``scale``; then ``(h, N, d)`` → ``q``'s shape → LIF (θ 0.5). ``kᵀ`` is
    ``k`` in the ``(h, d, N)`` layout. Over spikes every sum is an integer and ``scale``
    a power of 2 keeps both orders exact and equal."""
    if associate not in ("left", "right"):
        raise ModelError(f"block {describe(name)}: 'associate' must be 'left' or 'right', "
                         f"got {describe(associate)}")
    shape, h, d, n = _layout(name, shape, heads)
    b = Block({}, [], "")
    qt, vt = (_heads(b, name, s, (h, d, n), True) for s in (q, v))
    kt = _heads(b, name, k, (h, d, n), False)  # (h, d, N): kᵀ of the (h, N, d) tokens
    if associate == "right":
        kv = _add(b, f"{name}_kv", T.MatMul(operands=(kt, vt)), kt, vt)
        out = _add(b, f"{name}_qkv", T.MatMul(operands=(qt, kv), scale=scale), qt, kv)
    else:
        qk = _add(b, f"{name}_qk", T.MatMul(operands=(qt, kt)), qt, kt)
        out = _add(b, f"{name}_qkv", T.MatMul(operands=(qk, vt), scale=scale), qk, vt)
    out = _back(b, name, out, shape, True)
    return Block(b.nodes, b.edges, _add(b, f"{name}_lif", attention_lif(dt), out))


def qkta(q: str, k: str, *, shape, heads: int, name: str = "qkta",
         dt: float = 1e-3) -> Block:
    """Q-K token attention (QKFormer's ``Token_QK_Attention`` core), output
    ``{name}_merge``: ``q`` in ``(h, d, N)`` summed over each head's d channels (keepdim:
    ``(h, 1, N)``) → LIF (θ 0.5): a token mask → ``mask ⊙ k`` ``(h, d, N)`` → ``q``'s
    shape."""
    return _qk_mask(q, k, shape, heads, name, dt, axis=1)


def qkca(q: str, k: str, *, shape, heads: int = 1, name: str = "qkca",
         dt: float = 1e-3) -> Block:
    """Q-K channel attention (QKFormer's QKCA, the channel counterpart of
    :func:`qkta`), output ``{name}_merge``: ``q`` in ``(h, d, N)`` summed over the N
    tokens of each channel (keepdim: ``(h, d, 1)``) → LIF (θ 0.5): a channel mask →
    ``mask ⊙ k`` ``(h, d, N)`` → ``q``'s shape. The mask is per channel, so ``heads``
    only sets the layout (every split gives the same result)."""
    return _qk_mask(q, k, shape, heads, name, dt, axis=2)


def _qk_mask(q: str, k: str, shape, heads: int, name: str, dt: float, axis: int) -> Block:
    """QKFormer's Q-K attention in the ``(h, d, N)`` layout: ``q`` summed over ``axis``
    (1: a head's channels, a token mask; 2: the tokens, a channel mask) → LIF (θ 0.5) →
    ``mask ⊙ k`` → ``q``'s shape."""
    shape, h, d, n = _layout(name, shape, heads)
    b = Block({}, [], "")
    qh, kh = (_heads(b, name, s, (h, d, n), False) for s in (q, k))
    qs = _add(b, f"{name}_q_sum", T.ReduceSum(axis=axis, keepdim=True), qh)
    mask = _add(b, f"{name}_mask", attention_lif(dt), qs)
    out = _add(b, f"{name}_qk", T.Mul(operands=(mask, kh)), mask, kh)
    return Block(b.nodes, b.edges, _back(b, name, out, shape, False))


def semm(router: str, experts, *, shape, name: str = "semm") -> Block:
    """Spiking experts mixture (SEMM), output ``{name}_merge``:
    ``y[c, n] = Σ_e r[e, n] · expert_e[c, n]``. ``router`` is the node holding the
    router's spikes ``r`` ``(E, H, W)`` or ``(E, N)`` (a token-wise Linear → BatchNorm →
    LIF with one output channel per expert, channel-major as every block operand);
    ``experts`` the E nodes holding the experts' outputs, each of ``shape``
    (``(C, H, W)`` or ``(C, N)``). The experts are stacked ``(E, C, N)``
    (:class:`~.tensors.Concat`), gated by ``r`` ``(E, 1, N)`` (a
    :class:`~.tensors.Gate`: a zero ``r[e, n]`` disables expert ``e`` at token ``n``,
    counted as skipped) and summed over the experts (:class:`~.tensors.ReduceSum`)."""
    here = f"block {describe(name)}"
    if isinstance(experts, str) or not experts or not all(isinstance(e, str) for e in experts):
        raise ModelError(f"{here}: 'experts' must be a list of node names (one per expert), "
                         f"got {describe(experts)}")
    shape, _, c, n = _layout(name, shape, 1)
    e = len(experts)
    b = Block({}, [], "")
    stack = experts[0] if e == 1 else _add(b, f"{name}_experts",
                                           T.Concat(operands=tuple(experts), axis=0), *experts)
    stack = _add(b, f"{name}_experts_tokens", T.Reshape(shape=(e, c, n)), stack)
    r = _add(b, f"{name}_enable", T.Reshape(shape=(e, 1, n)), router)
    y = _add(b, f"{name}_gate", T.Gate(operands=(r, stack)), r, stack)
    y = _add(b, f"{name}_sum", T.ReduceSum(axis=0, keepdim=False), y)
    return Block(b.nodes, b.edges, _add(b, f"{name}_merge", T.Reshape(shape=shape), y))


def _first_step(b: Block, name: str, src: str, shape: tuple[int, int], dt: float):
    """A clock from ``src`` (any values, ``shape`` 2-D): ``(later, first)``, the nodes
    holding ``e_t`` (0 at step 0, then 1) and ``f_t = 1 − e_t``, each ``(1, 1)``. A LIF
    with α = 1 and ``v_leak`` 2 above its threshold 1 spikes at every step whatever its
    (zero) input — ``src`` summed and times 0, which only anchors it in the graph; a
    one-step Delay of it is ``e``, the IAnd ``(1 − e)·1`` is ``f``."""
    x = _add(b, f"{name}_clock_in", T.Reshape(shape=(1, *shape)), src)
    x = _add(b, f"{name}_clock_sum", N.SumPool2d(kernel_size=shape, stride=shape), x)
    x = _add(b, f"{name}_clock_zero", N.Scale(scale=0.0), x)
    x = _add(b, f"{name}_clock", N.LIF(tau=dt, r=1.0, v_leak=2.0, v_threshold=1.0,
                                       v_reset=0.0, reset="zero", compare=">="), x)
    ones = _add(b, f"{name}_ones", T.Reshape(shape=(1, 1)), x)
    later = _add(b, f"{name}_later", Delay(steps=1, shape=(1, 1)), ones)
    first = _add(b, f"{name}_first", T.IAnd(operands=(later, ones)), later, ones)
    return later, first


def tim(q: str, *, shape, heads: int, weight, bias, alpha: float = 0.5,
        v_in: float = 0.3, v_out: float = 0.5, name: str = "tim", dt: float = 1e-3) -> Block:
    """Temporal Interaction Module (TIM's ``forward`` on SSA's ``q``), output
    ``{name}_merge`` in ``q``'s shape. ``q`` in the token layout ``(h, N, d)``, the heads
    stacked ``(h·N, d)`` (the code's ``x_tim.flatten(0, 1)``): ``x̃_0 = q_0``; for
    ``t ≥ 1`` ``x̃_t = out_lif(α·in_lif(Conv1d(x̃_{t−1})) + (1 − α)·q_t)``. The Conv1d
    (``weight`` ``(N, N, k)``, ``bias`` ``(N,)``: the code's ``interactor``, channels =
    tokens, length = d, padding ``k // 2``) is shared by the heads (a grouped Conv1d,
    ``groups = h``); ``in_lif``/``out_lif`` are SpikingJelly's ``MultiStepLIFNode``
    (τ 2, θ ``v_in``, ``v_out``). ``x̃_{t−1}`` comes through a one-step Delay. The first
    step is exact: a clock (:func:`_first_step`) keeps ``in_lif``'s input 0 at ``t = 0``
    (its state stays 0, as the code does not step it) and adds ``α·q_0`` to
    ``out_lif``'s, which then fires exactly at ``q_0`` (its input ``q_0`` halves to
    0.5·q_0 ≥ θ: needs ``0 < v_out ≤ 0.5``) and is reset to 0."""
    here = f"block {describe(name)}"
    shape, h, d, n = _layout(name, shape, heads)
    w = _frozen_array(weight, "weight", here)
    bb = _frozen_array(bias, "bias", here)
    if w.ndim != 3 or w.shape[:2] != (n, n) or w.shape[2] % 2 == 0 or bb.shape != (n,):
        raise ModelError(f"{here}: 'weight' must be (N, N, k) with k odd and 'bias' (N,), "
                         f"N = {n} tokens; got {w.shape} and {bb.shape}")
    if not (0.0 < v_out <= 0.5 and v_in > 0.0 and 0.0 <= alpha <= 1.0):
        raise ModelError(f"{here}: needs 0 < v_out <= 0.5 (the first step reproduces q_0), "
                         f"v_in > 0 and 0 <= alpha <= 1; got {v_out}, {v_in}, {alpha}")
    b = Block({}, [], "")
    qt = _heads(b, name, q, (h, d, n), True)
    qf = _add(b, f"{name}_q_stack", T.Reshape(shape=(h * n, d)), qt)
    later, first = _first_step(b, name, qf, (h * n, d), dt)
    out = f"{name}_out_lif"
    prev = _add(b, f"{name}_prev", Delay(steps=1, shape=(h * n, d)), out)
    conv = _add(b, f"{name}_conv", Conv1d(weight=w[None].repeat(h, 0).reshape(h * n, n, -1),
                                          bias=bb[None].repeat(h, 0).reshape(-1),
                                          padding=w.shape[2] // 2, groups=h), prev)
    conv = _add(b, f"{name}_conv_gate", T.Mul(operands=(later, conv)), later, conv)
    x = _add(b, f"{name}_in_lif", attention_lif(dt, v_in), conv)
    a = _add(b, f"{name}_in_scale", N.Scale(scale=alpha), x)
    c = _add(b, f"{name}_q_scale", N.Scale(scale=1.0 - alpha), qf)
    fq = _add(b, f"{name}_q_first", T.Mul(operands=(first, qf)), first, qf)
    f = _add(b, f"{name}_q_first_scale", N.Scale(scale=alpha), fq)
    _add(b, out, attention_lif(dt, v_out), a, c, f)
    y = _add(b, f"{name}_heads_out", T.Reshape(shape=(h, n, d)), out)
    return Block(b.nodes, b.edges, _back(b, name, y, shape, True))
