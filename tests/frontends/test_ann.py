"""ANN→SNN conversion on scikit-learn's digits (real data shipped with scikit-learn)."""

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

from neurocosim import convert_mlp, make_encoder, simulate_reference
from neurocosim.errors import ModelError
from neurocosim.frontends import layer_scales


def test_converted_snn_keeps_95_percent_of_ann_accuracy(digits_mlp):
    mlp, xtr, xte, yte = digits_mlp
    ann = mlp.score(xte, yte)
    net = convert_mlp(mlp, xtr)
    res = simulate_reference(net, make_encoder("current", xte, net.input_shape), 64)
    snn = res.accuracy(yte)
    assert ann > 0.95
    assert snn >= 0.95 * ann, (snn, ann)


def test_snn_rates_approximate_normalised_activations(digits_mlp):
    """An IF neuron with subtract reset fires at rate ≈ relu(z)/λ: check the hidden layer."""
    mlp, xtr, xte, _ = digits_mlp
    lam = layer_scales(mlp, xtr)
    net = convert_mlp(mlp, xtr)
    steps = 400
    res = simulate_reference(net, make_encoder("current", xte[:50], net.input_shape), steps,
                             probes=["if0"])
    rate = res.probes["if0"].mean(axis=1)
    a0 = np.maximum(xte[:50] @ mlp.coefs_[0] + mlp.intercepts_[0], 0) / lam[0]
    expected = np.minimum(a0, 1.0)  # at most one spike per step
    assert np.abs(rate - expected).max() <= 1.0 / steps + 1e-12


def test_threshold_balancing_scales_weights(digits_mlp):
    mlp, xtr, _, _ = digits_mlp
    lam = layer_scales(mlp, xtr, percentile=99.0)
    net = convert_mlp(mlp, xtr, percentile=99.0)
    np.testing.assert_allclose(net.nodes["fc1"].weight, mlp.coefs_[1].T * lam[0] / lam[1])
    np.testing.assert_allclose(net.nodes["fc0"].bias, mlp.intercepts_[0] / lam[0])
    assert net.nodes["if0"].reset == "subtract"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_conversion_errors(digits_mlp):
    mlp, xtr, _, _ = digits_mlp
    with pytest.raises(ModelError, match="not a fitted scikit-learn MLP"):
        convert_mlp(object(), xtr)
    tanh = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=5).fit(xtr[:50], np.arange(50) % 3)
    with pytest.raises(ModelError, match="activation='relu'"):
        convert_mlp(tanh, xtr[:50])
    with pytest.raises(ModelError, match="x_train must be"):
        convert_mlp(mlp, xtr[:, :10])
