"""Benchmark: time to map dense networks of 10^4 ... 10^7 synapses (run by hand).

    .venv/bin/python bench/bench_mapping.py            # writes bench/results/mapping.md

Four dense layers of equal width on a chip of 256×256 PCM tiles (8 per core), uniform
rates, Mt-KaHyPar placement (one thread). Reported: wall time of ``map_network`` (best
of three for the small cases), tiles, cores and the packet ratio against the sequential
baseline.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurocosim import network_from_weights  # noqa: E402
from neurocosim.devices import chip_from_dict, load_chip  # noqa: E402
from neurocosim.mapping import map_network  # noqa: E402


def chip():
    d = load_chip("pcm-aihwkit").to_dict()
    d.update(name="pcm-bench", cores=4096, max_fan_in=1 << 16, max_fan_out=4096)
    return chip_from_dict(d)


def main() -> None:
    rng = np.random.default_rng(0)
    card = chip()
    rows = []
    for target in (1e4, 1e5, 1e6, 1e7):
        width = int(round(np.sqrt(target / 4)))
        ws = [rng.normal(size=(width, width)).astype(np.float64) for _ in range(4)]
        net = network_from_weights(ws, dt=1e-3, neuron="IF")
        reps = 3 if target <= 1e6 else 1
        best = np.inf
        for _ in range(reps):
            t0 = time.perf_counter()
            mapped = map_network(net, card)
            best = min(best, time.perf_counter() - t0)
        rep = mapped.report
        ratio = (rep.inter_core_packets / rep.baseline_inter_core_packets
                 if rep.baseline_inter_core_packets else 1.0)
        rows.append((net.n_synapses(), width, best, rep.tiles, rep.cores, ratio))
        print(f"{net.n_synapses():>10} synapses: {best:.2f} s, {rep.tiles} tiles, {rep.cores} cores")
    out = Path(__file__).parent / "results" / "mapping.md"
    lines = [
        "# map_network time (bench/bench_mapping.py)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}. Four dense layers, chip of 256×256 tiles, 8 tiles/core.",
        "",
        "| synapses | width | map time (s) | tiles | cores | packets / sequential |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {s:,} | {w} | {t:.2f} | {ti} | {c} | {r:.2f} |" for s, w, t, ti, c, r in rows]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
