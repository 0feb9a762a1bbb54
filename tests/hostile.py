"""Helpers shared by the hostile-input tests: NIR-layout HDF5 writing and the
"total and bounded" check of a loader (a result or one error line, within time and memory)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurocosim.errors import NeurocosimError


def write_nir_tree(path: Path, tree: dict) -> Path:
    """Write nested dicts as a NIR-layout HDF5 file (strings as HDF5 strings)."""
    import h5py

    def put(group, node):
        for k, v in node.items():
            if isinstance(v, dict):
                put(group.create_group(str(k)), v)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            else:
                group.create_dataset(k, data=v)

    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0", dtype=h5py.string_dtype())
        put(f.create_group("node"), tree)
    return path


def bounded_call(fn: Callable[[], Any], limit_s: float, limit_bytes: int) -> Any:
    """``fn()`` → its result or the NeurocosimError it raised (one line, < 1000 chars),
    asserting it took under ``limit_s`` seconds and ``limit_bytes`` of Python memory."""
    tracemalloc.start()
    t = time.perf_counter()
    try:
        try:
            out = fn()
        except NeurocosimError as exc:
            out = exc
    finally:
        elapsed = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < limit_s and peak < limit_bytes, (elapsed, peak)
    if isinstance(out, NeurocosimError):
        msg = str(out)
        assert "\n" not in msg and len(msg) < 1000, msg[:300]
    return out


def npz_declaring(path, name: str, shape: tuple, others: dict):
    """An ``.npz`` whose member ``name`` declares ``shape`` in its header, stores no data."""
    import io
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w") as z:
        for k, v in others.items():
            buf = io.BytesIO()
            np.save(buf, v)
            z.writestr(f"{k}.npy", buf.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                                   "shape": shape})
        z.writestr(f"{name}.npy", buf.getvalue())
    return path


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """``content`` (text as UTF-8, or bytes) written to ``folder / name``."""
    p = folder / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p
