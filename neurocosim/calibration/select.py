"""Choosing a family by held-out likelihood, and bootstrap intervals.

Cells are split into ``folds`` groups by a seeded permutation; every family is fitted on
all folds but one and scored by the log-likelihood of the observations of the held-out
cells (:func:`~neurocosim.calibration.families.loglik`), summed over the folds. The
family with the highest held-out log-likelihood is chosen — a more flexible family wins
only when it predicts cells it has not seen better. Bootstrap intervals resample whole
cells with replacement (multinomial cell weights) and refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families import Family, Obs, fit_family, loglik

__all__ = ["Choice", "choose", "cell_folds"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Choice:
    family: Family
    theta: np.ndarray
    heldout: dict[str, float]  # family -> held-out log-likelihood per observation
    n_obs: int
    others: dict = None  # family name -> (family, θ on all data), for the figure


def cell_folds(n_cells: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of every cell: a seeded permutation dealt round-robin."""
    fold = np.empty(n_cells, np.int64)
    fold[rng.permutation(n_cells)] = np.arange(n_cells) % folds
    return fold


def choose(families: tuple[Family, ...], o: Obs, fold: np.ndarray) -> Choice:
    """The family of ``families`` with the best held-out log-likelihood on ``o``, fitted
    again on all of ``o``."""
    of = fold[o.cell]
    k = int(fold.max()) + 1
    scores: dict[str, float] = {}
    for fam in families:
        total = 0.0
        for f in range(k):
            test = of == f
            if not test.any() or test.all():
                continue
            th = fit_family(fam, o.take(~test))
            total += float(np.sum(loglik(fam, th, o.take(test))))
        scores[fam.name] = total / len(o.y) if np.isfinite(total) else -np.inf
    best = max(families, key=lambda fam: scores[fam.name])
    full = {fam.name: (fam, fit_family(fam, o)) for fam in families}
    return Choice(family=best, theta=full[best.name][1], heldout=scores, n_obs=len(o.y),
                  others=full)
