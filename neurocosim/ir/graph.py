"""The network IR: a validated graph of named nodes with inferred shapes.

A :class:`Network` is built once and never changes. Building it

* broadcasts scalar neuron parameters to the layer's size (Norse writes scalars),
* orders the nodes by the edges (depth-first from the Input, not by file order),
* finds recurrent (back) edges, which carry the source's output of the previous step
  (every edge into a :class:`~neurocosim.ir.delay.Delay` is one: a Delay may close a
  cycle),
* infers every node's input and output shape,
* and rejects, with a :class:`~neurocosim.errors.ModelError` naming the node: unknown
  edge ends, dangling nodes, wrong shapes, NaN/inf parameters, cycles through no neuron
  and no Delay (algebraic loops) and unstable discretisations (``dt/τ > 1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import ModelError, short
from . import nodes as N
from .conv1d import Conv1d
from .delay import Delay
from .shapes import _infer_shapes, conv2d_output_hw, pool2d_output_hw
from .tensors import ORDERED, Gate, enable_layer

__all__ = ["Network", "Discretised", "discretise", "conv2d_output_hw", "pool2d_output_hw"]


@dataclass(frozen=True)
class Discretised:
    """Per-step coefficients of a neuron node (DESIGN §3.1): arrays of the layer shape.

    ``alpha = dt/τ_mem`` (1 for IF, which has no leak), ``alpha_syn = dt/τ_syn`` (current
    based types, else ``None``), ``gain = alpha·r`` multiplies the input.
    """

    alpha: np.ndarray
    gain: np.ndarray
    alpha_syn: np.ndarray | None = None


def _alpha(node_name: str, field_name: str, tau: np.ndarray, dt: float) -> np.ndarray:
    if np.any(tau <= 0):
        raise ModelError(f"node '{node_name}': {field_name} must be > 0 (got min {tau.min():g} s)")
    alpha = dt / tau
    if np.any(alpha > 1.0 + 1e-12):
        bad = float(tau.min())
        raise ModelError(
            f"node '{node_name}': {field_name} = {bad:g} s is shorter than dt = {dt:g} s "
            f"(dt/{field_name} = {dt / bad:g} > 1): forward Euler would be unstable. "
            "Pass a smaller dt; Norse's NIR exporter writes τ multiplied by dt, so its files "
            "need a dt far below the one the model was trained with"
        )
    return alpha


def discretise(name: str, node: N.Neuron, dt: float) -> Discretised:
    """Forward-Euler coefficients of neuron ``node`` for step ``dt`` (DESIGN §3.1)."""
    if isinstance(node, N.IF):
        return Discretised(alpha=np.ones_like(node.r), gain=node.r.copy())
    if isinstance(node, (N.LIF, N.LI, N.ILIF)):
        a = _alpha(name, "tau", node.tau, dt)
        return Discretised(alpha=a, gain=a * node.r)
    if isinstance(node, (N.CubaLIF, N.CubaLI)):
        a = _alpha(name, "tau_mem", node.tau_mem, dt)
        s = _alpha(name, "tau_syn", node.tau_syn, dt)
        return Discretised(alpha=a, gain=a * node.r, alpha_syn=s)
    raise ModelError(f"node '{name}': {type(node).__name__} is not a neuron")


@dataclass(frozen=True, kw_only=True, eq=False)
class Network:
    """A validated spiking network.

    Parameters
    ----------
    nodes
        Node name → node. Names are kept from the source file.
    edges
        ``(source, target)`` pairs; several edges into one node are summed (e.g. a
        neuron's synaptic inputs: a membrane shortcut), except into a node with ordered
        inputs (IAnd, Concat), which takes them one by one in its ``operands`` order.
    dt
        Simulation step in seconds; every engine discretises with it (DESIGN §3.1).
    synaptic_delay
        0: a synapse sees its source's output of the same step; 1: of the previous
        step (the Lava convention). DESIGN §3.2.
    name
        A label for reports.
    folded
        ``(batchnorm, layer)`` pairs: the BatchNorm nodes
        :func:`~neurocosim.ir.fold_batchnorm` folded into a synaptic layer (for reports).
    """

    nodes: Mapping[str, N.Node]
    edges: tuple[tuple[str, str], ...]
    dt: float
    synaptic_delay: int = 0
    name: str = "network"
    folded: tuple[tuple[str, str], ...] = ()
    # derived, filled in __post_init__ (``in_shapes`` of a node with ordered inputs: the
    # flat length of its inputs stacked in operand order)
    order: tuple[str, ...] = field(init=False)
    back_edges: frozenset[tuple[str, str]] = field(init=False)
    in_shapes: Mapping[str, tuple[int, ...]] = field(init=False)
    out_shapes: Mapping[str, tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, Mapping):
            raise ModelError(f"nodes must be a mapping name -> node, got {N.describe(self.nodes)}")
        nodes = {str(k): v for k, v in self.nodes.items()}
        edges = _edges(self.edges)
        dt = _dt(self.dt)
        delay = self.synaptic_delay
        if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay not in (0, 1):
            raise ModelError(f"synaptic_delay must be 0 or 1, got {N.describe(delay)}")
        object.__setattr__(self, "synaptic_delay", int(delay))
        object.__setattr__(self, "folded", _folded(self.folded))
        for name, node in nodes.items():
            if not isinstance(node, N.Node):
                raise ModelError(f"node {short(name)} is a {type(node).__name__}, not an IR node")
            for pname, arr in node.arrays().items():
                if not np.all(np.isfinite(arr)):
                    raise ModelError(
                        f"node {short(name)} ({type(node).__name__}): parameter '{pname}' "
                        "contains NaN or inf; fix the model (e.g. retrain or clip) before importing"
                    )
        for a, b in edges:
            for end in (a, b):
                if end not in nodes:
                    raise ModelError(f"edge ({short(a)} -> {short(b)}) names unknown node "
                                     f"{short(end)}")
        inputs = [n for n, v in nodes.items() if isinstance(v, N.Input)]
        outputs = [n for n, v in nodes.items() if isinstance(v, N.Output)]
        if len(inputs) != 1:
            raise ModelError(f"a network needs exactly one Input node, found {len(inputs)}: "
                             f"{short(inputs)}")
        if len(outputs) != 1:
            raise ModelError(
                f"a network needs exactly one Output node, found {len(outputs)}: {short(outputs)}"
            )
        order, back = _order(nodes, edges, inputs[0], outputs[0])
        _check_algebraic_loops(nodes, edges)
        in_shapes, out_shapes, nodes = _infer_shapes(nodes, edges, order, back)
        for name, node in nodes.items():
            if isinstance(node, N.Neuron):
                discretise(name, node, dt)
        object.__setattr__(self, "nodes", MappingProxyType(nodes))
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "order", tuple(order))
        object.__setattr__(self, "back_edges", frozenset(back))
        object.__setattr__(self, "in_shapes", MappingProxyType(in_shapes))
        object.__setattr__(self, "out_shapes", MappingProxyType(out_shapes))
        for name, node in nodes.items():
            if isinstance(node, Gate) and enable_layer(self, name) is None:
                raise ModelError(
                    f"node {short(name)} (Gate): its first operand {short(node.operands[0])} "
                    "must be the spikes of a spiking neuron layer (IF, LIF, CubaLIF), "
                    "reached through Reshape, Transpose or Flatten only; use a Mul for "
                    "other products")

    # -- queries ---------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        return next(n for n, v in self.nodes.items() if isinstance(v, N.Input))

    @property
    def output_name(self) -> str:
        return next(n for n, v in self.nodes.items() if isinstance(v, N.Output))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.out_shapes[self.input_name]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.in_shapes[self.output_name]

    def predecessors(self, name: str) -> list[tuple[str, bool]]:
        """``(source, is_back_edge)`` for every edge into ``name``, in edge order; for a
        node with ordered inputs (IAnd, Concat), in the order of its ``operands``."""
        preds = [(a, (a, b) in self.back_edges) for a, b in self.edges if b == name]
        node = self.nodes[name]
        if isinstance(node, ORDERED):
            preds.sort(key=lambda p: node.operands.index(p[0]))
        return preds

    def layers(self) -> list[str]:
        """Neuron node names in execution order."""
        return [n for n in self.order if isinstance(self.nodes[n], N.Neuron)]

    def discretised(self, name: str) -> Discretised:
        """Per-step coefficients of neuron ``name`` at this network's ``dt``."""
        return discretise(name, self.nodes[name], self.dt)

    def n_neurons(self) -> int:
        return sum(math.prod(self.out_shapes[n]) for n in self.layers())

    def n_synapses(self) -> int:
        """Number of stored synaptic weights (dense and convolution kernels)."""
        return int(sum(self.nodes[n].weight.size for n in self.order
                       if isinstance(self.nodes[n], (N.Affine, N.Linear, N.Conv2d, Conv1d))))

    def n_synaptic_ops(self) -> int:
        """Multiply-accumulates of the synaptic layers in one step with every input active:
        a dense layer's weights, a convolution's kernel at every output position (the
        time budget's count; :meth:`n_synapses` counts stored weights)."""
        total = 0
        for n in self.order:
            node = self.nodes[n]
            if isinstance(node, (N.Affine, N.Linear)):
                total += int(node.weight.size)
            elif isinstance(node, (N.Conv2d, Conv1d)):
                total += int(node.weight.size) * int(np.prod(self.out_shapes[n][1:]))
        return total

    def replace(self, **changes: Any) -> Network:
        """A new network with fields changed (the original is untouched)."""
        base = {"nodes": dict(self.nodes), "edges": self.edges, "dt": self.dt,
                "synaptic_delay": self.synaptic_delay, "name": self.name,
                "folded": self.folded}
        base.update(changes)
        return Network(**base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dt": self.dt,
            "synaptic_delay": self.synaptic_delay,
            "nodes": {k: v.to_dict() for k, v in self.nodes.items()},
            "edges": [list(e) for e in self.edges],
            **({"folded": [list(f) for f in self.folded]} if self.folded else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Network:
        if not isinstance(data, Mapping):
            raise ModelError(f"a network must be a mapping, got {N.describe(data)}")
        for key in ("nodes", "edges", "dt"):
            if key not in data:
                raise ModelError(f"a network needs '{key}' (found {short(sorted(map(str, data)))})")
        if not isinstance(data["nodes"], Mapping):
            raise ModelError(f"'nodes' must be a mapping name -> node, got {N.describe(data['nodes'])}")
        nodes = {}
        for k, v in data["nodes"].items():
            try:
                nodes[str(k)] = N.Node.from_dict(v)
            except ModelError as exc:
                raise ModelError(f"node {short(str(k))}: {exc}") from None
        return cls(
            nodes=nodes,
            edges=data["edges"],
            dt=data["dt"],
            synaptic_delay=data.get("synaptic_delay", 0),
            name=str(data.get("name", "network")),
            folded=data.get("folded", ()),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (
            self.dt == other.dt
            and self.synaptic_delay == other.synaptic_delay
            and set(self.edges) == set(other.edges)
            and dict(self.nodes).keys() == dict(other.nodes).keys()
            and all(self.nodes[k] == other.nodes[k] for k in self.nodes)
        )

    __hash__ = None  # type: ignore[assignment]


# -- construction helpers --------------------------------------------------------------
def _dt(value: Any) -> float:
    ok = not isinstance(value, (bool, str, bytes)) and isinstance(value, (int, float, np.number))
    dt = float(value) if ok else float("nan")
    if not (np.isfinite(dt) and dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {N.describe(value)}")
    return dt


def _folded(value: Any) -> tuple[tuple[str, str], ...]:
    try:
        pairs = tuple((p,) if isinstance(p, (str, bytes)) else tuple(p) for p in value)
    except TypeError:
        pairs = None
    if isinstance(value, (str, bytes, Mapping)) or pairs is None or not all(
            len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
        raise ModelError(f"folded must be a list of (batchnorm, layer) name pairs, got "
                         f"{N.describe(value)}")
    return pairs


def _edges(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, (str, bytes, Mapping)):
        raise ModelError(f"edges must be a list of (source, target) pairs, got {N.describe(value)}")
    try:
        items = list(value)
    except TypeError:
        raise ModelError(f"edges must be a list of (source, target) pairs, got {N.describe(value)}") from None
    edges = []
    for i, e in enumerate(items):
        if isinstance(e, (str, bytes, Mapping)):
            pair = None
        else:
            try:
                pair = tuple(e)
            except TypeError:
                pair = None
        if pair is None or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise ModelError(f"edge {i} must be a (source, target) pair of node names, "
                             f"got {N.describe(e)}")
        edges.append((str(pair[0]), str(pair[1])))
    return tuple(edges)


def _order(nodes: dict[str, N.Node], edges: tuple[tuple[str, str], ...], inp: str, out: str):
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    if pred[inp]:
        raise ModelError(f"Input node {short(inp)} has incoming edges from {short(pred[inp])}")
    if succ[out]:
        raise ModelError(f"Output node {short(out)} has outgoing edges to {short(succ[out])}")
    _, _, state = _dfs([inp], succ)
    unreachable = [n for n in nodes if n not in state]
    if unreachable:
        raise ModelError(
            f"node {short(unreachable[0])} is dangling: it cannot be reached from the Input "
            f"{short(inp)} (all unreachable: {short(unreachable)})"
        )
    # nodes that cannot reach the output
    reach = {out}
    frontier = [out]
    while frontier:
        n = frontier.pop()
        for p in pred[n]:
            if p not in reach:
                reach.add(p)
                frontier.append(p)
    dead = [n for n in nodes if n not in reach]
    if dead:
        raise ModelError(
            f"node {short(dead[0])} is dangling: its output never reaches the Output "
            f"{short(out)} (all such nodes: {short(dead)})"
        )
    # the order: a Delay reads what its sources produced earlier, so the edges into it do
    # not order it (it is a root evaluated first); they are recurrent edges. The Input is
    # the last root, hence first in the reversed post-order.
    delays = [n for n, v in nodes.items() if isinstance(v, Delay)]
    into_delay = {(a, b) for a, b in edges if b in delays}
    cut = {n: [b for b in succ[n] if b not in delays] for n in nodes}
    post, back, _ = _dfs(delays + [inp], cut)
    return list(reversed(post)), back | into_delay


def _check_algebraic_loops(nodes: dict[str, N.Node], edges) -> None:
    """A cycle must pass through a neuron or a Delay (state that delays it); else it is
    refused."""
    stateless = {n for n, v in nodes.items() if not isinstance(v, (N.Neuron, Delay))}
    succ: dict[str, list[str]] = {n: [] for n in stateless}
    for a, b in edges:
        if a in stateless and b in stateless:
            succ[a].append(b)
    _, back, _ = _dfs([n for n in nodes if n in stateless], succ)
    if back:
        node = sorted(back)[0][1]
        raise ModelError(
            f"node {short(node)} is on a cycle with no neuron on it (an algebraic loop); "
            "only recurrent connections through a neuron layer are supported"
        )


def _dfs(roots: list[str], succ: dict[str, list[str]]):
    """Iterative depth-first search from ``roots`` in order.

    Returns the post-order, the back edges (edges to a node still on the stack: exactly
    the edges that close cycles) and the visited set.
    """
    state: dict[str, int] = {}  # 1: on the stack, 2: finished
    post: list[str] = []
    back: set[tuple[str, str]] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                post.append(node)
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return post, back, state
