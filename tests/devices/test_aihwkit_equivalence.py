"""The ``pcm-aihwkit`` preset against IBM aihwkit's own ``PCMLikeNoiseModel``.

aihwkit runs in its own environment (``.venv-aihwkit``: CPython 3.10, aihwkit 1.0.0,
torch; built by ``tests/devices/aihwkit_env.sh``, or named by ``AIHWKIT_PYTHON``) as a
subprocess (``aihwkit_worker.py``), the way ``bench/nets.py`` runs Brian2 (``AIHWKIT_VENV``
names another folder, relative to the repository or absolute). When the
environment is missing the test builds it; it skips, with pip's reason, only when the
wheel cannot be installed here.

Both sides program N = 20,000 devices at each of five targets and read them 25 s, 1 h and
1 day after programming. Bound: every mean and standard deviation of g agrees within
``Z_MAX`` = 4.5 standard errors of the difference, the errors of both samples added
(mean: s²/n; standard deviation: s²(κ − 1)/(4n) with κ each sample's kurtosis, the
large-sample variance of a sample σ for any distribution). With 30 comparisons, the
union bound puts the chance that a correct model fails below 30 · P(|Z| > 4.5) ≈ 2·10⁻⁴
(independence is not needed: each time reads the same devices, as in aihwkit); the same bound rejects the preset as it was (read noise without the time factor,
ν ~ N(0.06, 0.02)) by a wide margin (tested below), so it is not too loose to fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.devices.crossbar import EncodedTile, at_inference, drifted, program_tile
from neurocosim.devices.noise import READ_NOISE
from tests.conftest import chip_variant, side_python

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS_US = (0.5, 2.5, 8.0, 16.0, 25.0)
TIMES_S = (25.0, 3600.0, 86400.0)
N = 20_000
Z_MAX = 4.5


def _aihwkit_python() -> Path:
    """aihwkit's interpreter (built when missing; skip only when pip cannot install)."""
    return side_python("aihwkit", HERE / "aihwkit_env.sh", "AIHWKIT", ".venv-aihwkit")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    py = _aihwkit_python()
    d = tmp_path_factory.mktemp("aihwkit")
    spec, out = d / "spec.json", d / "out.json"
    spec.write_text(json.dumps({"targets_uS": TARGETS_US, "times_s": TIMES_S, "n": N,
                                "seed": 20240611}))
    proc = subprocess.run([str(py), str(HERE / "aihwkit_worker.py"), str(spec), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = json.loads(out.read_text())
    return {(r["target_uS"], r["t_s"]): r for r in ref["rows"]} | {"meta": ref["meta"]}


def _stats(g: np.ndarray) -> dict:
    d = g - g.mean()
    m2 = float((d**2).mean())
    return {"n": g.size, "mean": float(g.mean()), "std": float(g.std(ddof=1)),
            "kurt": float((d**4).mean() / m2**2)}


def ours(chip, seed: int = 3) -> dict:
    """Device statistics of ``chip``'s macro in uS, by the preset's own code path: one
    programmed tile (N cells per target), one inference per read time."""
    per_row = 250
    rows_per_target = N // per_row
    g_t = np.repeat(np.asarray(TARGETS_US) * 1e-6, rows_per_target)[:, None]
    g_t = np.broadcast_to(g_t, (g_t.shape[0], per_row)).copy()
    enc = EncodedTile(g_target=g_t, mapping="differential", n_out=1, w_max=1.0,
                      col_weights=np.zeros((per_row, 1)))
    macro = _with_tile(chip, g_t.shape).macro
    tile = program_tile(enc, macro, np.random.default_rng(seed))
    out = {}
    for t in TIMES_S:
        g = drifted(at_inference(tile, macro, t), t)
        if macro.read_noise.redraw == "per_read":  # one read of the drifted cells
            sig = READ_NOISE[macro.read_noise.model].sigma(g, macro.resolved("read"))
            g = g + sig * np.random.default_rng(seed + int(t)).standard_normal(g.shape)
        for k, target in enumerate(TARGETS_US):
            cells = g[k * rows_per_target:(k + 1) * rows_per_target].ravel() * 1e6
            out[(target, t)] = _stats(cells)
    return out


def _with_tile(chip, shape):
    """``chip`` with a tile large enough for the test's cells."""
    d = chip.to_dict()
    d["macro"]["rows"], d["macro"]["cols"] = int(shape[0]), int(shape[1])
    d["macro"]["adcs_per_tile"] = 1
    return chip_from_dict(d, strict_units=False)


def z_scores(a: dict, b: dict) -> tuple[float, float]:
    """(z of the means, z of the standard deviations) of two samples' statistics."""
    se_m = np.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    se_s = np.sqrt(sum(s["std"] ** 2 * (s["kurt"] - 1) / (4 * s["n"]) for s in (a, b)))
    return (a["mean"] - b["mean"]) / se_m, (a["std"] - b["std"]) / se_s


def _table(ref: dict, mine: dict) -> tuple[list[str], float]:
    lines, worst = [], 0.0
    for target in TARGETS_US:
        for t in TIMES_S:
            r, m = ref[(target, t)], mine[(target, t)]
            zm, zs = z_scores(m, r)
            worst = max(worst, abs(zm), abs(zs))
            lines.append(f"g_T {target:5.1f} uS t {t:8.0f} s: mean {m['mean']:.4f} vs "
                         f"aihwkit {r['mean']:.4f} (z {zm:+.2f}); std {m['std']:.4f} vs "
                         f"{r['std']:.4f} (z {zs:+.2f})")
    return lines, worst


def test_preset_equals_aihwkit(reference):
    assert reference["meta"]["aihwkit"].startswith("1."), reference["meta"]
    lines, worst = _table(reference, ours(load_chip("pcm-aihwkit")))
    print("\n".join(lines))
    assert worst <= Z_MAX, "\n".join(lines)


def test_the_bound_rejects_the_old_preset(reference):
    """Read noise drawn per read without the time factor and ν ~ N(0.06, 0.02): the
    preset as it was must fail the same comparison."""
    old = chip_variant(
        "pcm-aihwkit",
        macro__read_noise={"model": "pcm_aihwkit", "params": {"q_s": 0.0088, "q_max": 0.2,
                                                              "g_max": "25 uS"}},
        macro__drift={"model": "power_law",
                      "params": {"nu_mean": 0.06, "nu_std": 0.02, "t0": "20 s"}})
    _, worst = _table(reference, ours(old))
    assert worst > 5 * Z_MAX


def test_worker_reports_aihwkits_defaults(reference):
    meta = reference["meta"]
    assert (meta["t0"], meta["t_read"]) == (20.0, 2.5e-07)
    assert meta["prog_coeff"] == [0.26348, 1.965, -1.1731]
