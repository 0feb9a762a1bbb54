"""Design-rule checks: each violation names the rule, the layer, the limit, the need, the fix.

Every rule is a small function ``rule_xxx(ctx) -> list[MappingWarning]`` of a
:class:`RuleContext`, listed once in :data:`REGISTRY` with the mapping stages it checks
(``"lowered"``: the crossbar ops and the products of activations; ``"tiled"``: their blocks and column groups;
``"placed"``: the cores). Hard rules raise :class:`~neurocosim.errors.MappingError`;
soft rules return warnings (:class:`MappingWarning`) that :func:`check_rules` passes on,
the report lists and the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..devices.layout import ColumnLayout
from ..devices.schema import ChipCard
from ..errors import MappingError, MappingWarning
from ..ir.graph import Network
from ..units import format_quantity as fq
from .dynamic import DynamicPolicy, held_products, write_report
from .lowering import SynOp, check_dynamic_products
from .placement import Traffic, max_fan_out
from .tiling import Block, ColumnGroup, TilePacker

__all__ = ["MappingWarning", "RuleContext", "Rule", "REGISTRY", "RULES", "check_rules",
           "weight_step", "rule_tile_columns", "rule_fan_in", "rule_tiles_per_core",
           "rule_neurons_per_core", "rule_synapse_memory", "rule_cores", "rule_fan_out",
           "rule_weight_precision", "rule_dynamic_product"]


@dataclass(frozen=True, kw_only=True, eq=False)
class RuleContext:
    """What the rules check; each mapping stage fills more fields (see :attr:`stage`).

    ``groups`` and ``blocks`` are the tiled column groups and their blocks (``groups`` is
    None before tiling); ``core`` the core of every column group and ``traffic`` the
    spike traffic (None before placement); ``layer_of_op`` the neuron layer each op feeds;
    ``dynamic`` where the products of two activations run (:mod:`.dynamic`).
    """

    net: Network
    chip: ChipCard
    ops: Mapping[str, SynOp]
    share: bool = True
    dynamic: DynamicPolicy = field(default_factory=DynamicPolicy)
    layer_of_op: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[ColumnGroup, ...] | None = None
    blocks: tuple[Block, ...] = ()
    core: np.ndarray | None = None
    traffic: Traffic | None = None
    chips: int = 1  # chips the mapping may place on (cores: chip.cores each)

    @property
    def stage(self) -> str:
        """``"lowered"``, ``"tiled"`` or ``"placed"``."""
        if self.groups is None:
            return "lowered"
        return "tiled" if self.core is None else "placed"

    def blocks_by_group(self) -> dict[int, list[Block]]:
        """The blocks of every column group, in block order."""
        by_group: dict[int, list[Block]] = {}
        for b in self.blocks:
            by_group.setdefault(b.colgroup, []).append(b)
        return by_group


def _fail(rule: str, text: str) -> MappingError:
    return MappingError(f"design rule '{rule}': {text}")


def weight_step(chip: ChipCard, w_max: float) -> float | None:
    """Smallest weight increment the chip stores for a block of range ``w_max``."""
    m = chip.macro
    if m.weight_mapping == "bit_sliced":
        return w_max / (2 ** (m.bits_per_cell * m.slices) - 1)
    steps = []
    if m.levels is not None:
        steps.append(w_max / (m.levels - 1) * (2 if m.weight_mapping == "offset" else 1))
    if chip.weight_bits is not None:
        steps.append(w_max / (2 ** (chip.weight_bits - 1) - 1) if chip.weight_bits > 1 else w_max)
    return max(steps) if steps else None


def _quantisation_error(w: np.ndarray, step: float) -> float:
    q = np.round(w / step) * step
    rms = np.sqrt(np.mean(w**2))
    return float(np.sqrt(np.mean((w - q) ** 2)) / rms) if rms > 0 else 0.0


def rule_tile_columns(ctx: RuleContext) -> list[MappingWarning]:
    """A single output must fit a tile's columns (checked before tiling)."""
    ops, chip = ctx.ops, ctx.chip
    m = chip.macro
    layout = ColumnLayout.of(m)
    cpo = layout.per_output
    if ops and layout.block_columns(1) > m.cols:
        op = next(iter(ops))
        raise _fail("tile_columns",
                    f"layer '{op}' needs {cpo} columns per output ({m.weight_mapping}, "
                    f"{m.slices} slices), chip '{chip.name}' tiles have {m.cols}: use fewer "
                    "slices or a macro with more columns")
    return []


