"""The samples of one :func:`~neurocosim.hwsim.simulate` call, chunk by chunk: here, or
sharded over a ``dask.distributed`` cluster.

A chunk is ``batch_size`` consecutive samples: encode their frames, run the parallel
driver :func:`~.kernels.engine.run_batch` on them with their slice of the per-sample
random states, keep their outputs and counters. :class:`ChunkJob` is what every chunk
shares (the engine tables, the encoder, the run policy, what is recorded); it is sent to
each Dask worker once (``scatter(..., broadcast=True)``) and a task carries only its
sample range and random states. Every sample has its own random stream and its own
buffers, so where and in which order chunks run does not change a bit of the result.

The executor is a ``distributed.Client`` (anything with its ``submit``, ``scatter`` and
``nthreads``); this module never creates one (the CLI's ``--dask`` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import NeurocosimError, SimulationError, one_line
from .counters import EventCounts
from .encoders import Encoder
from .jit import get_threads, max_threads, set_threads
from .kernels import engine as K
from .tables import EngineTables, Outputs, Policy, Probes

__all__ = ["ChunkJob", "Buffers", "run_local", "run_dask", "engine_dtype"]


def engine_dtype(tables: EngineTables) -> np.dtype:
    """The dtype of the engine's values (and of its input frames) for ``tables``."""
    return np.dtype(tables.dtype)


@dataclass(frozen=True, kw_only=True, eq=False)
class Buffers:
    """What the batch driver writes, for every sample of a run (or of one chunk)."""

    out_sum: np.ndarray
    steps_used: np.ndarray
    latency: np.ndarray
    blk: np.ndarray
    lay: np.ndarray
    inp: np.ndarray
    err: np.ndarray
    probes: np.ndarray

    @classmethod
    def empty(cls, n: int, steps: int, n_out: int, prog: EngineTables, p_total: int) -> Buffers:
        return cls(out_sum=np.zeros((n, n_out)), steps_used=np.zeros(n, np.int64),
                   latency=np.zeros(n), blk=np.zeros((n, len(prog.block_op), K.N_BLOCK_COUNTERS)),
                   lay=np.zeros((n, len(prog.layer_names), K.N_LAYER_COUNTERS)),
                   inp=np.zeros((n, 2)), err=np.zeros((n, 2), np.int64),
                   probes=np.zeros((n, steps, p_total)) if p_total else np.zeros((n, 1, 1)))

    def outputs(self, sl: slice) -> list[np.ndarray]:
        """The driver's outputs for the samples ``sl`` (:class:`~.tables.Outputs` after
        the random streams)."""
        return [self.out_sum[sl], self.steps_used[sl], self.latency[sl], self.blk[sl],
                self.lay[sl], self.inp[sl], self.probes[sl], self.err[sl]]

    def counts(self, prog: EngineTables) -> EventCounts:
        digital = {}  # max-pool comparisons, BatchNorm multiply-adds: only where there are any
        if prog.digital_ops.any():
            digital = {"digital": prog.digital_counts(self.steps_used),
                       "digital_names": prog.digital_names}
        if prog.gate_names:  # a Gate's enables are its router layer's spikes
            lay = self.lay[:, prog.gate_layers]
            on = lay[:, :, K.L_SPIKES]
            digital |= {"gate": np.stack([on, lay[:, :, K.L_UPDATES] - on], axis=-1),
                        "gate_names": prog.gate_names}
        return EventCounts(block=self.blk, layer=self.lay, input=self.inp,
                           steps=self.steps_used.copy(), latency_s=self.latency,
                           block_op=prog.block_op, block_tile=prog.block_tile,
                           block_outs=prog.block_outs, layer_names=prog.layer_names, **digital)

    def probe_dict(self, shapes: dict) -> dict[str, np.ndarray]:
        n, steps = self.probes.shape[:2]
        return {p: self.probes[:, :, o:o + s].reshape(n, steps, *shape)
                for p, (o, s, shape) in shapes.items()}


