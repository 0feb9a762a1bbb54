"""The engine's tables: a programmed chip flattened into the typed records the kernels run
on ("tables", so that "program" keeps one meaning: the chip after programming).

Part of layer 1 of DESIGN §4.4 (the public side that validates and shapes; the parallel
driver ``run_batch`` is layer 2 and the serial kernels layer 3, both in
:mod:`neurocosim.hwsim.kernels.engine`). Each record is a ``NamedTuple`` of arrays and
scalars (Numba passes and caches them as typed tuples) built by one function:

* :class:`Topology` (:func:`_topology`): nodes in network order with their value offsets,
  incoming edges with back edges flagged, input and output node;
* :class:`Digital` (:func:`~neurocosim.hwsim.digital_table.digital_table`): digital nodes
  (pooling, scale, BatchNorm, Add, IAnd, Concat, Reshape, Transpose) as sparse matrices
  with a mode (sum, max, scale + shift, permutation, and-not) and a flag for nodes that
  take their sources one by one (ordered operands) instead of summed;
* :class:`Neurons` (:func:`_neurons`): neuron layers and per-neuron parameters,
  discretised at the network's ``dt``, with the chip's analog mismatch;
* :class:`Routing` (:func:`_routing`): per-neuron routing costs (remote cores and mesh
  hops) from the placement;
* :class:`Synapses` (:func:`~neurocosim.hwsim.synapses.synapses`): synaptic ops and their tile blocks with reads
  (gather/scatter), conductances at the chip's read time (with their read-noise
  variances) and decode terms (:class:`~neurocosim.hwsim.blocks.BlockTable`), and how
  each op finds its active rows (:mod:`neurocosim.hwsim.paths`);
* :class:`Readout` (the same function): ADC ranges, read voltage and DAC;
* :class:`Timing` (:func:`_timing`): the latency constants
  (:class:`~neurocosim.hwsim.latency.LatencyModel`);
* per run: :class:`Policy` (:func:`run_policy`: steps and early stop), :class:`Probes`
  (what is recorded) and :class:`Outputs` (the per-sample outputs and counters).

Everything the chip's operating point sets is read from ``programmed.operating_point``.
The engine's values (weights, conductances, neuron parameters) have the tables'
precision, float64 (the reference) or float32; counters and outputs are float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..devices.program import ProgrammedChip
from ..errors import SimulationError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.conv1d import Conv1d
from ..ir.delay import Delay
from ..ir.tensors import enable_layer
from ..ir.ternary import TernaryLIF
from ..mapping.routing import mesh_position, neuron_routing
from .blocks import BlockTable, block_reads
from .digital_table import Digital, digital_counts, digital_nodes, digital_ops, digital_table
from .kernels import engine as K
from .latency import LatencyModel
from .synapses import Readout, Synapses, synapses

__all__ = ["EngineTables", "build_tables", "mesh_position", "Topology", "Digital", "Neurons",
           "Routing", "Synapses", "Readout", "Timing", "Policy", "Probes", "Outputs",
           "run_policy"]

_NTYPE = {N.IF: K.T_IF, N.LIF: K.T_LIF, N.CubaLIF: K.T_CUBALIF, N.LI: K.T_LI,
          N.CubaLI: K.T_CUBALI, N.ILIF: K.T_ILIF, TernaryLIF: K.T_TLIF}


class Topology(NamedTuple):
    """The network graph in evaluation order (``nodes`` entries, int64 arrays)."""

    kind: np.ndarray  # (nodes,) K_INPUT, K_SYN, K_NEURON, K_DIGITAL or K_COPY
    size: np.ndarray  # (nodes,) output elements
    off: np.ndarray  # (nodes,) offset of the node's output in the value buffer
    ref: np.ndarray  # (nodes,) index of its synaptic op, neuron layer or digital node
    e_ptr: np.ndarray  # (nodes + 1,) incoming edges of node n: e_ptr[n] .. e_ptr[n + 1]
    e_src: np.ndarray  # (edges,) source node of each edge
    e_back: np.ndarray  # (edges,) 1: a back edge (reads the previous step's value)
    has_back: bool  # any back edge
    val_size: int  # size of the value buffer
    in_node: int
    out_node: int
    evid_mean: bool  # early-stop evidence: the mean output so far (not a spike count)


class Neurons(NamedTuple):
    """Neuron layers (per layer) and their neurons' parameters (per neuron, layer after
    layer)."""

    type: np.ndarray  # (layers,) T_IF, T_LIF, T_CUBALIF, T_LI, T_CUBALI, T_ILIF or T_TLIF
    off: np.ndarray  # (layers,) first neuron of the layer
    reset: np.ndarray  # (layers,) 1: reset by subtraction, 0: to v_reset
    ge: np.ndarray  # (layers,) 1: fire at v >= threshold, 0: at v > threshold
    maxlvl: np.ndarray  # (layers,) float: highest level of an ILIF layer
    count: int  # neurons in all
    alpha: np.ndarray  # (neurons,) membrane leak per step (with the chip's mismatch)
    gain: np.ndarray
    asyn: np.ndarray  # synaptic-current decay per step (CUBA)
    win: np.ndarray  # input weight of the synaptic current (CUBA)
    vleak: np.ndarray
    vth: np.ndarray  # threshold (with mismatch and re-balancing)
    vreset: np.ndarray
    vthn: np.ndarray  # negative threshold θ⁻ of a ternary layer (−1 at v < −θ⁻); else vth


class Routing(NamedTuple):
    """Packets, hops and longest route per spike of every neuron, and per input element."""

    packets: np.ndarray  # (neurons,)
    hops: np.ndarray  # (neurons,)
    max_hop: np.ndarray  # (neurons,)
    in_packets: np.ndarray  # (input elements,)
    in_hops: np.ndarray  # (input elements,)


class Timing(NamedTuple):
    """Latency constants (s) and the tiles that run in parallel."""

    row_drive: float
    array_read: float
    adc: float  # one conversion cycle
    accumulate: float
    neuron: float
    hop: float
    n_tiles: int


class Policy(NamedTuple):
    """Steps to run and the early-stop policy (``code`` 0 none, 1 confidence, 2 margin)."""

    steps: int
    code: int
    theta: float
    temp: float
    margin: float
    min_steps: int


class Probes(NamedTuple):
    """Recorded values: node ``node[p]`` (index in network order), ``mode[p]`` 0 output,
    1 membrane, 2 synaptic current, at ``off[p]`` .. ``off[p] + size[p]`` of a step."""

    node: np.ndarray
    mode: np.ndarray
    off: np.ndarray
    size: np.ndarray


class Outputs(NamedTuple):
    """What the driver writes, per sample ``s`` (first axis)."""

    state: np.ndarray  # (n, 4) uint64 random stream, advanced in place
    out_sum: np.ndarray  # (n, outputs) output summed over the steps run
    steps_used: np.ndarray  # (n,) int64
    latency: np.ndarray  # (n,) s
    blk_cnt: np.ndarray  # (n, blocks, N_BLOCK_COUNTERS)
    lay_cnt: np.ndarray  # (n, layers, N_LAYER_COUNTERS)
    in_cnt: np.ndarray  # (n, 2) host input packets and hops
    probes: np.ndarray  # (n, steps, recorded)
    err: np.ndarray  # (n, 2) int64 error code and node


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineTables:
    """The records of one programmed chip, ready for :func:`~.kernels.engine.run_batch`."""

    topology: Topology
    digital: Digital
    neurons: Neurons
    routing: Routing
    synapses: Synapses
    readout: Readout
    timing: Timing
    node_names: tuple[str, ...]
    layer_names: tuple[str, ...]
    block_op: tuple[str, ...]
    block_tile: np.ndarray
    block_outs: np.ndarray
    n_tiles: int
    adc_full_scale: np.ndarray
    read_time: float
    dtype: type = np.float64
    extras: dict[str, Any] = field(default_factory=dict)
    digital_names: tuple[str, ...] = ()
    digital_ops: np.ndarray = field(
        default_factory=lambda: np.zeros((0, K.N_DIGITAL_COUNTERS)))
    gate_names: tuple[str, ...] = ()  # Gate nodes (SEMM) ...
    gate_layers: np.ndarray = field(  # ... and the neuron layer (index) of their enables
        default_factory=lambda: np.zeros(0, np.int64))

    def digital_counts(self, steps_used: np.ndarray) -> np.ndarray:
        """Digital counters ``(samples, digital nodes, N_DIGITAL_COUNTERS)`` of samples
        that ran ``steps_used`` steps (a digital node's operations do not depend on its
        input: :func:`~neurocosim.hwsim.digital_table.digital_ops` per step)."""
        return digital_counts(self.digital_ops, steps_used)

    def records(self) -> tuple:
        """The chip's records in the order :func:`~.kernels.engine.run_batch` takes them."""
        return (self.topology, self.digital, self.neurons, self.routing, self.synapses,
                self.readout, self.timing)

    @property
    def arrays(self) -> dict[str, Any]:
        """The routing arrays under their former flat names (``r_packets``, ``r_hops``,
        ``r_maxhop``, ``in_packets``, ``in_hops``); use :attr:`routing`."""
        r = self.routing
        return {"r_packets": r.packets, "r_hops": r.hops, "r_maxhop": r.max_hop,
                "in_packets": r.in_packets, "in_hops": r.in_hops}


