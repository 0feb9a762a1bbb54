"""Design-rule checks: each violation names the rule, the layer, the limit, the need, the fix.

Hard rules raise :class:`~neurocosim.errors.MappingError`; soft rules return warnings
(``MappingWarning``) that the report lists and the CLI prints.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..devices.schema import ChipCard
from ..errors import MappingError
from ..ir.graph import Network
from .lowering import SynOp
from .tiling import ColumnGroup, TilePacker, columns_per_output

__all__ = ["MappingWarning", "check_before_placement", "check_after_placement",
           "weight_step", "RULES"]

RULES = ("tile_columns", "fan_in", "tiles_per_core", "neurons_per_core", "synapse_memory",
         "cores", "fan_out", "weight_precision")


class MappingWarning(UserWarning):
    """A soft design rule: the network maps, but something deserves attention."""


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


def check_tile_columns(ops: dict[str, SynOp], chip: ChipCard) -> None:
    """A single output must fit a tile's columns (checked before tiling)."""
    m = chip.macro
    cpo = columns_per_output(m)
    if ops and cpo + (1 if m.weight_mapping == "offset" else 0) > m.cols:
        op = next(iter(ops))
        raise _fail("tile_columns",
                    f"layer '{op}' needs {cpo} columns per output ({m.weight_mapping}, "
                    f"{m.slices} slices), chip '{chip.name}' tiles have {m.cols}: use fewer "
                    "slices or a macro with more columns")


def check_before_placement(net: Network, ops: dict[str, SynOp], groups: list[ColumnGroup],
                           blocks, chip: ChipCard, layer_of_op: dict[str, str],
                           share: bool = True) -> list[str]:
    """Rules that need no placement. Returns soft warnings (also issued as warnings)."""
    m = chip.macro
    name = chip.name
    # fan-in per neuron layer: rows of every op feeding it
    fan_in: dict[str, int] = {}
    for op_name, op in ops.items():
        k = max(g.rows for g in op.groups) - (1 if op.bias_row else 0)
        layer = layer_of_op.get(op_name, op_name)
        fan_in[layer] = fan_in.get(layer, 0) + k
    for layer, k in fan_in.items():
        if k > chip.max_fan_in:
            raise _fail("fan_in",
                        f"layer '{layer}' needs a fan-in of {k} synapses per neuron, chip "
                        f"'{name}' allows {chip.max_fan_in}: reduce the layer's inputs (e.g. "
                        "pooling or a smaller kernel) or choose a chip with max_fan_in >= "
                        f"{k}")
    by_group: dict[int, list] = {}
    for b in blocks:
        by_group.setdefault(b.colgroup, []).append(b)
    total_tiles = 0.0
    for cg in groups:
        packer = TilePacker(m.rows, m.cols, share)
        packer.add(sorted(by_group.get(cg.id, []), key=lambda b: -b.rows))
        nt = packer.n_tiles
        total_tiles += sum(max(b.rows / m.rows, b.cols / m.cols) if share else 1
                           for b in by_group.get(cg.id, []))
        if nt > chip.tiles_per_core:
            rows = ops[cg.op].groups[cg.group].rows
            need_rows = -(-rows // chip.tiles_per_core)
            raise _fail("tiles_per_core",
                        f"layer '{cg.op}' needs {nt} tiles on one core (the partial sums of "
                        f"its {rows} input rows are added on the core), chip '{name}' allows "
                        f"{chip.tiles_per_core}: choose tiles_per_core >= {nt}, or tiles with "
                        f"rows >= {need_rows}, or split the layer's inputs")
        if cg.neurons > chip.neurons_per_core:
            op = ops[cg.op]
            hint = (f", or a larger conv_regions (now {op.regions}) to split its output map"
                    if op.kind == "conv" else
                    ", or a narrower tile (fewer outputs per tile)")
            raise _fail("neurons_per_core",
                        f"layer '{cg.op}' needs {cg.neurons} neurons on one core, chip "
                        f"'{name}' allows {chip.neurons_per_core}: choose neurons_per_core >= "
                        f"{cg.neurons}{hint}")
        if chip.synapse_memory_per_core > 0:
            bits = chip.weight_bits or 8
            need = cg.synapses * bits / 8
            if need > chip.synapse_memory_per_core:
                raise _fail("synapse_memory",
                            f"layer '{cg.op}' needs {need:.0f} B of synapse memory on one "
                            f"core, chip '{name}' has {chip.synapse_memory_per_core:.0f} B: "
                            "use fewer weight bits or split the layer")
    total_tiles = int(np.ceil(total_tiles - 1e-9))
    lower = -(-total_tiles // chip.tiles_per_core)
    if lower > chip.cores:
        raise _fail("cores",
                    f"the network needs at least {total_tiles} tiles, {lower} cores of "
                    f"{chip.tiles_per_core} tiles, chip '{name}' has {chip.cores}: choose a "
                    f"chip with cores >= {lower}, larger tiles, or prune the network")
    soft = []
    for op_name, op in ops.items():
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
                        f"'{name}' keeps at least half: use more levels, bit slicing or more "
                        "weight bits, or clip outlier weights before mapping")
        if err > 0.05:
            msg = (f"design rule 'weight_precision' (soft): layer '{op_name}' has a relative "
                   f"RMS quantisation error of {err:.1%} on chip '{name}' (above 5 %)")
            warnings.warn(msg, MappingWarning, stacklevel=3)
            soft.append(msg)
    return soft


def check_after_placement(core_of_vertex: np.ndarray, n_cores_chip: int, fan_out: tuple[int, str],
                          chip: ChipCard) -> None:
    """Rules on the placement: cores per chip, fan-out in cores."""
    used = int(core_of_vertex.max(initial=-1)) + 1
    if used > n_cores_chip:
        raise _fail("cores",
                    f"the placement needs {used} cores, chip '{chip.name}' has {n_cores_chip}: "
                    f"choose a chip with cores >= {used} or larger tiles")
    n, layer = fan_out
    if n > chip.max_fan_out:
        raise _fail("fan_out",
                    f"layer '{layer}' sends a spike to {n} cores, chip '{chip.name}' allows "
                    f"{chip.max_fan_out}: choose max_fan_out >= {n} or a placement with "
                    "fewer, larger cores")
