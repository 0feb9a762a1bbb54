"""Brian2 C++ standalone side of bench_engine.py; runs in Brian2's own environment.

    bench/.venv-brian2/bin/python bench/brian2_worker.py SPEC.npz WORKDIR

SPEC holds the layers' weights ``w0..`` (``(n_out, n_in)``), optional ``w_rec`` (the last
layer onto itself), the input spikes (``times``, ``idx``), ``steps``, ``dt``, ``decay``
(1: IF), ``ge`` (``v >= 1`` else ``v > 1``) and ``shift`` (input without synaptic delay).
Per step, in this order: ``v ← decay·v`` (``run_regularly`` in the ``groups`` slot), the
synapses add the weights of the previous step's spikes, threshold, reset to 0 — the
equations and the one-step delay of the other engines (with ``shift`` the input times
move one step earlier, so the input arrives in its own step). One thread, compile time
excluded, the binary run three times (best kept, with its CPU time: the binary is a
child process). Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np


def main(spec_path: str, workdir: str) -> None:
    import brian2 as b2

    spec = np.load(spec_path)
    steps, dt = int(spec["steps"]), float(spec["dt"])
    decay, ge, shift = float(spec["decay"]), bool(spec["ge"]), bool(spec["shift"])
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.defaultclock.dt = dt * b2.second
    times = spec["times"] - (1 if shift else 0)
    keep = times >= 0
    prev = b2.SpikeGeneratorGroup(int(spec["n_in"]), spec["idx"][keep],
                                  times[keep] * dt * b2.second)
    objs, monitors, groups = [prev], [], []
    for k in range(int(spec["n_layers"])):
        w = spec[f"w{k}"]
        g = b2.NeuronGroup(w.shape[0], "v : 1", threshold="v >= 1" if ge else "v > 1",
                           reset="v = 0", name=f"g{k}")
        if decay != 1.0:
            g.run_regularly(f"v = {decay!r} * v", when="groups")
        post, pre = np.nonzero(w)
        s = b2.Synapses(prev, g, "w : 1", on_pre="v_post += w", name=f"s{k}")
        s.connect(i=pre, j=post)
        s.w = w[post, pre]
        m = b2.SpikeMonitor(g, record=False)
        objs += [g, s, m]
        monitors.append(m)
        groups.append(g)
        prev = g
    if "w_rec" in spec:
        post, pre = np.nonzero(spec["w_rec"])
        r = b2.Synapses(groups[-1], groups[-1], "w : 1", on_pre="v_post += w", name="rec")
        r.connect(i=pre, j=post)
        r.w = spec["w_rec"][post, pre]
        objs.append(r)
    net = b2.Network(*objs)
    net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
    net.run(steps * dt * b2.second, namespace={})
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