#: the engine's precisions
PRECISIONS = {"float64": np.float64, "float32": np.float32}


def build_tables(prog: ProgrammedChip, precision: str = "float64") -> EngineTables:
    """Flatten ``prog`` at its operating point (see the module docstring), its values in
    ``precision`` (``"float64"``, the reference, or ``"float32"``).

    The operating point's ``read_time`` is the time after programming (seconds) at which
    the conductances are read (drift); its ``adc_full_scale`` the per-block ADC range in
    amperes (None: the largest column current the block can carry, so nothing clips).
    """
    if precision not in PRECISIONS:
        raise SimulationError(f"precision: {precision!r} is not one of "
                              f"{', '.join(PRECISIONS)}; use float64 (the reference) or float32")
    dt = PRECISIONS[precision]
    mapped = prog.mapped
    net = mapped.network
    _check_engine_ready(net)
    topo, digital = _topology(mapped)
    blocks = block_reads(prog)
    cols = BlockTable(prog, blocks).build()
    syn, readout = synapses(mapped, [b.op for b in blocks], cols, dt)
    fs = np.zeros(len(mapped.blocks))
    for j, b in enumerate(blocks):
        fs[b.index] = cols["adc_fs"][j]
    pruned = sum(int(t.pruned.all(axis=1).sum()) for t in prog.tiles
                 if t is not None and t.pruned is not None)
    return EngineTables(
        topology=topo, digital=digital_table(net, digital, dt),
        neurons=_neurons(net, prog.mismatch, dt),
        routing=_routing(mapped), synapses=syn, readout=readout,
        timing=_timing(mapped), node_names=tuple(net.order), layer_names=tuple(net.layers()),
        block_op=tuple(b.op for b in blocks), block_tile=syn.blk[:-1, K.B_TILE],
        block_outs=syn.blk[:-1, K.B_OUTS],
        n_tiles=int(mapped.n_tiles), adc_full_scale=fs,
        read_time=float(prog.operating_point.read_time), dtype=dt,
        extras={"block_order": np.array([b.index for b in blocks], np.int64),
                "pruned_rows": pruned},
        digital_names=tuple(digital), digital_ops=digital_ops(net, digital),
        **_gates(net),
    )


