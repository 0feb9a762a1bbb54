"""Load a NIR file into snnTorch 1.0, working around its importer's IF conversion.

``snntorch.import_nir.import_from_nir`` (snnTorch 1.0.0, ``import_nir.py``) turns every
NIR ``IF`` into ``snn.Leaky(beta=0.9, threshold=v_threshold·r, init_hidden=False)``: the
neuron returns a ``(spk, mem)`` tuple where every other imported module returns a tensor,
so the graph executor fails in the next layer (``linear(): argument 'input' must be
Tensor, not tuple``); and were it to run, it would leak (β = 0.9, an IF has none), reset
by subtraction (snnTorch's default; NIR's IF resets to ``v_reset``) and compare with
``θ·r`` instead of ``θ/r``. This is snnTorch's bug, not the file's: the same files run
in Norse 1.1.0 with neurocosim's spike counts.

:func:`snntorch_from_nir` builds the module the way ``import_from_nir`` does (snnTorch's
own conversion of every other node, through ``nirtorch.nir_to_torch``) but converts an
``IF`` to ``snn.Leaky(beta=1, threshold=θ/r, reset_mechanism=zero|subtract,
init_hidden=True, reset_delay=False)``: snnTorch's update ``m ← m + I``, spike when
``m > θ/r``, reset in the same step, is the IR's ``v ← v + r·I``, ``v > θ`` with
``m = v/r``. ``neurocosim_reset`` metadata picks the reset; a ``>=`` comparison
(``neurocosim_compare``) or a non-zero ``v_reset`` has no snnTorch equivalent and is
refused. NIR's ``Flatten`` is unbatched (snnTorch's own exporter writes ``nn.Flatten()``'s
``start_dim=1`` as 0), but its importer (and nirtorch's default) hand ``start_dim`` to
``torch.nn.Flatten`` on batched tensors, flattening the batch too: here each
non-negative ``start_dim``/``end_dim`` is moved past the batch axis. snnTorch's LIF import assumes ``dt = 1e-4`` s (its exporter's convention; NIR
stores no dt): a network simulated with another ``dt`` runs with other leaks there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelError

__all__ = ["snntorch_from_nir"]


def _text(value) -> str:
    value = np.asarray(value).reshape(-1)[0] if isinstance(value, np.ndarray) else value
    return value.decode() if isinstance(value, bytes) else str(value)


def _if_leaky(node):
    """snnTorch's Leaky computing NIR's IF exactly (module docstring)."""
    import snntorch as snn

    r, theta = np.unique(node.r), np.unique(node.v_threshold)
    if r.size != 1 or theta.size != 1:
        raise ModelError("snntorch_from_nir: an IF layer with per-neuron r or v_threshold; "
                         "snnTorch's Leaky takes one value per layer")
    if np.any(np.asarray(node.v_reset) != 0):
        raise ModelError("snntorch_from_nir: an IF with v_reset != 0; snnTorch resets to 0")
    meta = node.metadata or {}
    reset = _text(meta.get("neurocosim_reset", "zero"))
    if _text(meta.get("neurocosim_compare", ">")) != ">":
        raise ModelError("snntorch_from_nir: an IF spiking at v >= threshold; snnTorch "
                         "fires at v > threshold only")
    return snn.Leaky(beta=1.0, threshold=float(theta[0] / r[0]), reset_mechanism=reset,
                     init_hidden=True, reset_delay=False)


def _batched_flatten(node):
    """NIR's unbatched Flatten on ``(batch, ...)`` tensors (module docstring)."""
    import torch

    def shift(dim: int) -> int:
        dim = int(np.asarray(dim).reshape(-1)[0])
        return dim + 1 if dim >= 0 else dim

    return torch.nn.Flatten(shift(node.start_dim), shift(node.end_dim))


def snntorch_from_nir(graph_or_path):
    """A ``torch.nn.Module`` (a ``torch.fx`` graph of snnTorch modules) running the NIR
    graph (a ``nir.NIRGraph`` or a ``.nir`` path) one step per call, as
    ``snntorch.import_nir.import_from_nir`` with its IF conversion fixed."""
    import nir
    import nirtorch
    from snntorch import import_nir as sni

    graph = nir.read(graph_or_path) if isinstance(graph_or_path, (str, Path)) \
        else graph_or_path
    graph = sni._replace_rnn_subgraph_with_nirgraph(graph)

    def theirs(n):
        return sni._nir_to_snntorch_module(n, init_hidden=True)

    node_map = {t: theirs for t in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                                    nir.AvgPool2d, nir.LIF, nir.CubaLIF)}
    node_map[nir.IF] = _if_leaky
    node_map[nir.Flatten] = _batched_flatten
    return nirtorch.nir_to_torch(graph, node_map)
