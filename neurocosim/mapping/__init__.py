"""Mapping: lowering to crossbar matrices, tiling, design-rule checks, placement on cores."""

from .drc import RULES, MappingWarning
from .lowering import OpGroup, SynOp, lower_network
from .mapped import MappedNetwork, MappingReport, load_mapped, map_network, save_mapped
from .tiling import Block, ColumnGroup, columns_per_output, outputs_per_tile

__all__ = ["map_network", "MappedNetwork", "MappingReport", "save_mapped", "load_mapped",
           "lower_network", "SynOp", "OpGroup", "Block", "ColumnGroup", "MappingWarning",
           "RULES", "columns_per_output", "outputs_per_tile"]
