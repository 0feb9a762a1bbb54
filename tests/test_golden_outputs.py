"""Every CLI output file of the digits flow on a fixed seed equals the recorded golden
(apart from timings), so restructuring the code cannot silently change a result.

The flow: convert (.skops MLP) → simulate (reference) → map → simulate --chip with early
stop → energy (run folder, and analytical) → device → calibrate → prune → sweep → deploy
(export; Lava itself is exercised by the Lava tests). Each output file is reduced to a
digest of its *content*: JSON without timing fields, ``.npz`` array by array (zip
archives carry write times), NIR/netx HDF5 dataset by dataset, text files byte for byte.
PNG files are compared byte for byte when matplotlib is the version the goldens were
recorded with (rendering may legitimately change between matplotlib releases); with
another version each PNG must still decode to the recorded pixel size.

Regenerate the goldens (only when a change of results is intended, and say so in the
commit): ``python tests/test_golden_outputs.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("data") / "golden_digits.json"
# timings, and the sweep's study hash (it covers the run folder's absolute paths)
TIMING_KEYS = {"wall_s", "lava_wall_s", "hwsim_wall_s", "speedup", "hash"}
# the marker holds sha256 of files whose bytes carry write times; the sweep's lock files
SKIP_PREFIX = ".neurocosim"


def _canon(obj):
    if isinstance(obj, dict):
        return {k: _canon(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_canon(v) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.12g}")  # last-bit noise of the float formatting only
    return obj


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _array_digest(a: np.ndarray) -> str:
    a = np.asarray(a)
    if a.dtype.kind == "O":  # h5py strings: the values, not the object pointers
        return _h(repr([v.decode() if isinstance(v, bytes) else v for v in a.ravel()]).encode()
                  + str(a.shape).encode())
    return _h(f"{a.dtype.str}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())


def _hdf5_digest(path: Path) -> str:
    import h5py

    parts = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                v = obj[()]
                parts.append(name + ":" + (_h(v) if isinstance(v, bytes) else
                                           _array_digest(np.asarray(v))))
        f.visititems(visit)
        parts += [f"@{k}={f.attrs[k]!r}" for k in sorted(f.attrs)]
    return _h("\n".join(sorted(parts)).encode())


def digest(path: Path, root: Path) -> str | dict:
    """Content digest of one output file; the run's folder ``root`` is written as ROOT."""
    suffix = path.suffix
    if suffix == ".json":
        text = path.read_text().replace(str(root), "ROOT")
        return _h(json.dumps(_canon(json.loads(text)), sort_keys=True).encode())
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: _array_digest(z[k]) for k in sorted(z.files)}
    if suffix in (".nir", ".net"):
        return _hdf5_digest(path)
    if suffix == ".png":
        import matplotlib
        import matplotlib.image

        shape = list(matplotlib.image.imread(path).shape)
        return {"bytes": _h(path.read_bytes()), "shape": shape,
                "matplotlib": matplotlib.__version__}
    return _h(path.read_bytes())


