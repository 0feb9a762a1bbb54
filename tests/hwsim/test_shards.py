"""One simulation's samples sharded over Dask (``simulate(executor=...)``, ``simulate --chip
--dask``), and the engine precision (``precision=``, ``--precision``).

Dask runs on one LocalCluster of two worker processes shared by the module (the CLI's
``--dask local`` starts its own)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurocosim import (
    ir,
    load_chip,
    load_network,
    make_encoder,
    map_network,
    network_from_weights,
    program_chip,
    save_network,
    simulate,
)
from neurocosim.cli import main
from neurocosim.errors import ConfigError, DataError, SimulationError
from neurocosim.hwsim.tables import build_tables
from tests.conftest import chain
from tests.hwsim.test_engine import assert_same_run, noisy_mlp


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def noisy():
    return noisy_mlp(np.random.default_rng(1234))


class Spy:
    """A client that records what each scatter and submit sends."""

    def __init__(self, client):
        self.client, self.scattered, self.submitted = client, [], []

    def scatter(self, data, **kw):
        self.scattered.append((type(data).__name__, kw))
        return self.client.scatter(data, **kw)

    def submit(self, fn, *args, **kw):
        self.submitted.append([type(a).__name__ for a in args])
        return self.client.submit(fn, *args, **kw)

    def __getattr__(self, name):
        return getattr(self.client, name)


# -- sharding ---------------------------------------------------------------------------
def test_dask_equals_the_local_run_bit_for_bit(client, noisy, capsys):
    """96 samples of a noisy chip with ADCs, early stop and probes, in 14 tasks of 7 (more
    than the 4 kept in flight): every output, counter and probe equal to the local run;
    the tables go out once (broadcast), each task carries only its range and states."""
    net, prog, enc = noisy
    kw = dict(probes=["lif1", "lif2.v", "out_n"], early_stop="margin:4@10", batch_size=7)
    here = simulate(prog, enc, 40, rng=np.random.default_rng(9), **kw)
    spy = Spy(client)
    there = simulate(prog, enc, 40, rng=np.random.default_rng(9), executor=spy, progress=True,
                     **kw)
    assert_same_run(here, there)
    assert here.steps_used.min() < here.steps_used.max()  # samples stop at different steps
    assert there.options["executor"] == "dask" and here.options["executor"] == "local"
    assert spy.scattered == [("ChunkJob", {"broadcast": True, "hash": False})]
    assert len(spy.submitted) == 14
    assert all(kinds == ["Future", "int", "int", "ndarray", "int"] for kinds in spy.submitted)
    assert "14/14" in capsys.readouterr().err  # the progress bar saw every task
    other = simulate(prog, enc, 40, rng=np.random.default_rng(10), executor=client, **kw)
    assert not np.array_equal(other.probes["lif2.v"], there.probes["lif2.v"])


def test_a_worker_error_is_the_local_one_line_error(client, rng):
    net = chain({"in": ir.Input(shape=(3,)), "fc": ir.Linear(weight=np.ones((2, 3))),
                 "if": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()})
    prog = program_chip(map_network(net, load_chip("prime-rram-40nm")), rng)
    enc = make_encoder("current", np.full((20, 3), 0.4), (3,))
    errors = []
    for executor in (None, client):  # the DAC refuses analog input
        with pytest.raises(SimulationError, match="layer 'fc' receives a non-binary") as e:
            simulate(prog, enc, 3, rng=np.random.default_rng(0), batch_size=4,
                     executor=executor)
        errors.append(str(e.value))
    spikes = make_encoder("spikes", np.ones((8, 2, 3)), (3,))
    for executor in (None, client):  # an encoder error raised on a worker keeps its class
        with pytest.raises(DataError, match="hold 2 steps, 3 were asked") as e:
            simulate(prog, spikes, 3, rng=np.random.default_rng(0), executor=executor)
        errors.append(str(e.value))
    assert errors[0] == errors[1] and errors[2] == errors[3]
    assert all("\n" not in m for m in errors)
    with pytest.raises(SimulationError, match="executor: .* not a dask.distributed Client"):
        simulate(prog, spikes, 2, executor=object())


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A 64-48-10 IF network and 80 labelled binary samples."""
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("cli")
    net = network_from_weights([rng.normal(0.02, 0.3, (48, 64)), rng.normal(-0.05, 0.5, (10, 48))],
                               dt=1e-3, neuron="IF", reset="subtract")
    model = save_network(net, folder / "m.nir")
    np.savez(folder / "d.npz", x=(rng.random((80, 64)) < 0.4).astype(float),
             y=rng.integers(0, 10, 80))
    # the ADC ranges are calibrated on other samples, so that all 80 are scored
    np.savez(folder / "cal.npz", x=(rng.random((64, 64)) < 0.4).astype(float))
    return folder, str(model), str(folder / "d.npz")


def chip_run(cli_files, name: str, *extra: str) -> tuple[int, object]:
    folder, model, data = cli_files
    out = folder / name
    code = main(["simulate", model, "--chip", "pcm-aihwkit", "--data", data, "--steps", "30",
                 "--encoding", "rate", "--early-stop", "margin:3@5", "--batch-size", "16",
                 "--seed", "4", "-o", str(out), "-q", "--calibration-data", str(folder / "cal.npz"),
                 *extra])
    return code, out


