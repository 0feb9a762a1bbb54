"""Numba kernels of the cycle-level engine (small, serial, over flat typed arrays)."""
