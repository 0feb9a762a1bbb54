"""The bare Numba kernels the benchmarks measure hwsim against (no device model).

``Bare``: the plain event-driven kernel, float32 or float64 (spike index lists; for each
spiking source add its weight row, taken as a slice so that Numba vectorises the add; ``v ← decay·v + I``; one-step delay buffer). ``CSR``:
the same network with only the non-zero synapses (by source), float32 or float64. Both take
a ``nets.Net`` and time one call on a batch of samples (``prange`` over the samples).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurocosim.hwsim.jit import njit, pjit, prange  # noqa: E402

NEAR64 = 1e-9   # |v − θ| ≤ NEAR64·θ: a float64 spike that summation order may flip
NEAR32 = 1e-5   # |v − θ| ≤ NEAR32·θ: a float32 spike that float32 rounding may flip


@njit
def _bare_sample(x, w, offs, n_out, rec_off, n_rec, delay, decay, theta, ge, counts, spk, code,
                 record):
    """One sample. ``w`` holds every layer's transposed weights (row ``i`` of layer ``k``:
    the fan-out of its source ``i``, contiguous) and, with ``n_rec``, the recurrent matrix
    of the last layer at ``rec_off``. Per step and layer: ``I`` = rows of the spiking
    sources (of the previous step when ``delay``; recurrent: always the previous step),
    ``v ← decay·v + I``, spike if ``v ≥ θ`` (``ge``) or ``v > θ``, reset to 0."""
    steps, n0 = x.shape
    L = n_out.shape[0]
    tot = 0
    wide = n0
    for k in range(L):
        tot += n_out[k]
        wide = max(wide, n_out[k])
    v = np.zeros(tot, w.dtype)
    cur = np.zeros(tot, w.dtype)      # current arriving now
    nxt = np.zeros(tot, w.dtype)      # current sent now, arriving next step (delay)
    rcur = np.zeros(max(n_rec, 1), w.dtype)
    act = np.zeros(wide, np.int64)
    for t in range(steps):
        na = 0
        for i in range(n0):
            if x[t, i] != 0:
                act[na] = i
                na += 1
        base = 0
        for k in range(L):
            no = n_out[k]
            dst = (nxt if delay else cur)[base:base + no]
            for j in range(no):
                dst[j] = 0.0
            for q in range(na):
                row = offs[k] + act[q] * no
                src = w[row:row + no]  # slices: Numba then knows j >= 0 and vectorises
                for j in range(no):
                    dst[j] += src[j]
            last = n_rec > 0 and k == L - 1
            na = 0
            for j in range(no):
                i_in = cur[base + j]
                if last:
                    i_in += rcur[j]
                vj = decay * v[base + j] + i_in
                if delay:
                    cur[base + j] = nxt[base + j]
                if record:
                    d = abs(np.float64(vj) - np.float64(theta))
                    code[t, base + j] = 2 if d <= NEAR64 * theta else (1 if d <= NEAR32 * theta else 0)
                fire = vj >= theta if ge else vj > theta
                if fire:
                    v[base + j] = 0.0
                    act[na] = j
                    na += 1
                    if record:
                        spk[t, base + j] = 1
                else:
                    v[base + j] = vj
            counts[k] += na
            if last:
                for j in range(no):
                    rcur[j] = 0.0
                for q in range(na):
                    row = rec_off + act[q] * no
                    src = w[row:row + no]
                    for j in range(no):
                        rcur[j] += src[j]
            base += no


@pjit
def _bare_batch(x, w, offs, n_out, rec_off, n_rec, delay, decay, theta, ge, counts, spk, code,
                record):
    for s in prange(x.shape[0]):
        _bare_sample(x[s], w, offs, n_out, rec_off, n_rec, delay, decay, theta, ge, counts[s],
                     spk[s], code[s], record)


@njit
def _csr_sample(x, in_ptr, in_idx, in_w, rec_ptr, rec_idx, rec_w, decay, theta, ge, counts, spk,
                record):
    """W2 with only the non-zero synapses: CSR by source (``ptr[i]:ptr[i+1]`` = targets of
    source ``i``), in the dtype of the weights. ``I`` = input of this step + recurrent spikes
    of the previous step."""
    steps, n0 = x.shape
    n = rec_ptr.shape[0] - 1
    v = np.zeros(n, in_w.dtype)
    cur = np.zeros(n, in_w.dtype)
    prev = np.zeros(n, np.int64)
    nprev = 0
    for t in range(steps):
        for j in range(n):
            cur[j] = 0.0
        for i in range(n0):
            if x[t, i] != 0:
                for q in range(in_ptr[i], in_ptr[i + 1]):
                    cur[in_idx[q]] += in_w[q]
        for a in range(nprev):
            i = prev[a]
            for q in range(rec_ptr[i], rec_ptr[i + 1]):
                cur[rec_idx[q]] += rec_w[q]
        nprev = 0
        for j in range(n):
            vj = decay * v[j] + cur[j]
            fire = vj >= theta if ge else vj > theta
            if fire:
                v[j] = 0.0
                prev[nprev] = j
                nprev += 1
                if record:
                    spk[t, j] = 1
            else:
                v[j] = vj
        counts[0] += nprev


@pjit
def _csr_batch(x, in_ptr, in_idx, in_w, rec_ptr, rec_idx, rec_w, decay, theta, ge, counts, spk,
               record):
    for s in prange(x.shape[0]):
        _csr_sample(x[s], in_ptr, in_idx, in_w, rec_ptr, rec_idx, rec_w, decay, theta, ge,
                    counts[s], spk[s], record)


class Bare:
    """The dense bare kernel for one network and dtype. A call returns (wall, spike counts
    per layer, raster, near-threshold code: 2 within NEAR64·θ, 1 within NEAR32·θ)."""

    def __init__(self, wl, dtype):
        self.wl, self.dtype = wl, dtype
        mats = [w.T.ravel() for w in wl.ws]
        self.offs = np.concatenate([[0], np.cumsum([m.size for m in mats])[:-1]]).astype(np.int64)
        self.rec_off, self.n_rec = 0, 0
        if wl.w_rec is not None:
            self.rec_off, self.n_rec = int(sum(m.size for m in mats)), wl.w_rec.shape[0]
            mats.append(wl.w_rec.T.ravel())
        self.w = np.concatenate(mats).astype(dtype)
        self.n_out = np.array([w.shape[0] for w in wl.ws], np.int64)

    def __call__(self, x, record=False):
        n, steps = x.shape[:2]
        counts = np.zeros((n, len(self.wl.ws)), np.int64)
        shape = (n, steps, self.wl.n_neurons) if record else (n, 1, 1)
        spk, code = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
        t0 = time.perf_counter()
        _bare_batch(x, self.w, self.offs, self.n_out, self.rec_off, self.n_rec, self.wl.delay,
                    self.dtype(self.wl.decay), self.dtype(1.0), self.wl.ge, counts, spk, code,
                    record)
        return time.perf_counter() - t0, counts.sum(axis=0), spk, code


class CSR:
    """The bare CSR kernel (one input layer and a recurrent one, as W2) in ``dtype``."""

    def __init__(self, wl, dtype=np.float64):
        import scipy.sparse as sp

        self.wl, self.dtype = wl, dtype
        a, b = sp.csr_matrix(wl.ws[0].T), sp.csr_matrix(wl.w_rec.T)  # rows = sources
        self.args = (a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(dtype),
                     b.indptr.astype(np.int64), b.indices.astype(np.int64), b.data.astype(dtype))

    def __call__(self, x, record=False):
        n, steps = x.shape[:2]
        counts = np.zeros((n, 1), np.int64)
        spk = np.zeros((n, steps, self.wl.n_neurons) if record else (n, 1, 1), np.uint8)
        t0 = time.perf_counter()
        _csr_batch(x, *self.args, self.dtype(self.wl.decay), self.dtype(1.0), self.wl.ge, counts,
                   spk, record)
        return time.perf_counter() - t0, counts.sum(axis=0), spk, None


