"""Does sharing weight rows across the samples of a batch pay on this machine? (issue 14,
Build 5: batch weight reuse; run by hand: ``.venv/bin/python bench/bench_reuse.py``).

W1's second layer (1024 → 1024, float32 and float64), 16 samples whose inputs spike at
8 % per step, 200 steps of row adds, three loop orders over the same spikes:

* ``per sample``   — each sample adds its active rows (what a batch of independent
  samples does, and what hwsim's lockstep groups do node by node);
* ``row-shared``   — for each row active in any sample of the group, load it once and add
  it to every sample that has it (sample-inner loop over rows);
* ``dense``        — the whole spike matrix times the weights as one float GEMM
  (``S @ W``, NumPy/BLAS), which does 1/p times the arithmetic.

All three give the same sums (checked). The per-core rate is what the issue's
"batch 64 events/s per core ≥ 2× batch 1" target measures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurocosim.hwsim.jit import njit  # noqa: E402


@njit
def per_sample(w, lists, counts, acc, steps):
    n_out = acc.shape[1]
    for t in range(steps):
        for g in range(acc.shape[0]):
            a = acc[g]
            for j in range(n_out):
                a[j] = 0.0
            for q in range(counts[t, g]):
                src = w[lists[t, g, q]]
                for j in range(n_out):
                    a[j] += src[j]


@njit
def row_shared(w, masks, acc, steps):
    n_out, groups = acc.shape[1], acc.shape[0]
    for t in range(steps):
        for g in range(groups):
            a = acc[g]
            for j in range(n_out):
                a[j] = 0.0
        for r in range(w.shape[0]):
            m = masks[t, r]
            if m == 0:
                continue
            src = w[r]
            for g in range(groups):
                if (m >> np.uint64(g)) & np.uint64(1):
                    a = acc[g]
                    for j in range(n_out):
                        a[j] += src[j]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    steps, n = a.steps, a.samples
    spikes = rng.random((steps, n, 1024)) < 0.08
    counts = spikes.sum(axis=2)
    lists = np.zeros((steps, n, 1024), np.int64)
    masks = np.zeros((steps, 1024), np.uint64)
    for t in range(steps):
        for g in range(n):
            idx = np.flatnonzero(spikes[t, g])
            lists[t, g, :idx.size] = idx
            masks[t, idx] |= np.uint64(1) << np.uint64(g)
    print(f"W1 layer 2 (1024 x 1024), {n} samples, {steps} steps, "
          f"{counts.mean():.1f} active rows per sample and step")
    for dt in (np.float32, np.float64):
        w = rng.normal(0.0015, 0.04, (1024, 1024)).astype(dt)
        res = {}
        for name, fn, args in (("per sample", per_sample, (w, lists, counts)),
                               ("row-shared", row_shared, (w, masks))):
            acc = np.zeros((n, 1024), dt)
            fn(*args, acc, 1)
            best = min(_time(fn, *args, acc, steps) for _ in range(3))
            res[name] = (best, acc.copy())
        s_last = spikes[-1].astype(dt)
        best = min(_time(np.matmul, s_last, w) for _ in range(3)) * steps
        np.testing.assert_allclose(res["per sample"][1], res["row-shared"][1], rtol=1e-5)
        np.testing.assert_allclose(res["per sample"][1], s_last @ w, rtol=1e-3, atol=1e-3)
        base = res["per sample"][0]
        for name, t in (("per sample", base), ("row-shared", res["row-shared"][0]),
                        ("dense GEMM", best)):
            print(f"  {np.dtype(dt).name}  {name:11s} {t / (n * steps) * 1e6:7.2f} µs per "
                  f"sample-step  ({base / t:4.2f}× per sample)")
    return 0


def _time(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
