"""The zoo's energy table (issue 16): the analytical counts include the digital spike
units (their operations per step × the steps, written here in closed form, whatever the
firing rate) and the energy prices them at the card's digital costs; ``neurocosim energy
zoo:NAME`` estimates a zoo model (never a run folder)."""

import dataclasses

import numpy as np
import pytest

from neurocosim import ir, map_network, program_chip
from neurocosim.cli import main
from neurocosim.devices import load_chip
from neurocosim.energy import analytical_counts, estimate
from neurocosim.flows import analytical_energy, virtual_chip_sets
from neurocosim.frontends import load_network
from neurocosim.hwsim.tables import build_tables

STEPS = 7
C_IN, C, HW = 2, 4, 4  # input channels, channels, input height = width
HEADS, D, N_TOK = 2, 2, 4  # the attention on the pooled (C, 2, 2) map: d = C / heads, N = 2·2


def _lif():
    return ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="zero")


def small_net(rng):
    """Spikes (2, 4, 4) → 1×1 conv → LIF → max pool 2×2 (4, 2, 2) → a standalone BatchNorm
    and an SDSA block over LIF q, k, v (1×1 convs of the pooled map) → Add of the two."""
    nodes = {"in": ir.Input(shape=(C_IN, HW, HW)),
             "conv0": ir.Conv2d(weight=rng.integers(-3, 4, (C, C_IN, 1, 1)) / 2,
                               bias=np.zeros(C)),
             "lif0": _lif(), "pool": ir.MaxPool2d(kernel_size=2),
             "bn": ir.BatchNorm(gamma=rng.uniform(0.5, 2, C), beta=rng.normal(0, 1, C),
                                running_mean=rng.normal(0, 1, C),
                                running_var=rng.uniform(0.5, 2, C)),
             "add": ir.Add()}
    edges = [("in", "conv0"), ("conv0", "lif0"), ("lif0", "pool"), ("pool", "bn")]
    for s in "qkv":
        nodes[f"fc_{s}"] = ir.Conv2d(weight=rng.integers(-3, 4, (C, C, 1, 1)) / 2, bias=np.zeros(C))
        nodes[s] = _lif()
        edges += [("pool", f"fc_{s}"), (f"fc_{s}", s)]
    blk = ir.blocks.sdsa("q", "k", "v", shape=(C, 2, 2), heads=HEADS)
    nodes = {**nodes, **blk.nodes, "out": ir.Output()}
    edges += blk.edges + [("bn", "add"), (blk.output, "add"), ("add", "out")]
    return ir.Network(nodes=nodes, edges=tuple(edges), dt=1e-3)


def popcount_bits(n):
    """Σ over the n − 1 adds of a running sum of n spikes: the k-th add is ceil(log2(k+1))
    bits wide (= k.bit_length())."""
    return sum(k.bit_length() for k in range(1, n))


#: digital operations per step of the network above, in closed form
PER_STEP = {
    # max pool 2×2, stride 2, no padding: C·2·2 windows × (4 − 1) comparisons
    "digital_comparisons": C * 2 * 2 * 3,
    "digital_macs": C * 2 * 2,  # the BatchNorm: one multiply-add per element
    "digital_adds": C * 2 * 2,  # the Add of two inputs: one add per element
    "digital_iands": 0,
    # k ⊙ v and q ⊙ kv: one AND per element, h·N·d each (every element, spiking or not)
    "digital_ands": 2 * HEADS * N_TOK * D,
    "digital_add_bits": HEADS * D * popcount_bits(N_TOK),  # Σ over N tokens, per head·feature
    # reads: k, v (2·h·N·d bits); kv (h·N·d); q and the kv LIF's spikes (h·N·d + h·d)
    "digital_buffer_read_bits": 2 * HEADS * N_TOK * D + HEADS * N_TOK * D
    + HEADS * N_TOK * D + HEADS * D,
    # writes: kv (h·N·d bits), its 8-bit sums (8·h·d), q ⊙ kv (h·N·d)
    "digital_buffer_write_bits": HEADS * N_TOK * D + 8 * HEADS * D + HEADS * N_TOK * D,
}


@pytest.fixture(scope="module")
def programmed():
    net = small_net(np.random.default_rng(3))
    return program_chip(map_network(net, load_chip("prime-rram-40nm")), np.random.default_rng(0))


