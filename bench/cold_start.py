"""Cold start of hwsim: the first ``neurocosim.simulate`` call of a fresh process on W1.

    NUMBA_CACHE_DIR=/tmp/empty .venv/bin/python bench/cold_start.py [--steps 20] [--precision float32]

Run by bench_engine.py twice per precision in fresh processes sharing one ``NUMBA_CACHE_DIR``
that starts empty: the first process compiles (cold), the second loads the now-filled
cache. Times, in this process: ``import`` (``import neurocosim``), ``prepare`` (W1 built,
mapped and programmed on the ``ideal`` card), ``first`` (the first ``simulate`` call,
tables built inside it, compilation included; ``first_cpu`` its CPU time), ``second`` (the
same call again: what is left when nothing compiles). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--precision", default=None, help="passed to simulate when given")
    a = ap.parse_args()
    t_proc = time.perf_counter()
    import nets
    import numpy as np

    t = time.perf_counter()
    import neurocosim as nc
    from neurocosim.hwsim.encoders import SpikeEncoder

    out = {"import": time.perf_counter() - t}
    t = time.perf_counter()
    wl = nets.workload("W1", a.steps)
    net = nets.to_ir(wl)
    mapped = nc.map_network(net, nc.load_chip("ideal"), placement="sequential")
    prog = nc.program_chip(mapped, np.random.default_rng(0))
    dtype = np.float32 if a.precision == "float32" else np.float64
    enc = SpikeEncoder(wl.x[:1].astype(dtype))
    kw = {} if a.precision is None else {"precision": a.precision}
    out["prepare"] = time.perf_counter() - t
    for key in ("first", "second"):
        t, c = time.perf_counter(), time.process_time()
        res = nc.simulate(prog, enc, a.steps, rng=np.random.default_rng(3), batch_size=1, **kw)
        out[key], out[f"{key}_cpu"] = time.perf_counter() - t, time.process_time() - c
    by = res.counts.by_layer()
    out["spikes"] = int(sum(by[n]["spikes"] for n in wl.layers))
    out["process"] = time.perf_counter() - t_proc
    print(json.dumps(out))


if __name__ == "__main__":
    main()
