"""Lowering passes: synaptic nodes → crossbar matrices with gather/scatter schedules.

Every synaptic node (Affine, Linear, Conv2d) becomes a :class:`SynOp`: one weight matrix
per group, ``(K, C_out_g)`` with ``K`` crossbar rows, and a schedule of *reads*. Read
``p`` drives row ``k`` with input element ``gather[p, k]`` of the flattened input and
adds column ``o`` into flattened output element ``scatter[p, o]``. Two negative markers
stand for rows driven by no input element: :data:`GATHER_PAD` (−1, zero padding: reads
0, no row driven) and :data:`GATHER_ONE` (−2, the bias row: reads a constant 1).
:func:`gather_inputs` resolves both.

* Dense: one read per step, ``gather = arange(n_in)``, ``scatter = arange(n_out)``.
* Conv2d — **im2col, kernel-stationary**: the unrolled kernel ``(C_in/g · k_h · k_w) ×
  (C_out/g)`` is stored once per group and read once per output position per step
  (``H_out·W_out`` reads, each driving one receptive field; event driven, a read whose
  receptive field holds no spike is skipped). Cost: storage equals the kernel (no
  Toeplitz zeros), time is ``H_out·W_out`` reads per step. With ``conv_regions = R`` the
  output rows are split into ``R`` bands, each band served by its own replica of the
  kernel (R× the tiles, R× fewer reads per tile per step, and spatial locality the
  placer can exploit).

Biases are added digitally after the partial sums (chip option ``bias: digital``) or
stored as an extra crossbar row driven with 1 at every read (``bias: row``).

Pooling (sum, average, max), Flatten, Scale, BatchNorm (one not folded into a synaptic
layer: a per-element scale and shift), Add, IAnd and the rearrangements (Concat, Reshape,
Transpose) and the spike-spike primitives (Mul, ReduceSum, MatMul: both operands of a
product are activations) are digital operations of the receiving core; they are not
lowered to crossbars (:data:`DIGITAL` lists those the engine evaluates; the design rule
``dynamic_product`` refuses a product of activations on tiles). :func:`dependency`
gives their input→output connectivity for the placement's traffic estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import MappingError
from ..ir import nodes as N
from ..ir import tensors as T
from ..ir.delay import Delay
from ..ir.graph import Network

__all__ = ["OpGroup", "SynOp", "lower_network", "dependency", "SYNAPTIC", "GATHER_PAD",
           "GATHER_ONE", "gather_inputs", "DIGITAL", "check_dynamic_products"]

SYNAPTIC = (N.Affine, N.Linear, N.Conv2d)
#: digital operations of the receiving core (Flatten and Output only copy)
DIGITAL = (N.Scale, N.SumPool2d, N.AvgPool2d, N.MaxPool2d, N.BatchNorm, T.Add, T.IAnd,
           T.Concat, T.Reshape, T.Transpose, Delay, *T.SPIKE_OPS)
if set(SYNAPTIC) & set(T.SPIKE_OPS) or not set(T.SPIKE_OPS) <= set(DIGITAL):
    raise ImportError("neurocosim bug: a product of two activations (Mul, ReduceSum, "
                      "MatMul) must be a digital op, never a crossbar op")

#: Gather marker of a padding row: it reads 0 (no row driven).
GATHER_PAD = -1
#: Gather marker of the bias row: it reads a constant 1 at every read.
GATHER_ONE = -2


def gather_inputs(x: np.ndarray, gather: np.ndarray) -> np.ndarray:
    """The row inputs ``x[..., gather]`` of reads, with the markers resolved.

    ``x`` ``(..., n_in)`` holds flat op inputs (e.g. a batch); ``gather`` is any integer
    array of input indices or markers (e.g. a block's ``(reads, rows)`` slice of an
    :class:`OpGroup`'s ``gather``). Returns ``(..., *gather.shape)``: :data:`GATHER_PAD`
    reads 0, :data:`GATHER_ONE` reads 1.
    """
    x = np.asarray(x, float)
    n = x.shape[-1]
    lead = x.shape[:-1] + (1,)
    ext = np.concatenate([x, np.ones(lead), np.zeros(lead)], axis=-1)
    idx = np.where(gather == GATHER_PAD, n + 1, np.where(gather == GATHER_ONE, n, gather))
    return ext[..., idx]


@dataclass(frozen=True, kw_only=True, eq=False)
class OpGroup:
    """One crossbar matrix of an op and its read schedule.

    ``weight`` ``(K, C)``; ``gather`` ``(P, K)`` int (input index, or a marker:
    :data:`GATHER_PAD`, :data:`GATHER_ONE`); ``scatter`` ``(P, C)``
    int; ``region`` ``(P,)`` int, the spatial band (replica) serving each read.
    """

    weight: np.ndarray
    gather: np.ndarray
    scatter: np.ndarray
    region: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.weight.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.weight.shape[1])


@dataclass(frozen=True, kw_only=True, eq=False)
class SynOp:
    """A synaptic node lowered to crossbar groups (see the module docstring)."""

    name: str
    kind: str  # "dense" | "conv"
    in_size: int
    out_size: int
    groups: tuple[OpGroup, ...]
    bias: np.ndarray  # (out_size,) digital add, zeros when none
    bias_row: bool = False
    regions: int = 1

    def dense_matrix(self) -> np.ndarray:
        """The op as a dense ``(out_size, in_size)`` matrix (for checks; may be large)."""
        m = np.zeros((self.out_size, self.in_size))
        for g in self.groups:
            for p in range(g.gather.shape[0]):
                ks = g.gather[p]
                ok = ks >= 0  # not a marker (GATHER_PAD, GATHER_ONE)
                m[np.ix_(g.scatter[p], ks[ok])] += g.weight[ok].T
        return m


def lower_network(net: Network, *, conv_regions: int = 1, bias_row: bool = False,
                  regions: dict[str, int] | None = None) -> dict[str, SynOp]:
    """Lower every synaptic node of ``net`` (pure: ``net`` is not changed).

    ``regions`` (the mapper's per-layer split, :mod:`neurocosim.mapping.split`) gives a
    convolution its own region count, its regions then being runs of output positions
    in raster order (position ``p = y·W_out + x`` in region ``p·R // (H_out·W_out)``:
    row bands when ``R`` divides ``H_out``, and finer than a row when ``R > H_out``);
    the other convolutions take ``conv_regions`` row bands."""
    if conv_regions < 1:
        raise MappingError(f"conv_regions must be >= 1, got {conv_regions}")
    ops: dict[str, SynOp] = {}
    for name in net.order:
        node = net.nodes[name]
        if isinstance(node, (N.Affine, N.Linear)):
            ops[name] = _lower_dense(name, node, bias_row)
        elif isinstance(node, N.Conv2d):
            own = (regions or {}).get(name)
            ops[name] = _lower_conv(name, node, net.in_shapes[name], net.out_shapes[name],
                                    conv_regions if own is None else own, bias_row,
                                    flat=own is not None)
    check_dynamic_products(net, ops)
    return ops


def check_dynamic_products(net: Network, ops) -> None:
    """Design rule ``dynamic_product``: only nodes with constant weights become crossbar
    ops; a product whose operands are both activations (Mul, ReduceSum, MatMul, or any
    other non-synaptic node) on tiles is refused (MappingError), since its "weights"
    would be written into the cells at every step."""
    for name in ops:
        node = net.nodes.get(name)
        if not isinstance(node, SYNAPTIC) or isinstance(node, T.SPIKE_OPS):
            kind = type(node).__name__ if node is not None else "unknown node"
            raise MappingError(
                f"design rule 'dynamic_product': node '{name}' ({kind}) multiplies two "
                "activations and cannot be placed on crossbar tiles: its operand would be "
                "written into the cells at every step (write energy and latency far above a "
                "read's, RRAM/PCM endurance of 1e6-1e12 writes used up within hours); it "
                "runs on the digital spike units (mapping.lowering.DIGITAL)")


def _with_bias_row(w: np.ndarray, gather: np.ndarray, bias: np.ndarray, bias_row: bool):
    if not bias_row:
        return w, gather
    # the bias row is driven with 1 at every read: marker GATHER_ONE
    w = np.vstack([w, bias[None, :]])
    gather = np.hstack([gather, np.full((gather.shape[0], 1), GATHER_ONE, gather.dtype)])
    return w, gather


def _lower_dense(name: str, node, bias_row: bool) -> SynOp:
    w = np.asarray(node.weight, float)
    n_out, n_in = w.shape
    bias = np.asarray(node.bias, float) if isinstance(node, N.Affine) else np.zeros(n_out)
    gather = np.arange(n_in, dtype=np.int64)[None, :]
    wt, gather = _with_bias_row(w.T.copy(), gather, bias, bias_row)
    grp = OpGroup(weight=wt, gather=gather, scatter=np.arange(n_out, dtype=np.int64)[None, :],
                  region=np.zeros(1, np.int64))
    return SynOp(name=name, kind="dense", in_size=n_in, out_size=n_out, groups=(grp,),
                 bias=np.zeros(n_out) if bias_row else bias, bias_row=bias_row)


def _lower_conv(name, node: N.Conv2d, in_shape, out_shape, regions: int, bias_row: bool,
                flat: bool = False) -> SynOp:
    cin, h, w_in = in_shape
    cout, ho, wo = out_shape
    g = node.groups
    cin_g, cout_g = cin // g, cout // g
    kh, kw = node.weight.shape[2:]
    sh, sw = node.stride
    dh, dw = node.dilation
    if node.padding == "same":
        ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
    elif node.padding == "valid":
        ph = pw = 0
    else:
        ph, pw = node.padding
    regions = min(regions, ho * wo if flat else ho)
    oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    oy, ox = oy.ravel(), ox.ravel()  # position p = y*wo + x
    c_idx, p_idx, q_idx = np.meshgrid(np.arange(cin_g), np.arange(kh), np.arange(kw), indexing="ij")
    c_idx, p_idx, q_idx = c_idx.ravel(), p_idx.ravel(), q_idx.ravel()  # K = cin_g*kh*kw
    iy = oy[:, None] * sh + p_idx[None, :] * dh - ph
    ix = ox[:, None] * sw + q_idx[None, :] * dw - pw
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w_in)
    region = ((oy * wo + ox) * regions) // (ho * wo) if flat else (oy * regions) // ho
    bias = np.asarray(node.bias, float)
    groups = []
    for gi in range(g):
        chan = gi * cin_g + c_idx
        gather = np.where(inside, (chan[None, :] * h + iy) * w_in + ix,
                          GATHER_PAD).astype(np.int64)
        wmat = node.weight[gi * cout_g:(gi + 1) * cout_g].reshape(cout_g, -1).T.copy()
        outs = gi * cout_g + np.arange(cout_g)
        scatter = (outs[None, :] * (ho * wo) + (oy * wo + ox)[:, None]).astype(np.int64)
        bias_g = bias[gi * cout_g:(gi + 1) * cout_g]
        wmat, gather = _with_bias_row(wmat, gather, bias_g, bias_row)
        groups.append(OpGroup(weight=wmat, gather=gather, scatter=scatter, region=region))
    flat_bias = np.repeat(bias, ho * wo)
    return SynOp(name=name, kind="conv", in_size=cin * h * w_in, out_size=cout * ho * wo,
                 groups=tuple(groups), bias=np.zeros_like(flat_bias) if bias_row else flat_bias,
                 bias_row=bias_row, regions=regions)


def dependency(net: Network, name: str, src: str | None = None) -> sp.csr_matrix:
    """0/1 ``(out_flat, in_flat)`` connectivity of a stateless digital node.

    The input of a node with ordered inputs (IAnd, Concat) is its sources stacked flat
    in operand order; ``src`` keeps only the columns of that source (its own input
    elements). Every other node reads the sum of its sources, so ``src`` changes nothing.
    """
    node = net.nodes[name]
    n_in = int(np.prod(net.in_shapes[name]))
    n_out = int(np.prod(net.out_shapes[name]))
    if isinstance(node, T.ORDERED):
        mat = _ordered_dependency(net, name, node)
        if src is None:
            return mat
        sizes = [int(np.prod(net.out_shapes[s])) for s in node.operands]
        lo = sum(sizes[:node.operands.index(src)])
        return mat[:, lo:lo + sizes[node.operands.index(src)]].tocsr()
    if isinstance(node, T.ReduceSum):
        members = node.members(net.in_shapes[name])
        return sp.csr_matrix((np.ones(members.size), members.reshape(-1),
                              np.arange(0, members.size + 1, members.shape[1])),
                             shape=(n_out, n_in))
    if isinstance(node, T.Transpose):
        perm = node.permutation(net.in_shapes[name])
        return sp.csr_matrix((np.ones(n_out), perm, np.arange(n_out + 1)), shape=(n_out, n_in))
    if isinstance(node, (N.Flatten, N.Scale, N.Output, N.BatchNorm, T.Add, T.Reshape, Delay)):
        return sp.identity(n_in, format="csr")
    if isinstance(node, (N.SumPool2d, N.AvgPool2d, N.MaxPool2d)):
        c, h, w = net.in_shapes[name]
        _, ho, wo = net.out_shapes[name]
        (kh, kw), (sh, sw), (ph, pw) = node.kernel_size, node.stride, node.padding
        # output (ch, y, x) reads input (ch, y·sh + p − ph, x·sw + q − pw) inside the map,
        # window elements in (p, q) order
        ch, y, x, p, q = np.meshgrid(np.arange(c), np.arange(ho), np.arange(wo), np.arange(kh),
                                     np.arange(kw), indexing="ij")
        iy, ix = y * sh + p - ph, x * sw + q - pw
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        rows = ((ch * ho + y) * wo + x)[ok]
        cols = ((ch * h + iy) * w + ix)[ok]
        return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_out, n_in))
    raise MappingError(f"node '{name}' ({type(node).__name__}) is not a digital pass-through")


def _ordered_dependency(net: Network, name: str, node) -> sp.csr_matrix:
    """``(out_flat, stacked_in_flat)`` of an IAnd (row ``r``: ``a[r]`` then ``b[r]``), a
    Mul (row ``r``: the elements of ``a`` and ``b`` it multiplies), a MatMul (row
    ``(l, i, j)``: ``a[l, i, :]`` and ``b[l, :, j]``) or a Concat (one column per row: the
    permutation of the stacked inputs)."""
    n_in = int(np.prod(net.in_shapes[name]))
    n_out = int(np.prod(net.out_shapes[name]))
    if isinstance(node, (T.Mul, T.MatMul)):
        a, b = (net.out_shapes[s] for s in node.operands)
        if isinstance(node, T.Mul):
            ia, ib = node.reads(a, b)
            cols = np.stack([ia, int(np.prod(a)) + ib], axis=1)
        else:
            lead, m, k, n = node.dims(a, b)
            ia = np.arange(lead * m * k).reshape(lead, m, 1, k)
            ib = lead * m * k + np.arange(lead * k * n).reshape(lead, k, n).transpose(0, 2, 1)
            cols = np.concatenate(np.broadcast_arrays(ia, ib[:, None]), axis=-1)
        cols = cols.reshape(n_out, -1)
        return sp.csr_matrix((np.ones(cols.size), cols.reshape(-1),
                              np.arange(0, cols.size + 1, cols.shape[1])), shape=(n_out, n_in))
    if isinstance(node, T.IAnd):
        idx = np.stack([np.arange(n_out), n_out + np.arange(n_out)], axis=1).reshape(-1)
        return sp.csr_matrix((np.ones(2 * n_out), idx, np.arange(0, 2 * n_out + 1, 2)),
                             shape=(n_out, n_in))
    perm = node.permutation([net.out_shapes[s] for s in node.operands])
    return sp.csr_matrix((np.ones(n_out), perm, np.arange(n_out + 1)), shape=(n_out, n_in))
