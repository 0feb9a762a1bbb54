"""The ``loihi2`` integer simulator mode: Loihi 2 fixed point, bit-exact with Lava's ``fixed_pt``.

DESIGN §3.3 is the contract; every width, shift and saturation below is the hardware's::

    a_in(t) = (W_q · s(t−1)) << weight_exp      (>> when negative: arithmetic shift;
                                                 every Dense delays by one step)
    u ← decay(u, du + 1) + (a_in << 6)          (the 6-bit MSB alignment of the input)
    u −= 2^24 if u > 2^23 ; u += 2^24 if u ≤ −2^23   (24-bit u wraps around)
    v ← decay(v, dv) + u + (bias_mant << bias_exp)
    v ← clip(v, −(2^23 − 1), 2^23 − 1)          (24-bit v saturates)
    s ← v > (vth << 6) ; v[s] ← 0               (u is not reset)

with ``decay(x, d) = sign(x·(4096 − d)) · (|x·(4096 − d)| >> 12)`` (12-bit decay constants,
rounding toward zero). Weights are already clipped to 8 bits and truncated to
``num_weight_bits`` by the quantiser (:mod:`neurocosim.targets.loihi2.quantize`), exactly
as Lava does it on its first step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ... import metrics
from ...errors import SimulationError
from ...hwsim.jit import get_threads, njit, pjit, prange, set_threads
from .network import LoihiNetwork

__all__ = ["simulate_loihi2", "reference_loihi2", "Loihi2Result"]

U_WIDTH = 24
UV_MAX = 1 << (U_WIDTH - 1)  # 2^23
DECAY_UNITY = 4096  # 12-bit decays
ACT_SHIFT = 6  # a_in and vth are MSB-aligned by 6 bits


@dataclass(frozen=True, kw_only=True, eq=False)
class Loihi2Result:
    """``spikes[name]``: ``(n_samples, steps, n)`` int8 spikes of every layer (if kept);
    ``counts``: ``(n_samples, n_out)`` output spike counts."""

    counts: np.ndarray
    steps: int
    spikes: dict
    wall_s: float

    def predictions(self) -> np.ndarray:
        return metrics.predictions(self.counts)

    def accuracy(self, labels) -> float:
        return metrics.accuracy(self.counts, labels)


# -- NumPy reference (slow, obvious) ----------------------------------------------------
def _decay(x: np.ndarray, d: int) -> np.ndarray:
    p = x.astype(np.int64) * (DECAY_UNITY - d)
    return np.sign(p) * (np.abs(p) >> 12)


def reference_loihi2(net: LoihiNetwork, spikes: np.ndarray) -> list[np.ndarray]:
    """NumPy statement of the semantics: ``spikes`` ``(steps, n_in)`` of one sample →
    per layer ``(steps, n)`` spikes."""
    steps = spikes.shape[0]
    state = []
    for L in net.layers:
        state.append({"u": np.zeros(L.n_out, np.int64), "v": np.zeros(L.n_out, np.int64),
                      "buf": np.zeros(L.n_out, np.int64)})
    out = [np.zeros((steps, L.n_out), np.int8) for L in net.layers]
    for t in range(steps):
        s = spikes[t].astype(np.int64)
        for k, L in enumerate(net.layers):
            st = state[k]
            a = st["buf"]
            acc = L.weight.astype(np.int64) @ s
            st["buf"] = acc << L.weight_exp if L.weight_exp >= 0 else acc >> -L.weight_exp
            u = _decay(st["u"], L.du + 1) + (a << ACT_SHIFT)
            u = np.where(u > UV_MAX, u - 2 * UV_MAX, u)
            u = np.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
            bias = L.bias_mant.astype(np.int64) << L.bias_exp
            v = np.clip(_decay(st["v"], L.dv) + u + bias, -(UV_MAX - 1), UV_MAX - 1)
            fired = v > (L.vth << ACT_SHIFT)
            v = np.where(fired, 0, v)
            st["u"], st["v"] = u, v
            out[k][t] = fired
            s = fired.astype(np.int64)
    return out


# -- Numba kernels ----------------------------------------------------------------------
@njit
def _idecay(x, d):
    p = x * (DECAY_UNITY - d)
    q = (p if p >= 0 else -p) >> 12
    return q if p >= 0 else -q


@njit
def _run_sample(frames, wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur,
                keep, rec, s, counts):
    n_layers = n_in.shape[0]
    steps = frames.shape[0]
    u = np.zeros(n_neur, np.int64)
    v = np.zeros(n_neur, np.int64)
    buf = np.zeros(n_neur, np.int64)
    maxw = 0
    for k in range(n_layers):
        maxw = max(maxw, n_out[k], n_in[k])
    sin = np.zeros(maxw, np.int64)
    acc = np.zeros(maxw, np.int64)
    for t in range(steps):
        ns = 0
        for i in range(n_in[0]):
            if frames[t, i] != 0:
                sin[ns] = i
                ns += 1
        for k in range(n_layers):
            no = n_out[k]
            bo = b_off[k]
            for j in range(no):
                acc[j] = 0
            # event driven: add the rows (transposed weights) of the active inputs
            for q in range(ns):
                base = w_off[k] + sin[q] * no
                for j in range(no):
                    acc[j] += wt[base + j]
            nxt = 0
            thr = vth[k] << 6
            for j in range(no):
                a = buf[bo + j]
                e = wexp[k]
                buf[bo + j] = acc[j] << e if e >= 0 else acc[j] >> (-e)
                uu = _idecay(u[bo + j], du[k] + 1) + (a << 6)
                if uu > UV_MAX:
                    uu -= 2 * UV_MAX
                elif uu <= -UV_MAX:
                    uu += 2 * UV_MAX
                u[bo + j] = uu
                vv = _idecay(v[bo + j], dv[k]) + uu + bias[bo + j]
                if vv > UV_MAX - 1:
                    vv = UV_MAX - 1
                elif vv < -(UV_MAX - 1):
                    vv = -(UV_MAX - 1)
                if vv > thr:
                    vv = 0
                    acc[j] = 1  # reuse: spike flag
                else:
                    acc[j] = 0
                v[bo + j] = vv
            for j in range(no):
                if acc[j] != 0:
                    sin[nxt] = j
                    nxt += 1
                    if keep:
                        rec[s, t, bo + j] = 1
                    if k == n_layers - 1:
                        counts[s, j] += 1
            ns = nxt


@pjit
def _run_batch(frames, wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur, keep,
               rec, counts):
    for s in prange(frames.shape[0]):
        _run_sample(frames[s], wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur,
                    keep, rec, s, counts)


def simulate_loihi2(net: LoihiNetwork, spikes: np.ndarray, *, keep_spikes: bool = True,
                    threads: int | None = None) -> Loihi2Result:
    """Run ``net`` on binary input ``spikes`` ``(n_samples, steps, n_in)`` (Numba)."""
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[2] != net.input_size:
        raise SimulationError(
            f"loihi2 input must be (n_samples, steps, {net.input_size}), got {x.shape}")
    if not np.all((x == 0) | (x == 1)):
        raise SimulationError("loihi2 input must be binary spikes (0/1): encode with 'rate' or "
                              "'spikes'")
    x = np.ascontiguousarray(x, dtype=np.int8)
    n, steps, _ = x.shape
    wt = np.concatenate([L.weight.T.astype(np.int64).ravel() for L in net.layers])
    sizes = [L.weight.size for L in net.layers]
    w_off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    n_in = np.array([L.n_in for L in net.layers], np.int64)
    n_out = np.array([L.n_out for L in net.layers], np.int64)
    b_off = np.concatenate([[0], np.cumsum(n_out)[:-1]]).astype(np.int64)
    bias = np.concatenate([L.bias_mant.astype(np.int64) << L.bias_exp for L in net.layers])
    total = int(n_out.sum())
    rec = np.zeros((n, steps, total) if keep_spikes else (1, 1, 1), np.int8)
    counts = np.zeros((n, net.output_size), np.int64)
    old = get_threads()
    if threads is not None:
        set_threads(threads)
    t0 = time.perf_counter()
    try:
        _run_batch(x, wt, w_off, n_in, n_out,
                   np.array([L.weight_exp for L in net.layers], np.int64),
                   np.array([L.du for L in net.layers], np.int64),
                   np.array([L.dv for L in net.layers], np.int64),
                   np.array([L.vth for L in net.layers], np.int64),
                   bias, b_off, total, keep_spikes, rec, counts)
    finally:
        if threads is not None:
            set_threads(old)
    wall = time.perf_counter() - t0
    spk = {}
    if keep_spikes:
        for k, L in enumerate(net.layers):
            spk[L.name] = rec[:, :, b_off[k]:b_off[k] + L.n_out]
    return Loihi2Result(counts=counts, steps=steps, spikes=spk, wall_s=wall)
