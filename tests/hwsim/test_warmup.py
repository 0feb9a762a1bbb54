"""The warm-up (``make`` compiles the engine once after installing) covers what real runs
need: after it, no simulation compiles the driver again."""

import numpy as np

from neurocosim.hwsim import simulate
from neurocosim.hwsim.kernels.driver import run_group
from neurocosim.hwsim.warmup import compile_engine
from tests.hwsim.test_engine import noisy_mlp


def test_warmup_compiles_the_signature_every_run_uses(rng):
    took = compile_engine()
    assert set(took) == {"float64", "float32"}
    before = set(run_group.signatures)
    assert len(before) == 2  # one per precision
    _, prog, enc = noisy_mlp(rng, n_samples=8)  # read noise, ADCs, calibrated ranges
    for precision in ("float64", "float32"):
        res = simulate(prog, enc, 12, rng=np.random.default_rng(1), precision=precision,
                       probes=["lif1", "lif2.v"], early_stop="margin:4@5", batch_size=3)
        assert res.output.sum() > 0
    assert set(run_group.signatures) == before
