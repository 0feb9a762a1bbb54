"""PRIME's prune-on-chip, learning side: a topology mask over fixed random weights.

The weights are the chip's own programmed conductance pairs and never change; only which
synapses to keep is learned (edge-popup, Ramanujan et al. 2020, as PRIME uses it): one
real score per synapse, the forward pass keeps the top ``k = (1 − sparsity)·size`` scores
of each layer (exact density), and the backward pass sends the gradient of the masked
weight straight through to the scores (``∂L/∂s = ∂L/∂(W⊙M) ⊙ W``).

Network (PRIME's): input current → LIF hidden layer (``v ← β v (1 − s_prev) + I``, hard
reset, spike if ``v > θ``) → leaky readout (``u ← β_out u + W s``); the class evidence is
the mean readout membrane over the steps. Loss: cross-entropy of softmax(evidence / τ).
Backpropagation through time in NumPy with a fast-sigmoid surrogate for the spike,
Adam with a cosine learning-rate schedule, optional Gaussian read noise on the weights at
every step of training so that the mask is robust to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

__all__ = ["MaskResult", "learn_mask", "train_weights", "topk_mask", "forward", "evaluate",
           "encode_rate", "Training", "MaskTraining", "WeightTraining"]


@dataclass(frozen=True, kw_only=True)
class Training:
    """Hyper-parameters of the BPTT training: the network's dynamics (``steps``, ``beta``,
    ``beta_out``, ``theta``), the loss temperature ``temp``, the optimiser (``epochs``,
    ``lr``, ``batch``) and ``rate`` (Bernoulli rate-coded inputs, drawn per batch)."""

    steps: int = 10
    epochs: int = 30
    lr: float = 0.05
    batch: int = 64
    beta: float = 0.2
    beta_out: float = 0.2
    theta: float = 0.5
    temp: float = 2.0
    rate: bool = False

    @property
    def dynamics(self) -> dict:
        """The keyword arguments of :func:`forward` / :func:`evaluate` for the network."""
        return {"steps": self.steps, "beta": self.beta, "beta_out": self.beta_out,
                "theta": self.theta}


@dataclass(frozen=True, kw_only=True)
class MaskTraining(Training):
    """:func:`learn_mask`'s hyper-parameters: ``sparsity`` (fraction of synapses dropped
    per layer, in [0, 1)) and Gaussian ``read_noise`` on the weights at every step."""

    sparsity: float = 0.5
    read_noise: float = 0.0


@dataclass(frozen=True, kw_only=True)
class WeightTraining(Training):
    """:func:`train_weights`'s hyper-parameters (a smaller default learning rate)."""

    lr: float = 0.01


def topk_mask(scores: np.ndarray, density: float) -> np.ndarray:
    """Boolean mask keeping exactly ``round(density · size)`` largest scores.

    Signed scores (not ``|s|``): the straight-through update raises the score of an edge
    whose presence lowers the loss, so ranking by the signed score keeps it."""
    k = int(round(density * scores.size))
    flat = scores.ravel()
    mask = np.zeros(scores.size, bool)
    if k > 0:
        mask[np.argpartition(-flat, k - 1)[:k]] = True
    return mask.reshape(scores.shape)


@dataclass(frozen=True, kw_only=True, eq=False)
class MaskResult:
    masks: tuple[np.ndarray, ...]
    scores: tuple[np.ndarray, ...]
    history: dict = field(default_factory=dict)

    @property
    def density(self) -> list[float]:
        return [float(m.mean()) for m in self.masks]


def forward(ws, x, *, steps, beta, beta_out, theta, rng=None, read_noise=0.0, keep=False):
    """Run the two-layer network on ``x`` ``(B, n_in)`` with effective weights ``ws``.

    Returns the evidence ``(B, n_out)`` and, with ``keep``, the per-step tensors for BPTT.
    """
    w1, w2 = ws
    b = x.shape[0]
    seq = x.ndim == 3  # (B, steps, n_in): a time-varying input (spikes)
    v = np.zeros((b, w1.shape[0]))
    u = np.zeros((b, w2.shape[0]))
    s = np.zeros_like(v)
    acc = np.zeros_like(u)
    tape = []
    for t in range(steps):
        w1t, w2t = w1, w2
        if read_noise > 0:
            w1t = w1 * (1 + read_noise * rng.standard_normal(w1.shape))
            w2t = w2 * (1 + read_noise * rng.standard_normal(w2.shape))
        i1 = (x[:, t] if seq else x) @ w1t.T
        v_prev, s_prev = v, s
        v = beta * v_prev * (1 - s_prev) + i1
        s = (v > theta).astype(float)
        u = beta_out * u + s @ w2t.T
        acc += u
        if keep:
            tape.append((v_prev, s_prev, v, s, w1t, w2t))
    return acc / steps, tape


