"""Import spiking networks trained in PyTorch (SpikingJelly, snnTorch) via ``torch.fx``.

:func:`from_torch` traces the module with neuron modules as leaves
(:mod:`.trace`), maps each neuron by its exact discrete-time update (:mod:`.neurons`: the
side-by-side table of SpikingJelly's, snnTorch's and the IR's updates), each
``torch.nn`` layer by type (:mod:`.modules`) and the functional ops of ``forward`` to IR
nodes, and returns a validated :class:`~neurocosim.ir.Network` with every BatchNorm that
follows a synaptic layer folded into it. :func:`convert_file` is ``neurocosim convert
MODEL.py:FACTORY --weights STATE.pt``.

Two ways a network steps through time, both imported as the network of one step (the
engines run it for ``steps`` steps, membranes starting at 0 as the frameworks' do):

* multi-step: SpikingJelly neurons in ``step_mode='m'``; ``forward`` takes ``(T, B, ...)``
  and may flatten time into the batch for plain ``torch.nn`` layers;
* single-step: SpikingJelly ``step_mode='s'`` or snnTorch neurons (``init_hidden=True``
  as in ``nn.Sequential`` models, or one call per neuron keeping its state inside);
  ``forward`` takes ``(B, ...)`` and the caller loops over the steps.

The output is the last activation (snnTorch's ``(spk, mem)``: the spikes); a ``mean`` or
``sum`` over time at the end is the readout (the engines sum the output over the steps,
which has the same argmax). torch is imported only here, on use: the rest of neurocosim
never imports it (``pip install 'neurocosim[torch]'``, Python ≥ 3.11).
"""

from __future__ import annotations

import math
from pathlib import Path

from ...errors import ConfigError, ModelError, short

__all__ = ["from_torch", "convert_file", "is_torch_model", "INSTALL_HINT"]

INSTALL_HINT = ("the PyTorch importer needs torch, SpikingJelly and snnTorch: "
                "pip install 'neurocosim[torch]' (Python >= 3.11)")


def _torch():
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError:
        raise ModelError(INSTALL_HINT) from None
    return torch


def from_torch(module, example_input, *, dt: float = 1.0, steps: int | None = None,
               name: str | None = None):
    """The IR network of PyTorch spiking network ``module``.

    Parameters
    ----------
    module
        An ``nn.Module`` (put in ``eval()`` mode here; its neuron states are reset before
        and after tracing).
    example_input
        A tensor of the input's shape: ``(T, B, *S)`` for a multi-step network,
        ``(B, *S)`` for a single-step one (only the per-sample shape ``S`` is used).
    dt
        The step in seconds: time constants of ``τ`` steps become ``τ·dt`` s.
    steps
        ``T`` (default: ``example_input.shape[0]`` for a multi-step network, else 4);
        used only to trace, the network itself is the same for any ``T``.
    """
    torch = _torch()
    from ...ir.graph import Network
    from ...ir.transforms import fold_batchnorm
    from .layout import Builder
    from .neurons import is_neuron
    from .trace import Converter, Tracer

    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"from_torch needs an nn.Module, got {type(module).__name__}")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {dt!r}")
    neurons = [m for m in module.modules() if is_neuron(m)]
    if not neurons:
        raise ModelError(f"{type(module).__name__} has no supported spiking neuron module "
                         "(SpikingJelly IF/LIF/ParametricLIF/ILIF/TernaryLIF/TernaryIF nodes, "
                         "snnTorch Leaky/Lapicque/RLeaky/Synaptic)")
    modes = {getattr(m, "step_mode", "s") for m in neurons}
    if len(modes) > 1:
        raise ModelError(f"{type(module).__name__} mixes neurons in step_mode 's' and 'm'; "
                         "use one (spikingjelly.activation_based.functional.set_step_mode)")
    lead = modes.pop()
    shape = tuple(example_input.shape)
    sample = shape[2:] if lead == "m" else shape[1:]
    steps = int(steps or (shape[0] if lead == "m" else 4))
    batch = 3 if steps == 2 else 2
    x = torch.zeros((steps, batch, *sample) if lead == "m" else (batch, *sample),
                    dtype=example_input.dtype)
    module.eval()
    try:
        graph = Tracer().trace(module)
    except Exception as exc:  # noqa: BLE001 - torch.fx raises many types
        raise ModelError(f"torch.fx cannot trace {type(module).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                         "keep Python control flow on tensors inside neuron modules") from None
    gm = torch.fx.GraphModule(module, graph)
    b = Builder(steps=steps, batch=batch)
    _reset(neurons)
    conv = Converter(gm, b, float(dt), lead)
    try:
        with torch.no_grad():
            conv.run(x)
    except Exception as exc:  # noqa: BLE001 - the user's model failed on the example
        if conv.failure is not None:
            raise conv.failure from None
        raise ModelError(f"{type(module).__name__} fails on an example input of shape "
                         f"{tuple(x.shape)} ({x.dtype}): {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        _reset(neurons)
    net = Network(nodes=b.nodes, edges=tuple(b.edges), dt=float(dt),
                  name=name or type(module).__name__)
    return fold_batchnorm(net)


def _reset(neurons) -> None:
    for m in neurons:
        if hasattr(m, "reset_mem"):  # snnTorch
            m.reset_mem()
        elif hasattr(m, "reset"):  # SpikingJelly MemoryModule
            m.reset()


def is_torch_model(spec: str) -> bool:
    """Whether a model argument names a PyTorch network: ``MODEL.py:FACTORY``."""
    path, sep, factory = str(spec).rpartition(":")
    return bool(sep) and path.endswith(".py")


def _input_shape(text) -> tuple[int, ...]:
    if isinstance(text, (tuple, list)):
        text = ",".join(map(str, text))
    parts = str(text or "").split(",")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts) or len(parts) > 4:
        raise ConfigError(f"--input-shape {short(text)}: give one sample's shape as positive "
                          "integers, e.g. 2,34,34 (C,H,W) or 784")
    return tuple(int(p) for p in parts)


def convert_file(model: str, weights: str | Path | None, input_shape, steps: int | None,
                 dt: float):
    """``MODEL.py:FACTORY`` (a file defining ``FACTORY()`` → ``nn.Module``) with the
    ``state_dict`` in ``weights`` (``torch.load(weights_only=True)``: never a pickle that
    runs code) → the IR network; ``input_shape`` one sample's shape (``"C,H,W"``),
    traced with ``steps`` steps."""
    from .loading import load_model

    input_shape = _input_shape(input_shape)
    if steps is None:
        raise ConfigError("convert: a PyTorch model needs --steps T (the time steps)")
    torch = _torch()
    module = load_model(model, weights)
    multi = any(getattr(m, "step_mode", "s") == "m" for m in module.modules())
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    x = torch.zeros(((steps,) if multi else ()) + (1, *input_shape), dtype=dtype)
    return from_torch(module, x, dt=dt, steps=steps, name=Path(model.rpartition(":")[0]).stem)
