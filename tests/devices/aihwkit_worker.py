"""Reference statistics from IBM aihwkit itself (run in aihwkit's own environment).

``python aihwkit_worker.py SPEC.json OUT.json``: SPEC holds ``targets_uS``, ``times_s``,
``n`` and ``seed``. For each target, ``n`` devices are programmed with aihwkit's
``PCMLikeNoiseModel`` (g_max = 25 uS, its defaults: t0 = 20 s, t_read = 250 ns), their
drift exponents drawn from the target, and the population read at every time
(``t_inference``, seconds after programming) through the model's own methods. OUT holds,
per target and time, the mean, standard deviation and kurtosis of g in uS.
"""

import json
import sys


def main(spec_path: str, out_path: str) -> None:
    import aihwkit
    import torch
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    spec = json.loads(open(spec_path).read())
    torch.manual_seed(int(spec["seed"]))
    model = PCMLikeNoiseModel(g_max=25.0)
    rows = []
    for g_t in spec["targets_uS"]:
        target = torch.full((int(spec["n"]),), float(g_t), dtype=torch.float64)
        g_prog = model.apply_programming_noise_to_conductance(target)
        nu = model.generate_drift_coefficients(target)
        for t in spec["times_s"]:
            g = model.apply_drift_noise_to_conductance(g_prog, nu, float(t)).double()
            m = g.mean()
            d = g - m
            m2 = (d**2).mean()
            rows.append({"target_uS": g_t, "t_s": t, "n": g.numel(), "mean": float(m),
                         "std": float(g.std()), "kurt": float((d**4).mean() / m2**2),
                         "nu_mean": float(nu.mean()), "nu_std": float(nu.std())})
    meta = {"aihwkit": aihwkit.__version__, "torch": torch.__version__,
            "t0": model.t_0, "t_read": model.t_read, "prog_coeff": model.prog_coeff}
    with open(out_path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
