"""Hostile measurement CSVs: read_measurements gives Measurements or one DataError line.

Each case writes a CSV with one defect and asserts a :class:`DataError` whose message is
one line naming the file, the line and (for a bad value) the column, within 2 s. Then
the checks that make a fit trustworthy: duplicated ``(cell, t_s, read)`` rows and a cell
with two targets are refused, and a fit with too little data says how much it needs.
Two Hypothesis fuzzers (arbitrary bytes; random edits of a valid CSV, fitted when read)
check the reader and the fit are total and bounded (2 s, 200 MB each).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim.calibration import fit_device, read_measurements
from neurocosim.calibration.fit import Measurements, synthetic_measurements, write_measurements
from neurocosim.devices import load_chip
from neurocosim.errors import BudgetError, DataError
from tests.hostile import bounded_call, write

LIMIT_S = 2.0
LIMIT_BYTES = 200 << 20
HEADER = "cell,g_target_S,g_measured_S,t_s,read"
G_MIN, G_MAX = 5e-6, 20e-6  # the window of the pcm-aihwkit preset


@pytest.fixture(scope="module")
def valid_text(tmp_path_factory) -> str:
    """A CSV a fit accepts: 300 cells, two times, two reads (1,200 rows)."""
    rng = np.random.default_rng(0)
    targets = rng.uniform(6e-6, 19e-6, 300)
    m = synthetic_measurements(load_chip("pcm-aihwkit").macro, targets, [0.0, 3600.0], 2, rng)
    p = write_measurements(m, tmp_path_factory.mktemp("valid") / "meas.csv")
    return p.read_text()




def refused(p: Path, *fragments: str, error: type[Exception] = DataError) -> str:
    t = time.perf_counter()
    with pytest.raises(error) as err:
        read_measurements(p)
    elapsed = time.perf_counter() - t
    msg = str(err.value)
    assert elapsed < LIMIT_S, f"{elapsed:.2f} s: {msg[:200]}"
    assert "\n" not in msg and len(msg) < 1000 and str(p) in msg, msg[:300]
    for f in fragments:
        assert f in msg, msg
    return msg


def rows(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def test_valid_csv_round_trips(tmp_path, valid_text):
    m = read_measurements(write(tmp_path, "ok.csv", valid_text))
    assert len(m.cell) == 1200 and m.source.endswith("ok.csv")
    fit = fit_device(m, model="pcm_aihwkit", g_min=G_MIN, g_max=G_MAX)
    assert fit.drift is not None and fit.goodness["cells"] == 300


# ---- the file ----------------------------------------------------------------------------
def test_non_utf8_refused_naming_the_line(tmp_path):
    refused(write(tmp_path, "latin1.csv", rows("0,1e-6,1e-6,0,0", "1,1e-6,1e-6,0,0").encode()
                  + "# mesuré\n".encode("latin-1")), "line 4", "not UTF-8")


def test_nul_byte_refused_naming_line_and_column(tmp_path):
    refused(write(tmp_path, "nul.csv", rows("0,1e-6,1e-6,0,0", "1,1e-6,1e-6\x00,0,0")),
            "line 3, column 12", "NUL")


def test_huge_field_refused(tmp_path):
    # one 200k-character line, and a quoted field spanning lines past csv's field limit
    refused(write(tmp_path, "long.csv", rows("0,1e-6,1e-6,0,0", "1," + "9" * 200_000 + ",1e-6,0,0")),
            "line 3", "longer than 4,096 characters")
    spanning = '1,"' + ("9" * 3000 + "\n") * 70 + '",1e-6,0,0'
    refused(write(tmp_path, "span.csv", rows("0,1e-6,1e-6,0,0", spanning)),
            "malformed CSV", "field larger than field limit")
    refused(write(tmp_path, "field.csv", rows("0," + "1" * 100 + ",1e-6,0,0")),
            "line 2, column 'g_target_S'", "100 characters")


@pytest.mark.parametrize("text,fragments", [
    ("", ("empty", HEADER)),
    ("\n\n\n", ("no header",)),
    (HEADER + "\n", ("no measurement rows",)),
    ("cell,g_target_S,t_s,read\n0,1e-6,0,0\n", ("line 1", "missing column(s) ['g_measured_S']")),
    ("0,1e-6,1e-6,0,0\n1,1e-6,1e-6,0,0\n", ("line 1", "missing column(s)", "header")),
    ("cell,cell,g_target_S,g_measured_S,t_s,read\n", ("line 1", "'cell' appears twice")),
    (rows("0,1e-6,1e-6,0"), ("line 2", "4 values", "5 columns")),
    (rows("0,1e-6,1e-6,0,0,7"), ("line 2", "6 values")),
], ids=["empty", "blank-lines", "header-only", "missing-column", "no-header", "dup-header",
        "short-row", "long-row"])
def test_header_and_shape_refused(tmp_path, text, fragments):
    refused(write(tmp_path, "shape.csv", text), *fragments)


@pytest.mark.parametrize("line,fragments", [
    ("0,1e-6,nan,0,0", ("line 2, column 'g_measured_S'", "'nan' is not finite")),
    ("0,inf,1e-6,0,0", ("line 2, column 'g_target_S'", "not finite")),
    ("0,1e-6,1e400,0,0", ("column 'g_measured_S'", "not finite")),
    ("0,1e-6,-2e-6,0,0", ("line 2, column 'g_measured_S': -2e-6 is negative",)),
    ("0,1e-6,1e-6,-1,0", ("column 't_s'", "negative")),
    ("0,1e-6,1e-6,NaN,0", ("column 't_s'", "not finite")),
    ("0,abc,1e-6,0,0", ("line 2, column 'g_target_S': 'abc' is not a number",)),
    ("1.5,1e-6,1e-6,0,0", ("column 'cell'", "not a whole number")),
    ("x,1e-6,1e-6,0,0", ("column 'cell'", "not a whole number")),
    ("-3,1e-6,1e-6,0,0", ("column 'cell'", "negative")),
    ("1e300,1e-6,1e-6,0,0", ("column 'cell'", "too large")),
    ("0,1e-6,1e-6,0,0.5", ("column 'read'", "not a whole number")),
    ("0,1e-6,1e-6,0,inf", ("column 'read'", "not a whole number")),
    ("0,1e-6,1e-6,0,", ("column 'read'", "not a whole number")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_values_refused_naming_line_and_column(tmp_path, line, fragments):
    refused(write(tmp_path, "value.csv", rows(line)), *fragments)


def test_whole_numbers_written_as_floats_are_accepted(tmp_path):
    m = read_measurements(write(tmp_path, "f.csv", rows("3.0,1e-6,1e-6,0,1e0", " 4 ,1e-6,1e-6,0,0")))
    assert m.cell.tolist() == [3, 4] and m.read.tolist() == [1, 0]


def test_folder_missing_and_fifo_refused(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    refused(tmp_path / "folder.csv", "folder")
    refused(tmp_path / "missing.csv", "no such")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.csv")
        refused(tmp_path / "fifo.csv", "not a regular file")


def test_size_checked_against_the_budget_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "huge.csv"
    with open(p, "wb") as fh:  # sparse: 100 GB that take no disk and must not be read
        fh.write((HEADER + "\n").encode())
        fh.truncate(100 * 10**9)
    tracemalloc.start()
    try:
        refused(p, "10,000,000,001 measurement rows", "NEUROCOSIM_MAX_MEMORY",
                error=BudgetError)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < LIMIT_BYTES
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "1 MiB")
    refused(write(tmp_path, "mid.csv", rows(*[f"{i},1e-6,1e-6,0,0" for i in range(10_000)])),
            "split the file", error=BudgetError)


# ---- duplicates and consistency ------------------------------------------------------------
def test_duplicated_rows_refused_naming_the_first_pair(tmp_path, valid_text):
    # before: taken as repeat reads, biasing the fitted read noise ~10 % low
    lines = valid_text.splitlines()
    dup = lines + lines[5:9]  # rows of file lines 6-9 again as lines 1202-1205
    msg = refused(write(tmp_path, "dup.csv", "\n".join(dup) + "\n"), "lines 6 and 1202",
                  "each (cell, t_s, read) must appear once", "4 duplicated row(s)")
    assert "read" in msg
    refused(write(tmp_path, "dup2.csv", rows("0,1e-6,1e-6,0,0", "1,1e-6,1e-6,0,0",
                                             "0,1e-6,2e-6,0.0,0")),
            "lines 2 and 4", "cell 0, t_s 0.0 and read 0")


def test_cell_with_two_targets_refused(tmp_path):
    refused(write(tmp_path, "tgt.csv", rows("0,1e-6,1e-6,0,0", "1,2e-6,1e-6,0,0",
                                            "0,3e-6,1e-6,0,1")),
            "lines 2 and 4", "cell 0 has two targets")


# ---- too little data for a fit -------------------------------------------------------------
def measurements(n_cells: int, times=(0.0,), reads: int = 2, seed: int = 0,
                 spread: bool = True) -> Measurements:
    rng = np.random.default_rng(seed)
    targets = rng.uniform(6e-6, 19e-6, n_cells) if spread else np.full(n_cells, 12e-6)
    return synthetic_measurements(load_chip("pcm-aihwkit").macro, targets, list(times), reads,
                                  rng)


@pytest.mark.parametrize("kw,fragments", [
    (dict(n_cells=1, reads=1), ("1 usable cells", "at least 60")),
    (dict(n_cells=40), ("at least 60", "20 in each of 3 target bins")),
    (dict(n_cells=400, reads=1), ("repeat reads", "at least 10 cells read at least twice")),
    (dict(n_cells=400, spread=False), ("only 1 of the 12 target bins", "at least 3")),
], ids=["one-cell", "forty-cells", "no-repeat-reads", "one-target"])
def test_too_little_data_for_a_fit_says_how_much(kw, fragments):
    m = measurements(**kw)
    t = time.perf_counter()
    with pytest.raises(DataError) as err:
        fit_device(m, model="multiplicative", g_min=G_MIN, g_max=G_MAX)
    assert time.perf_counter() - t < LIMIT_S
    for f in fragments:
        assert f in str(err.value), str(err.value)


def test_drift_needs_two_cells_with_two_times():
    m = measurements(400)
    # one extra cell read at a second time: a one-member drift class
    extra = Measurements(cell=np.array([0, 0]), g_target=m.g_target[[0, 0]],
                         g_measured=m.g_measured[[0, 0]] * 0.9, t=np.array([3600.0, 3600.0]),
                         read=np.array([0, 1]))
    both = Measurements(**{k: np.concatenate([getattr(m, k), getattr(extra, k)])
                           for k in ("cell", "g_target", "g_measured", "t", "read")},
                        source="two-times.csv")
    with pytest.raises(DataError, match="two-times.csv: 1 usable cell.*at least 2 cells"):
        fit_device(both, model="multiplicative", g_min=G_MIN, g_max=G_MAX)


def test_fit_options_refused():
    from neurocosim.errors import ConfigError

    m = measurements(100)
    for kw, fragment in ((dict(t0=float("inf")), "t0"), (dict(t0=-1.0), "t0"),
                         (dict(n_bins=1), "n_bins"), (dict(g_min=float("nan")), "g_min")):
        args = dict(model="multiplicative", g_min=G_MIN, g_max=G_MAX) | kw
        with pytest.raises(ConfigError, match=fragment):
            fit_device(m, **args)


# ---- fuzzing -------------------------------------------------------------------------------
FUZZ = settings(deadline=2000, max_examples=150, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def total_and_bounded(p: Path, fit: bool = False) -> None:
    """read (and fit) → a result or one NeurocosimError line, < 2 s, < 200 MB."""
    def run():
        out = read_measurements(p)
        return fit_device(out, model="pcm_aihwkit", g_min=G_MIN, g_max=G_MAX) if fit else out

    bounded_call(run, LIMIT_S, LIMIT_BYTES)


@FUZZ
@given(raw=st.binary(max_size=4096) | st.builds(
    lambda head, junk: head + junk, st.sampled_from([b"", (HEADER + "\n").encode()]),
    st.binary(max_size=512)))
def test_fuzz_arbitrary_bytes(fuzz_dir, raw):
    total_and_bounded(write(fuzz_dir, "bytes.csv", raw))


SNIPPETS = ["", ",", "\n", "\r", "\r\n", '"', "nan", "inf", "-1", "1e400", "\x00", "\xff",
            "\ufeff", "9" * 300, "0.5", "1e300", ",,,,", HEADER, "\t", " ", "x"]


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(["splice", "drop", "repeat"]),
                                st.floats(0, 1), st.sampled_from(SNIPPETS)),
                      min_size=1, max_size=5))
def test_fuzz_mutated_csv(fuzz_dir, valid_text, edits):
    lines = valid_text.split("\n")
    for op, where, snippet in edits:
        i = min(int(where * len(lines)), len(lines) - 1)
        if op == "splice":
            at = int(where * 997) % (len(lines[i]) + 1)
            lines[i] = lines[i][:at] + snippet + lines[i][at:]
        elif op == "drop":
            del lines[i]
            if not lines:
                lines = [""]
        else:
            lines.insert(i, lines[i])
    total_and_bounded(write(fuzz_dir, "mutated.csv", "\n".join(lines)), fit=True)
