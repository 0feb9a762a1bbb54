"""The real data the examples, demo and benchmarks use: scikit-learn's handwritten digits.

1797 8×8 images shipped with scikit-learn (no download), pixel intensities scaled to
[0, 1], split 75/25 stratified; the reference ANN is a ReLU MLP 64-128-64-10.
"""

from __future__ import annotations

import numpy as np

__all__ = ["digits", "digits_mlp"]


def digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)``, values in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x / 16.0, y, test_size=0.25, random_state=seed, stratify=y)


def digits_mlp(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0):
    """The ReLU MLP 64-128-64-10 the digits SNNs are converted from."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400,
                         random_state=seed).fit(x_train, y_train)
