"""Intel Loihi 2: quantise a float network to the chip's integers, simulate them bit-exactly,
build and run the Lava process graph, and export lava-dl netx files.

Modules: ``network`` (the integer network: :class:`LoihiLayer`, :class:`LoihiNetwork`,
:class:`ConvSpec`), ``chain`` (the deployed stages, pooling folded into the next synaptic
layer: :func:`stages`), ``conv`` (Lava's fixed-point convolution and its layouts:
:func:`conv_int`), ``quantize`` (:func:`quantize_loihi2`), ``graded`` (graded input spikes for
current-encoded models: :func:`graded_payload`), ``simulator`` (the ``loihi2`` integer simulator
mode with its Numba kernels: :func:`simulate_loihi2`; its NumPy statement
:func:`reference_loihi2`, :func:`trace_loihi2`), ``lava`` (:func:`build_graph`,
:func:`run_lava`; Lava is imported only when a graph is built or run), ``netx``
(:func:`write_netx`, :func:`read_netx`; conv layers are refused: :func:`netx_refusal`)
and the chip preset ``loihi2.yaml`` (``load_chip("loihi2")``).
"""

from ...errors import LoihiWarning
from .chain import Stage, stages
from .conv import conv_int
from .graded import DEFAULT_MESSAGE_BITS, MAX_MESSAGE_BITS, graded_payload, payload_error
from .lava import LavaRun, LavaUnavailable, build_graph, require_lava, run_lava
from .network import ConvSpec, LoihiLayer, LoihiNetwork, sign_mode
from .netx import NetxError, netx_refusal, read_netx, write_netx
from .quantize import quantize_loihi2
from .simulator import Loihi2Result, reference_loihi2, simulate_loihi2, trace_loihi2

__all__ = [
    "quantize_loihi2", "LoihiNetwork", "LoihiLayer", "LoihiWarning", "sign_mode",
    "simulate_loihi2", "reference_loihi2", "trace_loihi2", "Loihi2Result",
    "build_graph", "run_lava", "require_lava", "LavaRun", "LavaUnavailable",
    "write_netx", "read_netx", "netx_refusal", "NetxError", "ConvSpec", "Stage", "stages",
    "conv_int", "graded_payload", "payload_error", "MAX_MESSAGE_BITS",
    "DEFAULT_MESSAGE_BITS",
]
