"""Which samples of a study calibrate its chips and which are scored.

A run calibrates its chip (ADC ranges, threshold re-balancing) on samples it never
scores: the study's ``calibration_data`` file, or else a slice held out of ``data``. The
slice is the first ``K`` samples of ``data``, ``K`` the most calibration samples any run
of the study may use (the largest ``simulation.adc_calibration`` when a card has ADCs to
fit, :data:`~neurocosim.pipeline.THRESHOLD_SAMPLES` when thresholds are re-balanced), so
that every run scores the same samples: ``data[K:K + samples]``. Each run calibrates on
the first ones it needs (table column ``calibrated_on``: ``test.npz[0:64]``, or ``none``);
``study.json`` records the split (:func:`check_split`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..calibration.split import CalibrationSplit
from ..errors import ConfigError, short
from .validate import SIM_OPTIONS, swept_params

__all__ = ["study_count", "run_split", "check_split", "check_same_file", "COLUMNS"]

#: the table's columns after the metrics
COLUMNS = ("calibrated_on", "scored_on")


def study_count(sim: dict, grid, random, cards: dict) -> tuple[int, int | None]:
    """(``K``, the ``adc_calibration`` that asks for it or None): the most calibration
    samples a run of the study may use."""
    from ..pipeline import THRESHOLD_SAMPLES

    adc = [sim.get("adc_calibration", SIM_OPTIONS["adc_calibration"])]
    thresholds = [sim.get("recalibrate_thresholds", False)]
    swept_cards = []
    for _, key, vals in swept_params(grid, random):
        if key == "simulation.adc_calibration":
            adc += list(vals)
        elif key == "simulation.recalibrate_thresholds":
            thresholds += list(vals)
        elif not key.startswith("simulation."):
            swept_cards.append(key)
    may_set = {"macro", "macro.adc_bits", "macro.technology"}  # a swept value may add ADCs
    has_adc = any(part in may_set for k in swept_cards for part in k.split("+")) or any(
        _adc(card) for card in cards.values())
    k_adc = max(int(a) for a in adc) if has_adc else 0
    k_thr = THRESHOLD_SAMPLES if any(bool(t) for t in thresholds) else 0
    return max(k_adc, k_thr), (k_adc if k_adc >= k_thr and k_adc else None)


def _adc(card: Any) -> bool:
    macro = card.get("macro", {}) if isinstance(card, dict) else {}
    return macro.get("adc_bits") is not None and macro.get("technology") != "ideal"


def check_same_file(data: str, calibration_data: str | None, source: str) -> None:
    """The calibration file is not the data file (one would calibrate on what it scores)."""
    import os

    if calibration_data is None:
        return
    try:
        same = os.path.samefile(data, calibration_data)
    except OSError:
        same = False
    if same:
        raise ConfigError(f"{source}: calibration_data: {short(calibration_data)} is the data "
                          "file itself; give separate calibration samples (e.g. the training "
                          "set), or leave calibration_data out to hold out the first samples "
                          "of data")


def run_split(study: dict, x, y, load) -> tuple[Any, Any, Any, CalibrationSplit]:
    """(scored x, their y, calibration x, split) of a study (its payload: ``data``,
    ``samples``, ``calibration_data``, ``calibration_count``, ``adc_count``, ``source``);
    ``load(path)`` reads a data file (the worker's cache). The same for every run."""
    from ..inputs import calibration_inputs

    k, cal = study["calibration_count"], study["calibration_data"]
    if cal is None:
        xs, ys, xc, split = calibration_inputs(study["data"], x, y, k, None,
                                               flags=_flags(study["source"]),
                                               adc_count=study["adc_count"])
    else:  # checked by check_split before any run
        xc = load(cal)[0][:k]
        xs, ys = x, y
        split = CalibrationSplit(scored_file=study["data"], scored=(0, len(x)), file=cal,
                                 samples=(0, len(xc)))
    return _first(xs, ys, xc, split, study["samples"])


def _first(xs, ys, xc, split: CalibrationSplit, n: int | None):
    """Only the first ``n`` scored samples (None: all)."""
    if not n or len(xs) <= n:
        return xs, ys, xc, split
    a = split.scored[0]
    return xs[:n], None if ys is None else ys[:n], xc, replace(split, scored=(a, a + n))


def _flags(source: str) -> tuple[str, str]:
    return f"{source}: calibration_data", "simulation.adc_calibration"


def check_split(study, net, x, y, encodings, steps: int) -> dict[str, Any]:
    """Refuse a study whose calibration samples cannot be had (too few held out or in
    ``calibration_data``, a calibration file that does not fit the network, or one whose
    samples are all scored ones) before any run; the split's record for ``study.json``."""
    import numpy as np

    from ..inputs import calibration_encoder, calibration_inputs
    from ..pipeline import THRESHOLD_SAMPLES

    flags = _flags(study.source)
    k, adc_count = study_count(study.simulation, study.grid, study.random, study.cards)
    n = study.samples
    if study.calibration_data is not None and n:
        x, y = x[:n], None if y is None else y[:n]
    xs, ys, xc, split = _first(*calibration_inputs(study.data, x, y, k, study.calibration_data,
                                                   flags=flags, adc_count=adc_count), n)
    if split.n_calibration:
        for enc in sorted(encodings):
            calibration_encoder(xc[:1], split.first(1), net, enc, steps,
                                np.random.default_rng(0), flags=flags)
    rec = split.record(())
    del rec["calibrated"]
    rec["each_run"] = ("calibrates on the first N calibration samples it needs (N: its "
                       "simulation.adc_calibration when its card has ADCs to fit, "
                       f"{THRESHOLD_SAMPLES} with recalibrate_thresholds, 0 otherwise); see "
                       "the column calibrated_on")
    return rec
