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
  summed over each head's channels → LIF (θ 0.5): a token mask; ``mask ⊙ k``.

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
from .checks import _int, describe

__all__ = ["Block", "attention_lif", "sdsa", "ssa", "qkta"]


@dataclass(frozen=True)
class Block:
    """Nodes and edges of a block, and the node holding its result (``output``)."""

    nodes: dict[str, N.Node]
    edges: list[tuple[str, str]]
    output: str


def attention_lif(dt: float) -> N.LIF:
    """SpikingJelly's ``MultiStepLIFNode(tau=2.0, v_threshold=0.5)`` (hard reset to 0) at
    a network step ``dt`` (see the module docstring)."""
    return N.LIF(tau=2.0 * dt, r=1.0, v_leak=0.0, v_threshold=0.5, v_reset=0.0,
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
    shape, h, d, n = _layout(name, shape, heads)
    b = Block({}, [], "")
    qh, kh = (_heads(b, name, s, (h, d, n), False) for s in (q, k))
    qs = _add(b, f"{name}_q_sum", T.ReduceSum(axis=1, keepdim=True), qh)
    mask = _add(b, f"{name}_mask", attention_lif(dt), qs)
    out = _add(b, f"{name}_qk", T.Mul(operands=(mask, kh)), mask, kh)
    return Block(b.nodes, b.edges, _back(b, name, out, shape, False))
