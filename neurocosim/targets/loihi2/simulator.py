"""The ``loihi2`` integer simulator mode: Loihi 2 fixed point, bit-exact with Lava's ``fixed_pt``.

DESIGN §3.3 is the contract; every width, shift and saturation below is the hardware's::

    a_in(t) = (W_q · s(t−1)) << weight_exp      (>> when negative: arithmetic shift;
                                                 every Dense delays by one step)
    u ← decay(u, du + 1) + (a_in << 6)          (the 6-bit MSB alignment of the input)
    u −= 2^24 if u > 2^23 ; u += 2^24 if u ≤ −2^23   (24-bit u wraps around)
    v ← decay(v, dv) + u + (bias_mant << bias_exp)
    v ← clip(v, −(2^23 − 1), 2^23 − 1)          (24-bit v saturates)
    s ← v > (vth << 6) ; v[s] ← 0               (u is not reset)

with ``decay(x, d) = sign(x·(4096 − d)) · (|x·(4096 − d)| >> 12)`` (12-bit decays,
rounding toward zero). Weights are already clipped to 8 bits and truncated to
``num_weight_bits`` by the quantiser (:mod:`neurocosim.targets.loihi2.quantize`), exactly
as Lava does it on its first step.

**Beyond one wrap** the reference is Lava's arithmetic, which this mode follows bit for
bit (tested against Lava in ``tests/targets/test_loihi2_overflow.py``): ``a_in`` travels
as int32 (Dense's ``a_out`` port); ``a_in << 6``, the sum that forms ``u`` and the sum
that forms ``v`` are int32 (they wrap modulo 2^32); and the 24-bit wrap of ``u`` is
applied once, so a sum above 3·2^23 or at most −3·2^23 leaves ``u`` outside 24 bits
(``v`` is still clipped). The quantiser keeps the worst-case input of a step inside 2^23,
so quantised networks never reach these paths; whether silicon matches Lava there is not
checked here.

**Graded input** (``net.num_message_bits`` > 0): the first layer's input is a vector of
unsigned payloads ``p(t)`` instead of 0/1 spikes, and its accumulation is Lava's graded
``Dense``: ``a_in(t) = i32(W_q · p(t−1)) << weight_exp`` — the product is formed in int32
(it wraps before the shift; the quantiser keeps it inside int32). Later layers take binary
spikes as above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ... import metrics
from ...budget import check_memory, check_time
from ...errors import SimulationError
from ...hwsim.jit import get_threads, njit, pjit, prange, set_threads
from .conv import check_conv_layer, conv_int, wrap24
from .network import LoihiNetwork

__all__ = ["simulate_loihi2", "reference_loihi2", "trace_loihi2", "Loihi2Result"]

U_WIDTH = 24
UV_MAX = 1 << (U_WIDTH - 1)  # 2^23
DECAY_UNITY = 4096  # 12-bit decays
ACT_SHIFT = 6  # a_in and vth are MSB-aligned by 6 bits
I32 = 1 << 31  # Lava's a_in, u and v arithmetic is int32


@dataclass(frozen=True, kw_only=True, eq=False)
class Loihi2Result:
    """``spikes[name]``: ``(n_samples, steps, n)`` int8 spikes of every layer (if kept);
    ``counts``: ``(n_samples, n_out)`` output spike counts; ``u[name]``, ``v[name]``:
    ``(n_samples, n)`` int64 current and voltage of every layer after the last step."""

    counts: np.ndarray
    steps: int
    spikes: dict
    wall_s: float
    u: dict
    v: dict

    def predictions(self) -> np.ndarray:
        return metrics.predictions(self.counts)

    def accuracy(self, labels) -> float:
        return metrics.accuracy(self.counts, labels)


# -- NumPy reference (slow, obvious) ----------------------------------------------------
def _decay(x: np.ndarray, d: int) -> np.ndarray:
    p = x.astype(np.int64) * (DECAY_UNITY - d)
    return np.sign(p) * (np.abs(p) >> 12)


def _i32(x: np.ndarray) -> np.ndarray:
    """Two's-complement int32 wrap of int64 values (Lava's int32 ports and sums)."""
    return ((x + I32) & (2 * I32 - 1)) - I32


def _synaptic(L, s: np.ndarray, graded: bool) -> np.ndarray:
    """What layer ``L``'s synapses send on the next step for input ``s`` ``(n, n_in)``:
    Dense ``i32(i32?(W_q · s) << weight_exp)``; Conv ``wrap24(conv(W_q, s))``
    (:mod:`neurocosim.targets.loihi2.conv`)."""
    if L.conv is not None:
        check_conv_layer(L)
        x = s.reshape(len(s), *L.conv.in_shape)
        return wrap24(conv_int(x, L.weight, L.conv).reshape(len(s), -1))
    acc = s @ L.weight.astype(np.int64).T
    if graded:  # Lava's graded Dense: an int32 dot product
        acc = _i32(acc)
    return _i32(acc << L.weight_exp if L.weight_exp >= 0 else acc >> -L.weight_exp)


def _neurons(L, st: dict, a: np.ndarray) -> np.ndarray:
    """One LIF step of layer ``L`` on input ``a`` (the module docstring); updates ``st``'s
    ``u`` and ``v`` and returns the spikes (bool)."""
    u = _i32(_decay(st["u"], L.du + 1) + _i32(a << ACT_SHIFT))
    u = np.where(u > UV_MAX, u - 2 * UV_MAX, u)
    u = np.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
    bias = L.bias_mant.astype(np.int64) << L.bias_exp
    v = np.clip(_i32(_decay(st["v"], L.dv) + u + bias), -(UV_MAX - 1), UV_MAX - 1)
    fired = v > (L.vth << ACT_SHIFT)
    st["u"], st["v"] = u, np.where(fired, 0, v)
    return fired


def _run_numpy(net: LoihiNetwork, x: np.ndarray, record):
    """Every sample of ``x`` ``(n, steps, n_in)`` at once; ``record(t, k, fired, st)``
    is called after layer ``k``'s step ``t``. Returns the final states."""
    n, steps = x.shape[:2]
    state = [{"u": np.zeros((n, L.n_out), np.int64), "v": np.zeros((n, L.n_out), np.int64),
              "buf": np.zeros((n, L.n_out), np.int64)} for L in net.layers]
    for t in range(steps):
        s = x[:, t].astype(np.int64)
        for k, L in enumerate(net.layers):
            st = state[k]
            a = st["buf"]  # every synaptic layer delays by one step
            st["buf"] = _synaptic(L, s, k == 0 and net.graded)
            fired = _neurons(L, st, a)
            record(t, k, fired, st)
            s = fired.astype(np.int64)
    return state