@dataclass(frozen=True, kw_only=True, eq=False)
class ChunkJob:
    """What every chunk of a run shares."""

    tables: EngineTables
    encoder: Encoder
    policy: Policy
    probes: Probes
    n_out: int  # output values per sample
    recorded: int  # probe values per sample and step

    @property
    def steps(self) -> int:
        return int(self.policy.steps)

    def run(self, lo: int, hi: int, states: np.ndarray, outputs: list[np.ndarray]) -> None:
        """Samples ``lo..hi-1``: their frames through the parallel driver into
        ``outputs`` (:meth:`Buffers.outputs`), advancing ``states`` in place."""
        frames = np.ascontiguousarray(self.encoder.block(lo, hi, self.steps),
                                      dtype=engine_dtype(self.tables))
        frames = frames.reshape(hi - lo, self.steps, -1)
        K.run_batch(frames, *self.tables.records(), self.policy, self.probes,
                    Outputs(states, *outputs))

    def chunk(self, lo: int, hi: int, states: np.ndarray, threads: int) -> tuple:
        """One chunk on its own buffers (a Dask task): ``(lo, hi, outputs)``."""
        buf = Buffers.empty(hi - lo, self.steps, self.n_out, self.tables, self.recorded)
        outputs = buf.outputs(slice(None))
        old = get_threads()
        set_threads(max(1, min(int(threads), max_threads())))
        try:
            self.run(lo, hi, np.array(states, np.uint64), outputs)
        finally:
            set_threads(old)
        return lo, hi, outputs


def _chunk_task(job: ChunkJob, lo: int, hi: int, states: np.ndarray, threads: int) -> tuple:
    return job.chunk(lo, hi, states, threads)


def run_local(job: ChunkJob, states: np.ndarray, buf: Buffers, starts: range, batch_size: int,
              done: Callable[[int, int], None]) -> None:
    """Every chunk here, in order, written straight into ``buf``; ``done(lo, hi)`` after
    each."""
    n = len(states)
    for lo in starts:
        hi = min(n, lo + batch_size)
        sl = slice(lo, hi)
        job.run(lo, hi, states[sl], buf.outputs(sl))
        done(lo, hi)


def run_dask(client, job: ChunkJob, states: np.ndarray, buf: Buffers, starts: range,
             batch_size: int, done: Callable[[int, int], None], threads: int = 1) -> None:
    """Every chunk as one task on the Dask cluster of ``client``; each result is copied
    into ``buf`` as it arrives (at most two tasks per worker thread in flight), then
    ``done(lo, hi)``. A worker's error is raised here as one line."""
    from distributed import as_completed

    n = len(states)
    shared = client.scatter(job, broadcast=True, hash=False)  # the tables travel once
    window = 2 * max(1, sum(client.nthreads().values()))
    pending: Iterator[int] = iter(starts)

    def submit(lo: int):
        hi = min(n, lo + batch_size)
        return client.submit(_chunk_task, shared, lo, hi, states[lo:hi], threads, pure=False)

    inflight = as_completed([submit(lo) for _, lo in zip(range(window), pending, strict=False)],
                            loop=client.loop)
    try:
        for fut in inflight:
            lo, hi, outputs = _remote_result(fut)
            for dst, src in zip(buf.outputs(slice(lo, hi)), outputs, strict=True):
                dst[...] = src
            fut.release()
            done(lo, hi)
            nxt = next(pending, None)
            if nxt is not None:
                inflight.add(submit(nxt))
    finally:  # after an error or an interrupt: nothing is left running for this call
        with contextlib.suppress(Exception):
            client.cancel([*inflight.futures, shared])
        inflight.clear()


def _remote_result(fut):
    try:
        return fut.result()
    except NeurocosimError as exc:  # the same one-line error as a local run
        raise type(exc)(one_line(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - anything else: name the worker's failure
        name = type(exc).__name__
        if name == "KilledWorker":
            raise SimulationError("a Dask worker died running hwsim samples (killed, or out "
                                  "of memory): use a smaller --batch-size or workers with "
                                  "more memory") from None
        raise
