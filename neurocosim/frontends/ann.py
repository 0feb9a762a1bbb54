"""ANN → SNN conversion of a scikit-learn ``MLPClassifier`` (ReLU) with threshold balancing.

Rate coding: an integrate-and-fire neuron with subtract reset and threshold 1, driven by a
constant input, fires at a rate proportional to its ReLU activation divided by its layer's
scale λ. Data-based normalisation (Diehl et al. 2015; Rueckauer et al. 2017, "robust
normalisation") sets λ_l to a high percentile of layer l's positive activations on
training data and rescales

.. math:: W_l' = W_l \\, \\lambda_{l-1} / \\lambda_l, \\qquad b_l' = b_l / \\lambda_l

with λ_0 = 1: the network input is the analog value itself, injected as a constant
current each step. The output layer is balanced on its positive logits and read out by
spike count (ties go to the lowest class index).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, ModelError, short
from ..ir import nodes as N
from ..ir.graph import Network

__all__ = ["convert_mlp", "layer_scales", "load_mlp", "convert_mlp_file", "SKOPS_TRUSTED"]


def _mlp_layers(mlp: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    coefs = getattr(mlp, "coefs_", None)
    if coefs is None:
        raise ModelError("convert_mlp: the model is not a fitted scikit-learn MLP (no coefs_)")
    if getattr(mlp, "activation", "relu") != "relu":
        raise ModelError(
            f"convert_mlp: hidden activation is {short(mlp.activation)}; rate-coded IF neurons "
            "approximate ReLU only: retrain with activation='relu'"
        )
    try:
        ws = [np.asarray(c, float) for c in coefs]
        bs = [np.asarray(b, float) for b in mlp.intercepts_]
    except (TypeError, ValueError, AttributeError):
        raise ModelError("convert_mlp: the model's coefs_/intercepts_ are not numeric arrays; "
                         "give a fitted scikit-learn MLPClassifier") from None
    for i, (w, b) in enumerate(zip(ws, bs, strict=False)):
        if w.ndim != 2 or b.shape != (w.shape[1],) or (i and w.shape[0] != ws[i - 1].shape[1]):
            raise ModelError(f"convert_mlp: layer {i}: weight {w.shape} and bias {b.shape} do "
                             "not form a multilayer perceptron")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ModelError(f"convert_mlp: layer {i}: weights or biases are NaN or infinite")
    if not ws or len(ws) != len(bs):
        raise ModelError("convert_mlp: the model has no layers (or unequal coefs_/intercepts_)")
    return ws, bs


def layer_scales(mlp: Any, x: np.ndarray, percentile: float = 99.9) -> np.ndarray:
    """λ_l for every layer: the ``percentile`` of its positive activations on ``x``."""
    if not 0 < percentile <= 100:
        raise ModelError(f"percentile must lie in (0, 100], got {percentile}")
    ws, bs = _mlp_layers(mlp)
    a = np.asarray(x, float).reshape(len(x), -1)
    if a.shape[1] != ws[0].shape[0]:
        raise DataError(f"the data have {a.shape[1]} features per sample; the MLP takes "
                        f"{ws[0].shape[0]}")
    scales = []
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        z = a @ w + b
        a = np.maximum(z, 0.0)
        pos = a[a > 0]
        lam = float(np.percentile(pos, percentile)) if pos.size else 1.0
        if not np.isfinite(lam) or lam <= 0:
            raise ModelError(f"layer {i}: activation scale {lam} is not positive")
        scales.append(lam)
    return np.array(scales)


def convert_mlp(
    mlp: Any,
    x_train: np.ndarray,
    *,
    dt: float = 1e-3,
    percentile: float = 99.9,
    neuron: str = "IF",
    beta: float = 1.0,
    name: str = "mlp-snn",
) -> Network:
    """Convert a fitted ``MLPClassifier`` into a spiking :class:`Network`.

    Parameters
    ----------
    mlp
        Fitted ``sklearn.neural_network.MLPClassifier`` with ReLU hidden layers.
    x_train
        ``(n_samples, n_features)`` training inputs (scaled as at inference) used for
        threshold balancing.
    dt
        Step in seconds (recorded in the network; IF neurons do not depend on it).
    percentile
        Percentile of positive activations used as each layer's scale λ (99.9 is
        Rueckauer et al.'s robust choice; 100 is the max-norm of Diehl et al.).
    neuron
        ``"IF"`` (default, exact rate coding) or ``"LIF"`` with per-step decay ``beta``.
    """
    ws, bs = _mlp_layers(mlp)
    x_train = np.asarray(x_train, float)
    if x_train.ndim != 2 or x_train.shape[1] != ws[0].shape[0]:
        raise ModelError(
            f"convert_mlp: x_train must be (n_samples, {ws[0].shape[0]}), got {x_train.shape}"
        )
    lam = layer_scales(mlp, x_train, percentile)
    nodes: dict[str, N.Node] = {"input": N.Input(shape=(ws[0].shape[0],))}
    edges: list[tuple[str, str]] = []
    prev, prev_lam = "input", 1.0
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        weight = w.T * (prev_lam / lam[i])
        bias = b / lam[i]
        syn, neu = f"fc{i}", f"{neuron.lower()}{i}"
        nodes[syn] = N.Affine(weight=weight, bias=bias)
        if neuron == "IF":
            nodes[neu] = N.IF(r=1.0, v_threshold=1.0, reset="subtract")
        elif neuron == "LIF":
            if not 0 < beta < 1:
                raise ModelError(f"convert_mlp: LIF needs 0 < beta < 1, got {beta}")
            tau = dt / (1 - beta)
            nodes[neu] = N.LIF(tau=tau, r=tau / dt, v_leak=0.0, v_threshold=1.0,
                               reset="subtract")
        else:
            raise ModelError(f"convert_mlp: neuron must be 'IF' or 'LIF', got {neuron!r}")
        edges += [(prev, syn), (syn, neu)]
        prev, prev_lam = neu, lam[i]
    nodes["output"] = N.Output()
    edges.append((prev, "output"))
    return Network(nodes=nodes, edges=tuple(edges), dt=dt, name=name)


#: the only types a .skops file may hold beyond scikit-learn's defaults: the fitted
#: MLP's optimiser state (listed by skops.io.get_untrusted_types for an MLPClassifier)
SKOPS_TRUSTED = ("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                 "sklearn.neural_network._stochastic_optimizers.SGDOptimizer")


def load_mlp(path: str | Path, *, trust_pickle: bool = False):
    """A scikit-learn model from ``.skops`` (safe: no code runs) or, only with
    ``trust_pickle``, from a pickle/joblib file (which can run any code when loaded)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file" if not path.exists() else
                        f"{path}: is a folder, not a model file")
    if path.suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in SKOPS_TRUSTED]
        except Exception as exc:  # noqa: BLE001 - any malformed archive
            raise DataError(f"{path}: not a readable .skops file ({type(exc).__name__}: "
                            f"{short(str(exc), 80)})") from None
        if untrusted:
            raise DataError(f"{path}: holds types neurocosim does not trust "
                            f"({', '.join(short(t, 80) for t in untrusted[:3])}); convert "
                            "takes a scikit-learn MLPClassifier")
        try:
            return sio.load(path, trusted=list(SKOPS_TRUSTED))
        except Exception as exc:  # noqa: BLE001 - skops runs no code, but can fail anyhow
            raise DataError(f"{path}: cannot load the .skops file ({type(exc).__name__}: "
                            f"{short(str(exc), 80)})") from None
    if path.suffix not in (".joblib", ".pkl", ".pickle"):
        raise DataError(f"{path}: unknown model format {short(path.suffix)}; give a .skops "
                        "file (skops.io.dump(model, 'mlp.skops')) or a trusted .joblib/.pkl "
                        "with --trust-pickle")
    if not trust_pickle:
        raise DataError(f"{path}: loading a pickle can run any code it holds; neurocosim "
                        "loads pickles only with --trust-pickle (use it for files you made), "
                        "or save the model with skops.io.dump(model, 'mlp.skops')")
    try:
        if path.suffix == ".joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - the user vouched for it (--trust-pickle)
    except Exception as exc:  # noqa: BLE001 - unpickling can raise anything
        raise DataError(f"{path}: cannot load the pickled model ({type(exc).__name__}: "
                        f"{short(str(exc), 80)})") from None


def convert_mlp_file(path: str | Path, mlp: Any, x: np.ndarray, data_source: str, *,
                     dt: float, percentile: float) -> Network:
    """:func:`convert_mlp` of ``mlp`` loaded from ``path`` (:func:`load_mlp`) and balanced
    on ``x`` (from ``data_source``); errors name the model or the data file."""
    path = Path(path)
    if not hasattr(mlp, "coefs_"):
        raise ModelError(f"{path}: holds a {short(type(mlp).__name__, 60)}, not a fitted "
                         "scikit-learn MLPClassifier")
    n_in = np.asarray(mlp.coefs_[0]).shape[0]
    xs = x.reshape(len(x), -1)
    if xs.shape[1] != n_in:
        raise DataError(f"{data_source}: 'x' has {xs.shape[1]} features per sample; the MLP in "
                        f"{path} takes {n_in}")
    try:
        return convert_mlp(mlp, xs, dt=dt, percentile=percentile, name=path.stem)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
