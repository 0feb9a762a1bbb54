"""Confidence intervals over seeds: Student's t with n − 1 degrees of freedom (3–10 seeds)."""

from types import SimpleNamespace

import numpy as np
import pytest

from neurocosim import plots
from neurocosim.plots import ci95_half_width

# t(0.975, n − 1) from printed tables (not from scipy): n = 3, 5, 10
T975 = {3: 4.303, 5: 2.776, 10: 2.262}


@pytest.mark.parametrize("n", sorted(T975))
def test_half_width_is_students_t_closed_form(n):
    vals = np.linspace(0.90, 0.97, n) + (np.arange(n) % 2) * 0.004
    s = np.sqrt(np.sum((vals - vals.mean()) ** 2) / (n - 1))
    assert ci95_half_width(vals) == pytest.approx(T975[n] * s / np.sqrt(n), rel=2e-4)
    assert ci95_half_width(vals) > 1.96 * s / np.sqrt(n) * 1.1  # wider than the normal's


def test_three_seeds_exactly():
    vals = [0.96, 0.97, 0.98]  # s = 0.01
    assert ci95_half_width(vals) == pytest.approx(4.302653 * 0.01 / np.sqrt(3), rel=1e-6)
    assert np.isnan(ci95_half_width([0.9]))  # one seed: no interval
    assert ci95_half_width([0.9, 0.9, 0.9]) == 0.0


def test_sweep_figure_band_uses_students_t(tmp_path, monkeypatch):
    """The band drawn by ``sweep --plot`` is mean ± t·s/√n at every point."""
    header = ["run_id", "index", "seed", "p", "accuracy"]
    acc = {1: [0.90, 0.92, 0.97], 2: [0.80, 0.85, 0.83]}
    rows = [[f"r{p}{k}", str(i), str(k), str(p), repr(a)]
            for i, (p, vals) in enumerate(acc.items()) for k, a in enumerate(vals)]
    study = SimpleNamespace(name="t", param_names=["p"], metrics=["accuracy"])
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or path)
    plots.sweep_figure((header, rows), study, tmp_path)
    (ax,) = figs[0].axes
    band = ax.collections[0].get_paths()[0].vertices
    for x, vals in acc.items():
        m, h = np.mean(vals), T975[3] * np.std(vals, ddof=1) / np.sqrt(3)
        ys = band[np.isclose(band[:, 0], x), 1]
        assert ys.max() == pytest.approx(m + h, rel=2e-4) and ys.min() == pytest.approx(m - h, rel=2e-4)
