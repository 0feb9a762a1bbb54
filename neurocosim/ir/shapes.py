"""Shape inference of the network IR: every node's output shape on its input shape, the
node completed (scalar parameters broadcast, inferred fields filled in) and the memory
the network's arrays need checked against the budget before anything is allocated.

Used by :class:`neurocosim.ir.Network` when it is built; each node type has its own rule.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..budget import check_memory
from ..errors import ModelError, short
from . import nodes as N
from . import tensors as T
from .conv1d import Conv1d
from .delay import Delay

__all__ = ["conv2d_output_hw", "pool2d_output_hw"]


def conv2d_output_hw(node: N.Conv2d, h: int, w: int) -> tuple[int, int]:
    """Output spatial size of ``node`` on an ``(h, w)`` input (PyTorch's formula)."""
    kh, kw = node.weight.shape[2:]
    if node.padding == "same":
        return (h + node.stride[0] - 1) // node.stride[0], (w + node.stride[1] - 1) // node.stride[1]
    ph, pw = (0, 0) if node.padding == "valid" else node.padding
    dh, dw = node.dilation
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // node.stride[0] + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // node.stride[1] + 1
    return ho, wo


def pool2d_output_hw(node: N._Pool2d, h: int, w: int) -> tuple[int, int]:
    """Output spatial size of a pooling node on an ``(h, w)`` input."""
    (kh, kw), (sh, sw), (ph, pw) = node.kernel_size, node.stride, node.padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _nbytes(shape: tuple[int, ...], arrays: int = 1) -> float:
    """Bytes of ``arrays`` float64 arrays of ``shape`` (a float: no integer overflow)."""
    n = 8.0 * arrays
    for s in shape:
        n *= float(s)
    return n


def _infer_shapes(nodes, edges, order, back):
    """Input and output shape of every node (in ``order``) and the completed nodes;
    a recurrent (back) edge must carry the shape its target receives."""
    in_shapes: dict[str, tuple[int, ...]] = {}
    out_shapes: dict[str, tuple[int, ...]] = {}
    nodes = dict(nodes)
    srcs_of: dict[str, list[str]] = {n: [] for n in nodes}
    every: dict[str, list[tuple[str, bool]]] = {n: [] for n in nodes}
    for a, b in edges:
        every[b].append((a, (a, b) in back))
        if (a, b) not in back:
            srcs_of[b].append(a)
    # bytes of the arrays the network implies (one float64 state per node output element,
    # neuron parameters broadcast to their layer): checked before each allocation
    total = 0.0
    for name in order:
        node = nodes[name]
        srcs = srcs_of[name]
        if isinstance(node, N.Input):
            if any(s <= 0 for s in node.shape) or not node.shape:
                raise ModelError(f"Input {short(name)}: shape must be positive, got {node.shape}")
            total = _budget(total, _nbytes(node.shape), name, node, node.shape)
            in_shapes[name] = out_shapes[name] = node.shape
            continue
        T.check_operands(name, node, every[name])
        if isinstance(node, T.ORDERED):  # inputs one by one: in_shape is them stacked flat
            out_shapes[name] = _ordered_shape(name, node, [out_shapes[s] for s in node.operands])
            in_shapes[name] = (sum(math.prod(out_shapes[s]) for s in node.operands),)
            total = _budget(total, _nbytes(out_shapes[name]), name, node, out_shapes[name])
            continue
        if isinstance(node, Delay):  # its sources come later: it declares its shape
            in_shapes[name] = out_shapes[name] = node.shape
            total = _budget(total, _nbytes(node.shape, node.steps), name, node, node.shape)
            continue
        shapes = {out_shapes[s] for s in srcs}
        if len(shapes) != 1:
            detail = ", ".join(f"{s}: {out_shapes[s]}" for s in srcs[:4])
            raise ModelError(f"node {short(name)}: its inputs have different shapes ({detail})")
        shape = shapes.pop()
        in_shapes[name] = shape
        out_shapes[name], nodes[name], total = _node_shape(name, node, shape, total)
    for a, b in sorted(back):
        if out_shapes[a] != in_shapes[b]:
            what = f"the declared shape {in_shapes[b]} of Delay" if isinstance(
                nodes[b], Delay) else f"the input shape {in_shapes[b]} of"
            raise ModelError(
                f"recurrent edge {short(a)} -> {short(b)}: shape {out_shapes[a]} does not match "
                f"{what} {short(b)}"
            )
    return in_shapes, out_shapes, nodes


def _budget(total: float, more: float, name: str, node: N.Node, shape: tuple[int, ...]) -> float:
    """``total + more`` bytes, refused with a BudgetError over the memory limit."""
    total += more
    check_memory(total, f"node {short(name)} ({type(node).__name__}, shape {short(shape)}): the "
                 "network's state and parameter arrays up to it",
                 "the model declares layers far larger than it can simulate; fix its shapes")
    return total


def _node_shape(name: str, node: N.Node, shape: tuple[int, ...], total: float):
    """Output shape of ``node`` on input ``shape``, the node completed (parameters
    broadcast), and the running byte count, checked before anything is allocated."""
    if isinstance(node, N.Neuron):  # the state and every parameter broadcast to the layer
        total = _budget(total, _nbytes(shape, 1 + len(node._arrays)), name, node, shape)
    elif isinstance(node, N.Scale):
        total = _budget(total, _nbytes(shape, 2), name, node, shape)
    out, node = _node_shape1(name, node, shape)
    if not isinstance(node, (N.Output, N.Neuron, N.Scale)):
        total = _budget(total, _nbytes(out), name, node, out)
    return out, node, total


def _node_shape1(name: str, node: N.Node, shape: tuple[int, ...]):
    here = f"node {short(name)} ({type(node).__name__})"
    for types, rule in _SHAPE_RULES:
        if isinstance(node, types):
            return rule(here, node, shape)
    raise ModelError(f"{here}: unsupported node type")


def _output_shape(here: str, node: N.Output, shape: tuple[int, ...]):
    if node.shape and node.shape != shape:
        raise ModelError(f"{here}: declared shape {node.shape} but receives {short(shape)}")
    return shape, dataclasses.replace(node, shape=shape)


def _dense_shape(here: str, node: N.Affine | N.Linear, shape: tuple[int, ...]):
    w = node.weight
    if w.ndim != 2:
        raise ModelError(f"{here}: weight must be 2-D (n_out, n_in), got shape {w.shape}")
    if shape != (w.shape[1],):
        raise ModelError(
            f"{here}: weight {w.shape} expects a flat input of {w.shape[1]} but receives "
            f"shape {shape}; insert a Flatten or fix the weight"
        )
    if isinstance(node, N.Affine) and node.bias.shape not in ((w.shape[0],), ()):
        raise ModelError(f"{here}: bias shape {node.bias.shape} != ({w.shape[0]},)")
    if isinstance(node, N.Affine) and node.bias.shape == ():
        node = dataclasses.replace(node, bias=np.full(w.shape[0], float(node.bias)))
    return (int(w.shape[0]),), node


def _scale_shape(here: str, node: N.Scale, shape: tuple[int, ...]):
    if node.scale.shape == ():
        node = dataclasses.replace(node, scale=np.full(shape, float(node.scale)))
    if node.scale.shape != shape:
        raise ModelError(f"{here}: scale shape {node.scale.shape} != input shape {shape}")
    return shape, node


def _conv2d_shape(here: str, node: N.Conv2d, shape: tuple[int, ...]):
    w = node.weight
    if w.ndim != 4:
        raise ModelError(f"{here}: weight must be (C_out, C_in/groups, kh, kw), got {w.shape}")
    if len(shape) != 3:
        raise ModelError(f"{here}: expects a (C, H, W) input, receives {shape}")
    c, h, wd = shape
    g = node.groups
    if g < 1 or c % g or w.shape[0] % g or w.shape[1] * g != c:
        raise ModelError(
            f"{here}: weight {w.shape} with groups={g} does not fit {c} input channels"
        )
    if node.input_shape is not None and tuple(node.input_shape) != (h, wd):
        raise ModelError(f"{here}: input_shape {node.input_shape} but receives {(h, wd)}")
    if node.padding == "same" and node.stride != (1, 1):
        raise ModelError(f"{here}: padding='same' needs stride 1 (as PyTorch)")
    if node.bias.shape == ():
        node = dataclasses.replace(node, bias=np.full(w.shape[0], float(node.bias)))
    if node.bias.shape != (w.shape[0],):
        raise ModelError(f"{here}: bias shape {node.bias.shape} != ({w.shape[0]},)")
    if node.input_shape is None:
        node = dataclasses.replace(node, input_shape=(h, wd))
    ho, wo = conv2d_output_hw(node, h, wd)
    if ho < 1 or wo < 1:
        raise ModelError(f"{here}: kernel larger than the padded input {shape}")
    return (int(w.shape[0]), ho, wo), node


def _conv1d_shape(here: str, node: Conv1d, shape: tuple[int, ...]):
    if len(shape) != 2:
        raise ModelError(f"{here}: expects a (C, L) input, receives {shape}")
    c, length = shape
    w, g = node.weight, node.groups
    if c % g or w.shape[1] * g != c:
        raise ModelError(f"{here}: weight {w.shape} with groups={g} does not fit {c} input "
                         "channels")
    if node.bias.shape == ():
        node = dataclasses.replace(node, bias=np.full(w.shape[0], float(node.bias)))
    _, lo = conv2d_output_hw(node.as_conv2d(), 1, length)
    if lo < 1:
        raise ModelError(f"{here}: kernel larger than the padded input {shape}")
    return (int(w.shape[0]), lo), node


def _pool2d_shape(here: str, node: N._Pool2d, shape: tuple[int, ...]):
    if len(shape) != 3:
        raise ModelError(f"{here}: expects a (C, H, W) input, receives {shape}")
    ho, wo = pool2d_output_hw(node, shape[1], shape[2])
    if ho < 1 or wo < 1:
        raise ModelError(f"{here}: kernel {node.kernel_size} larger than input {shape}")
    return (shape[0], ho, wo), node


def _batchnorm_shape(here: str, node: N.BatchNorm, shape: tuple[int, ...]):
    c = node.gamma.shape[0]
    if len(shape) not in (1, 3) or shape[0] != c:
        raise ModelError(f"{here}: normalises {c} channels over axis 0 of a (C,) or (C, H, W) "
                         f"input, but receives shape {short(shape)}")
    return shape, node


def _flatten_shape(here: str, node: N.Flatten, shape: tuple[int, ...]):
    nd = len(shape)
    s = node.start_dim % nd if -nd <= node.start_dim < nd else None
    e = node.end_dim % nd if -nd <= node.end_dim < nd else None
    if s is None or e is None or s > e:
        raise ModelError(
            f"{here}: dims {node.start_dim}..{node.end_dim} do not fit input shape {shape} "
            "(NIR counts dims without the batch)"
        )
    out = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    return out, node


def _ordered_shape(name: str, node: N.Node, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of an IAnd, Concat, Mul or MatMul on its inputs' ``shapes`` (in
    operand order)."""
    here = f"node {short(name)} ({type(node).__name__})"
    pairs = ", ".join(f"{s}: {sh}" for s, sh in zip(node.operands, shapes, strict=True))
    if isinstance(node, (T.Mul, T.MatMul)):
        return _product_shape(here, node, shapes, pairs)
    if isinstance(node, T.IAnd):
        if shapes[0] != shapes[1]:
            raise ModelError(f"{here}: 'operands' must have one shape, got {short(pairs)}")
        return shapes[0]
    nd = len(shapes[0])
    ax = node.norm_axis(nd)
    if ax is None:
        raise ModelError(f"{here}: 'axis' {node.axis} does not fit its {nd}-D inputs")
    if any(len(sh) != nd or sh[:ax] + sh[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]
           for sh in shapes):
        raise ModelError(f"{here}: 'operands' must agree in every dimension but axis {ax}, "
                         f"got {short(pairs)}")
    return shapes[0][:ax] + (sum(sh[ax] for sh in shapes),) + shapes[0][ax + 1:]


def _product_shape(here: str, node, shapes: list[tuple[int, ...]], pairs: str):
    """Output shape of a Mul (NumPy broadcasting) or a MatMul (``(…, M, K) @ (…, K, N)``)."""
    a, b = shapes
    if isinstance(node, T.Mul):
        try:
            return tuple(int(d) for d in np.broadcast_shapes(a, b))
        except ValueError:
            raise ModelError(f"{here}: 'operands' must have shapes that broadcast (aligned on "
                             f"their last axes, each pair of sizes equal or 1), got "
                             f"{short(pairs)}") from None
    if len(a) < 2 or len(b) < 2 or a[:-2] != b[:-2] or a[-1] != b[-2]:
        raise ModelError(f"{here}: 'operands' must be (..., M, K) and (..., K, N) with equal "
                         f"leading axes, got {short(pairs)}")
    return a[:-1] + (b[-1],)


def _reducesum_shape(here: str, node: T.ReduceSum, shape: tuple[int, ...]):
    if node.norm_axis(len(shape)) is None:
        raise ModelError(f"{here}: 'axis' {node.axis} does not fit its {len(shape)}-D input "
                         f"{shape}")
    if len(shape) == 1 and not node.keepdim:
        raise ModelError(f"{here}: 'keepdim' false would leave no axis of its 1-D input "
                         f"{shape}; set keepdim true")
    return node.out_shape(shape), node


def _reshape_shape(here: str, node: T.Reshape, shape: tuple[int, ...]):
    if math.prod(node.shape) != math.prod(shape):
        raise ModelError(f"{here}: 'shape' {node.shape} has {math.prod(node.shape)} elements "
                         f"but the input {shape} has {math.prod(shape)}")
    return node.shape, node


def _transpose_shape(here: str, node: T.Transpose, shape: tuple[int, ...]):
    if len(node.axes) != len(shape):
        raise ModelError(f"{here}: 'axes' {node.axes} must permute the {len(shape)} axes of "
                         f"its input {shape}")
    return tuple(shape[a] for a in node.axes), node


def _neuron_shape(here: str, node: N.Neuron, shape: tuple[int, ...]):
    own = node.size_shape()
    if own not in ((), shape) and math.prod(own) == math.prod(shape) and len(own) == 1:
        # NIR files often store (C,H,W) layers' parameters flat; accept a reshape
        node = dataclasses.replace(node, **{k: v.reshape(shape) if v.ndim else v
                                            for k, v in node.arrays().items()})
        own = shape
    if own not in ((), shape):
        # size-1 parameter arrays broadcast too
        if all(a.size == 1 for a in node.arrays().values()):
            own = ()
        else:
            raise ModelError(f"{here}: parameters have shape {own} but the input is {shape}")
    try:
        return shape, node.broadcast(shape)
    except ModelError as exc:
        raise ModelError(f"{here}: {exc}") from None


#: (node types, rule) in the order they are tried
_SHAPE_RULES = (
    (N.Output, _output_shape),
    ((N.Affine, N.Linear), _dense_shape),
    (N.Scale, _scale_shape),
    (N.Conv2d, _conv2d_shape),
    (Conv1d, _conv1d_shape),
    (N._Pool2d, _pool2d_shape),
    (N.BatchNorm, _batchnorm_shape),
    (N.Flatten, _flatten_shape),
    (T.Add, lambda here, node, shape: (shape, node)),
    (T.Reshape, _reshape_shape),
    (T.Transpose, _transpose_shape),
    (T.ReduceSum, _reducesum_shape),
    (N.Neuron, _neuron_shape),
)