def _check_engine_ready(net) -> None:
    """Refuse nodes the tables have no record for: a Conv1d and a Delay of more than one
    step (:func:`~neurocosim.ir.transforms.engine_ready` rewrites both)."""
    for name in net.order:
        node = net.nodes[name]
        if isinstance(node, Conv1d) or (isinstance(node, Delay) and node.steps > 1):
            what = "a Conv1d" if isinstance(node, Conv1d) else f"a Delay of {node.steps} steps"
            raise SimulationError(
                f"node '{name}' is {what}, which the engine runs only in its rewritten form; "
                "map neurocosim.ir.engine_ready(network) instead (Conv1d as a height-1 "
                "Conv2d, a long Delay as a chain of one-step Delays: the same values)")


def _gates(net) -> dict[str, Any]:
    """The Gate nodes of ``net`` and the neuron layer whose spikes enable each (its
    counters are that layer's spikes and silent updates)."""
    names = [n for n in net.order if isinstance(net.nodes[n], T.Gate)]
    layers = net.layers()
    return {"gate_names": tuple(names),
            "gate_layers": np.array([layers.index(enable_layer(net, n)) for n in names],
                                    np.int64)}


def run_policy(early_stop, steps: int) -> Policy:
    """The run's :class:`Policy` from an :class:`~neurocosim.hwsim.early_stop.EarlyStop`."""
    return Policy(steps=int(steps), code=int(early_stop.code), theta=float(early_stop.theta),
                  temp=float(early_stop.temperature), margin=float(early_stop.margin),
                  min_steps=int(early_stop.min_steps))