def run_flow(root: Path) -> dict[str, str | dict]:
    """Run the digits flow through the CLI in ``root``; digests of every output file."""
    import skops.io
    import yaml

    from neurocosim.calibration.fit import synthetic_measurements, write_measurements
    from neurocosim.cli import main
    from neurocosim.datasets import digits
    from neurocosim.devices import load_chip

    def cli(*argv: str) -> None:
        code = main(list(argv))
        assert code == 0, f"neurocosim {' '.join(argv)} exited {code}"

    from sklearn.neural_network import MLPClassifier

    xtr, xte, ytr, yte = digits(0)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0).fit(xtr, ytr)
    inp, out = root / "in", root / "out"
    inp.mkdir()
    skops.io.dump(mlp, inp / "mlp.skops")
    np.savez(inp / "train.npz", x=xtr[:300], y=ytr[:300])
    np.savez(inp / "test.npz", x=xte[:60], y=yte[:60])
    model = str(out / "digits.nir")
    cli("convert", str(inp / "mlp.skops"), "--data", str(inp / "train.npz"), "-o", model)
    cli("simulate", model, "--steps", "16", "--data", str(inp / "test.npz"), "--json",
        str(out / "simulate.json"), "-q")
    cli("map", model, "--chip", "prime-rram-40nm", "--data", str(inp / "train.npz"),
        "--steps", "8", "-o", str(out / "mapping"))
    run = out / "run"
    cli("simulate", model, "--chip", "prime-rram-40nm", "--data", str(inp / "test.npz"),
        "--steps", "16", "--encoding", "rate", "--early-stop", "confidence:0.8:2",
        "--adc-calibration", "16", "--seed", "3", "-o", str(run), "-q")
    cli("energy", str(run))
    cli("energy", model, "--chip", "pcm-aihwkit", "--rate", "0.1", "--steps", "16", "-o",
        str(out / "analytical"))
    cli("device", "pcm-aihwkit", "--cells", "20000", "--times", "1h,1d", "--json",
        str(out / "device.json"), "--plot", str(out / "device.png"))
    macro = load_chip("pcm-aihwkit").macro
    targets = np.random.default_rng(0).uniform(macro.g_min, macro.g_max, 800)
    meas = synthetic_measurements(macro, targets, [20.0, 3600.0], 2, np.random.default_rng(1))
    write_measurements(meas, inp / "meas.csv")
    cli("calibrate", str(inp / "meas.csv"), "--model", "pcm_aihwkit", "-o",
        str(out / "fitted.yaml"), "--bootstrap", "10", "-q")
    cli("prune", "random:64-32-10", "--chip", "prime-rram-40nm", "--data",
        str(inp / "train.npz"), "--test", str(inp / "test.npz"), "--epochs", "2", "--steps",
        "8", "--seed", "0", "-o", str(out / "prune"), "-q")
    study = {"name": "g", "model": model, "data": str(inp / "test.npz"), "samples": 30,
             "chip": "prime-rram-40nm", "simulation": {"steps": 8, "adc_calibration": 8},
             "grid": {"macro.programming_noise.params.percent": [0, 20]}, "seeds": [0],
             "metrics": ["accuracy", "mean_steps", "energy_per_inference_J"]}
    (inp / "study.yaml").write_text(yaml.safe_dump(study))
    cli("sweep", str(inp / "study.yaml"), "-o", str(out / "sweep"), "--workers", "1", "-q")
    try:
        import lava  # noqa: F401
        cli("deploy", model, "-o", str(out / "deploy"))
    except ImportError:  # pragma: no cover - Lava needs Python 3.10 (CI has it)
        pass
    return {p.relative_to(out).as_posix(): digest(p, root) for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(SKIP_PREFIX)}


def _compare(got: dict, want: dict) -> list[str]:
    import matplotlib

    bad = []
    for name in sorted(set(got) | set(want)):
        g, w = got.get(name), want.get(name)
        if g is None or w is None:
            if not name.startswith("deploy/") or "lava" in sys.modules:
                bad.append(f"{name}: {'missing' if g is None else 'new file'}")
            continue
        if isinstance(w, dict) and "matplotlib" in w:
            same_mpl = w["matplotlib"] == matplotlib.__version__
            if g["shape"] != w["shape"] or (same_mpl and g["bytes"] != w["bytes"]):
                bad.append(f"{name}: figure differs")
        elif g != w:
            bad.append(f"{name}: content differs")
    return bad


def test_digits_flow_outputs_equal_the_goldens(tmp_path):
    want = json.loads(GOLDEN.read_text())
    got = run_flow(tmp_path)
    assert len(got) >= 30
    assert not _compare(got, want), _compare(got, want)


if __name__ == "__main__":  # python tests/test_golden_outputs.py --write
    import tempfile

    assert sys.argv[1:] == ["--write"], "usage: python tests/test_golden_outputs.py --write"
    with tempfile.TemporaryDirectory() as d:
        result = run_flow(Path(d))
    GOLDEN.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} ({len(result)} files)")
