"""Trace a PyTorch spiking network with ``torch.fx`` and build its IR.

Neuron modules (:mod:`.neurons`) and SpikingJelly's ``layer.*`` wrappers are leaf modules
(their ``forward`` branches on traced values); everything else is traced through. The
traced graph is then *run* on an example batch (``torch.fx.Interpreter``) so that every
shape, ``x.shape[0]`` or ``size()`` is a concrete number, and each node's IR is built
beside its real result: tensors become :class:`~.layout.TV` (an IR node and a layout),
shape arithmetic stays Python numbers.

Functional ops: ``+`` (two tensors: :class:`~neurocosim.ir.Add`; a membrane shortcut
into a neuron becomes two edges), ``*`` (two tensors: ``Mul``; ``(1 − a)·b``: ``IAnd``; a
number: ``Scale``), ``/`` by a number, ``@``/``matmul`` (``MatMul``, a following scalar
factor folded into its ``scale``), ``sum``/``mean`` over a sample's dims (``ReduceSum``,
``mean`` adds a ``Scale``) or over time at the output (the readout: the engine sums the
output over the steps), ``reshape``/``view``/``flatten``/``squeeze``/``unsqueeze``
(``Flatten`` or ``Reshape``, or nothing when only ``T`` and ``B`` merge or split),
``permute``/``transpose`` (``Transpose``), ``cat`` (``Concat``), ``contiguous`` and dtype
casts (nothing).
"""

from __future__ import annotations

import operator
import re

import torch
import torch.fx as fx

from ...errors import ModelError
from ...ir import nodes as N
from ...ir import tensors as T
from .compose import wire_neuron
from .layout import TV, Builder, OneMinus, TimeReduce
from .modules import SJ_LAYERS, convert_module, hint
from .neurons import is_neuron, neuron_spec

__all__ = ["Tracer", "Converter", "where_of"]

