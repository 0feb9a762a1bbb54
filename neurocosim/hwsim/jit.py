"""All Numba options in one place (DESIGN §4.4).

``cache=True`` keeps compiled kernels on disk next to the sources, so tests and the CLI
do not recompile at every start; ``fastmath`` stays off because the engine must
reproduce the NumPy reference's float arithmetic operation for operation.

Numba checks a cached kernel against its own source file only, so a kernel whose callee
in another file changed (a ``git pull`` that touches ``crossbar.py`` but not
``driver.py``) would run the callee's old code. :func:`_stamp_all_kernels` makes every
kernel's cache stamp the digest of all the engine's kernel sources instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba

__all__ = ["njit", "njit_inner", "pjit", "prange", "set_threads", "get_threads", "max_threads"]

_OPTS = {"cache": True, "fastmath": False, "nogil": True, "error_model": "numpy"}

prange = numba.prange


def njit(fn):
    """A serial kernel."""
    return numba.njit(**_OPTS)(fn)


def njit_inner(fn):
    """A serial kernel called only from other kernels: no Python entry point is built for
    it (the wrapper that unboxes the typed records is most of a small kernel's compile
    time, and the records are large)."""
    return numba.njit(no_cpython_wrapper=True, no_cfunc_wrapper=True, **_OPTS)(fn)


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


_KERNELS = Path(__file__).resolve().parent  # hwsim/: jit.py and kernels/


def _kernel_digest() -> str:
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted([_KERNELS / "jit.py", *(_KERNELS / "kernels").glob("*.py")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _stamp_all_kernels() -> None:
    """Put, in front of each of Numba's cache locators, one that serves only this
    package's kernels and stamps them with :func:`_kernel_digest` (best effort: without
    the Numba internals it needs, the default per-file stamps stay)."""
    try:
        from numba.core import caching

        impl = caching.CacheImpl
        bases = [c for c in impl._locator_classes
                 if issubclass(c, caching._SourceFileBackedLocatorMixin)]
    except (ImportError, AttributeError):
        return
    digest = _kernel_digest()

    def ours(base):
        class Locator(base):
            @classmethod
            def from_function(cls, py_func, py_file):
                if not str(Path(py_file).resolve()).startswith(str(_KERNELS)):
                    return None
                return super().from_function(py_func, py_file)

            def get_source_stamp(self):
                return digest

        Locator.__name__ = f"Neurocosim{base.__name__}"
        return Locator

    if not any(c.__name__.startswith("Neurocosim") for c in impl._locator_classes):
        impl._locator_classes[:0] = [ours(b) for b in bases]


_stamp_all_kernels()
