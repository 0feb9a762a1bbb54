"""The run folder's files: ``results.csv`` (one CSV line per finished run, appended as
runs finish; read back with a torn last line dropped) and ``study.json`` (the study and
its hash); the folder checks run before a sweep writes anything."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .._atomic import check_output_dir, mark_written, marker_entries
from ..errors import DataError, OutputError, short
from .runs import RunSpec
from .study import Study

__all__ = ["TABLE", "STUDY_RECORD", "MAX_TABLE_BYTES", "read_table", "one_line", "row",
           "line", "study_record", "recorded_hash", "check_rows", "mark", "prepare",
           "refuse_theirs"]

TABLE = "results.csv"
STUDY_RECORD = "study.json"
#: largest results table read back (a table of 10⁶ runs is ~200 MB)
MAX_TABLE_BYTES = 1 << 30


def one_line(text: object, limit: int = 600) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 15] + "... (cut)"


# -- the results table -------------------------------------------------------------------
def fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def row(study: Study, spec: RunSpec, result: dict) -> list[str]:
    """The table row of a finished run (its columns as :meth:`Study.columns`)."""
    vals = [spec.run_id, str(spec.index), str(spec.seed)]
    vals += [fmt(spec.params.get(k)) for k in study.param_names]
    vals += [fmt(result["metrics"][m]) for m in study.metrics]
    return vals + list(result["calibration"])  # calibrated_on, scored_on


def line(fields: list[str]) -> str:
    """One CSV line (``\\n``-terminated)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def read_table(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Header and complete rows of a results CSV (a torn last line is dropped).

    A file that is not UTF-8 text, holds NUL bytes, has a field over the CSV field limit
    or a row (other than a torn last one) with the wrong number of fields →
    :class:`~neurocosim.errors.DataError`."""
    from .._yaml import read_text

    path = Path(path)
    text = read_text(path, "results table", DataError, max_bytes=MAX_TABLE_BYTES)
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(complete, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: not a results table "
                        f"({one_line(exc, 120)})") from None
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}: line {i + 2} has {len(r)} fields, the header "
                            f"{len(header)}; the table was edited or is not a sweep's "
                            "results table")
    return header, body


def study_record(study: Study, calibration: dict | None = None) -> str:
    """``study.json``: the study, its hash and which samples calibrate and are scored."""
    return json.dumps({"neurocosim_study": 1, "name": study.name, "source": study.source,
                       "hash": study.study_hash, "canonical": study.canonical,
                       "calibration": calibration, "study": study.raw}, indent=1,
                      default=str) + "\n"


def recorded_hash(out: Path) -> tuple[str, str]:
    """(hash, name) recorded in ``out/study.json``."""
    from .._yaml import read_text

    path = out / STUDY_RECORD
    text = read_text(path, "study record", DataError)
    try:
        rec = json.loads(text)
    except (ValueError, RecursionError):
        raise DataError(f"{path}: not a study record (malformed JSON)") from None
    h = rec.get("hash") if isinstance(rec, dict) else None
    if not isinstance(h, str) or not h:
        raise DataError(f"{path}: records no study hash (written by an older neurocosim, or "
                        "not a sweep folder); sweep into a new folder")
    name = rec.get("name")
    return h, name if isinstance(name, str) else "?"


def check_rows(study: Study, table: Path, rows: list[list[str]]) -> dict[str, list[str]]:
    """The rows of a table being resumed by run_id; each must be one of ``study``'s runs."""
    done: dict[str, list[str]] = {}
    n = len(study.runs)
    for lineno, r in enumerate(rows, start=2):
        try:
            idx = int(r[1])
        except ValueError:
            idx = -1
        spec = study.runs[idx] if 0 <= idx < n else None
        if spec is None or spec.run_id != r[0] or str(spec.seed) != r[2]:
            raise DataError(f"{table}: line {lineno}: run_id {short(r[0])} (index "
                            f"{short(r[1])}) is not a run of study '{study.name}' "
                            f"({study.source}); the table was edited or belongs to another "
                            "study")
        if r[0] in done:
            raise DataError(f"{table}: line {lineno}: run {idx} appears twice; the table was "
                            "edited")
        done[r[0]] = r
    return done


# -- the folder --------------------------------------------------------------------------
def mark(out: Path, names: list[str], command: str = "sweep",
         sources: dict[str, Path] | None = None) -> None:
    """List ``names`` in the folder's marker before they are written (a kill leaves no
    file the folder does not claim); see :func:`neurocosim._atomic.mark_written`."""
    mark_written(out, names, command, sources)


def prepare(out: Path, force: bool) -> None:
    """Refuse a folder neurocosim may not write (see ``check_output_dir``); create it."""
    check_output_dir(out, force=force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the folder: {exc.strerror}") from None


def refuse_theirs(out: Path, names: list[str]) -> None:
    """A sweep's own files are listed in the marker; ``results.csv`` grows while the sweep
    runs, so its recorded digest may be stale after a kill: its rows are checked instead."""
    ours = marker_entries(out) or {}
    for n in names:
        if (out / n).exists() and n not in ours:
            raise OutputError(f"{out / n}: exists and was not written by neurocosim; it is "
                              "never touched: move it away or choose another folder with -o")