_RESHAPE = {"reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze"}
def _library_dirs() -> tuple[str, ...]:
    """Folders of the packages whose frames a source line skips (torch, the frameworks,
    this importer): the line shown is the user's."""
    import importlib.util
    import os

    dirs = [os.path.dirname(__file__)]
    for name in ("torch", "spikingjelly", "snntorch"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            dirs.append(os.path.dirname(spec.origin))
    return tuple(d + os.sep for d in dirs)
_PASS = {"contiguous", "float", "double", "to", "clone", "detach"}


#: snnTorch's membrane output: fine unused, refused when an op reads it
_MEMBRANE = object()


class Tracer(fx.Tracer):
    """``torch.fx`` tracer keeping neurons and SpikingJelly layer wrappers as leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m, qualname: str) -> bool:
        sj = type(m).__module__.startswith("spikingjelly.activation_based.layer")
        return is_neuron(m) or (sj and type(m).__name__ in SJ_LAYERS) or \
            super().is_leaf_module(m, qualname)


def where_of(node: fx.Node) -> str:
    """``"module 'layer1.0.conv1' (model.py:42)"`` or ``"op 'sub' (model.py:57)"``: a
    traced node and the line of the user's code that made it (frames inside torch, the
    frameworks and this importer are skipped; none left: no line)."""
    found = re.findall(r'File "([^"]+)", line (\d+)', node.stack_trace or "")
    libs = _library_dirs()
    found = [f for f in found if not f[0].startswith(libs)]
    line = f" ({found[-1][0].rsplit('/', 1)[-1]}:{found[-1][1]})" if found else ""
    if node.op == "call_module":
        return f"module {node.target!r}{line}"
    return f"op {node.target if node.op == 'call_method' else _fname(node)!r}{line}"


def _fname(node: fx.Node) -> str:
    return getattr(node.target, "__name__", str(node.target))


class Converter(fx.Interpreter):
    """Runs the traced graph on an example batch and builds the IR beside it."""

    def __init__(self, gm: fx.GraphModule, b: Builder, dt: float, lead: str) -> None:
        super().__init__(gm)
        self.b, self.dt, self.lead = b, dt, lead
        self.ir: dict[fx.Node, object] = {}
        self.users = {n: list(n.users) for n in gm.graph.nodes}
        self.called: set[str] = set()
        self.failure: ModelError | None = None

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        try:
            self.ir[n] = self._convert(n, result)
        except ModelError as exc:  # kept apart: torch.fx appends its own notes to it
            self.failure = ModelError(str(exc))
            raise
        return result

    # -- dispatch ------------------------------------------------------------------
    def _convert(self, n: fx.Node, result):
        args = fx.node.map_arg(n.args, lambda a: self.ir[a])
        kwargs = fx.node.map_arg(n.kwargs, lambda a: self.ir[a])
        if n.op == "placeholder":
            shape = tuple(result.shape[2 if self.lead == "m" else 1:])
            name = self.b.add("input", N.Input(shape=shape))
            return TV(name, shape, self.lead)
        if n.op == "output":
            return self._output(n, args[0])
        if not isinstance(result, torch.Tensor) and not any(
                isinstance(r, torch.Tensor) for r in _flat(result, {})):
            return result  # shape arithmetic: a concrete number
        if n.target is operator.getitem and isinstance(args[0], tuple) \
                and isinstance(args[1], int):
            return args[0][args[1]]  # snnTorch's (spk, mem) unpacked
        flat = _flat(args, kwargs)
        if any(a is _MEMBRANE for a in flat):
            raise ModelError(f"{where_of(n)}: a neuron's membrane (snnTorch's second output) "
                             "used as an activation is not supported; use its spikes")
        tensors = [a for a in flat if isinstance(a, (TV, OneMinus, TimeReduce))]
        if not tensors:
            return result if not isinstance(result, torch.Tensor) else self._const(n, result)
        if n.op == "call_module":
            return self._module(n, args, result)
        target = n.target if n.op == "call_method" else _fname(n)
        return self._function(n, target, args, kwargs, result)

    def _const(self, n: fx.Node, result):
        raise ModelError(f"{where_of(n)}: a tensor computed from no input (a constant or "
                         "parameter used as an activation) is not supported; fold it into "
                         "a layer's weights")

    def _module(self, n: fx.Node, args, result):
        m = self.fetch_attr(n.target)
        where = where_of(n)
        tv = args[0]
        if not isinstance(tv, TV) or len(args) != 1:
            raise ModelError(f"{where}: a module called with {len(args)} argument(s) or on "
                             "a non-tensor; call it on one activation (snnTorch: keep the "
                             "state inside, init_hidden=True)")
        if not is_neuron(m):
            return convert_module(self.b, m, tv, n.target.replace(".", "_"), where)
        if n.target in self.called:
            raise ModelError(f"{where}: neuron module {n.target!r} is called twice (a loop "
                             "over time in forward?); write forward for one step (or one "
                             "(T, B, ...) sequence) and call each neuron once")
        self.called.add(n.target)
        spec = neuron_spec(m, self.dt, where)
        want = "m" if spec.multi_step else "s"
        if tv.lead != want:
            raise ModelError(f"{where}: {type(m).__name__} (step_mode "
                             f"'{'m' if spec.multi_step else 's'}') receives a "
                             f"{'(T, B, ...) sequence' if tv.lead == 'm' else 'time-flattened (T·B, ...) tensor' if tv.lead == 'f' else 'single step'}; "  # noqa: E501
                             "reshape to (T, B, ...) first or set the step mode to match")
        if spec.plain:
            out = TV(self._neuron(n, spec.node, tv), tv.shape, tv.lead)
        else:  # snnTorch: late subtraction, recurrence, gated input, synaptic current
            out = wire_neuron(self.b, n.target.replace(".", "_"), spec, tv)
        return (out,) + (_MEMBRANE,) * (spec.outputs - 1) if spec.outputs > 1 else out

    def _sole(self, n: fx.Node, i: int) -> bool:
        """Whether argument ``i`` of ``n`` is a traced value read by ``n`` alone."""
        a = n.args[i] if i < len(n.args) else None
        return isinstance(a, fx.Node) and self.users[a] == [n]

    def _neuron(self, n: fx.Node, node: N.Neuron, tv: TV) -> str:
        """A neuron fed by ``tv``; an Add read by this neuron alone becomes its edges (the
        membrane shortcut: the IR sums a neuron's incoming edges)."""
        src = self.b.nodes.get(tv.name)
        if isinstance(src, T.Add) and self._sole(n, 0):
            ins = [a for a, c in self.b.edges if c == tv.name]
            del self.b.nodes[tv.name]
            self.b.edges = [(a, c) for a, c in self.b.edges if c != tv.name]
            name = n.target.replace(".", "_")
            return self.b.add(name, node, *[TV(a, tv.shape, tv.lead) for a in ins])
        return self.b.add(n.target.replace(".", "_"), node, tv)

    def _output(self, n: fx.Node, value):
        if isinstance(value, tuple):
            value = value[0]  # snnTorch's (spikes, membrane): the spikes
        if isinstance(value, TimeReduce):
            value = value.tv
        if not isinstance(value, TV):
            raise ModelError(f"{where_of(n)}: the model's output is not an activation")
        self.b.add("output", N.Output(), value)
        return value

    # -- functions and methods -------------------------------------------------------
    def _function(self, n: fx.Node, target: str, args, kwargs, result):
        where = where_of(n)
        if target in _PASS:
            return args[0]
        if target == "getitem":
            raise ModelError(f"{where}: indexing or slicing an activation is not "
                             "supported; nearest supported: reshape/permute")
        if target in _RESHAPE or target == "flatten":
            return self.b.reshape(args[0], tuple(result.shape), n.name, where)
        if target in ("permute", "transpose"):
            return self._permute(n, target, args, where)
        if target in ("add", "iadd"):
            return self._add(n, args, where)
        if target in ("mul", "imul", "truediv", "div"):
            return self._mul(n, target, args, where)
        if target in ("sub", "rsub"):
            return self._sub(n, target, args, where)
        if target in ("matmul",):
            return self._matmul(n, args, where)
        if target in ("sum", "mean"):
            return self._reduce(n, target, args, kwargs, result, where)
        if target == "cat":
            return self._cat(n, args, kwargs, where)
        raise ModelError(f"{where}: op {target!r} is not supported; nearest supported: "
                         f"{hint(target)}")

    def _permute(self, n, target, args, where):
        tv = args[0]
        nd = tv.nlead + len(tv.shape)
        if target == "transpose":
            d0, d1 = args[1] % nd, args[2] % nd
            dims = list(range(nd))
            dims[d0], dims[d1] = d1, d0
        else:
            dims = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list)) else args[1:]
        return self.b.permute(tv, tuple(dims), n.name, where)

    def _add(self, n, args, where):
        a, c = args[0], args[1]
        if not (isinstance(a, TV) and isinstance(c, TV)):
            if isinstance(c, (int, float)) and c == 0:
                return a
            raise ModelError(f"{where}: adding a constant to an activation is not supported; "
                             "fold it into the bias of the layer before")
        if a.shape != c.shape or a.lead != c.lead:
            raise ModelError(f"{where}: adding tensors of shapes {a.shape} and {c.shape} "
                             "(broadcasting) is not supported; add equal shapes")
        return TV(self.b.add(n.name, T.Add(), a, c), a.shape, a.lead)

    def _mul(self, n, target, args, where):
        a, c = args[0], args[1]
        first = 0
        if isinstance(a, (int, float)):
            a, c, first = c, a, 1
        if isinstance(c, (int, float)):
            if not isinstance(a, TV):
                raise ModelError(f"{where}: {target} of {type(a).__name__} by a number")
            k = 1.0 / c if target in ("truediv", "div") else float(c)
            src = self.b.nodes.get(a.name)
            if isinstance(src, T.MatMul) and self._sole(n, first):
                import dataclasses

                self.b.nodes[a.name] = dataclasses.replace(src, scale=src.scale * k)
                return a
            return TV(self.b.add(n.name, N.Scale(scale=k), a), a.shape, a.lead)
        if target not in ("mul", "imul"):
            raise ModelError(f"{where}: dividing by an activation is not supported")
        if isinstance(a, OneMinus) or isinstance(c, OneMinus):
            neg, other = (a, c) if isinstance(a, OneMinus) else (c, a)
            if not isinstance(other, TV) or other.shape != neg.tv.shape:
                raise ModelError(f"{where}: (1 - a)·b needs two activations of one shape")
            node = T.IAnd(operands=(neg.tv.name, other.name))
            return TV(self.b.add(n.name, node, neg.tv, other), other.shape, other.lead)
        if a.lead != c.lead:
            raise ModelError(f"{where}: product of tensors in different layouts")
        import numpy as np

        shape = tuple(np.broadcast_shapes(a.shape, c.shape))
        return TV(self.b.add(n.name, T.Mul(operands=(a.name, c.name)), a, c), shape, a.lead)

    def _sub(self, n, target, args, where):
        a, c = (args[0], args[1]) if target == "sub" else (args[1], args[0])
        if isinstance(a, (int, float)) and a == 1 and isinstance(c, TV):
            return OneMinus(c)
        raise ModelError(f"{where}: subtraction is supported only as 1 - x in (1 - x)·y "
                         "(SEW-ResNet's IAND); nearest supported: add")

    def _matmul(self, n, args, where):
        a, c = args
        if not (isinstance(a, TV) and isinstance(c, TV)) or a.lead != c.lead:
            raise ModelError(f"{where}: matmul needs two activations (a weight matrix is a "
                             "Linear layer)")
        shape = a.shape[:-1] + c.shape[-1:]
        node = T.MatMul(operands=(a.name, c.name))
        return TV(self.b.add(n.name, node, a, c), shape, a.lead)

    def _reduce(self, n, target, args, kwargs, result, where):
        tv = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keep = bool(kwargs.get("keepdim", args[2] if len(args) > 2 else False))
        if dim is None or isinstance(dim, (tuple, list)) and len(dim) != 1:
            raise ModelError(f"{where}: {target} over all or several dims; reduce one dim "
                             "at a time")
        dim = dim[0] if isinstance(dim, (tuple, list)) else dim
        axis = self.b.sample_axis(tv, dim, where, target)
        if axis is None:
            if keep or any(u.op != "output" for u in self.users[n]):
                raise ModelError(f"{where}: {target} over time is supported only as the "
                                 "network's output (the readout)")
            return TimeReduce(tv)
        out = tuple(result.shape[tv.nlead:])
        node = T.ReduceSum(axis=axis, keepdim=keep)
        red = TV(self.b.add(n.name, node, tv), out, tv.lead)
        if target == "mean":
            k = 1.0 / tv.shape[axis]
            red = TV(self.b.add(f"{n.name}_scale", N.Scale(scale=k), red), out, tv.lead)
        return red

    def _cat(self, n, args, kwargs, where):
        parts = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if not all(isinstance(p, TV) and p.lead == parts[0].lead for p in parts):
            raise ModelError(f"{where}: cat of non-activations or of mixed layouts")
        axis = self.b.sample_axis(parts[0], dim, where, "cat")
        if axis is None:
            raise ModelError(f"{where}: cat along time is not supported")
        shape = list(parts[0].shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        node = T.Concat(operands=tuple(p.name for p in parts), axis=axis)
        return TV(self.b.add(n.name, node, *parts), tuple(shape), parts[0].lead)


def _flat(args, kwargs):
    out = []
    items = list(args) if isinstance(args, (tuple, list)) else [args]
    for a in items + list(kwargs.values()):
        out.extend(_flat(a, {}) if isinstance(a, (tuple, list)) else [a])
    return out

