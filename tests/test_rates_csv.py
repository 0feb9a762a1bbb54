"""``neurocosim energy MODEL --chip CARD --rates RATES.csv`` (issue 16): the analytical
energy from per-layer firing rates read from a CSV (``layer,rate``).

Reference: the closed form of the expected neuron-layer counters — a layer of ``n``
neurons at rate ``r`` spikes ``r·n`` times per step, so ``r·n·T`` per inference — and the
bad files each refused with one line naming the file, the line and the fix."""

import json

import numpy as np
import pytest

from neurocosim import ir, map_network, program_chip
from neurocosim.cli import main
from neurocosim.devices import load_chip
from neurocosim.energy import analytical_counts
from neurocosim.errors import DataError
from neurocosim.flows import analytical_energy, read_rates
from neurocosim.frontends.nir_io import write_nir
from tests.conftest import chain

STEPS = 5


def _net(rng):
    lif = dict(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0)
    return chain({"in": ir.Input(shape=(64,)),
                     "fc1": ir.Linear(weight=rng.normal(0, 0.3, (48, 64))),
                     "lif1": ir.LIF(**lif),
                     "fc2": ir.Linear(weight=rng.normal(0, 0.3, (10, 48))),
                     "lif2": ir.LIF(**lif), "out": ir.Output()})


def test_rates_from_the_csv_give_the_closed_form_spike_counts(rng, tmp_path):
    net = _net(rng)
    path = tmp_path / "rates.csv"
    path.write_text("layer,rate\nin,0.2\nlif1,0.05\nlif2,0.4\n")
    rates = read_rates(path, net)
    assert rates == {"in": 0.2, "lif1": 0.05, "lif2": 0.4}
    chip = load_chip("prime-rram-40nm")
    prog = program_chip(map_network(net, chip), np.random.default_rng(0))
    by = analytical_counts(prog, STEPS, rates).by_layer()
    assert by["lif1"]["spikes"] == pytest.approx(0.05 * 48 * STEPS)
    assert by["lif2"]["spikes"] == pytest.approx(0.4 * 10 * STEPS)
    lo = analytical_energy(net, chip, steps=STEPS, rate=None, rates={**rates, "lif1": 0.0},
                           paper_preset="horowitz45", multilevel="ac")
    hi = analytical_energy(net, chip, steps=STEPS, rate=None, rates=rates,
                           paper_preset="horowitz45", multilevel="ac")
    assert hi.energy_per_inference_J > lo.energy_per_inference_J  # lif1's spikes cost
    # a layer left out takes --rate
    path.write_text("layer,rate\nlif2,0.4\n")
    assert read_rates(path, net, default=0.1) == {"in": 0.1, "lif1": 0.1, "lif2": 0.4}


def test_the_cli_takes_a_rates_file(rng, tmp_path, capsys):
    net = _net(rng)
    nir = tmp_path / "small.nir"
    write_nir(net, nir)
    path = tmp_path / "rates.csv"
    path.write_text("layer,rate\nin,0.2\nlif1,0.05\nlif2,0.4\n")
    assert main(["energy", str(nir), "--chip", "prime-rram-40nm", "--rates", str(path),
                 "--steps", str(STEPS), "-o", str(tmp_path / "e")]) == 0
    got = json.loads((tmp_path / "e" / "energy.json").read_text())
    assert got  # written; the numbers are checked above


@pytest.mark.parametrize("text, words", [
    ("name,value\nlif1,0.1\n", "header 'layer,rate'"),
    ("layer,rate\nlif3,0.1\n", "line 2: 'lif3' is not a neuron layer"),
    ("layer,rate\nlif1,abc\n", "line 2: layer 'lif1' needs one rate"),
    ("layer,rate\nlif1,-0.5\n", "needs one rate"),
    ("layer,rate\nlif1,nan\n", "needs one rate"),
    ("layer,rate\nlif1,0.1\nlif1,0.2\n", "line 3"),
    ("layer,rate\nlif1,0.1\n", "no rate for 2 layer(s)"),
    ("", "header"),
])
def test_bad_rates_files_are_refused_with_one_line(rng, tmp_path, text, words):
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(DataError) as e:
        read_rates(path, _net(rng))
    assert words in str(e.value) and str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_bad_rates_exit_2(rng, tmp_path, capsys):
    nir = tmp_path / "small.nir"
    write_nir(_net(rng), nir)
    assert main(["energy", str(nir), "--chip", "prime-rram-40nm", "--rates",
                 str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.csv" in err[0]