def _topology(mapped) -> tuple[Topology, list[str]]:
    """Kind, size, value offset and reference (op, layer or digital index) of each node,
    its incoming edges (back edges flagged); the digital nodes in order."""
    net = mapped.network
    order, layers, ops = list(net.order), net.layers(), list(mapped.ops)
    kind, size, off, ref = (np.zeros(len(order), np.int64) for _ in range(4))
    digital = digital_nodes(mapped)
    at = {n: j for j, n in enumerate(digital)}
    index = {n: i for i, n in enumerate(order)}
    e_ptr, e_src, e_back = [0], [], []
    for i, name in enumerate(order):
        node = net.nodes[name]
        size[i] = int(np.prod(net.out_shapes[name]))
        off[i] = off[i - 1] + size[i - 1] if i else 0
        if isinstance(node, N.Input):
            kind[i] = K.K_INPUT
        elif name in mapped.ops:
            kind[i], ref[i] = K.K_SYN, ops.index(name)
        elif isinstance(node, N.Neuron):
            kind[i], ref[i] = K.K_NEURON, layers.index(name)
        elif name in at:
            kind[i], ref[i] = K.K_DIGITAL, at[name]
        else:
            kind[i] = K.K_COPY
        for src, back in net.predecessors(name):
            e_src.append(index[src])
            e_back.append(1 if back else 0)
        e_ptr.append(len(e_src))
    out_src = [s for s, _ in net.predecessors(net.output_name)]
    topo = Topology(
        kind=kind, size=size, off=off, ref=ref, e_ptr=np.array(e_ptr, np.int64),
        e_src=np.array(e_src or [0], np.int64), e_back=np.array(e_back or [0], np.int64),
        has_back=bool(net.back_edges), val_size=int(size.sum()),
        in_node=index[net.input_name], out_node=index[net.output_name],
        evid_mean=not all(isinstance(net.nodes[s], N.Neuron) and net.nodes[s].spiking
                          for s in out_src))
    return topo, digital


def _neurons(net, mismatch, dt) -> Neurons:
    """Per-layer neuron type and options; per-neuron parameters with the chip's mismatch
    (and threshold re-balancing, stored as threshold factors)."""
    l_type, l_off, l_reset, l_ge, l_maxlvl = [], [], [], [], []
    cols: dict[str, list] = {k: [] for k in ("alpha", "gain", "asyn", "win", "vleak", "vth",
                                             "vreset", "vthn")}
    noff = 0
    for name in net.layers():
        node = net.nodes[name]
        d = net.discretised(name)
        mm = mismatch[name]
        n = int(np.prod(net.out_shapes[name]))
        l_type.append(_NTYPE[type(node)])
        l_off.append(noff)
        noff += n
        l_reset.append(1 if getattr(node, "reset", "zero") == "subtract" else 0)
        l_ge.append(1 if getattr(node, "compare", ">") == ">=" else 0)
        l_maxlvl.append(float(getattr(node, "max_level", 0)))
        cols["alpha"].append(d.alpha.reshape(-1) * mm.leak.reshape(-1))
        cols["gain"].append(d.gain.reshape(-1))
        cols["asyn"].append((d.alpha_syn if d.alpha_syn is not None else np.zeros(n)).reshape(-1))
        cols["win"].append(node.w_in.reshape(-1) if hasattr(node, "w_in") else np.ones(n))
        cols["vleak"].append(node.v_leak.reshape(-1) if hasattr(node, "v_leak") else np.zeros(n))
        th = getattr(node, "v_threshold", None)
        cols["vth"].append(np.ones(n) if th is None else th.reshape(-1) * mm.threshold.reshape(-1))
        neg = getattr(node, "v_threshold_neg", None)  # a TernaryLIF's θ⁻, same mismatch
        cols["vthn"].append(cols["vth"][-1] if neg is None
                            else neg.reshape(-1) * mm.threshold.reshape(-1))
        vr = getattr(node, "v_reset", None)
        cols["vreset"].append(np.zeros(n) if vr is None else vr.reshape(-1))
    return Neurons(type=np.array(l_type, np.int64), off=np.array(l_off, np.int64),
                   reset=np.array(l_reset, np.int64), ge=np.array(l_ge, np.int64),
                   maxlvl=np.array(l_maxlvl), count=int(noff),
                   **{k: (np.concatenate(v) if v else np.zeros(1)).astype(dt)
                      for k, v in cols.items()})


def _routing(mapped) -> Routing:
    """Packets, hops and longest route per neuron (spiking layers) and input element."""
    net = mapped.network
    layers = net.layers()
    routes = neuron_routing(mapped)
    per_neuron = {attr: (np.concatenate([getattr(routes[n], attr) for n in layers]) if layers
                         else np.zeros(1))
                  for attr in ("packets", "hops", "max_hop")}
    return Routing(**per_neuron, in_packets=routes[net.input_name].packets,
                   in_hops=routes[net.input_name].hops)


def _timing(mapped) -> Timing:
    """The chip's latency constants, as the kernels take them."""
    row_drive, array_read, adc, acc, neuron, hop = LatencyModel.of(mapped.chip).kernel_times()
    return Timing(row_drive=float(row_drive), array_read=float(array_read), adc=float(adc),
                  accumulate=float(acc), neuron=float(neuron), hop=float(hop),
                  n_tiles=int(mapped.n_tiles))
