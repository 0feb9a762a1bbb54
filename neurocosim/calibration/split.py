"""Which samples calibrate a chip and which are scored: never the same ones.

A run on a chip fits its operating point (ADC ranges, threshold re-balancing) on
*calibration samples*. Scoring those same samples would measure the chip on the data it
was tuned to, so the samples scored are always others: a separate calibration file, or
a slice held out of the data file and excluded from scoring. A :class:`CalibrationSplit`
names both sets (file and index range); every output that reports a score carries its
:meth:`~CalibrationSplit.record` (``summary.json``, the sweep's ``study.json``) or its
:meth:`~CalibrationSplit.text` / :meth:`~CalibrationSplit.cells` (what ``simulate``
prints, the sweep's table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["CalibrationSplit", "STEP_NAMES", "count_identical"]

#: what a run may calibrate, as outputs name it
STEP_NAMES = {"adc_ranges": "ADC ranges", "thresholds": "thresholds"}


@dataclass(frozen=True, kw_only=True)
class CalibrationSplit:
    """The scored samples ``scored_file[scored[0]:scored[1]]`` and the calibration samples
    ``file[samples[0]:samples[1]]`` (``file`` None: nothing calibrates). Held out of the
    same file, the two ranges never overlap; from another file, ``identical_to_scored``
    counts calibration samples equal to a scored sample."""

    scored_file: str
    scored: tuple[int, int]
    file: str | None = None
    samples: tuple[int, int] = (0, 0)
    identical_to_scored: int = 0

    def __post_init__(self) -> None:
        (a, b), (c, d) = self.scored, self.samples
        if not (0 <= a <= b and 0 <= c <= d):
            raise DataError(f"{self.scored_file}: invalid sample ranges {a}..{b}, {c}..{d}")
        if self.held_out and c < b and a < d:
            raise DataError(f"{self.scored_file}: calibration samples {c}..{d - 1} overlap "
                            f"the scored samples {a}..{b - 1}; calibrate on other samples")

    @property
    def held_out(self) -> bool:
        """The calibration samples are a slice of the scored data file."""
        return self.file is not None and self.file == self.scored_file

    @property
    def n_calibration(self) -> int:
        return self.samples[1] - self.samples[0] if self.file is not None else 0

    @property
    def n_scored(self) -> int:
        return self.scored[1] - self.scored[0]

    @property
    def disjoint(self) -> bool:
        """No scored sample is a calibration sample (by index, or by value across files)."""
        return self.held_out or self.identical_to_scored == 0

    def first(self, n: int) -> CalibrationSplit:
        """The same split, calibrating on the first ``n`` calibration samples only."""
        from dataclasses import replace

        c, d = self.samples
        if self.file is None or n > d - c:
            raise DataError(f"{self.file or self.scored_file}: {n} calibration samples "
                            f"asked, {max(0, d - c)} held")
        return replace(self, samples=(c, c + n))

    def record(self, calibrated: Sequence[str]) -> dict[str, Any]:
        """The JSON record: what was calibrated, on which samples, which were scored."""
        def rng(file, lo, hi):
            return {"file": file, "first": lo, "last": hi - 1, "count": hi - lo}

        cal = None if self.file is None else (
            rng(self.file, *self.samples) | {"held_out_of_scored_file": self.held_out})
        return {"calibrated": list(calibrated), "calibration_samples": cal,
                "scored_samples": rng(self.scored_file, *self.scored),
                "disjoint": self.disjoint, "identical_samples": self.identical_to_scored}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> CalibrationSplit:
        """The split a :meth:`record` describes."""
        sc, cal = rec["scored_samples"], rec["calibration_samples"]
        return cls(scored_file=sc["file"], scored=(sc["first"], sc["last"] + 1),
                   file=None if cal is None else cal["file"],
                   samples=(0, 0) if cal is None else (cal["first"], cal["last"] + 1),
                   identical_to_scored=rec["identical_samples"])

    def text(self, calibrated: Sequence[str]) -> str:
        """One line for a person: what calibrated the chip, what was scored."""
        scored = f"samples {_span(self.scored)} of {_name(self.scored_file)}"
        if not calibrated or self.n_calibration == 0:
            unused = f"; {_name(self.file)} not used" if self.file and not self.held_out else ""
            return f"calibration: none (no ADC ranges or thresholds to fit){unused}; scored on {scored}"
        what = " and ".join(STEP_NAMES[c] for c in calibrated)
        where = f"samples {_span(self.samples)} of {_name(self.file)}"
        if self.held_out:
            return (f"calibration: {what} fitted on {where} (held out); scored on the other "
                    f"{self.n_scored} ({scored})")
        same = (f"; warning: {self.identical_to_scored} of them equal scored samples"
                if self.identical_to_scored else "")
        return f"calibration: {what} fitted on {where}; scored on {scored}{same}"

    def cells(self, calibrated: Sequence[str]) -> tuple[str, str]:
        """(calibrated_on, scored_on) cells of a results table, e.g. ``test.npz[0:64]``."""
        a, b = self.scored
        scored = f"{_name(self.scored_file)}[{a}:{b}]"
        if not calibrated or self.n_calibration == 0:
            return "none", scored
        c, d = self.samples
        return f"{_name(self.file)}[{c}:{d}]", scored


def _name(path: str | None) -> str:
    return Path(str(path)).name


def _span(r: tuple[int, int]) -> str:
    return f"{r[0]}..{r[1] - 1}" if r[1] > r[0] else "(none)"


def count_identical(calibration: np.ndarray, scored: np.ndarray) -> int:
    """How many calibration samples equal (value for value) one of the scored samples."""
    calibration, scored = np.asarray(calibration), np.asarray(scored)
    if len(calibration) == 0 or len(scored) == 0:
        return 0
    if calibration.shape[1:] != scored.shape[1:]:
        calibration = calibration.reshape(len(calibration), -1)
        scored = scored.reshape(len(scored), -1)
        if calibration.shape[1] != scored.shape[1]:
            return 0
    seen = {np.ascontiguousarray(s, dtype=np.float64).tobytes() for s in scored}
    return sum(np.ascontiguousarray(c, dtype=np.float64).tobytes() in seen for c in calibration)
