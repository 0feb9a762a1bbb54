"""``simulate``: the cycle-level engine's public entry point (DESIGN §3.2, §3.4–3.6).

Layer 1 of DESIGN §4.4: validate, shape, chunk the samples, call the parallel driver,
gather a :class:`SimResult` with per-sample :class:`~.counters.EventCounts`. The chip is
simulated at its operating point (``programmed.operating_point``: read time, ADC ranges,
drift compensation); :meth:`~neurocosim.devices.program.ProgrammedChip.at` changes it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..budget import check_simulation
from ..devices.program import ProgrammedChip
from ..errors import SimulationError, short
from .counters import EventCounts
from .early_stop import EarlyStop, parse_early_stop
from .encoders import Encoder
from .jit import get_threads, max_threads, set_threads
from .kernels import engine as K
from .kernels.rng import seed_states
from .reference import parse_probe
from .shards import Buffers, ChunkJob, engine_dtype, run_dask, run_local
from .tables import EngineTables, Probes, build_tables, run_policy

__all__ = ["simulate", "SimResult", "EventCounts", "PRECISIONS"]


@dataclass(frozen=True, kw_only=True, eq=False)
class SimResult:
    """Outcome of :func:`simulate`.

    ``output[s]``: the Output node's value summed over the steps run (spike counts for a
    spiking output layer); ``steps_used[s]``; ``probes``: ``"node"`` / ``"node.v"`` /
    ``"node.i"`` → ``(n_samples, steps_max, *shape)`` (steps after an early stop are 0).
    """

    output: np.ndarray
    steps_used: np.ndarray
    steps_max: int
    counts: EventCounts
    probes: Mapping[str, np.ndarray] = field(default_factory=dict)
    wall_s: float = 0.0
    early_stop: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)

    def predictions(self) -> np.ndarray:
        """argmax of the output evidence (ties → lowest index)."""
        return np.argmax(self.output.reshape(len(self.output), -1), axis=1)

    def accuracy(self, labels: np.ndarray) -> float:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != self.output.shape[0]:
            raise SimulationError(f"{labels.shape[0]} labels for {self.output.shape[0]} samples")
        return float(np.mean(self.predictions() == labels))

    @property
    def mean_steps(self) -> float:
        return float(np.mean(self.steps_used))

    @property
    def load_saving(self) -> float:
        """Computational-load saving of early stop: 1 − mean(steps used) / steps max."""
        return 1.0 - self.mean_steps / self.steps_max


def _probe_plan(net, order: tuple[str, ...], probes: Sequence[str]):
    nodes, modes, offs, sizes, shapes = [], [], [], [], {}
    off = 0
    for p in probes:
        name, what = parse_probe(net, p)
        shape = net.out_shapes[name]
        size = int(np.prod(shape))
        nodes.append(order.index(name))
        modes.append({"": 0, "v": 1, "i": 2}[what])
        offs.append(off)
        sizes.append(size)
        shapes[p] = (off, size, shape)
        off += size
    return (np.array(nodes or [0], np.int64)[: len(nodes)], np.array(modes, np.int64),
            np.array(offs, np.int64), np.array(sizes, np.int64), shapes, off)



PRECISIONS = ("float32", "float64")


def simulate(
    programmed: ProgrammedChip,
    encoder: Encoder,
    steps: int,
    *,
    early_stop: str | EarlyStop = "none",
    rng: np.random.Generator | None = None,
    probes: Sequence[str] = (),
    batch_size: int = 256,
    threads: int | None = None,
    progress: bool = False,
    tables: EngineTables | None = None,
    precision: str = "float64",
    executor: Any = None,
) -> SimResult:
    """Run the programmed chip, at its operating point, on every sample of ``encoder``
    for up to ``steps`` steps.

    Parameters
    ----------
    programmed
        From :func:`neurocosim.devices.program.program_chip`; its ``operating_point``
        sets the read time (drift), the ADC ranges and drift compensation
        (``programmed.at(read_time=..., adc_full_scale=...)``).
    encoder
        Input per step (:func:`~neurocosim.hwsim.encoders.make_encoder`).
    early_stop
        ``"none"``, ``"confidence:θ[:T][@min]"`` or ``"margin:m[@min]"`` (DESIGN §3.5).
    rng
        Seeds the read-noise streams (one per sample); required when the chip has read
        noise. Same seed → same spikes, whatever ``threads``, ``batch_size`` and
        ``executor``.
    probes
        ``"node"``, ``"neuron.v"``, ``"cuba.i"``; memory ``n × steps × size`` each.
    batch_size
        Samples per call of the parallel driver (bounds the input-frame memory); with
        ``executor``, samples per task.
    threads
        Numba threads (default: Numba's setting here; 1 per task on Dask workers).
    tables
        Prebuilt :class:`EngineTables` of ``programmed`` (reuse across calls), built
        with the same ``precision``.
    precision
        ``"float64"`` (the reference mode) or ``"float32"`` (the engine's values in
        single precision: faster; spikes differ only where a membrane is within about
        1e-5 of its threshold).
    executor
        A ``distributed.Client``: each chunk of ``batch_size`` samples runs as one task
        on its cluster (the tables are sent to each worker once) and the results stream
        back; bit for bit the result of the local run.
    """
    if executor is not None and not all(hasattr(executor, a) for a in ("submit", "scatter")):
        raise SimulationError(f"executor: {short(executor)} is not a dask.distributed Client; "
                              "pass Client(ADDRESS) (or None to run here)")
    job, states, buf, es, plan = _plan_run(
        programmed, encoder, steps, early_stop=early_stop, rng=rng, probes=probes,
        batch_size=batch_size, threads=threads, tables=tables, precision=precision)
    prog, n, batch = job.tables, encoder.n_samples, int(batch_size)
    threads = threads or (get_threads() if executor is None else 1)
    t0 = time.perf_counter()
    with _progress(n, batch, progress) as bar, _numba_threads(threads, executor):
        def done(lo: int, hi: int) -> None:
            _check_dac(prog, buf, lo, hi, programmed.chip.macro.dac_bits)
            bar(1)

        if executor is None:
            run_local(job, states, buf, range(0, n, batch), batch, done)
        else:
            run_dask(executor, job, states, buf, range(0, n, batch), batch, done, threads)
    wall = time.perf_counter() - t0
    net = programmed.mapped.network
    return SimResult(output=buf.out_sum.reshape(n, *net.output_shape), steps_used=buf.steps_used,
                     steps_max=job.steps, counts=buf.counts(prog),
                     probes=buf.probe_dict(plan[-2]), wall_s=wall, early_stop=str(es),
                     options={"read_time": prog.read_time, "threads": threads,
                              "batch_size": batch, "precision": engine_dtype(prog).name,
                              "executor": "local" if executor is None else "dask"})


def _plan_run(programmed: ProgrammedChip, encoder: Encoder, steps: int, *, early_stop, rng,
              probes, batch_size, threads, tables, precision):
    """Check the run (options, memory and time budget) before any work; the shared
    :class:`~.shards.ChunkJob`, the per-sample random states, the empty buffers, the
    early-stop policy and the probe plan."""
    if int(steps) < 1:
        raise SimulationError(f"steps must be >= 1, got {steps}")
    if int(batch_size) < 1:
        raise SimulationError(f"batch_size must be >= 1, got {batch_size}")
    steps = int(steps)
    es = parse_early_stop(early_stop)
    net = programmed.mapped.network
    prog = _engine_tables(programmed, precision, tables)
    rng = _read_noise_rng(programmed, rng)
    n = encoder.n_samples
    states = seed_states(np.random.SeedSequence(int(rng.integers(2**63))), n)
    plan = _probe_plan(net, prog.node_names, probes)
    n_out = int(np.prod(net.output_shape))
    check_simulation(engine="hwsim", n_samples=n, steps=steps, batch=batch_size,
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synaptic_ops(), recorded=plan[-1],
                     per_sample=n_out + len(prog.block_op) * K.N_BLOCK_COUNTERS
                     + len(prog.layer_names) * K.N_LAYER_COUNTERS)
    if threads is not None and not 1 <= int(threads) <= max_threads():
        raise SimulationError(f"threads: {threads} is outside 1..{max_threads()} (this "
                              "machine's cores); use --threads 1.." + str(max_threads()))
    job = ChunkJob(tables=prog, encoder=encoder, policy=run_policy(es, steps),
                   probes=Probes(*plan[:4]), n_out=n_out, recorded=plan[-1])
    return job, states, Buffers.empty(n, steps, n_out, prog, plan[-1]), es, plan


def _engine_tables(programmed: ProgrammedChip, precision, tables: EngineTables | None):
    """The engine tables in ``precision`` (prebuilt ``tables`` must match it)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise SimulationError(f"precision: {short(precision)} is not one of float32, float64 "
                              "(float64: the reference mode; float32: faster); use "
                              "--precision float32 or float64")
    if tables is None:
        return build_tables(programmed, precision=precision)
    have = engine_dtype(tables).name
    if have != precision:
        raise SimulationError(f"tables: built in {have} but precision {precision!r} was asked; "
                              f"pass precision={have!r} or build the tables with "
                              f"build_tables(programmed, precision={precision!r})")
    return tables


def _read_noise_rng(programmed: ProgrammedChip, rng: np.random.Generator | None):
    if rng is not None:
        return rng
    if programmed.chip.macro.read_noise.model != "none" and not programmed.ideal:
        raise SimulationError("the chip has read noise: pass rng (CLI: --seed)")
    return np.random.default_rng(0)


@contextlib.contextmanager
def _numba_threads(threads: int, executor):
    """Numba's thread count here for a local run (restored after)."""
    old = get_threads()
    if executor is None:
        set_threads(threads)
    try:
        yield
    finally:
        set_threads(old)


@contextlib.contextmanager
def _progress(n: int, batch_size: int, progress: bool):
    """``update(k)``: k more chunks done (a tqdm bar when ``progress``)."""
    if not progress:
        yield lambda k: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=-(-n // max(1, int(batch_size))), desc="hwsim", unit="batch")
    try:
        yield bar.update
    finally:
        bar.close()


def _check_dac(prog: EngineTables, buf: Buffers, lo: int, hi: int, dac_bits: int) -> None:
    """A sample stopped by an input the DAC cannot apply → SimulationError naming its
    layer."""
    bad = np.flatnonzero(buf.err[lo:hi, 0])
    if bad.size:
        node = prog.node_names[int(buf.err[lo + bad[0], 1])]
        raise SimulationError(
            f"layer '{node}' receives a non-binary, non-integer input that the "
            f"macro's {dac_bits}-bit DAC cannot apply (analog values "
            "need values in [0, s], s the block's input full scale — 1 unless the ADC "
            "calibration set it from the inputs it saw — and dac_bits >= 2 or a "
            "bit-serial input): use --encoding rate or spikes, ADC calibration "
            "(--adc-calibration N) on data like these inputs, or a chip card with more "
            "DAC bits or macro.input: bit_serial:8"
        )
