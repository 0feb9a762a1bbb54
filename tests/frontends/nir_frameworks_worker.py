"""neurocosim's NIR files run in snnTorch and Norse, inside the torch environment.

``python nir_frameworks_worker.py SPEC.json OUT_DIR`` (run by
``tests/frontends/test_nir_to_frameworks.py`` in ``.venv-torch``). SPEC's ``files`` maps a
name to its ``dt``; OUT_DIR holds ``{name}.nir`` and its input ``{name}.npy`` (samples,
steps, *S); ``frameworks.json`` gets, per file, the output spike counts per sample from
snnTorch's ``import_from_nir`` (or its error), from neurocosim's work-around
``snntorch_from_nir`` and from Norse's ``from_nir`` (or its error).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _steps(module, x: torch.Tensor) -> np.ndarray:
    """``x`` (samples, steps, *S) through a one-step snnTorch module (its neurons hold
    their state); output spikes summed over the steps."""
    total = 0
    with torch.no_grad():
        for t in range(x.shape[1]):
            y = module(x[:, t])
            total = total + (y[0] if isinstance(y, tuple) else y)
    return total.numpy()


def frameworks(spec: dict, out: Path) -> None:
    """Each NIR file of ``spec["files"]`` with its input ``{name}.npy``: output spike
    counts from snnTorch's ``import_from_nir`` (or its error), from
    ``snntorch_from_nir`` (neurocosim's IF work-around) and from Norse's ``from_nir``."""
    import nir
    import norse.torch as norse
    from snntorch import import_nir, utils

    from neurocosim.frontends.torch.snntorch_nir import snntorch_from_nir

    res = {}
    for name, dt in spec["files"].items():
        x = torch.from_numpy(np.load(out / f"{name}.npy")).float()
        path = out / f"{name}.nir"
        got = {}
        for key, build in (("snntorch", lambda p: import_nir.import_from_nir(nir.read(p))),
                           ("snntorch_fixed", snntorch_from_nir)):
            try:
                module = build(path)
                utils.reset(module)
                got[key] = _steps(module, x).tolist()
            except Exception as exc:  # noqa: BLE001 - recorded: the test checks it
                got[key] = f"{type(exc).__name__}: {exc}"
        try:
            module = norse.from_nir(nir.read(path), dt=dt)
            state, total = None, 0
            with torch.no_grad():
                for t in range(x.shape[1]):
                    y, state = module(x[:, t], state)
                    total = total + y
            got["norse"] = total.numpy().tolist()
        except Exception as exc:  # noqa: BLE001 - recorded: the test checks it
            got["norse"] = f"{type(exc).__name__}: {exc}"
        res[name] = got
    (out / "frameworks.json").write_text(json.dumps(res))


if __name__ == "__main__":
    t0 = time.perf_counter()
    frameworks(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    print(f"frameworks: {time.perf_counter() - t0:.1f} s")
