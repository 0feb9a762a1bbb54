"""``simulate``: the cycle-level engine's public entry point (DESIGN §3.2, §3.4–3.6).

Layer 1 of DESIGN §4.4: validate, shape, chunk the samples, call the parallel driver,
gather a :class:`SimResult` with per-sample :class:`~.counters.EventCounts`. The chip is
simulated at its operating point (``programmed.operating_point``: read time, ADC ranges,
drift compensation); :meth:`~neurocosim.devices.program.ProgrammedChip.at` changes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..budget import check_simulation
from ..devices.program import ProgrammedChip
from ..errors import SimulationError
from .counters import EventCounts
from .early_stop import EarlyStop, parse_early_stop
from .encoders import Encoder
from .jit import get_threads, max_threads, set_threads
from .kernels import engine as K
from .kernels.rng import seed_states
from .reference import parse_probe
from .tables import EngineTables, Outputs, Probes, build_tables, run_policy

__all__ = ["simulate", "SimResult", "EventCounts"]


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
        noise. Same seed → same spikes, whatever ``threads`` and ``batch_size``.
    probes
        ``"node"``, ``"neuron.v"``, ``"cuba.i"``; memory ``n × steps × size`` each.
    batch_size
        Samples per call of the parallel driver (bounds the input-frame memory).
    threads
        Numba threads (default: Numba's setting).
    tables
        Prebuilt :class:`EngineTables` of ``programmed`` (reuse across calls).
    """
    if int(steps) < 1:
        raise SimulationError(f"steps must be >= 1, got {steps}")
    steps = int(steps)
    es = parse_early_stop(early_stop)
    net = programmed.mapped.network
    prog = tables or build_tables(programmed)
    rng = _read_noise_rng(programmed, rng)
    n = encoder.n_samples
    states = seed_states(np.random.SeedSequence(int(rng.integers(2**63))), n)
    plan = _probe_plan(net, prog.node_names, probes)
    n_out = int(np.prod(net.output_shape))
    check_simulation(engine="hwsim", n_samples=n, steps=steps, batch=batch_size,
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synapses(), recorded=plan[-1],
                     per_sample=n_out + len(prog.block_op) * K.N_BLOCK_COUNTERS
                     + len(prog.layer_names) * K.N_LAYER_COUNTERS)
    if threads is not None and not 1 <= int(threads) <= max_threads():
        raise SimulationError(f"threads: {threads} is outside 1..{max_threads()} (this "
                              "machine's cores); use --threads 1.." + str(max_threads()))
    buf = _Buffers.empty(n, steps, n_out, prog, plan[-1])
    old = get_threads()
    if threads is not None:
        set_threads(threads)
    chunks = _chunks(n, batch_size, progress)
    t0 = time.perf_counter()
    try:
        _run_batches(prog, encoder, steps, es, plan, states, buf, chunks, batch_size,
                     programmed.chip.macro.dac_bits)
    finally:
        if threads is not None:
            set_threads(old)
    wall = time.perf_counter() - t0
    return SimResult(output=buf.out_sum.reshape(n, *net.output_shape), steps_used=buf.steps_used,
                     steps_max=steps, counts=buf.counts(prog), probes=buf.probe_dict(plan[-2]),
                     wall_s=wall, early_stop=str(es),
                     options={"read_time": prog.read_time, "threads": threads or old,
                              "batch_size": batch_size})


def _read_noise_rng(programmed: ProgrammedChip, rng: np.random.Generator | None):
    if rng is not None:
        return rng
    if programmed.chip.macro.read_noise.model != "none" and not programmed.ideal:
        raise SimulationError("the chip has read noise: pass rng (CLI: --seed)")
    return np.random.default_rng(0)


def _chunks(n: int, batch_size: int, progress: bool):
    chunks = range(0, n, max(1, int(batch_size)))
    if progress:
        from tqdm.auto import tqdm

        return tqdm(chunks, desc="hwsim", unit="batch")
    return chunks


@dataclass(frozen=True, kw_only=True, eq=False)
class _Buffers:
    """What the batch driver writes, for every sample."""

    out_sum: np.ndarray
    steps_used: np.ndarray
    latency: np.ndarray
    blk: np.ndarray
    lay: np.ndarray
    inp: np.ndarray
    err: np.ndarray
    probes: np.ndarray

    @classmethod
    def empty(cls, n: int, steps: int, n_out: int, prog: EngineTables, p_total: int) -> _Buffers:
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
        return EventCounts(block=self.blk, layer=self.lay, input=self.inp,
                           steps=self.steps_used.copy(), latency_s=self.latency,
                           block_op=prog.block_op, block_tile=prog.block_tile,
                           block_outs=prog.block_outs, layer_names=prog.layer_names)

    def probe_dict(self, shapes: dict) -> dict[str, np.ndarray]:
        n, steps = self.probes.shape[:2]
        return {p: self.probes[:, :, o:o + s].reshape(n, steps, *shape)
                for p, (o, s, shape) in shapes.items()}


def _run_batches(prog: EngineTables, encoder: Encoder, steps: int, es, plan, states,
                 buf: _Buffers, chunks, batch_size: int, dac_bits: int) -> None:
    """Call the parallel driver on every chunk of samples; a sample stopped by an input
    the DAC cannot apply → SimulationError naming its layer."""
    records, policy, probes = prog.records(), run_policy(es, steps), Probes(*plan[:4])
    n = encoder.n_samples
    for lo in chunks:
        hi = min(n, lo + batch_size)
        frames = np.ascontiguousarray(encoder.block(lo, hi, steps), dtype=np.float64)
        frames = frames.reshape(hi - lo, steps, -1)
        sl = slice(lo, hi)
        K.run_batch(frames, *records, policy, probes, Outputs(states[sl], *buf.outputs(sl)))
        bad = np.flatnonzero(buf.err[sl, 0])
        if bad.size:
            node = prog.node_names[int(buf.err[lo + bad[0], 1])]
            raise SimulationError(
                f"layer '{node}' receives a non-binary, non-integer input that the "
                f"macro's {dac_bits}-bit DAC cannot apply (analog values "
                "need dac_bits >= 2 and values in [0, 1]): use --encoding rate or spikes, "
                "or a chip card with more DAC bits"
            )
