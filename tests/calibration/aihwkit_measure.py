"""PCM measurements made by IBM aihwkit itself (run in aihwkit's own environment).

``python aihwkit_measure.py SPEC.json OUT.csv``: SPEC holds ``targets_uS`` (one target
per cell), ``times_s``, ``reads`` and ``seed``. Each cell is programmed once with
aihwkit's ``PCMLikeNoiseModel`` (g_max = 25 uS, its defaults), its drift exponent drawn
from its target, and read ``reads`` times at every time through the model's own
``apply_drift_noise_to_conductance`` (each call one draw of the accumulated read noise).
The CSV is written the way a lab might write it — its own column names, microsiemens —
``cell_id,g_target_uS,g_uS,time_s,rep``.
"""

import json
import sys


def main(spec_path: str, out_path: str) -> None:
    import numpy as np
    import torch
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    spec = json.loads(open(spec_path).read())
    torch.manual_seed(int(spec["seed"]))
    model = PCMLikeNoiseModel(g_max=25.0)
    target = torch.tensor(spec["targets_uS"], dtype=torch.float64)
    g_prog = model.apply_programming_noise_to_conductance(target)
    nu = model.generate_drift_coefficients(target)
    n = target.numel()
    blocks = []
    for t in spec["times_s"]:
        for r in range(int(spec["reads"])):
            g = model.apply_drift_noise_to_conductance(g_prog, nu, float(t)).double().numpy()
            blocks.append(np.stack([np.arange(n), target.numpy(), g, np.full(n, float(t)),
                                    np.full(n, r)], axis=1))
    rows = np.concatenate(blocks)
    with open(out_path, "w") as fh:
        fh.write("cell_id,g_target_uS,g_uS,time_s,rep\n")
        np.savetxt(fh, rows, fmt=["%d", "%.17g", "%.17g", "%.17g", "%d"], delimiter=",")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
