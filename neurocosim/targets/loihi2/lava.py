"""Lava process graph of a Loihi 2 network, run in Lava's CPU simulator (fixed point).

lava-nc 0.10 (Python 3.10) is archived upstream; this module targets it as a frozen
format. The graph: a ``RingBuffer`` source injecting the input spikes (or, for a graded
network, the payloads into a first layer with ``num_message_bits``) → per layer a
``Dense`` (one sample) or ``Sparse`` (several samples as block-diagonal copies, so that
one run simulates a batch), or a ``Conv`` (several samples as channel groups,
:mod:`neurocosim.targets.loihi2.conv`) → a ``LIF`` → a ``RingBuffer`` sink recording its
spikes. A conv layer's LIF and sink have Lava's ``(W, H, n·C)`` shape; a dense layer after
it reads the spikes through a flattening port.
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
from .conv import check_conv_layer, dense_matrix, from_lava_xyc, lava_kernel, to_lava_xyc
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


def _synapse(L, k: int, net: LoihiNetwork, n_samples: int, prev_conv):
    """Layer ``L``'s synaptic process for ``n_samples`` samples (``prev_conv``: the
    previous layer's conv geometry, or None) and the shape of its neurons in Lava."""
    import scipy.sparse as sp
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.sparse.process import Sparse

    kwargs = {"weight_exp": int(L.weight_exp), "num_weight_bits": int(L.num_weight_bits),
              "num_message_bits": int(net.num_message_bits) if k == 0 else 0}
    if L.conv is not None:
        check_conv_layer(L)
        c, h, w = L.conv.in_shape
        syn = Conv(weight=lava_kernel(L.weight.astype(np.int32), n_samples),
                   input_shape=(w, h, n_samples * c), padding=L.conv.padding[::-1],
                   stride=L.conv.stride[::-1], dilation=L.conv.dilation[::-1],
                   groups=L.conv.groups * n_samples, **kwargs)
        co, ho, wo = L.conv.out_shape
        return syn, (wo, ho, n_samples * co)
    w = L.weight.astype(np.int32)
    if prev_conv is not None:
        mat = dense_matrix(w, n_samples, prev_conv.out_shape)
        syn = (Dense(weights=mat.toarray().astype(np.int32), **kwargs) if n_samples == 1
               else Sparse(weights=mat, **kwargs))
    elif n_samples == 1:
        syn = Dense(weights=w, **kwargs)
    else:
        syn = Sparse(weights=sp.block_diag([sp.csr_matrix(w)] * n_samples, format="csr"),
                     **kwargs)
    return syn, (L.n_out * n_samples,)


def _lava_vector(L, values: np.ndarray, n_samples: int, shape: tuple) -> np.ndarray:
    """A per-neuron vector of ``L`` (IR order) for ``n_samples`` samples, in Lava's shape."""
    tiled = np.tile(values, (n_samples, 1))
    if L.conv is None:
        return tiled.reshape(-1)
    return to_lava_xyc(tiled, L.conv.out_shape).reshape(shape)


def build_graph(net: LoihiNetwork, data: np.ndarray, n_samples: int):
    """Processes of the graph for ``data`` ``(n_samples·n_in, steps)`` (sample-major, the
    IR's order); a conv first layer gets it as Lava's ``(W, H, n·C, steps)``."""
    require_lava()
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    steps = data.shape[1]
    first = net.layers[0].conv
    if first is not None:
        data = to_lava_xyc(data.reshape(n_samples, -1, steps), first.in_shape)
    src = Source(data=data.astype(np.int32))
    prev_port, prev_conv = src.s_out, None
    lifs, sinks = [], []
    for k, L in enumerate(net.layers):
        syn, shape = _synapse(L, k, net, n_samples, prev_conv)
        lif = LIF(shape=shape, du=int(L.du), dv=int(L.dv), vth=int(L.vth),
                  bias_mant=_lava_vector(L, L.bias_mant.astype(np.int32), n_samples, shape),
                  bias_exp=int(L.bias_exp))
        sink = Sink(shape=shape, buffer=steps)
        if prev_conv is not None and L.conv is None:
            prev_port = prev_port.flatten()  # (W, H, n·C) spikes into a dense layer
        prev_port.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        prev_port, prev_conv = lif.s_out, L.conv
        lifs.append(lif)
        sinks.append(sink)
    return src, lifs, sinks


def _per_sample(L, values, n: int, steps: int | None = None) -> np.ndarray:
    """Lava's array of layer ``L`` (spikes ``(..., steps)`` or a state) → ``(n, [steps,]
    n_out)`` in the IR's order."""
    values = np.asarray(values)
    if L.conv is not None:
        return from_lava_xyc(values, n, L.conv.out_shape)
    if steps is None:
        return values.reshape(n, L.n_out)
    return values.reshape(n, L.n_out, steps).transpose(0, 2, 1)


def run_lava(net: LoihiNetwork, spikes: np.ndarray, *, trace: bool = False) -> LavaRun:
    """Run ``net`` in Lava's CPU simulator on ``spikes`` ``(n_samples, steps, n_in)``
    (binary spikes, or a graded network's integer payloads).

    All samples run at once as block-diagonal copies, or channel groups of a ``Conv``
    (one Lava process per layer); conv layers' spikes and states come back in the IR's
    ``(C, H, W)`` order, flattened. With
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
        return [tuple(_per_sample(L, var.get(), n).astype(np.int64) for var in (lif.u, lif.v))
                for L, lif in zip(net.layers, lifs, strict=True)]

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
        out[L.name] = _per_sample(L, rec, n, steps).astype(np.int8)
        fu[L.name], fv[L.name] = seen[-1][k]
        tr[L.name] = {key: np.stack([step[k][i] for step in seen], axis=1)
                      for i, key in enumerate(("u", "v"))}
    counts = out[net.layers[-1].name].sum(axis=1).astype(np.int64)
    return LavaRun(spikes=out, counts=counts, wall_s=wall, u=fu, v=fv,
                   trace=tr if trace else None)
