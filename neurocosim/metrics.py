"""The one definition of a classification read-out: the predicted class of a sample is
the output with the largest count or value (ties go to the lowest index, as
``numpy.argmax``), and accuracy is the fraction of samples predicted right."""

from __future__ import annotations

import numpy as np

from .errors import SimulationError

__all__ = ["predictions", "accuracy"]


def predictions(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per sample of ``outputs`` ``(n_samples, *output_shape)``."""
    outputs = np.asarray(outputs)
    return np.argmax(outputs.reshape(len(outputs), -1), axis=1)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals its label."""
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != len(outputs):
        raise SimulationError(f"{labels.shape[0]} labels for {len(outputs)} samples")
    return float(np.mean(predictions(outputs) == labels))
