"""The benchmarks' networks, defined once (bench_engine.py, bench_hwsim.py, brian2_worker.py).

Plain NumPy at import: ``brian2_worker.py`` runs in Brian2's own environment, where
neurocosim is not installed, and imports this file by path. The builders for the other
simulators import theirs lazily: :func:`to_ir` (neurocosim), :func:`to_brian2` (takes the
``brian2`` module).

A :class:`Net` is a chain of neuron layers, each ``v ← decay·v + I``, spike when ``v ≥ θ``
(``ge``) or ``v > θ``, θ = 1, reset to 0; ``ws[k]`` (``(n_out, n_in)``) drives layer ``k``
from layer ``k − 1`` (the input for ``k = 0``), one step late when ``delay``; ``w_rec``
drives the last layer from its own spikes of the previous step.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

DT = 1e-3
HERE = Path(__file__).resolve().parent
WORKLOADS = ("W1", "W2", "W3")


@dataclass(eq=False)
class Net:
    name: str
    title: str
    ws: list                      # (n_out, n_in) per layer
    w_rec: np.ndarray | None      # (n, n) of the last layer onto itself
    x: np.ndarray                 # (samples, steps, n_in) int8 input spikes
    decay: float                  # 1.0: integrate-and-fire
    ge: bool                      # spike when v >= 1 (else v > 1)
    delay: bool                   # one-step delay on the feed-forward hops
    via_weights: bool = False     # neurocosim: built by network_from_weights (as a user would)
    layers: list = field(default_factory=list)   # neurocosim's neuron layer names (to_ir)

    @property
    def n_neurons(self) -> int:
        return sum(w.shape[0] for w in self.ws)

    @property
    def synapses(self) -> int:
        return sum(int(np.count_nonzero(w)) for w in self.ws) + (
            0 if self.w_rec is None else int(np.count_nonzero(self.w_rec)))

    def with_input(self, x: np.ndarray) -> Net:
        return replace(self, x=x)

    def events(self, xs: np.ndarray, counts) -> float:
        """Synaptic events: Σ spikes × non-zero fan-out (input exact, layers mean)."""
        fan = [np.count_nonzero(w, axis=0) for w in self.ws]
        tot = float(xs.sum(axis=(0, 1)) @ fan[0])
        for k in range(1, len(self.ws)):
            tot += counts[k - 1] * fan[k].mean()
        if self.w_rec is not None:
            tot += counts[-1] * np.count_nonzero(self.w_rec, axis=0).mean()
        return tot


# -- weights and inputs -----------------------------------------------------------------------
def dyadic(rng, shape, lo, hi, density=1.0):
    """Multiples of 2^-8: every float sum of them is exact, whatever the order."""
    w = rng.integers(lo, hi + 1, shape).astype(float) / 256.0
    if density < 1.0:
        w[rng.random(shape) >= density] = 0.0
    return w


def feedforward_dyadic(rng):
    sizes = [784, 1024, 1024, 10]
    return [dyadic(rng, (b, a), -10, 14) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def recurrent_dyadic(rng):
    return dyadic(rng, (4000, 400), -12, 24, density=0.10), dyadic(rng, (4000, 4000), -40, 30,
                                                                  density=0.02)


@lru_cache(maxsize=1)
def old_draws() -> dict:
    """bench_hwsim.py's draws from ``default_rng(0)``, in its order, 1000 steps: the
    saturated FF weights ``ws`` and inputs ``ff1`` (1 sample) and ``ff64``, the recurrent
    ``w_in``, ``w_rec`` and input ``rec1`` (1 sample; ``rec63``: 63 more for bench_engine)."""
    rng = np.random.default_rng(0)
    d = {"ws": feedforward_dyadic(rng)}
    d["ff1"] = (rng.random((1, 1000, 784)) < 0.08).astype(np.int8)
    d["ff64"] = (rng.random((64, 1000, 784)) < 0.08).astype(np.int8)
    d["w_in"], d["w_rec"] = recurrent_dyadic(rng)
    d["rec1"] = (rng.random((1, 1000, 400)) < 0.08).astype(np.int8)
    d["rec63"] = (rng.random((63, 1000, 400)) < 0.08).astype(np.int8)
    return d


def workload(name: str, steps: int = 1000) -> Net:
    """bench_engine.py's workloads, 64 samples (the batch-1 input is sample 0):

    W1  feed-forward 784-1024-1024-10, W ~ N(0.0015, 0.04), Bernoulli input at 8 %, LIF
        ``v ← 0.9·v + I``, ``v ≥ 1``, one-step synaptic delay;
    W2  400 inputs (8 %) → 4000 LIF (as W1), 10 % input and 2 % recurrent connectivity,
        bench_hwsim.py's case (b) weights; the input arrives in its own step, the recurrent
        spikes one step later;
    W3  bench_hwsim.py's case (a): saturated IF, ``v > 1``, dyadic weights, one-step delay.
    """
    if name == "W1":
        rng = np.random.default_rng(2024)
        sizes = [784, 1024, 1024, 10]
        ws = [rng.normal(0.0015, 0.04, (b, a)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        x = (rng.random((64, 1000, 784)) < 0.08).astype(np.int8)
        return Net("W1", "FF 784-1024-1024-10, LIF, 8 % input", ws, None,
                   x[:, :steps].copy(), 0.9, True, True, via_weights=True)
    d = old_draws()
    if name == "W2":
        x = np.concatenate([d["rec1"], d["rec63"]])
        x[:, 0] = 0  # Brian2 gets this input one step early (no delay on the input hop)
        return Net("W2", "recurrent 4000 LIF, 2 %", [d["w_in"]], d["w_rec"],
                   x[:, :steps].copy(), 0.9, True, False)
    if name == "W3":
        x = np.concatenate([d["ff1"], d["ff64"][:63]])
        return Net("W3", "FF saturated (old case (a)), IF", d["ws"], None, x[:, :steps].copy(),
                   1.0, False, True)
    raise ValueError(f"unknown workload {name!r}: use one of {', '.join(WORKLOADS)}")


# -- neurocosim ------------------------------------------------------------------------------
def to_ir(net: Net):
    """The network as ``neurocosim.ir`` (sets ``net.layers``, the spiking layers in order)."""
    import neurocosim as nc
    from neurocosim import ir

    if net.via_weights:
        g = nc.network_from_weights(net.ws, dt=DT, neuron="IF" if net.decay == 1.0 else "LIF",
                                    beta=net.decay, compare=">=" if net.ge else ">",
                                    synaptic_delay=int(net.delay), name=net.name)
    else:
        nodes, edges, prev = {"in": ir.Input(shape=(net.ws[0].shape[1],))}, [], "in"
        for k, w in enumerate(net.ws):
            nodes[f"fc{k}"], nodes[f"n{k}"] = ir.Linear(weight=w), _neuron(ir, net)
            edges += [(prev, f"fc{k}"), (f"fc{k}", f"n{k}")]
            prev = f"n{k}"
        if net.w_rec is not None:
            nodes["rec"] = ir.Linear(weight=net.w_rec)
            edges += [(prev, "rec"), ("rec", prev)]
        nodes["out"] = ir.Output()
        edges.append((prev, "out"))
        g = ir.Network(nodes=nodes, edges=tuple(edges), dt=DT, synaptic_delay=int(net.delay),
                       name=net.name)
    net.layers = [n for n in g.layers() if g.nodes[n].spiking]
    return g


def _neuron(ir, net: Net):
    compare = ">=" if net.ge else ">"
    if net.decay == 1.0:
        return ir.IF(r=1.0, v_threshold=1.0, compare=compare)
    tau = DT / (1.0 - net.decay)  # v ← decay·v + I, as network_from_weights writes it
    return ir.LIF(tau=tau, r=tau / DT, v_leak=0.0, v_threshold=1.0, compare=compare)


# -- Brian2 (C++ standalone, its own environment) ----------------------------------------------
def to_brian2(b2, net: Net):
    """Brian2 objects for sample 0 of ``net``; returns (objects, spike monitors). Per step,
    in this order: ``v ← decay·v`` (``run_regularly`` in the ``groups`` slot), the synapses
    add the weights of the previous step's spikes, threshold, reset to 0 (the schedule is
    set by :func:`brian2_schedule`); without ``delay`` the input moves one step earlier,
    so that it arrives in its own step."""
    t_idx, i_idx = np.nonzero(net.x[0])
    times = t_idx - (0 if net.delay else 1)
    keep = times >= 0
    prev = b2.SpikeGeneratorGroup(net.x.shape[2], i_idx[keep], times[keep] * DT * b2.second)
    objs, monitors, groups = [prev], [], []
    for k, w in enumerate(net.ws):
        g = b2.NeuronGroup(w.shape[0], "v : 1", threshold="v >= 1" if net.ge else "v > 1",
                           reset="v = 0", name=f"g{k}")
        if net.decay != 1.0:
            g.run_regularly(f"v = {net.decay!r} * v", when="groups")
        s = _synapses(b2, prev, g, w, f"s{k}")
        m = b2.SpikeMonitor(g, record=False)
        objs += [g, s, m]
        monitors.append(m)
        groups.append(g)
        prev = g
    if net.w_rec is not None:
        objs.append(_synapses(b2, groups[-1], groups[-1], net.w_rec, "rec"))
    return objs, monitors


def _synapses(b2, src, dst, w, name):
    post, pre = np.nonzero(w)
    s = b2.Synapses(src, dst, "w : 1", on_pre="v_post += w", name=name)
    s.connect(i=pre, j=post)
    s.w = w[post, pre]
    return s


# synapses run before the threshold test and read the spikes of the previous step
BRIAN2_SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]


def save(net: Net, path: Path) -> None:
    """Sample 0 of ``net`` for :func:`load` (the Brian2 worker's input)."""
    arrays = {f"w{k}": w for k, w in enumerate(net.ws)}
    if net.w_rec is not None:
        arrays["w_rec"] = net.w_rec
    np.savez(path, x=net.x[:1], decay=net.decay, ge=net.ge, delay=net.delay,
             meta=json.dumps({"name": net.name, "title": net.title}), **arrays)


def load(path: Path) -> Net:
    d = np.load(path)
    meta = json.loads(str(d["meta"]))
    ws = [d[f"w{k}"] for k in range(sum(k.startswith("w") and k[1:].isdigit() for k in d.files))]
    return Net(meta["name"], meta["title"], ws, d["w_rec"] if "w_rec" in d.files else None,
               d["x"], float(d["decay"]), bool(d["ge"]), bool(d["delay"]))


def brian2_python() -> Path | None:
    """Brian2's environment (``bash bench/brian2_env.sh``; ``BRIAN2_PYTHON`` overrides)."""
    import os

    p = Path(os.environ.get("BRIAN2_PYTHON", HERE / ".venv-brian2" / "bin" / "python"))
    return p if p.exists() else None


def run_brian2(net: Net, timeout: float = 1200) -> dict:
    """Sample 0 of ``net`` on Brian2's C++ standalone mode (``brian2_worker.py``): wall and
    CPU time of the best of three runs of the binary, its network loop, compile time, spike
    counts per layer; ``{"error": ...}`` when it cannot run."""
    import tempfile

    py = brian2_python()
    if py is None:
        return {"error": "no Brian2 environment (run: bash bench/brian2_env.sh)"}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.npz"
        save(net, spec)
        try:
            proc = subprocess.run([str(py), str(HERE / "brian2_worker.py"), str(spec), tmp],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout or "no output").strip().splitlines()
            return {"error": lines[-1][:300]}
        return json.loads(proc.stdout.strip().splitlines()[-1])
