"""Brian2 C++ standalone side of the benchmarks; runs in Brian2's own environment.

    bench/.venv-brian2/bin/python bench/brian2_worker.py SPEC.npz WORKDIR

SPEC is sample 0 of a network written by ``nets.save`` (``bench/nets.py``, imported by
path: plain NumPy, no neurocosim here); ``nets.to_brian2`` builds it. One thread, compile
time excluded, the binary run three times (best kept, with its CPU time: the binary is a
child process). Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nets  # noqa: E402  (bench/nets.py)


def main(spec_path: str, workdir: str) -> None:
    import brian2 as b2

    net = nets.load(Path(spec_path))
    steps = net.x.shape[1]
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.defaultclock.dt = nets.DT * b2.second
    objs, monitors = nets.to_brian2(b2, net)
    network = b2.Network(*objs)
    network.schedule = nets.BRIAN2_SCHEDULE
    network.run(steps * nets.DT * b2.second, namespace={})
    t0 = time.perf_counter()
    b2.device.build(directory=workdir, compile=True, run=False)
    compile_s = time.perf_counter() - t0
    walls, loops, cpus = [], [], []
    for _ in range(3):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        b2.device.run(directory=workdir)
        walls.append(time.perf_counter() - t0)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime)
        loops.append(float(getattr(b2.device, "_last_run_time", float("nan"))))
    counts = [int(m.num_spikes) for m in monitors]
    best = walls.index(min(walls))
    print(json.dumps({"wall": walls[best], "cpu": cpus[best], "walls": walls, "loop": min(loops),
                      "compile": compile_s, "counts": counts, "version": b2.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