def _surrogate(v, theta, slope=5.0):
    return 1.0 / (1.0 + slope * np.abs(v - theta)) ** 2


def _grads(ws, x, y, *, steps, beta, beta_out, theta, temp, rng, read_noise):
    ev, tape = forward(ws, x, steps=steps, beta=beta, beta_out=beta_out, theta=theta, rng=rng,
                       read_noise=read_noise, keep=True)
    z = ev / temp
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    b = x.shape[0]
    loss = float(-np.mean(np.log(p[np.arange(b), y] + 1e-12)))
    g_ev = p.copy()
    g_ev[np.arange(b), y] -= 1.0
    g_ev /= b * temp
    w1, w2 = ws
    gw1 = np.zeros_like(w1)
    gw2 = np.zeros_like(w2)
    g_u = np.zeros((b, w2.shape[0]))
    g_v_next = np.zeros((b, w1.shape[0]))  # ∂L/∂v(t+1) flowing back through the leak
    g_s_next_reset = np.zeros((b, w1.shape[0]))
    for t in range(steps - 1, -1, -1):
        v_prev, s_prev, v, s, w1t, w2t = tape[t]
        # readout: acc += u_t; u_t = beta_out u_{t-1} + s_t W2ᵀ
        g_u = g_u * beta_out + g_ev / steps
        gw2 += g_u.T @ s
        g_s = g_u @ w2t + g_s_next_reset
        # v_{t+1} = beta v_t (1 - s_t) + I: gradient through the leak and the hard reset
        g_v = g_v_next * beta * (1 - s) + g_s * _surrogate(v, theta)
        gw1 += g_v.T @ (x[:, t] if x.ndim == 3 else x)
        g_v_next = g_v
        g_s_next_reset = -g_v * beta * v_prev  # v_t depends on s_{t-1} via the reset
    return loss, (gw1, gw2), ev


class _Adam:
    """Adam with a cosine learning-rate schedule over ``total`` updates."""

    def __init__(self, shapes, lr: float, total: int):
        self.m = [np.zeros(sh) for sh in shapes]
        self.v = [np.zeros(sh) for sh in shapes]
        self.lr, self.total, self.it = lr, max(total, 1), 0

    def step(self, params, grads):
        self.it += 1
        lr_t = 0.5 * self.lr * (1 + math.cos(math.pi * self.it / self.total))
        b1, b2 = 0.9, 0.999
        for k, g in enumerate(grads):
            if g is None:
                continue
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            mh = self.m[k] / (1 - b1**self.it)
            vh = self.v[k] / (1 - b2**self.it)
            params[k] = params[k] - lr_t * mh / (np.sqrt(vh) + 1e-8)
        return params


def evaluate(ws, x, y, *, steps, beta, beta_out, theta, rng=None, read_noise=0.0) -> float:
    ev, _ = forward(ws, x, steps=steps, beta=beta, beta_out=beta_out, theta=theta, rng=rng,
                    read_noise=read_noise)
    return float(np.mean(np.argmax(ev, axis=1) == np.asarray(y)))


