"""``simulate``: the cycle-level engine's public entry point (DESIGN §3.2, §3.4–3.6).

Layer 1 of DESIGN §4.4: validate, shape, chunk the samples, call the parallel driver,
gather a :class:`SimResult` with per-sample :class:`EventCounts`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..budget import check_simulation
from ..devices.program import ProgrammedChip
from ..errors import DataError, SimulationError
from .early_stop import EarlyStop, parse_early_stop
from .encoders import Encoder
from .jit import get_threads, max_threads, set_threads
from .kernels import engine as K
from .kernels.rng import seed_states
from .program import BLOCK_COUNTERS, LAYER_COUNTERS, EngineProgram, build_program
from .reference import parse_probe

__all__ = ["simulate", "SimResult", "EventCounts"]


_COUNT_KEYS = ("block", "layer", "input", "steps_used", "latency_s", "block_op", "block_tile",
               "block_outs", "layer_names")


@dataclass(frozen=True, kw_only=True, eq=False)
class EventCounts:
    """Per-sample event counters (DESIGN §3.6).

    ``block[s, b, k]``: counter ``BLOCK_COUNTERS[k]`` of tile block ``b`` (its op is
    ``block_op[b]``, its tile ``block_tile[b]``, its outputs ``block_outs[b]``);
    ``rows_driven`` counts one row per level of a thermometer-coded input,
    ``active_inputs`` one per non-zero input; ``layer[s, l, k]``: ``LAYER_COUNTERS[k]``
    of neuron layer ``layer_names[l]``; ``input[s]``: host input packets and hops;
    ``steps[s]``: steps run; ``latency_s[s]``: critical-path latency of the run.
    """

    block: np.ndarray
    layer: np.ndarray
    input: np.ndarray
    steps: np.ndarray
    latency_s: np.ndarray
    block_op: tuple[str, ...]
    block_tile: np.ndarray
    block_outs: np.ndarray
    layer_names: tuple[str, ...]
    block_counters: tuple[str, ...] = BLOCK_COUNTERS
    layer_counters: tuple[str, ...] = LAYER_COUNTERS

    @property
    def n_samples(self) -> int:
        return int(self.steps.shape[0])

    def totals(self) -> dict[str, float]:
        """Every counter summed over samples, blocks and layers."""
        out = {k: float(self.block[:, :, i].sum()) for i, k in enumerate(self.block_counters)}
        out.update({k: float(self.layer[:, :, i].sum()) for i, k in enumerate(self.layer_counters)})
        out["input_packets"] = float(self.input[:, 0].sum())
        out["input_hops"] = float(self.input[:, 1].sum())
        out["steps"] = float(self.steps.sum())
        return out

    def by_op(self) -> dict[str, dict[str, float]]:
        """Block counters summed per synaptic op (layer of weights)."""
        out: dict[str, dict[str, float]] = {}
        for b, op in enumerate(self.block_op):
            d = out.setdefault(op, {k: 0.0 for k in self.block_counters})
            for i, k in enumerate(self.block_counters):
                d[k] += float(self.block[:, b, i].sum())
        return out

    def by_tile(self) -> dict[int, dict[str, float]]:
        """Block counters summed per physical tile."""
        out: dict[int, dict[str, float]] = {}
        for b, t in enumerate(self.block_tile):
            d = out.setdefault(int(t), {k: 0.0 for k in self.block_counters})
            for i, k in enumerate(self.block_counters):
                d[k] += float(self.block[:, b, i].sum())
        return out

    def by_layer(self) -> dict[str, dict[str, float]]:
        return {name: {k: float(self.layer[:, j, i].sum()) for i, k in enumerate(self.layer_counters)}
                for j, name in enumerate(self.layer_names)}

    def arrays(self) -> dict[str, np.ndarray]:
        """The counters as named arrays (the keys :meth:`load` reads back)."""
        return {"block": self.block, "layer": self.layer, "input": self.input,
                "steps_used": self.steps, "latency_s": self.latency_s,
                "block_op": np.array(self.block_op, dtype=str), "block_tile": self.block_tile,
                "block_outs": self.block_outs, "layer_names": np.array(self.layer_names, dtype=str)}

    @classmethod
    def load(cls, path: str | Path) -> EventCounts:
        """Counters from a ``results.npz`` a run wrote; a damaged file → DataError."""
        from ..frontends.npz import load_npz_arrays

        path = Path(path)
        a = load_npz_arrays(path, what="results file", error=DataError, keys=_COUNT_KEYS,
                            required=_COUNT_KEYS)
        n = a["steps_used"].shape[0] if a["steps_used"].ndim == 1 else -1
        nb, nl = a["block_op"].shape[0] if a["block_op"].ndim == 1 else -1, \
            a["layer_names"].shape[0] if a["layer_names"].ndim == 1 else -1
        want = {"block": (n, nb, len(BLOCK_COUNTERS)), "layer": (n, nl, len(LAYER_COUNTERS)),
                "input": (n, 2), "steps_used": (n,), "latency_s": (n,), "block_tile": (nb,),
                "block_outs": (nb,)}
        for k, shape in want.items():
            if a[k].shape != shape or a[k].dtype.kind not in "iuf":
                raise DataError(f"{path}: field '{k}' has shape {a[k].shape} ({a[k].dtype}); "
                                f"expected {shape} numbers; the file is damaged")
            if not (np.isfinite(a[k]).all() and (a[k] >= 0).all()):
                raise DataError(f"{path}: field '{k}' holds negative, NaN or infinite counts")
        if a["block_op"].dtype.kind != "U" or a["layer_names"].dtype.kind != "U":
            raise DataError(f"{path}: fields 'block_op'/'layer_names' must be strings")
        return cls(block=a["block"].astype(float), layer=a["layer"].astype(float),
                   input=a["input"].astype(float), steps=a["steps_used"].astype(np.int64),
                   latency_s=a["latency_s"].astype(float),
                   block_op=tuple(a["block_op"].tolist()),
                   block_tile=a["block_tile"].astype(np.int64),
                   block_outs=a["block_outs"].astype(np.int64),
                   layer_names=tuple(a["layer_names"].tolist()))

    def synaptic_events(self) -> float:
        """Cell reads: driven rows × columns of every read (the engine's synaptic events)."""
        return float(self.block[:, :, 1].sum())


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
    read_time: float = 0.0,
    adc_full_scale: np.ndarray | None = None,
    progress: bool = False,
    program: EngineProgram | None = None,
) -> SimResult:
    """Run the programmed chip on every sample of ``encoder`` for up to ``steps`` steps.

    Parameters
    ----------
    programmed
        From :func:`neurocosim.devices.program.program_chip`.
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
    read_time
        Seconds after programming at which the array is read (drift).
    adc_full_scale
        Per-block ADC range in amperes (e.g. from a calibration run); default: each
        block's largest possible column current.
    program
        A prebuilt :class:`EngineProgram` (reuse across calls with the same settings).
    """
    if int(steps) < 1:
        raise SimulationError(f"steps must be >= 1, got {steps}")
    steps = int(steps)
    es = parse_early_stop(early_stop)
    mapped = programmed.mapped
    net = mapped.network
    prog = program or build_program(programmed, read_time=read_time,
                                    adc_full_scale=adc_full_scale)
    noisy = mapped.chip.macro.read_noise.model != "none" and not programmed.ideal
    if rng is None:
        if noisy:
            raise SimulationError("the chip has read noise: pass rng (CLI: --seed)")
        rng = np.random.default_rng(0)
    n = encoder.n_samples
    states = seed_states(np.random.SeedSequence(int(rng.integers(2**63))), n)
    p_node, p_mode, p_off, p_size, shapes, p_total = _probe_plan(net, prog.node_names, probes)
    n_out = int(np.prod(net.output_shape))
    nb = len(prog.block_op)
    nl = len(prog.layer_names)
    check_simulation(engine="hwsim", n_samples=n, steps=steps, batch=batch_size,
                     input_size=int(np.prod(net.input_shape)), neurons=net.n_neurons(),
                     synapses=net.n_synapses(), recorded=p_total,
                     per_sample=n_out + nb * K.N_BLOCK_COUNTERS + nl * K.N_LAYER_COUNTERS)
    if threads is not None and not 1 <= int(threads) <= max_threads():
        raise SimulationError(f"threads: {threads} is outside 1..{max_threads()} (this "
                              "machine's cores); use --threads 1.." + str(max_threads()))
    out_sum = np.zeros((n, n_out))
    steps_used = np.zeros(n, np.int64)
    latency = np.zeros(n)
    blk = np.zeros((n, nb, K.N_BLOCK_COUNTERS))
    lay = np.zeros((n, nl, K.N_LAYER_COUNTERS))
    inp = np.zeros((n, 2))
    err = np.zeros((n, 2), np.int64)
    probe_arr = np.zeros((n, steps, p_total)) if p_total else np.zeros((n, 1, 1))
    old = get_threads()
    if threads is not None:
        set_threads(threads)
    chunks = range(0, n, max(1, int(batch_size)))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="hwsim", unit="batch")
    t0 = time.perf_counter()
    try:
        args = prog.args()
        for lo in chunks:
            hi = min(n, lo + batch_size)
            frames = np.ascontiguousarray(encoder.block(lo, hi, steps), dtype=np.float64)
            frames = frames.reshape(hi - lo, steps, -1)
            sl = slice(lo, hi)
            K.run_batch(frames, steps, *args, es.code, es.theta, es.temperature, es.margin,
                        es.min_steps, p_node, p_mode, p_off, p_size, states[sl], out_sum[sl],
                        steps_used[sl], latency[sl], blk[sl], lay[sl], inp[sl], probe_arr[sl],
                        err[sl])
            bad = np.flatnonzero(err[sl, 0])
            if bad.size:
                node = prog.node_names[int(err[lo + bad[0], 1])]
                raise SimulationError(
                    f"layer '{node}' receives a non-binary, non-integer input that the "
                    f"macro's {mapped.chip.macro.dac_bits}-bit DAC cannot apply (analog values "
                    "need dac_bits >= 2 and values in [0, 1]): use --encoding rate or spikes, "
                    "or a chip card with more DAC bits"
                )
    finally:
        if threads is not None:
            set_threads(old)
    wall = time.perf_counter() - t0
    probe_out = {p: probe_arr[:, :, o:o + s].reshape(n, steps, *shape)
                 for p, (o, s, shape) in shapes.items()}
    counts = EventCounts(block=blk, layer=lay, input=inp, steps=steps_used.copy(),
                         latency_s=latency, block_op=prog.block_op, block_tile=prog.block_tile,
                         block_outs=prog.block_outs, layer_names=prog.layer_names)
    return SimResult(output=out_sum.reshape(n, *net.output_shape), steps_used=steps_used,
                     steps_max=steps, counts=counts, probes=probe_out, wall_s=wall,
                     early_stop=str(es),
                     options={"read_time": read_time, "threads": threads or old,
                              "batch_size": batch_size})