def test_cli_dask_local_equals_the_plain_run(cli_files, capsys):
    code, plain = chip_run(cli_files, "plain")
    assert code == 0
    code, sharded = chip_run(cli_files, "sharded", "--dask", "local")
    assert code == 0, capsys.readouterr().err
    a, b = np.load(plain / "results.npz"), np.load(sharded / "results.npz")
    assert sorted(a.files) == sorted(b.files) and len(a.files) >= 8
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (plain, sharded))
    sa.pop("wall_s"), sb.pop("wall_s")
    assert sa == sb and sa["precision"] == "float64"
    assert 0 < sa["mean_steps"] < 30 and sa["counters"]["spikes"] > 10_000


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurocosim") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("extra,words", [
    (("--dask", "nonsense"), ["--dask 'nonsense'", "tcp://HOST:PORT", "'local'"]),
    (("--precision", "float16"), ["--precision", "float16", "float32"]),
])
def test_cli_bad_dask_or_precision_exits_2_with_one_line(cli_files, capsys, extra, words):
    try:
        code, out = chip_run(cli_files, "bad", *extra)
    except SystemExit as e:  # argparse's error
        code, out = e.code, cli_files[0] / "bad"
    assert code == 2
    err = one_error_line(capsys)
    assert all(w in err for w in words), err
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("--dask", "local"), ("--precision", "float32")])
def test_cli_engine_options_need_chip(cli_files, capsys, flag, value):
    folder, model, data = cli_files
    assert main(["simulate", model, "--data", data, "--steps", "5", "-q", flag, value]) == 2
    err = one_error_line(capsys)
    assert flag in err and "--chip" in err


# -- precision --------------------------------------------------------------------------
def test_float32_runs_end_to_end(noisy, rng):
    """float32 tables and options, float64 outputs and counters. On the ideal card the
    spikes agree with float64 (they may differ only where a membrane is within ~1e-5 of a
    threshold); on the noisy card the first step agrees and, once an ADC level rounds the
    other way, the samples' trajectories diverge but keep their statistics."""
    kw = dict(rng=np.random.default_rng(9), probes=["lif1", "lif2", "out_n"], batch_size=32)
    ideal = noisy_mlp(np.random.default_rng(1234), chip="ideal")[1:]
    for (prog, enc), chip in ((ideal, "ideal"), (noisy[1:], "noisy")):
        r32 = simulate(prog, enc, 40, precision="float32", **kw)
        r64 = simulate(prog, enc, 40, **kw)
        assert r32.options["precision"] == "float32" and r64.options["precision"] == "float64"
        assert r32.output.dtype == np.float64 and r32.counts.block.dtype == np.float64
        s32, s64 = r32.counts.totals()["spikes"], r64.counts.totals()["spikes"]
        assert s64 > 10_000 and abs(s32 - s64) < 0.02 * s64, (chip, s32, s64)
        for k in ("lif1", "lif2", "out_n"):
            same = np.mean(r32.probes[k] == r64.probes[k])
            assert same >= (0.999 if chip == "ideal" else 0.7), (chip, k, same)
            np.testing.assert_array_equal(r32.probes[k][:, 0], r64.probes[k][:, 0])
        assert np.corrcoef(r32.output.ravel(), r64.output.ravel())[0, 1] > 0.95


def test_precision_checks_and_tables_mismatch(noisy):
    net, prog, enc = noisy
    for bad in ("float16", "FLOAT32", None, 32):
        with pytest.raises(SimulationError, match="precision: .* not one of float32, float64"):
            simulate(prog, enc, 2, rng=np.random.default_rng(0), precision=bad)
    t64 = build_tables(prog)
    with pytest.raises(SimulationError, match="tables: built in float64 but precision "
                                              "'float32'"):
        simulate(prog, enc, 2, rng=np.random.default_rng(0), tables=t64, precision="float32")
    t32 = build_tables(prog, precision="float32")
    with pytest.raises(SimulationError, match="tables: built in float32 but precision "
                                              "'float64'"):
        simulate(prog, enc, 2, rng=np.random.default_rng(0), tables=t32)
    a = simulate(prog, enc, 5, rng=np.random.default_rng(0), tables=t32, precision="float32")
    b = simulate(prog, enc, 5, rng=np.random.default_rng(0), precision="float32")
    assert_same_run(a, b)


def test_pipeline_and_cli_carry_the_precision(cli_files, capsys):
    from neurocosim.flows import PruneOptions, prune_on_chip
    from neurocosim.pipeline import ChipRunOptions, RunStreams, run_on_chip

    folder, model, data = cli_files
    net = load_network(model)
    x = np.load(data)["x"][:8]
    enc = make_encoder("spikes", x[:, None].repeat(5, axis=1), net.input_shape)
    run = run_on_chip(net, load_chip("ideal"), enc, ChipRunOptions(steps=5, precision="float32"),
                      streams=RunStreams(*np.random.SeedSequence(0).spawn(2)))
    assert run.result.options["precision"] == "float32"
    code, out = chip_run(cli_files, "f32", "--precision", "float32")
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["precision"] == "float32"
    with pytest.raises(ConfigError, match="precision: 'double' is not one of"):
        prune_on_chip(net, None, (x, None), (x, None),
                      PruneOptions(training=None, precision="double"), seed=0,
                      random_weights=False)
