"""Lava process graph of a Loihi 2 network, run in Lava's CPU simulator (fixed point).

lava-nc 0.10 (Python 3.10) is archived upstream; this module targets it as a frozen
format. The graph: a ``RingBuffer`` source injecting the input spikes (or, for a graded
network, the payloads into a first layer with ``num_message_bits``) → per layer a
``Dense`` (one sample) or ``Sparse`` (several samples as block-diagonal copies, so that
one run simulates a batch) → a ``LIF`` → a ``RingBuffer`` sink recording its spikes.
It always runs with ``Loihi2SimCfg(select_tag="fixed_pt")``: the default configuration
silently simulates floating point. Lava starts an OS process per Lava process and can
hang after errors, so the runtime is always stopped in a ``finally``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ... import metrics
from ...errors import NeurocosimError
from .network import LoihiNetwork

__all__ = ["LavaUnavailable", "require_lava", "run_lava", "LavaRun", "build_graph"]


class LavaUnavailable(NeurocosimError):
    """lava-nc is not installed (it needs Python 3.10)."""


def require_lava():
    """Import lava or raise one clear error naming the fix."""
    import multiprocessing as mp
    import sys

    # Lava calls multiprocessing.set_start_method('fork') when first imported, which raises
    # once anything (Numba's parallel layer does) has fixed the start method. 'fork' is the
    # Linux default that Lava needs, so its call is made idempotent for that import only.
    original = mp.set_start_method
    mp.set_start_method = lambda method, force=False: original(method, force=True)
    try:
        import lava.magma.core.run_configs  # noqa: F401
        import lava.proc.lif.process  # noqa: F401
    except ImportError as exc:
        ver = ".".join(map(str, sys.version_info[:2]))
        raise LavaUnavailable(
            f"the Lava backend needs lava-nc 0.10, which installs only on Python 3.10 (this is "
            f"Python {ver}; import failed: {exc}); run 'make test' or 'make demo' (they build "
            ".venv with Python 3.10 and the 'lava' extra) or pip install 'neurocosim[lava]' "
            "on Python 3.10"
        ) from None
    finally:
        mp.set_start_method = original


@dataclass(frozen=True)
class LavaRun:
    """Spikes of every layer ``(n_samples, steps, n)``, the wall time of the run, the LIF
    state ``u[name]``, ``v[name]`` ``(n_samples, n)`` after the last step, and with
    ``trace=True`` ``trace[name] = {"u", "v"}``, each ``(n_samples, steps, n)``: the state
    after every step (int64)."""

    spikes: dict
    counts: np.ndarray
    wall_s: float
    u: dict
    v: dict
    trace: dict | None = None

    def accuracy(self, labels) -> float:
        return metrics.accuracy(self.counts, labels)


def build_graph(net: LoihiNetwork, data: np.ndarray, n_samples: int):
    """Processes of the graph for ``data`` ``(n_samples·n_in, steps)`` (sample-major)."""
    require_lava()
    import scipy.sparse as sp
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import Sparse

    steps = data.shape[1]
    src = Source(data=data.astype(np.int32))
    prev_port = src.s_out
    lifs, sinks = [], []
    for k, L in enumerate(net.layers):
        w = L.weight.astype(np.int32)
        kwargs = {"weight_exp": int(L.weight_exp), "num_weight_bits": int(L.num_weight_bits),
                  "num_message_bits": int(net.num_message_bits) if k == 0 else 0}
        if n_samples == 1:
            syn = Dense(weights=w, **kwargs)
        else:
            syn = Sparse(weights=sp.block_diag([sp.csr_matrix(w)] * n_samples, format="csr"),
                         **kwargs)
        lif = LIF(shape=(L.n_out * n_samples,), du=int(L.du), dv=int(L.dv), vth=int(L.vth),
                  bias_mant=np.tile(L.bias_mant.astype(np.int32), n_samples),
                  bias_exp=int(L.bias_exp))
        sink = Sink(shape=(L.n_out * n_samples,), buffer=steps)
        prev_port.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        prev_port = lif.s_out
        lifs.append(lif)
        sinks.append(sink)
    return src, lifs, sinks


def run_lava(net: LoihiNetwork, spikes: np.ndarray, *, trace: bool = False) -> LavaRun:
    """Run ``net`` in Lava's CPU simulator on ``spikes`` ``(n_samples, steps, n_in)``
    (binary spikes, or a graded network's integer payloads).

    All samples run at once as block-diagonal copies (one Lava process per layer). With
    ``trace``, Lava runs one step at a time and every layer's ``u`` and ``v`` are read
    after each step (slower: two reads per layer and step)."""
    require_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    x = np.asarray(spikes)
    n, steps, n_in = x.shape
    data = np.ascontiguousarray(x.transpose(0, 2, 1).reshape(n * n_in, steps))
    src, lifs, sinks = build_graph(net, data, n)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    seen = []  # per step: [(u, v) per layer]

    def state():
        return [tuple(np.asarray(var.get()).astype(np.int64).reshape(n, -1)
                      for var in (lif.u, lif.v)) for lif in lifs]

    t0 = time.perf_counter()
    try:
        for _ in range(steps if trace else 1):
            src.run(condition=RunSteps(num_steps=1 if trace else steps), run_cfg=cfg)
            seen.append(state())
        recorded = [s.data.get() for s in sinks]
    finally:
        src.stop()
    wall = time.perf_counter() - t0
    out, fu, fv, tr = {}, {}, {}, {}
    for k, (L, rec) in enumerate(zip(net.layers, recorded, strict=True)):
        out[L.name] = np.asarray(rec).reshape(n, L.n_out, steps).transpose(0, 2, 1).astype(np.int8)
        fu[L.name], fv[L.name] = seen[-1][k]
        tr[L.name] = {key: np.stack([step[k][i] for step in seen], axis=1)
                      for i, key in enumerate(("u", "v"))}
    counts = out[net.layers[-1].name].sum(axis=1).astype(np.int64)
    return LavaRun(spikes=out, counts=counts, wall_s=wall, u=fu, v=fv,
                   trace=tr if trace else None)
