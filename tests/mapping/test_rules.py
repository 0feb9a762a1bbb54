"""Design rules one by one: each rule passes a network that fits and fails (or warns on)
one that does not; the registry lists each rule once; soft warnings reach the report."""

from dataclasses import replace

import numpy as np
import pytest

from neurocosim import ir, network_from_weights
from neurocosim.errors import MappingError
from neurocosim.mapping import MappingWarning, drc, map_network
from neurocosim.mapping.dynamic import DynamicPolicy
from neurocosim.mapping.lowering import lower_network
from neurocosim.mapping.mapped import _layer_of_op
from neurocosim.mapping.tiling import tile_ops
from tests.conftest import chip_variant


def dense(n_in, n_out, seed=0):
    return network_from_weights([np.random.default_rng(seed).normal(size=(n_out, n_in))],
                                dt=1e-3, neuron="IF")


def context(net, chip, stage="tiled", dynamic=None):
    """The rule context of ``net`` on ``chip`` at ``stage``, built as map_network does."""
    ops = lower_network(net)
    ctx = drc.RuleContext(net=net, chip=chip, ops=ops, dynamic=dynamic or DynamicPolicy())
    if stage == "lowered":
        return ctx
    blocks, groups = tile_ops(ops, chip)
    ctx = replace(ctx, layer_of_op=_layer_of_op(net, ops), groups=tuple(groups),
                  blocks=tuple(blocks))
    if stage == "tiled":
        return ctx
    mapped = map_network(net, chip_variant("ideal"), placement="sequential")
    return replace(ctx, groups=mapped.colgroups, core=mapped.core, traffic=mapped.traffic)


def spread_core(mapped, n_cores):
    """The mapping's column groups on ``n_cores`` distinct cores (round robin)."""
    return np.arange(len(mapped.colgroups), dtype=np.int64) % n_cores


def ssa(heads=2, d=4, tokens=(2, 3)):
    """Linear → LIF q, k, v (channel-major (heads·d, tokens)) → Spikformer's SSA (q·(kᵀ·v))."""
    c, n = heads * d, tokens[0] * tokens[1]
    rng = np.random.default_rng(0)
    nodes, edges = {"in": ir.Input(shape=(c * n,))}, []
    for s in "qkv":
        nodes |= {f"fc_{s}": ir.Linear(weight=rng.normal(size=(c * n, c * n))),
                  f"{s}_lif": ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
                  s: ir.Reshape(shape=(c, *tokens))}
        edges += [("in", f"fc_{s}"), (f"fc_{s}", f"{s}_lif"), (f"{s}_lif", s)]
    b = ir.blocks.ssa("q", "k", "v", shape=(c, *tokens), heads=heads)
    return ir.Network(nodes={**nodes, **b.nodes, "out": ir.Output()},
                      edges=tuple(edges + b.edges + [(b.output, "out")]), dt=1e-3)


#: a writable SRAM tile in SI units (the ideal card has none)
WRITABLE = {"technology": "sram", "rows": 64, "cols": 64, "tiles_per_core": 1,
            "write": {k: {"value": v, "source": "test figure"} for k, v in
                      (("energy_per_cell", 1e-13), ("latency_per_row", 1e-8),
                       ("endurance", None))}}
#: the policy a rule is checked under (default: products on the digital units)
POLICY = {"dynamic_product": DynamicPolicy("crossbar", steps=4)}

# (rule, network, stage, chip that fits, chip that breaks the rule, message fragment)
CASES = {
    # v (2·6·4) and kᵀv (2·4·4) held in differential pairs: 2·(48 + 32) = 160 cells
    "dynamic_product": (ssa, "lowered", dict(writable_tile=WRITABLE), {},
                        "chip 'ideal' has no writable tiles; holding 2 product(s) of "
                        "activations in its ideal cells rewrites them every step: 160 cells "
                        "per step, and the card gives no cost of writing them"),
    "tile_columns": (lambda: dense(4, 4), "lowered", {},
                     dict(macro__cols=6, macro__weight_mapping="bit_sliced",
                          macro__bits_per_cell=1, macro__slices=4, macro__adcs_per_tile=1),
                     "layer 'fc0' needs 8 columns per output"),
    "fan_in": (lambda: dense(300, 4), "tiled", {}, dict(max_fan_in=256),
               "layer 'if0' needs a fan-in of 300 synapses per neuron"),
    "tiles_per_core": (lambda: dense(1200, 8), "tiled", {}, dict(tiles_per_core=4),
                       "layer 'fc0' needs 5 tiles on one core"),
    "neurons_per_core": (lambda: dense(8, 100), "tiled", {}, dict(neurons_per_core=64),
                         "layer 'fc0' needs 100 neurons on one core"),
    "synapse_memory": (lambda: dense(512, 128), "tiled",
                       dict(synapse_memory_per_core=64 * 1024, weight_bits=8),
                       dict(synapse_memory_per_core=32 * 1024, weight_bits=8),
                       "layer 'fc0' needs 65536 B of synapse memory on one core"),
    "cores": (lambda: network_from_weights([np.ones((128, 256))] + [np.ones((128, 128))] * 3,
                                           dt=1e-3, neuron="IF"), "tiled", {},
              dict(cores=2, tiles_per_core=1), "the network needs at least 4 tiles"),
    "fan_out": (lambda: network_from_weights([np.ones((64, 64)), np.ones((512, 64))],
                                             dt=1e-3, neuron="IF"), "placed", {},
                dict(max_fan_out=2), "layer 'if0' sends a spike to 4 cores"),
    "weight_precision": (lambda: network_from_weights(
        [np.r_[100.0, np.full(63, 1.0)][None, :].repeat(4, 0)], dt=1e-3, neuron="IF"),
        "tiled", {}, dict(macro__levels=4), "layer 'fc0' loses 98% of its non-zero weights"),
}