def rule_fan_in(ctx: RuleContext) -> list[MappingWarning]:
    """A neuron's synapses (the rows of every op feeding its layer) within ``max_fan_in``."""
    chip = ctx.chip
    fan_in: dict[str, int] = {}
    for op_name, op in ctx.ops.items():
        k = max(g.rows for g in op.groups) - (1 if op.bias_row else 0)
        layer = ctx.layer_of_op.get(op_name, op_name)
        fan_in[layer] = fan_in.get(layer, 0) + k
    for layer, k in fan_in.items():
        if k > chip.max_fan_in:
            raise _fail("fan_in",
                        f"layer '{layer}' needs a fan-in of {k} synapses per neuron, chip "
                        f"'{chip.name}' allows {chip.max_fan_in}: reduce the layer's inputs "
                        "(e.g. pooling or a smaller kernel) or choose a chip with max_fan_in "
                        f">= {k}")
    return []


def rule_tiles_per_core(ctx: RuleContext) -> list[MappingWarning]:
    """The blocks of a column group (partial sums added on one core) fit one core's tiles."""
    chip = ctx.chip
    m = chip.macro
    by_group = ctx.blocks_by_group()
    for cg in ctx.groups or ():
        packer = TilePacker(m.rows, m.cols, ctx.share)
        packer.add(sorted(by_group.get(cg.id, []), key=lambda b: -b.rows))
        nt = packer.n_tiles
        if nt > chip.tiles_per_core:
            rows = ctx.ops[cg.op].groups[cg.group].rows
            need_rows = -(-rows // chip.tiles_per_core)
            raise _fail("tiles_per_core",
                        f"layer '{cg.op}' needs {nt} tiles on one core (the partial sums of "
                        f"its {rows} input rows are added on the core), chip '{chip.name}' "
                        f"allows {chip.tiles_per_core}: choose tiles_per_core >= {nt}, or "
                        f"tiles with rows >= {need_rows}, or split the layer's inputs")
    return []


def rule_neurons_per_core(ctx: RuleContext) -> list[MappingWarning]:
    """The neurons a column group feeds fit one core."""
    chip = ctx.chip
    for cg in ctx.groups or ():
        if cg.neurons > chip.neurons_per_core:
            op = ctx.ops[cg.op]
            hint = (f", or a larger conv_regions (now {op.regions}) to split its output map, "
                    "or conv_regions 'auto' (the mapper splits each layer over cores)"
                    if op.kind == "conv" else
                    ", or a narrower tile (fewer outputs per tile), or conv_regions 'auto' "
                    "(the mapper splits each layer's outputs over cores)")
            raise _fail("neurons_per_core",
                        f"layer '{cg.op}' needs {cg.neurons} neurons on one core, chip "
                        f"'{chip.name}' allows {chip.neurons_per_core}: choose "
                        f"neurons_per_core >= {cg.neurons}{hint}")
    return []


def rule_synapse_memory(ctx: RuleContext) -> list[MappingWarning]:
    """A column group's weights fit one core's synapse memory (when the chip has one)."""
    chip = ctx.chip
    if chip.synapse_memory_per_core <= 0:
        return []
    for cg in ctx.groups or ():
        bits = chip.weight_bits or 8
        need = cg.synapses * bits / 8
        if need > chip.synapse_memory_per_core:
            raise _fail("synapse_memory",
                        f"layer '{cg.op}' needs {need:.0f} B of synapse memory on one "
                        f"core, chip '{chip.name}' has {chip.synapse_memory_per_core:.0f} B: "
                        "use fewer weight bits or split the layer")
    return []


def rule_cores(ctx: RuleContext) -> list[MappingWarning]:
    """Enough cores: before placement for the tiles' lower bound, after it for the cores
    the placement uses."""
    if ctx.stage == "placed":
        return _placed_cores(ctx)
    chip = ctx.chip
    m = chip.macro
    by_group = ctx.blocks_by_group()
    total_tiles = 0.0
    for cg in ctx.groups or ():
        total_tiles += sum(max(b.rows / m.rows, b.cols / m.cols) if ctx.share else 1
                           for b in by_group.get(cg.id, []))
    total_tiles = int(np.ceil(total_tiles - 1e-9))
    lower = -(-total_tiles // chip.tiles_per_core)
    if lower > chip.cores * ctx.chips:
        raise _fail("cores",
                    f"the network needs at least {total_tiles} tiles, {lower} cores of "
                    f"{chip.tiles_per_core} tiles, " + _has(ctx, lower))
    return []


def _has(ctx: RuleContext, need: int) -> str:
    """What the chip(s) have, and the fix, for a need of ``need`` cores."""
    chip = ctx.chip
    if ctx.chips > 1:
        return (f"{ctx.chips} chips '{chip.name}' have {chip.cores * ctx.chips}: it needs "
                f"at least {-(-need // chip.cores)} chips (--chips)")
    return (f"chip '{chip.name}' has {chip.cores}: choose a chip with cores >= {need}, "
            f"larger tiles, or prune the network, or map onto {-(-need // chip.cores)} chips "
            "(chips, --chips)")


def _placed_cores(ctx: RuleContext) -> list[MappingWarning]:
    used = int(ctx.core.max(initial=-1)) + 1
    if used > ctx.chip.cores * ctx.chips:
        if ctx.chips > 1:
            raise _fail("cores", f"the placement needs {used} cores, " + _has(ctx, used))
        raise _fail("cores",
                    f"the placement needs {used} cores, chip '{ctx.chip.name}' has "
                    f"{ctx.chip.cores}: choose a chip with cores >= {used} or larger tiles, "
                    f"or map onto {-(-used // ctx.chip.cores)} chips (chips, --chips)")
    return []


def rule_fan_out(ctx: RuleContext) -> list[MappingWarning]:
    """A spike reaches at most ``max_fan_out`` cores (checked on the placement)."""
    n, layer = max_fan_out(ctx.traffic, ctx.core)
    if n > ctx.chip.max_fan_out:
        raise _fail("fan_out",
                    f"layer '{layer}' sends a spike to {n} cores, chip '{ctx.chip.name}' "
                    f"allows {ctx.chip.max_fan_out}: choose max_fan_out >= {n} or a "
                    "placement with fewer, larger cores")
    return []


def rule_weight_precision(ctx: RuleContext) -> list[MappingWarning]:
    """Hard: at least half of an op's non-zero weights survive the chip's weight step.
    Soft: a relative RMS quantisation error above 5 % is a warning."""
    chip = ctx.chip
    soft = []
    for op_name, op in ctx.ops.items():
        w = np.concatenate([g.weight.ravel() for g in op.groups])
        wmax = float(np.abs(w).max(initial=0.0))
        step = weight_step(chip, wmax) if wmax > 0 else None
        if step is None:
            continue
        err = _quantisation_error(w, step)
        nz = w != 0
        zeroed = float(np.mean(np.abs(w[nz]) < step / 2)) if nz.any() else 0.0
        if zeroed > 0.5:
            raise _fail("weight_precision",
                        f"layer '{op_name}' loses {zeroed:.0%} of its non-zero weights to the "
                        f"chip's precision (step {step:.3g} for |w| <= {wmax:.3g}), chip "
                        f"'{chip.name}' keeps at least half: use more levels, bit slicing or "
                        "more weight bits, or clip outlier weights before mapping")
        if err > 0.05:
            soft.append(MappingWarning(
                f"design rule 'weight_precision' (soft): layer '{op_name}' has a relative "
                f"RMS quantisation error of {err:.1%} on chip '{chip.name}' (above 5 %)"))
    return soft


def rule_dynamic_product(ctx: RuleContext) -> list[MappingWarning]:
    """Only constant weights become crossbar ops; a product of two activations (MatMul)
    runs on the digital units unless the run holds it in tiles (``dynamic_products:
    crossbar``): then the card's writable tiles must hold every product at once, and a
    card without them (RRAM/PCM, whose cells would be rewritten every step) is refused
    with the writes it would take unless the run accepts them (``allow_rram_writes``)
    and the card gives their cost (``macro.write``). See :mod:`.dynamic`."""
    check_dynamic_products(ctx.net, ctx.ops)
    chip, policy = ctx.chip, ctx.dynamic
    held = held_products(ctx.net, chip, policy)
    if not held:
        return []
    wt = chip.writable_tile
    if wt is not None:
        need, have = sum(p.tiles for p in held), chip.cores * wt.tiles_per_core
        if need > have:
            raise _fail("dynamic_product",
                        f"holding the network's {len(held)} products of activations needs "
                        f"{need} writable tiles, chip '{chip.name}' has {have} "
                        f"({chip.cores} cores x {wt.tiles_per_core}): choose "
                        f"writable_tile.tiles_per_core >= {-(-need // chip.cores)}, larger "
                        "writable tiles, or --dynamic-products digital")
        return []
    m = chip.macro
    if policy.allow_rram_writes and m.write is not None:
        return []
    rep = write_report(ctx.net, chip, policy)
    head = (f"chip '{chip.name}' has no writable tiles; holding {len(held)} product(s) of "
            f"activations in its {m.technology} cells rewrites them every step: "
            f"{sum(p.cells_per_step for p in held):,} cells")
    layers = "Per layer: " + "; ".join(rep.per_layer())
    if m.write is None:
        raise _fail("dynamic_product",
                    f"{head} per step, and the card gives no cost of writing them: add "
                    "macro.write (energy_per_cell, latency_per_row, endurance, with sources) "
                    "or a writable_tile, or keep them digital (--dynamic-products digital). "
                    + layers)
    e, t = rep.write_energy_per_inference, policy.steps
    end = m.write.endurance.value
    life = ("its cells do not wear out" if end is None else
            f"an endurance of {end:.3g} writes lasts {end / t:,.0f} inferences")
    raise _fail("dynamic_product",
                f"{head}, {fq(e / t, 'J')} per step, {fq(e, 'J')} per inference of {t} "
                f"steps; each cell is written {t} times per inference: {life}. Keep them "
                "digital (--dynamic-products digital), use a card with a writable_tile, or "
                f"accept the wear (--allow-rram-writes). {layers}")


@dataclass(frozen=True)
class Rule:
    """A design rule: its name, its check and the stages it runs at.

    ``per_group`` rules run one column group at a time (the context narrowed to that
    group and its blocks), every such rule on a group before the next group; ``soft``
    rules may return warnings."""

    name: str
    check: Callable[[RuleContext], list[MappingWarning]]
    stages: tuple[str, ...]
    per_group: bool = False
    soft: bool = False


#: Every design rule once, in the order they are checked.
REGISTRY: tuple[Rule, ...] = (
    Rule("dynamic_product", rule_dynamic_product, ("lowered",)),
    Rule("tile_columns", rule_tile_columns, ("lowered",)),
    Rule("fan_in", rule_fan_in, ("tiled",)),
    Rule("tiles_per_core", rule_tiles_per_core, ("tiled",), per_group=True),
    Rule("neurons_per_core", rule_neurons_per_core, ("tiled",), per_group=True),
    Rule("synapse_memory", rule_synapse_memory, ("tiled",), per_group=True),
    Rule("cores", rule_cores, ("tiled", "placed")),
    Rule("fan_out", rule_fan_out, ("placed",)),
    Rule("weight_precision", rule_weight_precision, ("tiled",), soft=True),
)
#: The rule names.
RULES = tuple(r.name for r in REGISTRY)


def check_rules(ctx: RuleContext) -> list[MappingWarning]:
    """Check the rules of ``ctx.stage`` in registry order.

    Raises the first hard violation as a :class:`~neurocosim.errors.MappingError`;
    returns the soft rules' warnings (not issued: the caller warns and reports them).
    """
    rules = [r for r in REGISTRY if ctx.stage in r.stages]
    per_group = [r for r in rules if r.per_group]
    found: list[MappingWarning] = []
    for rule in rules:
        if not rule.per_group:
            found += rule.check(ctx)
        elif rule is per_group[0]:
            found += _check_per_group(ctx, per_group)
    return found


def _check_per_group(ctx: RuleContext, rules: list[Rule]) -> list[MappingWarning]:
    by_group = ctx.blocks_by_group()
    found: list[MappingWarning] = []
    for cg in ctx.groups or ():
        one = replace(ctx, groups=(cg,), blocks=tuple(by_group.get(cg.id, ())))
        for rule in rules:
            found += rule.check(one)
    return found
