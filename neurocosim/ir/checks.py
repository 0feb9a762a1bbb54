"""Field validators of the IR nodes: every value a node is built from becomes a numeric
array, an integer, a pair, a shape or a mode, or a :class:`~neurocosim.errors.ModelError`
naming the node type and the field. :func:`describe` shows a value in a message.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ModelError, short

__all__ = ["describe", "MAX_DIMS"]


def describe(value: Any) -> str:
    """A value for a message: one line, short; arrays of several elements by dtype and
    shape (never their repr, which spans lines)."""
    if isinstance(value, np.ndarray):
        if value.size == 1 and value.dtype.kind in "biufcUS":
            value = value.reshape(()).item()
        elif value.ndim == 1 and 1 < value.size <= 8 and value.dtype.kind in "biufUS":
            value = value.tolist()
        else:
            return f"{value.dtype.name} array of shape {value.shape}"
    return " ".join(short(value).split())


#: most dimensions a shape may have (NumPy's own limit is 32 in 1.x)
MAX_DIMS = 32
#: largest value an integer field (a dimension, stride, padding, ...) may take
_MAX_INT = 2**62


def _numeric(value: Any, name: str, owner: str, *, bools: bool = True) -> np.ndarray:
    """``value`` as a numeric array, or a :class:`ModelError` naming ``owner`` and ``name``."""
    if value is None:
        raise ModelError(f"{owner}: parameter '{name}' is missing")
    if isinstance(value, (str, bytes, dict, set, frozenset)):
        raise ModelError(f"{owner}: parameter '{name}' must be numeric, got {describe(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise ModelError(f"{owner}: parameter '{name}' is not a numeric array: "
                         f"{describe(value)}") from None
    if arr.dtype.kind not in ("biuf" if bools else "iuf"):
        raise ModelError(f"{owner}: parameter '{name}' must be numeric, got "
                         f"{arr.dtype.name} data {describe(value)}")
    if arr.ndim > MAX_DIMS:
        raise ModelError(f"{owner}: parameter '{name}' has {arr.ndim} dimensions "
                         f"(at most {MAX_DIMS})")
    return arr


def _frozen_array(value: Any, name: str, owner: str) -> np.ndarray:
    arr = np.array(_numeric(value, name, owner), dtype=np.float64)
    arr.setflags(write=False)
    return arr


def _ints(value: Any, name: str, owner: str, *, lo: int, sizes: tuple[int, ...],
          what: str) -> tuple[int, ...]:
    """Integers ``>= lo`` (integer-valued floats accepted): a scalar or a 1-D array whose
    size is in ``sizes``. The message names ``owner`` and ``name``."""
    arr = _numeric(value, name, owner, bools=False)
    if arr.ndim > 1 or arr.size not in sizes:
        raise ModelError(f"{owner}: '{name}' must be {what}, got {describe(value)}")
    out = []
    for v in arr.ravel().tolist():
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            raise ModelError(f"{owner}: '{name}' must hold integers, got {describe(value)}")
        v = int(v)
        if v < lo or v > _MAX_INT:
            raise ModelError(f"{owner}: '{name}' must be >= {lo}, got {describe(value)}")
        out.append(v)
    return tuple(out)


def _int(value: Any, name: str, owner: str, lo: int = -_MAX_INT) -> int:
    return _ints(value, name, owner, lo=lo, sizes=(1,), what="one integer")[0]


def _pair(value: Any, name: str, owner: str, lo: int = 1) -> tuple[int, int]:
    v = _ints(value, name, owner, lo=lo, sizes=(1, 2), what="an int or a pair of ints")
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _shape(value: Any, name: str, owner: str, *, allow_empty: bool) -> tuple[int, ...]:
    """A shape: positive integers, at most :data:`MAX_DIMS` of them."""
    arr = _numeric(value, name, owner, bools=False)
    if arr.ndim > 1:
        raise ModelError(f"{owner}: '{name}' must be a list of dimensions, got {describe(value)}")
    if arr.size > MAX_DIMS or (arr.size == 0 and not allow_empty):
        raise ModelError(f"{owner}: '{name}' must have 1 to {MAX_DIMS} dimensions, "
                         f"got {describe(value)}")
    return _ints(arr, name, owner, lo=1, sizes=(arr.size,), what="positive integers")


def _mode(value: Any, name: str, owner: str, allowed: tuple[str, ...]) -> str:
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "US":
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or value not in allowed:
        raise ModelError(f"{owner}: {name} must be one of {allowed}, got {describe(value)}")
    return str(value)