def test_registry_lists_each_rule_once():
    names = [r.name for r in drc.REGISTRY]
    assert len(names) == len(set(names)) and tuple(names) == drc.RULES
    checks = [r.check for r in drc.REGISTRY]
    assert len({id(c) for c in checks}) == len(checks)
    defined = {getattr(drc, n) for n in dir(drc) if n.startswith("rule_")}
    assert defined == set(checks)
    for r in drc.REGISTRY:
        assert r.check.__name__ == f"rule_{r.name}"
        assert r.stages and set(r.stages) <= {"lowered", "tiled", "placed"}
    assert set(CASES) == set(drc.RULES)


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_passes_a_fitting_network(rule):
    make, stage, ok, _, _ = CASES[rule]
    ctx = context(make(), chip_variant("ideal", **ok), stage, POLICY.get(rule))
    assert getattr(drc, f"rule_{rule}")(ctx) == []


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_rejects_a_misfit(rule):
    make, stage, _, bad, fragment = CASES[rule]
    net = make()
    ctx = context(net, chip_variant("ideal", **bad), stage, POLICY.get(rule))
    if rule == "fan_out":  # if0 is read by the 4 column groups of fc1: 4 cores
        ctx = replace(ctx, core=spread_core(map_network(net, chip_variant("ideal")), 4))
    with pytest.raises(MappingError) as err:
        getattr(drc, f"rule_{rule}")(ctx)
    assert str(err.value).startswith(f"design rule '{rule}': ")
    assert fragment in str(err.value), str(err.value)


def test_cores_rule_after_placement():
    net = dense(8, 4)
    ctx = context(net, chip_variant("ideal", cores=3), "placed")
    assert drc.rule_cores(replace(ctx, core=np.array([0, 2]))) == []
    with pytest.raises(MappingError, match="design rule 'cores': the placement needs 4 cores, "
                                           "chip 'ideal' has 3"):
        drc.rule_cores(replace(ctx, core=np.array([0, 3])))


def test_weight_precision_soft_rule_returns_a_warning(rng):
    net = network_from_weights([rng.normal(size=(16, 32))], dt=1e-3, neuron="IF")
    found = drc.rule_weight_precision(context(net, chip_variant("ideal", macro__levels=8)))
    assert len(found) == 1 and isinstance(found[0], MappingWarning)
    assert str(found[0]).startswith("design rule 'weight_precision' (soft): layer 'fc0'")


# a network and chip on which each soft rule warns (and no hard rule fails)
SOFT_CASES = {
    "weight_precision": lambda rng: (
        network_from_weights([rng.normal(size=(16, 32))], dt=1e-3, neuron="IF"),
        chip_variant("ideal", macro__levels=8)),
}


def test_every_soft_rule_has_a_warning_case():
    assert set(SOFT_CASES) == {r.name for r in drc.REGISTRY if r.soft}


@pytest.mark.parametrize("rule", list(SOFT_CASES))
def test_soft_rule_warning_reaches_the_report(rule, rng):
    net, chip = SOFT_CASES[rule](rng)
    with pytest.warns(MappingWarning) as caught:
        mapped = map_network(net, chip)
    mine = [str(w.message) for w in caught if f"design rule '{rule}'" in str(w.message)]
    assert mine and all(m in mapped.report.warnings for m in mine)
    assert all(f"warning: {m}" in mapped.report.text() for m in mine)
    assert mapped.report.to_dict()["warnings"] == list(mapped.report.warnings)


def test_check_rules_stages():
    net = dense(8, 4)
    chip = chip_variant("ideal")
    assert [context(net, chip, s).stage for s in ("lowered", "tiled", "placed")] == \
        ["lowered", "tiled", "placed"]
    for s in ("lowered", "tiled", "placed"):
        assert drc.check_rules(context(net, chip, s)) == []


def test_per_group_rules_run_group_by_group():
    """The first column group's neuron excess is reported before the second group's tile
    excess, as when the rules were one loop over the column groups."""
    net = network_from_weights([np.ones((100, 8)), np.ones((4, 100))], dt=1e-3, neuron="IF")
    chip = chip_variant("ideal", macro__rows=16, tiles_per_core=2, neurons_per_core=64)
    with pytest.raises(MappingError, match="design rule 'neurons_per_core': layer 'fc0'"):
        drc.check_rules(context(net, chip))
    with pytest.raises(MappingError, match="design rule 'tiles_per_core': layer 'fc1'"):
        drc.rule_tiles_per_core(context(net, chip))


def test_partition_into_too_few_cores_is_skipped_not_a_crash(rng):
    """Asked for k cores that cannot hold the load, the partitioner reports no partition
    (Mt-KaHyPar itself would raise InvalidInputError, which reached users as exit 3)."""
    from neurocosim.mapping.placement import partition_placement, sequential_placement

    net = network_from_weights([rng.normal(size=(40, 30)), rng.normal(size=(10, 40))],
                               dt=1e-3, neuron="IF")
    chip = chip_variant("ideal", neurons_per_core=16, tiles_per_core=4, cores=16,
                        macro__rows=16, macro__cols=16)
    mapped = map_network(net, chip, placement="partition")
    neurons = np.array([cg.neurons for cg in mapped.colgroups], np.int64)
    base = sequential_placement(list(mapped.blocks), neurons, chip, True)
    need = int(base.max()) + 1
    assert need >= 3
    assert partition_placement(list(mapped.blocks), neurons, mapped.traffic, chip, 2, True) is None
    part = partition_placement(list(mapped.blocks), neurons, mapped.traffic, chip, need + 1, True)
    assert part is None or part.max() < need + 1
