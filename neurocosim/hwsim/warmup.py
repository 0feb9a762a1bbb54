"""Compile the cycle-level engine into Numba's on-disk cache before the first simulation.

Compiling the engine's kernels takes 15–20 s per precision on a 2-core machine (Numba
types, lowers and optimises the whole kernel tree at the first call); once cached, a new
process loads them in about 0.3 s. Every chip and network gives the engine's records the
same Numba types (a test checks it), so simulating one tiny network per precision
compiles everything a user's run needs. ``make`` runs this once after installing
(``python -m neurocosim.hwsim.warmup``), so a user's first simulation starts at once.
"""

from __future__ import annotations

import sys
import time

import numpy as np

__all__ = ["compile_engine"]


def compile_engine(precisions: tuple[str, ...] = ("float64", "float32")) -> dict[str, float]:
    """Simulate a tiny network on the ideal card in each precision; returns the seconds
    each took (the compile time on a cold cache, ~0.3 s on a warm one)."""
    from .. import ir
    from ..devices import load_chip
    from ..devices.program import program_chip
    from ..mapping import map_network
    from .encoders import make_encoder
    from .simulator import simulate

    net = ir.Network(
        nodes={"in": ir.Input(shape=(4,)),
               "fc": ir.Affine(weight=np.full((3, 4), 0.5), bias=np.zeros(3)),
               "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
               "out": ir.Output()},
        edges=(("in", "fc"), ("fc", "lif"), ("lif", "out")), dt=1e-3, name="warmup")
    prog = program_chip(map_network(net, load_chip("ideal")), np.random.default_rng(0))
    enc = make_encoder("spikes", np.ones((1, 2, 4)), (4,))
    took = {}
    for p in precisions:
        t0 = time.perf_counter()
        simulate(prog, enc, 2, precision=p, rng=np.random.default_rng(0))
        took[p] = time.perf_counter() - t0
    return took


def main() -> int:
    took = compile_engine()
    print("neurocosim: engine kernels compiled and cached ("
          + ", ".join(f"{p} {s:.1f} s" for p, s in took.items()) + ")", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
