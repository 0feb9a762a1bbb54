"""Network IR: node types named as NIR names them, and the validated :class:`Network`."""

from . import blocks  # block builders: ir.blocks.sdsa, ssa, qkta, qkca, semm, tim
from .conv1d import Conv1d
from .delay import Delay
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
    BatchNorm,
    Conv2d,
    CubaLI,
    CubaLIF,
    Flatten,
    Input,
    Linear,
    MaxPool2d,
    Neuron,
    Node,
    Output,
    Scale,
    SumPool2d,
)
from .tensors import (
    ORDERED,
    SPIKE_OPS,
    Add,
    Concat,
    Gate,
    IAnd,
    MatMul,
    Mul,
    ReduceSum,
    Reshape,
    Transpose,
)
from .ternary import TernaryLIF
from .transforms import conv1d_as_conv2d, engine_ready, expand_delays, fold_batchnorm

__all__ = [
    "Network", "Discretised", "discretise", "conv2d_output_hw", "pool2d_output_hw",
    "Node", "Neuron", "Input", "Output", "Affine", "Linear", "Scale", "Conv2d",
    "SumPool2d", "AvgPool2d", "MaxPool2d", "BatchNorm", "Flatten", "fold_batchnorm",
    "Conv1d", "Delay", "conv1d_as_conv2d", "expand_delays", "engine_ready",
    "Add", "IAnd", "Concat", "Reshape", "Transpose", "ORDERED",
    "Mul", "Gate", "ReduceSum", "MatMul", "SPIKE_OPS", "blocks",
    "IF", "LIF", "CubaLIF", "LI", "CubaLI", "ILIF", "TernaryLIF",
    "NODE_TYPES", "NEURON_TYPES", "SYNAPTIC_TYPES", "RESET_MODES", "COMPARISONS",
]