def learn_mask(weights, x, y, training: MaskTraining | None = None, *,
               rng: np.random.Generator, x_val=None, y_val=None,
               progress: bool = False) -> MaskResult:
    """Learn per-layer masks of ``weights`` = ``(W_hidden (n_h, n_in), W_out (n_out, n_h))``,
    or of a programmed chip's own weights (read back from its conductances), with the
    hyper-parameters ``training`` (default: :class:`MaskTraining`'s defaults).

    Returns the masks (exact density ``1 − sparsity`` per layer), the scores and a history
    of training loss and accuracy per epoch (and validation accuracy when given).
    """
    tr = MaskTraining() if training is None else training
    steps, epochs, batch, rate = tr.steps, tr.epochs, tr.batch, tr.rate
    if hasattr(weights, "mapped") and hasattr(weights, "tiles"):  # a ProgrammedChip
        from .chip import chip_weights

        weights = chip_weights(weights)
    if not 0.0 <= tr.sparsity < 1.0:
        raise DataError(f"sparsity must lie in [0, 1), got {tr.sparsity}")
    ws = [np.asarray(w, float) for w in weights]
    x = np.asarray(x, float)
    y = np.asarray(y).astype(np.int64)
    density = 1.0 - tr.sparsity
    scores = [rng.uniform(-1, 1, w.shape) * math.sqrt(6.0 / w.shape[1]) for w in ws]
    n = len(x)
    opt = _Adam([w.shape for w in ws], tr.lr, epochs * max(1, math.ceil(n / batch)))
    hist = {"loss": [], "train_accuracy": [], "val_accuracy": []}
    kw = tr.dynamics
    epochs_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc="mask", unit="epoch")
    for _ in epochs_iter:
        order = rng.permutation(n)
        losses = []
        for lo in range(0, n, batch):
            idx = order[lo:lo + batch]
            eff = [w * topk_mask(sc, density) for w, sc in zip(ws, scores, strict=True)]
            xb = encode_rate(x[idx], steps, rng) if rate else x[idx]
            loss, gws, _ = _grads(eff, xb, y[idx], temp=tr.temp, rng=rng,
                                  read_noise=tr.read_noise, **kw)
            losses.append(loss)
            # straight-through: the mask's gradient passes to the scores, d(W⊙M)/dM = W
            scores = opt.step(scores, [g * w for g, w in zip(gws, ws, strict=True)])
        eff = [w * topk_mask(sc, density) for w, sc in zip(ws, scores, strict=True)]
        hist["loss"].append(float(np.mean(losses)))
        ev_rng = np.random.default_rng(0)
        xe = encode_rate(x, steps, ev_rng) if rate else x
        hist["train_accuracy"].append(evaluate(eff, xe, y, **kw))
        if x_val is not None:
            xv = encode_rate(x_val, steps, ev_rng) if rate else x_val
            hist["val_accuracy"].append(evaluate(eff, xv, y_val, **kw))
    masks = [topk_mask(s, density) for s in scores]
    return MaskResult(masks=tuple(masks), scores=tuple(scores), history=hist)


def encode_rate(x: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli spikes ``(B, steps, n)`` with probability ``x`` (values in [0, 1])."""
    return (rng.random((x.shape[0], steps, x.shape[1])) < x[:, None, :]).astype(float)


def train_weights(weights, x, y, training: WeightTraining | None = None, *, layers=(0, 1),
                  rng: np.random.Generator) -> list[np.ndarray]:
    """The baselines of the mask: train the weights of ``layers`` themselves (both: the
    dense SNN; ``(1,)``: the readout alone on the fixed random hidden layer), same BPTT,
    with the hyper-parameters ``training`` (default: :class:`WeightTraining`'s defaults)."""
    tr = WeightTraining() if training is None else training
    steps, epochs, batch, rate = tr.steps, tr.epochs, tr.batch, tr.rate
    ws = [np.asarray(w, float).copy() for w in weights]
    x = np.asarray(x, float)
    y = np.asarray(y).astype(np.int64)
    n = len(x)
    opt = _Adam([w.shape for w in ws], tr.lr, epochs * max(1, math.ceil(n / batch)))
    kw = tr.dynamics
    for _ in range(epochs):
        order = rng.permutation(n)
        for lo in range(0, n, batch):
            idx = order[lo:lo + batch]
            xb = encode_rate(x[idx], steps, rng) if rate else x[idx]
            _, gws, _ = _grads(ws, xb, y[idx], temp=tr.temp, rng=rng, read_noise=0.0, **kw)
            ws = opt.step(ws, [g if k in layers else None for k, g in enumerate(gws)])
    return ws
