"""Convolutional layers on Loihi 2: the integer convolution of Lava's fixed-point ``Conv``
and the conversions between the IR's layout and Lava's.

**Arithmetic** (lava-nc 0.10, ``PyConvModelFixed``): each step the ``Conv`` process sends
the ``a_buf`` it computed on the previous step's spikes (the same one-step synaptic delay
as ``Dense``), then computes

    a_buf = wrap24( Σ_{c, i, j} W[o, c, i, j] · x[c, y·s_h + i·d_h − p_h, x·s_w + j·d_w − p_w] )

(zero padding; grouped channels as PyTorch; ``wrap24`` is Lava's ``signed_clamp`` to 24
bits, a two's-complement wrap). Lava's fixed-point ``Conv`` **ignores ``weight_exp``** and
does not truncate to ``num_weight_bits``: the quantiser therefore gives every conv layer
``weight_exp = 0`` and weights already on the ``num_weight_bits`` grid, so Lava, this
simulator and a chip that applies the exponent all compute the same integers. A conv layer
with another exponent is refused (:func:`check_conv_layer`). The quantiser keeps the
worst-case step input inside the 24-bit ``u``, so the wrap is never reached by a quantised
network; beyond int32 Lava's float-to-int32 cast is not modelled.

**Layouts**: the IR (and every spike array of this package) is ``(C, H, W)``, flattened
C-major; weights ``(C_out, C_in/g, k_h, k_w)`` for a cross-correlation. Lava's ``Conv``
takes ``(X, Y, C) = (W, H, C)`` tensors and weights ``(C_out, k_x, k_y, C_in/g)`` for a
true convolution (``scipy.signal.convolve2d``), so its kernel is ours flipped in both
spatial axes and transposed: ``W_lava[o, x, y, c] = W[o, c, k_h−1−y, k_w−1−x]``;
stride, padding and dilation are given as ``(w, h)``. Several samples run in one Lava graph
as channel groups: sample ``s``'s channel ``c`` is Lava channel ``s·C + c`` and every
``Conv`` gets ``groups · n_samples`` groups (its kernel tiled), which keeps them apart.
A dense layer after a conv layer reads the LIF's ``(X, Y, n·C)`` spikes through Lava's
C-order flatten: its weight columns are permuted to that order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import SimulationError
from .network import ConvSpec, LoihiLayer

__all__ = ["conv_int", "wrap24", "check_conv_layer", "lava_kernel", "to_lava_xyc",
           "from_lava_xyc", "dense_matrix", "A_OUT_BITS"]

A_OUT_BITS = 24  # Lava's fixed-point Conv clamps a_out to 24 bits (signed_clamp)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to 24 bits (Lava's ``signed_clamp(x, 24)``)."""
    half = 1 << (A_OUT_BITS - 1)
    return ((x + half) & ((1 << A_OUT_BITS) - 1)) - half


def check_conv_layer(L: LoihiLayer) -> None:
    """Refuse a conv layer whose integers Lava's ``Conv`` would compute differently."""
    if L.conv is not None and L.weight_exp != 0:
        raise SimulationError(
            f"loihi2 conv layer '{L.name}' has weight_exp {L.weight_exp}: Lava's fixed-point "
            "Conv ignores weight_exp, so conv layers need weight_exp 0 (quantize_loihi2 "
            "gives them 0)")


def conv_int(x: np.ndarray, weight: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Integer cross-correlation of a batch ``x`` ``(n, C_in, H, W)`` → ``(n, C_out, H_o,
    W_o)`` int64 (exact: int64 products and sums)."""
    n = x.shape[0]
    cin, h, w = spec.in_shape
    cout, ho, wo = spec.out_shape
    g = spec.groups
    cin_g, cout_g = cin // g, cout // g
    (sh, sw), (ph, pw), (dh, dw) = spec.stride, spec.padding, spec.dilation
    kh, kw = weight.shape[2:]
    xp = np.zeros((n, cin, h + 2 * ph, w + 2 * pw), np.int64)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    out = np.zeros((n, cout, ho, wo), np.int64)
    wt = weight.astype(np.int64)
    for gi in range(g):
        xs = xp[:, gi * cin_g:(gi + 1) * cin_g]
        ws = wt[gi * cout_g:(gi + 1) * cout_g]
        og = out[:, gi * cout_g:(gi + 1) * cout_g]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + (ho - 1) * sh + 1:sh,
                           j * dw:j * dw + (wo - 1) * sw + 1:sw]
                og += np.einsum("oc,nchw->nohw", ws[:, :, i, j], patch)
    return out


# -- Lava layout ------------------------------------------------------------------------
def lava_kernel(weight: np.ndarray, n_samples: int = 1) -> np.ndarray:
    """IR kernel ``(C_out, C_in/g, k_h, k_w)`` → Lava's ``(n·C_out, k_x, k_y, C_in/g)``
    (flipped: Lava convolves), tiled for ``n_samples`` channel groups."""
    k = weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
    return np.ascontiguousarray(np.concatenate([k] * n_samples, axis=0))


def to_lava_xyc(values: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Per-sample ``(n, C·H·W, *rest)`` in the IR's order → Lava's ``(W, H, n·C, *rest)``."""
    n, rest = values.shape[0], values.shape[2:]
    c, h, w = shape
    v = values.reshape(n, c, h, w, *rest)
    order = (3, 2, 0, 1, *range(4, 4 + len(rest)))
    return np.ascontiguousarray(v.transpose(order).reshape(w, h, n * c, *rest))


def from_lava_xyc(values: np.ndarray, n: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Lava's ``(W, H, n·C, *rest)`` → ``(n, *rest, C·H·W)`` in the IR's order."""
    c, h, w = shape
    rest = values.shape[3:]
    v = np.asarray(values).reshape(w, h, n, c, *rest)
    order = (2, *range(4, 4 + len(rest)), 3, 1, 0)
    return v.transpose(order).reshape(n, *rest, c * h * w)


def dense_matrix(weight: np.ndarray, n: int, in_shape: tuple[int, int, int] | None):
    """Block-diagonal ``(n·n_out, n·n_in)`` CSR weights of ``n`` samples; after a conv
    layer (``in_shape`` given) its columns follow Lava's flattened ``(W, H, n·C)`` spikes."""
    w = sp.coo_matrix(weight)
    n_out, n_in = weight.shape
    if in_shape is None:
        col = np.arange(n * n_in).reshape(n, n_in)
    else:
        idx = np.arange(n * n_in).reshape(n, n_in)  # (sample, IR index) → its own number
        col = np.empty_like(idx)
        col.reshape(-1)[to_lava_xyc(idx, in_shape).reshape(-1)] = np.arange(n * n_in)
    rows = np.concatenate([w.row + s * n_out for s in range(n)])
    cols = np.concatenate([col[s][w.col] for s in range(n)])
    data = np.tile(w.data, n)
    return sp.csr_matrix((data, (rows, cols)), shape=(n * n_out, n * n_in))
