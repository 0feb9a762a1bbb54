"""All Numba options in one place (DESIGN §4.4).

``cache=True`` keeps compiled kernels on disk next to the sources, so tests and the CLI
do not recompile at every start; ``fastmath`` stays off because the engine must
reproduce the NumPy reference's float arithmetic operation for operation.
"""

from __future__ import annotations

import numba

__all__ = ["njit", "pjit", "prange", "set_threads", "get_threads", "max_threads"]

_OPTS = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}

prange = numba.prange


def njit(fn):
    """A serial kernel."""
    return numba.njit(**_OPTS)(fn)


def pjit(fn):
    """A driver parallel over samples (``prange``)."""
    return numba.njit(parallel=True, **_OPTS)(fn)


def set_threads(n: int) -> None:
    numba.set_num_threads(int(n))


def get_threads() -> int:
    return int(numba.get_num_threads())


def max_threads() -> int:
    """Most threads Numba's parallel layer may use here (``NUMBA_NUM_THREADS``)."""
    return int(numba.config.NUMBA_NUM_THREADS)