def trace_loihi2(net: LoihiNetwork, spikes: np.ndarray) -> list[dict]:
    """NumPy statement of the semantics: ``spikes`` ``(steps, n_in)`` of one sample (0/1,
    or payloads for a graded network) → per layer ``{"s", "u", "v"}``, each
    ``(steps, n)`` (int8 spikes; int64 ``u``, ``v`` after each step)."""
    steps = spikes.shape[0]
    out = [{"s": np.zeros((steps, L.n_out), np.int8), "u": np.zeros((steps, L.n_out), np.int64),
            "v": np.zeros((steps, L.n_out), np.int64)} for L in net.layers]

    def record(t, k, fired, st):
        out[k]["s"][t], out[k]["u"][t], out[k]["v"][t] = fired[0], st["u"][0], st["v"][0]

    _run_numpy(net, np.asarray(spikes)[None], record)
    return out


def reference_loihi2(net: LoihiNetwork, spikes: np.ndarray) -> list[np.ndarray]:
    """:func:`trace_loihi2`'s spikes: per layer ``(steps, n)``."""
    return [layer["s"] for layer in trace_loihi2(net, spikes)]


def _simulate_numpy(net: LoihiNetwork, x: np.ndarray, keep_spikes: bool) -> Loihi2Result:
    """The vectorised NumPy mode (networks with conv layers): all samples in lockstep."""
    n, steps, _ = x.shape
    total = sum(L.n_out for L in net.layers)
    check_memory(float(n) * steps * total * keep_spikes + 64.0 * n * total,
                 f"loihi2: spikes of {n} samples x {steps} steps x {total} neurons",
                 "use fewer samples or steps")
    macs = sum(L.n_out * L.weight[0].size if L.conv is not None else L.weight.size
               for L in net.layers)  # per sample and step
    check_time(float(n) * steps * macs, f"loihi2: {n} samples x {steps} steps x {macs} "
               "synaptic operations", "use fewer samples or steps")
    spk = {L.name: np.zeros((n, steps, L.n_out), np.int8) for L in net.layers} if keep_spikes else {}
    last = net.layers[-1]
    counts = np.zeros((n, last.n_out), np.int64)

    def record(t, k, fired, st):
        if keep_spikes:
            spk[net.layers[k].name][:, t] = fired
        if k == len(net.layers) - 1:
            counts[:] += fired

    t0 = time.perf_counter()
    state = _run_numpy(net, x, record)
    wall = time.perf_counter() - t0
    return Loihi2Result(counts=counts, steps=steps, spikes=spk, wall_s=wall,
                        u={L.name: st["u"] for L, st in zip(net.layers, state, strict=True)},
                        v={L.name: st["v"] for L, st in zip(net.layers, state, strict=True)})


# -- Numba kernels ----------------------------------------------------------------------
@njit
def _idecay(x, d):
    p = x * (DECAY_UNITY - d)
    q = (p if p >= 0 else -p) >> 12
    return q if p >= 0 else -q


@njit
def _wrap32(x):
    return ((x + I32) & (2 * I32 - 1)) - I32


