"""The ``.npz`` weight bundle: a feed-forward dense spiking network in plain NumPy arrays.

Format (``numpy.savez``; keys, shapes and defaults)::

    weight_0 .. weight_{L-1}   (n_out, n_in) float   required, consecutive from 0
    bias_0 .. bias_{L-1}       (n_out,)      float   optional, default 0
    dt                         ()            float   seconds, required
    neuron                     ()            str     "LIF" (default) or "IF" for every layer
    output_neuron              ()            str     layer L-1: "LIF"/"IF"/"LI" (default = neuron)
    beta                       () or (L,)    float   per-step membrane decay in (0, 1], default 1
                                                     (LIF: tau = dt/(1-beta), r = tau/dt, so that
                                                      v <- beta*v + I exactly; beta = 1 with
                                                      "LIF" is refused, use "IF")
    v_threshold                () or (L,)    float   default 1
    reset                      ()            str     "zero" (default) or "subtract"
    compare                    ()            str     ">" (default) or ">="
    synaptic_delay             ()            int     0 (default) or 1

Any other key is refused (a typo would otherwise be silently ignored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import ModelError
from ..ir import nodes as N
from ..ir.graph import Network

__all__ = ["read_npz", "write_npz", "network_from_weights"]

_SCALAR_KEYS = {"dt", "neuron", "output_neuron", "beta", "v_threshold", "reset", "compare",
                "synaptic_delay"}


def network_from_weights(
    weights: list[np.ndarray],
    biases: list[np.ndarray | None] | None = None,
    *,
    dt: float,
    neuron: str = "LIF",
    output_neuron: str | None = None,
    beta: float | list[float] = 1.0,
    v_threshold: float | list[float] = 1.0,
    reset: str = "zero",
    compare: str = ">",
    synaptic_delay: int = 0,
    name: str = "network",
) -> Network:
    """Build a dense feed-forward network ``Input → (Affine → neuron) × L → Output``.

    ``weights[l]`` is ``(n_out, n_in)``. See the module docstring for the meaning of the
    neuron options. Layer names are ``fc{l}`` (synapses) and ``{neuron}{l}`` → ``lif0``…
    """
    L = len(weights)
    if L == 0:
        raise ModelError("a weight bundle needs at least one layer (weight_0)")
    biases = list(biases) if biases is not None else [None] * L
    betas = np.broadcast_to(np.asarray(beta, float), (L,))
    ths = np.broadcast_to(np.asarray(v_threshold, float), (L,))
    output_neuron = output_neuron or neuron
    nodes: dict[str, N.Node] = {"input": N.Input(shape=(np.asarray(weights[0]).shape[-1],))}
    edges: list[tuple[str, str]] = []
    prev = "input"
    for layer, w in enumerate(weights):
        w = np.asarray(w, float)
        b = np.zeros(w.shape[0]) if biases[layer] is None else np.asarray(biases[layer], float)
        kind = output_neuron if layer == L - 1 else neuron
        syn, neu = f"fc{layer}", f"{kind.lower()}{layer}"
        nodes[syn] = N.Affine(weight=w, bias=b)
        nodes[neu] = _neuron(kind, float(betas[layer]), float(ths[layer]), dt, reset, compare,
                             where=f"layer {layer}")
        edges += [(prev, syn), (syn, neu)]
        prev = neu
    nodes["output"] = N.Output()
    edges.append((prev, "output"))
    return Network(nodes=nodes, edges=tuple(edges), dt=dt, synaptic_delay=synaptic_delay,
                   name=name)


def _neuron(kind: str, beta: float, th: float, dt: float, reset: str, compare: str, where: str):
    if kind == "IF":
        return N.IF(r=1.0, v_threshold=th, reset=reset, compare=compare)
    if kind in ("LIF", "LI"):
        if not 0.0 < beta < 1.0:
            raise ModelError(
                f"{where}: beta must lie in (0, 1) for {kind} (got {beta}); beta = 1 means no "
                "leak: use neuron 'IF'"
            )
        tau = dt / (1.0 - beta)
        if kind == "LI":
            return N.LI(tau=tau, r=tau / dt, v_leak=0.0)
        return N.LIF(tau=tau, r=tau / dt, v_leak=0.0, v_threshold=th, reset=reset,
                     compare=compare)
    raise ModelError(f"{where}: neuron must be 'IF', 'LIF' or 'LI', got {kind!r}")


def read_npz(path: str | Path, dt: float | None = None) -> Network:
    """Read a weight bundle (format in the module docstring). ``dt`` overrides the file's."""
    path = Path(path)
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read as a .npz weight bundle: {exc}") from None
    L = 0
    while f"weight_{L}" in data:
        L += 1
    allowed = _SCALAR_KEYS | {f"weight_{i}" for i in range(L)} | {f"bias_{i}" for i in range(L)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ModelError(
            f"{path}: unknown key(s) {unknown}; a weight bundle holds weight_0..weight_N, "
            f"bias_0..bias_N and {sorted(_SCALAR_KEYS)}"
        )
    if dt is None:
        if "dt" not in data:
            raise ModelError(f"{path}: no 'dt' in the bundle; pass dt explicitly (--dt)")
        dt = float(data["dt"])

    def opt(key, default):
        return data[key].item() if key in data and data[key].shape == () else data.get(key, default)

    try:
        return network_from_weights(
            [data[f"weight_{i}"] for i in range(L)],
            [data.get(f"bias_{i}") for i in range(L)],
            dt=dt,
            neuron=str(opt("neuron", "LIF")),
            output_neuron=str(opt("output_neuron", "")) or None,
            beta=opt("beta", 1.0 if str(opt("neuron", "LIF")) == "IF" else 0.9),
            v_threshold=opt("v_threshold", 1.0),
            reset=str(opt("reset", "zero")),
            compare=str(opt("compare", ">")),
            synaptic_delay=int(opt("synaptic_delay", 0)),
            name=path.stem,
        )
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


def write_npz(net: Network, path: str | Path) -> Path:
    """Write a dense feed-forward IF/LIF/LI network as a weight bundle (atomic)."""
    layers = net.layers()
    data: dict[str, np.ndarray] = {"dt": np.float64(net.dt),
                                   "synaptic_delay": np.int64(net.synaptic_delay)}
    betas, ths, kinds = [], [], []
    for i, layer in enumerate(layers):
        (syn, _), = net.predecessors(layer)
        node, snode = net.nodes[layer], net.nodes[syn]
        if not isinstance(snode, N.Affine) or type(node) not in (N.IF, N.LIF, N.LI):
            raise ModelError(f"write_npz: layer '{layer}' is not Affine → IF/LIF/LI")
        data[f"weight_{i}"], data[f"bias_{i}"] = np.array(snode.weight), np.array(snode.bias)
        kinds.append(type(node).__name__)
        d = net.discretised(layer)
        betas.append(float(1.0 - d.alpha.flat[0]) if not isinstance(node, N.IF) else 1.0)
        ths.append(float(node.v_threshold.flat[0]) if node.spiking else 1.0)
        if node.spiking:
            data["reset"], data["compare"] = np.str_(node.reset), np.str_(node.compare)
    data["neuron"] = np.str_(kinds[0])
    data["output_neuron"] = np.str_(kinds[-1])
    data["beta"], data["v_threshold"] = np.array(betas), np.array(ths)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **data)
    return path
