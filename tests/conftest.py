"""Shared network builders for the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neurocosim import ir


def chain(nodes: dict, dt: float = 1e-3, **kw) -> ir.Network:
    """A network whose nodes are connected in the dict's order."""
    names = list(nodes)
    return ir.Network(nodes=nodes, edges=tuple(zip(names[:-1], names[1:], strict=True)), dt=dt, **kw)


def all_types_network(rng: np.random.Generator) -> ir.Network:
    """Every supported node type but CubaLI, in one chain (conv front end, dense back end)."""
    r = rng.normal
    nodes = {
        "input": ir.Input(shape=(2, 8, 8)),
        "conv": ir.Conv2d(weight=r(0, 0.5, (4, 2, 3, 3)), bias=r(0, 0.1, 4), stride=1,
                          padding=(1, 1), dilation=1, groups=1),
        "lif_c": ir.LIF(tau=rng.uniform(2e-3, 5e-3, (4, 8, 8)), r=np.ones((4, 8, 8)) * 1.5,
                        v_leak=np.zeros((4, 8, 8)), v_threshold=np.full((4, 8, 8), 0.5),
                        reset="subtract", compare=">="),
        "sum": ir.SumPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)),
        "gconv": ir.Conv2d(weight=r(0, 0.5, (4, 2, 3, 3)), bias=np.zeros(4), stride=(1, 1),
                           padding="same", dilation=1, groups=2),
        "avg": ir.AvgPool2d(kernel_size=2, stride=2, padding=0),
        "flat": ir.Flatten(start_dim=0, end_dim=-1),
        "fc1": ir.Affine(weight=r(0, 0.4, (20, 16)), bias=r(0, 0.1, 20)),
        "cuba": ir.CubaLIF(tau_syn=np.full(20, 2e-3), tau_mem=np.full(20, 4e-3), r=np.ones(20),
                           v_leak=np.zeros(20), v_threshold=np.full(20, 0.2),
                           v_reset=np.zeros(20), w_in=np.full(20, 2.0)),
        "fc2": ir.Linear(weight=r(0, 0.5, (16, 20))),
        "if": ir.IF(r=np.ones(16), v_threshold=np.full(16, 0.3), reset="zero"),
        "scale": ir.Scale(scale=rng.uniform(0.5, 2.0, 16)),
        "ilif": ir.ILIF(tau=np.full(16, 2e-3), r=np.full(16, 2.0), v_leak=np.zeros(16),
                        v_threshold=np.ones(16), max_level=4),
        "fc3": ir.Affine(weight=r(0, 0.5, (10, 16)), bias=np.zeros(10)),
        "li": ir.LI(tau=np.full(10, 5e-3), r=np.ones(10), v_leak=np.zeros(10)),
        "output": ir.Output(shape=(10,)),
    }
    return chain(nodes)


def cubali_network(rng: np.random.Generator) -> ir.Network:
    nodes = {
        "input": ir.Input(shape=(6,)),
        "fc": ir.Affine(weight=rng.normal(0, 1, (3, 6)), bias=np.zeros(3)),
        "cubali": ir.CubaLI(tau_syn=np.full(3, 3e-3), tau_mem=np.full(3, 6e-3),
                            r=np.ones(3), v_leak=np.zeros(3), w_in=np.ones(3)),
        "output": ir.Output(),
    }
    return chain(nodes)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def digits_mlp():
    """A ReLU MLP trained on scikit-learn's digits: (mlp, x_train, x_test, y_test)."""
    from neurocosim.datasets import digits, digits_mlp

    xtr, xte, ytr, yte = digits(0)
    return digits_mlp(xtr, ytr, 0), xtr, xte, yte


def chip_variant(preset: str = "ideal", **changes):
    """A chip card from a preset with top-level or ``macro__field`` changes (SI values)."""
    from neurocosim.devices import chip_from_dict, load_chip

    d = load_chip(preset).to_dict()
    for k, v in changes.items():
        if k.startswith("macro__"):
            d["macro"][k[7:]] = v
        else:
            d[k] = v
    return chip_from_dict(d, strict_units=False)


def per_read(preset: str):
    """A preset card whose read noise is drawn at every read (``redraw: per_read``), for
    tests of the engine's per-read noise path (``pcm-aihwkit`` draws it per inference)."""
    from neurocosim.devices import chip_from_dict, load_chip

    d = load_chip(preset).to_dict()
    d["macro"]["read_noise"]["redraw"] = "per_read"
    return chip_from_dict(d, strict_units=False)


#: Lava tests: lava-nc 0.10 installs only on Python 3.10 (the reference interpreter, which
#: CI runs), so they run there and skip, with this reason, on 3.11+
lava_only = pytest.mark.skipif(sys.version_info[:2] != (3, 10),
                               reason="lava-nc 0.10 installs only on Python 3.10")


def side_python(tool: str, script: Path, env: str, default: str) -> Path:
    """The interpreter of ``tool``'s own environment (``{env}_PYTHON``, or the folder
    ``{env}_VENV`` / ``default`` under the repository), built by ``script`` when missing.
    When the install fails the test fails in CI (``CI`` set: a check that cannot run is a
    red run, never a silent skip) and skips elsewhere, with pip's message."""
    import os
    import subprocess

    given = os.environ.get(f"{env}_PYTHON")
    if given:
        return Path(given)
    root = Path(__file__).resolve().parents[1]
    venv = root / os.environ.get(f"{env}_VENV", default)
    if not (venv / ".ready").exists():
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                              timeout=3600, cwd=root)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            why = (f"{tool} cannot be installed here ({script.relative_to(root)}): "
                   + " | ".join(tail))
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    return venv / "bin" / "python"


def engine_equals_reference(net: ir.Network, x: np.ndarray, probes: list[str], steps: int,
                            chip):
    """Run spikes ``x`` through the reference and the Numba engine on ``chip`` (an ideal
    card; float64) and assert every probe and the output equal; (reference, engine, chip)."""
    from neurocosim import make_encoder, map_network, program_chip, simulate, simulate_reference

    enc = make_encoder("spikes", x, net.input_shape, np.random.default_rng(7))
    ref = simulate_reference(net, enc, steps, probes=probes)
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    eng = simulate(prog, enc, steps, probes=probes, rng=np.random.default_rng(1))
    for p in probes:
        assert eng.probes[p].shape == ref.probes[p].shape, p
        np.testing.assert_array_equal(eng.probes[p], ref.probes[p], err_msg=p)
    np.testing.assert_array_equal(eng.output, ref.output)
    return ref, eng, prog