@njit
def _run_sample(frames, wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur,
                keep, rec, s, counts, uo, vo, graded):
    # frames: 0/1 spikes, or (graded) the first layer's payloads
    n_layers = n_in.shape[0]
    steps = frames.shape[0]
    u = np.zeros(n_neur, np.int64)
    v = np.zeros(n_neur, np.int64)
    buf = np.zeros(n_neur, np.int64)
    maxw = 0
    for k in range(n_layers):
        maxw = max(maxw, n_out[k], n_in[k])
    sin = np.zeros(maxw, np.int64)
    pay = np.ones(maxw, np.int64)  # the payload of each event (1 for binary spikes)
    acc = np.zeros(maxw, np.int64)
    for t in range(steps):
        ns = 0
        for i in range(n_in[0]):
            if frames[t, i] != 0:
                sin[ns] = i
                pay[ns] = frames[t, i]
                ns += 1
        for k in range(n_layers):
            no = n_out[k]
            bo = b_off[k]
            for j in range(no):
                acc[j] = 0
            # event driven: add the rows (transposed weights) of the active inputs
            for q in range(ns):
                base = w_off[k] + sin[q] * no
                pq = pay[q]
                for j in range(no):
                    acc[j] += wt[base + j] * pq
            nxt = 0
            thr = vth[k] << 6
            e = wexp[k]
            if k == 0 and graded:
                for j in range(no):
                    acc[j] = _wrap32(acc[j])  # Lava's graded Dense: an int32 dot product
            for j in range(no):
                a = buf[bo + j]
                buf[bo + j] = _wrap32(acc[j] << e if e >= 0 else acc[j] >> (-e))
                uu = _wrap32(_idecay(u[bo + j], du[k] + 1) + _wrap32(a << 6))
                if uu > UV_MAX:
                    uu -= 2 * UV_MAX
                elif uu <= -UV_MAX:
                    uu += 2 * UV_MAX
                u[bo + j] = uu
                vv = _wrap32(_idecay(v[bo + j], dv[k]) + uu + bias[bo + j])
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
                    pay[nxt] = 1
                    nxt += 1
                    if keep:
                        rec[s, t, bo + j] = 1
                    if k == n_layers - 1:
                        counts[s, j] += 1
            ns = nxt
    for i in range(n_neur):
        uo[s, i] = u[i]
        vo[s, i] = v[i]


@pjit
def _run_batch(frames, wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur, keep,
               rec, counts, uo, vo, graded):
    for s in prange(frames.shape[0]):
        _run_sample(frames[s], wt, w_off, n_in, n_out, wexp, du, dv, vth, bias, b_off, n_neur,
                    keep, rec, s, counts, uo, vo, graded)


def _checked_input(net: LoihiNetwork, spikes) -> np.ndarray:
    """The input as a C-contiguous int8 (binary) or int32 (payload) array, or an error."""
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[2] != net.input_size:
        raise SimulationError(
            f"loihi2 input must be (n_samples, steps, {net.input_size}), got {x.shape}")
    if net.graded:
        top = (1 << net.num_message_bits) - 1
        if x.dtype.kind not in "biu" or (x.size and (x.min() < 0 or x.max() > top)):
            raise SimulationError(
                f"graded loihi2 input must be integer payloads in 0..{top} "
                f"({net.num_message_bits} message bits): convert analog values with "
                "graded_payload")
        return np.ascontiguousarray(x, dtype=np.int32)
    if not np.all((x == 0) | (x == 1)):
        raise SimulationError("loihi2 input must be binary spikes (0/1): encode with 'rate' or "
                              "'spikes'")
    return np.ascontiguousarray(x, dtype=np.int8)


def simulate_loihi2(net: LoihiNetwork, spikes: np.ndarray, *, keep_spikes: bool = True,
                    threads: int | None = None) -> Loihi2Result:
    """Run ``net`` on input ``spikes`` ``(n_samples, steps, n_in)`` (Numba; a network with
    conv layers runs in vectorised NumPy, all samples at once): binary spikes, or for a
    graded network (``net.num_message_bits`` > 0) the payloads
    (:func:`neurocosim.targets.loihi2.graded.graded_payload`). Spikes of conv layers are
    in the IR's ``(C, H, W)`` order, flattened."""
    x = _checked_input(net, spikes)
    if net.has_conv:
        return _simulate_numpy(net, x, keep_spikes)
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
    uo, vo = np.zeros((n, total), np.int64), np.zeros((n, total), np.int64)
    old = get_threads()
    if threads is not None:
        set_threads(threads)
    t0 = time.perf_counter()
    wexp = np.array([L.weight_exp for L in net.layers], np.int64)
    try:
        _run_batch(x, wt, w_off, n_in, n_out, wexp,
                   np.array([L.du for L in net.layers], np.int64),
                   np.array([L.dv for L in net.layers], np.int64),
                   np.array([L.vth for L in net.layers], np.int64),
                   bias, b_off, total, keep_spikes, rec, counts, uo, vo, net.graded)
    finally:
        if threads is not None:
            set_threads(old)
    wall = time.perf_counter() - t0
    spk, fu, fv = {}, {}, {}
    for k, L in enumerate(net.layers):
        cols = slice(b_off[k], b_off[k] + L.n_out)
        fu[L.name], fv[L.name] = uo[:, cols], vo[:, cols]
        if keep_spikes:
            spk[L.name] = rec[:, :, cols]
    return Loihi2Result(counts=counts, steps=steps, spikes=spk, wall_s=wall, u=fu, v=fv)
