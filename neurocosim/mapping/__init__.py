"""Mapping: lowering to crossbar matrices, tiling, design-rule checks, placement on cores,
routing facts."""

from .drc import REGISTRY, RULES, MappingWarning, Rule, RuleContext, check_rules
from .lowering import GATHER_ONE, GATHER_PAD, OpGroup, SynOp, gather_inputs, lower_network
from .mapped import MappedNetwork, MappingReport, load_mapped, map_network, save_mapped
from .routing import SourceRouting, mesh_position, neuron_routing, op_input_rates
from .tiling import Block, ColumnGroup, columns_per_output, outputs_per_tile

__all__ = ["map_network", "MappedNetwork", "MappingReport", "save_mapped", "load_mapped",
           "lower_network", "SynOp", "OpGroup", "Block", "ColumnGroup", "MappingWarning",
           "RULES", "REGISTRY", "Rule", "RuleContext", "check_rules", "columns_per_output",
           "outputs_per_tile", "GATHER_PAD", "GATHER_ONE", "gather_inputs", "SourceRouting",
           "mesh_position", "neuron_routing", "op_input_rates"]
