"""Network IR: node types named as NIR names them, and the validated :class:`Network`."""

from .graph import Discretised, Network, conv2d_output_hw, discretise, pool2d_output_hw
from .nodes import (
    COMPARISONS,
    IF,
    ILIF,
    LI,
    LIF,
    NEURON_TYPES,
    NODE_TYPES,
    RESET_MODES,
    SYNAPTIC_TYPES,
    Affine,
    AvgPool2d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Flatten,
    Input,
    Linear,
    Neuron,
    Node,
    Output,
    Scale,
    SumPool2d,
)

__all__ = [
    "Network", "Discretised", "discretise", "conv2d_output_hw", "pool2d_output_hw",
    "Node", "Neuron", "Input", "Output", "Affine", "Linear", "Scale", "Conv2d",
    "SumPool2d", "AvgPool2d", "Flatten", "IF", "LIF", "CubaLIF", "LI", "CubaLI", "ILIF",
    "NODE_TYPES", "NEURON_TYPES", "SYNAPTIC_TYPES", "RESET_MODES", "COMPARISONS",
]
