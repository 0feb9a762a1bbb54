"""Run lava-dl netx files in Lava's fixed-point CPU simulator (inside .venv-lavadl).

Usage: ``python lavadl_worker.py SPEC.json OUT.npz``. SPEC: ``{"jobs": [{"net": path,
"spikes": path to .npy (n_in, steps) int, "key": name}]}``. For every job the file is
loaded with ``lava.lib.dl.netx.hdf5.Network(net_config=path)``, the spikes are injected
through a ``RingBuffer`` into ``Network.inp`` and every layer's spikes are recorded;
OUT gets ``<key>/<layer index>`` arrays (n_out, steps) and ``<key>/table`` (lava-dl's
layer table). Runs without neurocosim (its own interpreter and packages).
"""

import json
import sys

import numpy as np
from lava.lib.dl.netx.hdf5 import Network
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source


def run(job: dict) -> dict:
    data = np.load(job["spikes"]).astype(np.int32)
    steps = data.shape[1]
    net = Network(net_config=job["net"])
    src = Source(data=data)
    src.s_out.connect(net.inp)
    sinks = []
    for block in net.layers:
        sink = Sink(shape=block.out.shape, buffer=steps)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = {f"{job['key']}/{k}": np.asarray(s.data.get()).astype(np.int8)
               for k, s in enumerate(sinks)}
    finally:
        net.stop()
    got[f"{job['key']}/table"] = np.array(str(net))
    return got


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    out = {}
    for job in spec["jobs"]:
        out.update(run(job))
    np.savez(sys.argv[2], **out)


if __name__ == "__main__":
    main()