def _rates(net, r):
    return {k: r for k in [net.input_name, *net.layers()]}


def test_analytical_digital_counts_in_closed_form_whatever_the_rate(programmed):
    net = programmed.mapped.network
    counts = analytical_counts(programmed, STEPS, _rates(net, 0.1))
    assert counts.digital is not None and counts.digital.shape[0] == 1
    totals = counts.totals()
    for k, per_step in PER_STEP.items():
        assert totals[k] == per_step * STEPS, k
    assert popcount_bits(4) == 1 + 2 + 2
    # per node: the pool, the BatchNorm, the Add and the attention's products
    by = counts.by_digital()
    assert by["pool"]["digital_comparisons"] == 48 * STEPS
    assert by["bn"]["digital_macs"] == by["add"]["digital_adds"] == 16 * STEPS
    assert by["sdsa_kv"]["digital_ands"] == by["sdsa_qkv"]["digital_ands"] == 16 * STEPS
    # the same nodes, in the same order, as the engine's tables (a simulated run)
    tab = build_tables(programmed)
    assert counts.digital_names == tab.digital_names
    np.testing.assert_array_equal(counts.digital[0], tab.digital_ops * STEPS)
    # digital operations do not depend on activity: other rates, the worst case
    for other in (analytical_counts(programmed, STEPS, _rates(net, 0.7)),
                  analytical_counts(programmed, STEPS, worst_case=True)):
        np.testing.assert_array_equal(other.digital, counts.digital)
    assert other.totals()["spikes"] > counts.totals()["spikes"]


def test_digital_energy_is_the_counts_at_the_cards_digital_costs(programmed):
    chip = load_chip("prime-rram-40nm")
    net = programmed.mapped.network
    d = chip.digital
    cost = {"digital_comparisons": d.compare.value, "digital_macs": d.mac.value,
            "digital_adds": d.add.value, "digital_iands": d.logic.value,
            "digital_ands": d.logic.value, "digital_add_bits": d.add.value / 8,
            "digital_buffer_read_bits": d.buffer_read_bit.value,
            "digital_buffer_write_bits": d.buffer_write_bit.value}
    want = STEPS * sum(PER_STEP[k] * cost[k] for k in PER_STEP)
    assert want > 0
    counts = analytical_counts(programmed, STEPS, _rates(net, 0.1))
    rep = estimate(counts, chip, tiles=4, cores=1)
    assert rep.by_component["digital"] == pytest.approx(want, rel=1e-12)
    without = estimate(dataclasses.replace(counts, digital=None, digital_names=()), chip,
                       tiles=4, cores=1)
    assert rep.energy_per_inference_J - without.energy_per_inference_J == pytest.approx(
        want, rel=1e-9)
    # the flow (map, program, count, cost) reports the same component
    flow = analytical_energy(net, chip, steps=STEPS, rate=0.1, paper_preset="horowitz45",
                             multilevel="ac")
    assert flow.by_component["digital"] == pytest.approx(want, rel=1e-12)


def test_energy_of_a_zoo_model_from_the_command_line(capsys):
    """spikformer-4-384-cifar on one virtual chip (the per-core limits lifted): ~13 s."""
    name = "zoo:spikformer-4-384-cifar"
    sets = [a for s in virtual_chip_sets(load_network(name)) for a in ("--set", s)]
    assert main(["energy", name, "--chip", "prime-rram-40nm", *sets, "--rate", "0.1",
                 "--steps", "2"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["digital"])
    assert "J" in line and not line.split()[1].startswith("0")
    assert "papers' convention" in out


def test_a_zoo_source_is_a_model_never_a_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zoo:no-such-model").mkdir()  # a folder of that name is not read
    assert main(["energy", "zoo:no-such-model", "--chip", "prime-rram-40nm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurocosim: error:") and "no-such-model" in err
    assert "run folder" not in err
    assert main(["energy", "zoo:sew-resnet-18"]) == 2
    assert "needs --chip" in capsys.readouterr().err
    assert main(["energy", "no-such-dir", "--chip", "prime-rram-40nm"]) == 2
    assert "no such run folder or model file" in capsys.readouterr().err
