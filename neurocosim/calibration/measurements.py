"""Read and write the measurement CSV that :mod:`neurocosim.calibration.fit` fits.

Layout (one row per read; header required, any column order)::

    cell         integer id of the cell
    g_target_S   programmed target conductance, siemens (>= 0)
    g_measured_S measured conductance, siemens (>= 0)
    t_s          time of the read after programming, seconds (>= 0)
    read         repeat index of the read at that time (0, 1, …)

Reading is total and bounded: any bytes give :class:`Measurements` or one
:class:`~neurocosim.errors.DataError` line naming the file, line and column. The memory
the file implies is checked against the budget from its size before it is read; lines,
fields and values are bounded; each ``(cell, t_s, read)`` may appear only once (a
duplicated row would otherwise pass for a repeat read and bias the read noise low), and
a cell has one target.

A lab's own layout is read by naming its columns and units (``--columns
cell=cell_id,g_target=G_T,g_measured=G,t=time,read=rep --units uS`` on the command line,
:func:`parse_columns` and :func:`parse_units`): every value is converted to siemens and
seconds as it is read.
"""

from __future__ import annotations

import array
import csv
import dataclasses
import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..budget import check_memory
from ..errors import ConfigError, DataError, short

__all__ = ["Measurements", "read_measurements", "write_measurements", "COLUMNS", "KEYS",
           "parse_columns", "parse_units"]

COLUMNS = ("cell", "g_target_S", "g_measured_S", "t_s", "read")
#: the quantity each column holds, as named by ``--columns`` (key -> default column)
KEYS = dict(zip(("cell", "g_target", "g_measured", "t", "read"), COLUMNS, strict=True))
#: units a conductance or time column may be written in (``--units``), in SI
G_UNITS = {"S": 1.0, "mS": 1e-3, "uS": 1e-6, "µS": 1e-6, "nS": 1e-9, "pS": 1e-12}
T_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0,
           "d": 86400.0}
_WHOLE = ("cell", "read")

#: longest line of a measurement CSV (a row is about 60 characters)
MAX_LINE_CHARS = 4096
#: longest value in one field ("1.2345678901234567e-05" is 22)
MAX_FIELD_CHARS = 64
#: fewest bytes a row takes ("0,0,0,0,0" and its newline): rows <= file size / this
MIN_ROW_BYTES = 10
#: memory one row costs: five columns read into arrays, copied to numpy, and the
#: dozen per-row arrays of :func:`~neurocosim.calibration.fit.fit_device`
BYTES_PER_ROW = 200
#: largest cell id or read index (int64 with room for arithmetic)
MAX_INDEX = 1 << 62


@dataclass(frozen=True, kw_only=True, eq=False)
class Measurements:
    cell: np.ndarray
    g_target: np.ndarray
    g_measured: np.ndarray
    t: np.ndarray
    read: np.ndarray
    source: str = "<measurements>"  # the file, for error messages


def _pairs(text: str, option: str, allowed) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in str(text).split(","):
        key, eq, value = (x.strip() for x in part.partition("="))
        if not eq or not key or not value:
            raise ConfigError(f"{option}: {short(part, 40)} is not KEY=VALUE; write e.g. "
                              f"{option} {'cell=cell_id,g_target=G_T' if 'col' in option else 'g=uS,t=h'}")
        if key not in allowed:
            raise ConfigError(f"{option}: unknown key {short(key, 40)}; the keys are "
                              f"{', '.join(allowed)}")
        if key in out:
            raise ConfigError(f"{option}: key '{key}' is given twice")
        out[key] = value
    return out


def parse_columns(text: str | None) -> dict[str, str]:
    """``cell=cell_id,g_target=G_T,...`` -> {key: the file's column name}; keys left out
    keep the documented names (:data:`KEYS`)."""
    cols = dict(KEYS)
    if text:
        cols.update(_pairs(text, "--columns", KEYS))
    named = list(cols.values())
    dup = sorted({c for c in named if named.count(c) > 1})
    if dup:
        raise ConfigError(f"--columns: column '{short(dup[0], 40)}' is named for two quantities; "
                          "each quantity needs its own column")
    return cols


def parse_units(text: str | None) -> dict[str, float]:
    """``uS`` (conductances) or ``g=uS,t=h`` -> {"g": siemens per unit, "t": seconds per
    unit}."""
    out = {"g": 1.0, "t": 1.0}
    if not text:
        return out
    pairs = _pairs(text, "--units", ("g", "t")) if "=" in text else {"g": text.strip()}
    for key, unit in pairs.items():
        table = G_UNITS if key == "g" else T_UNITS
        if unit not in table:
            raise ConfigError(f"--units: unknown {'conductance' if key == 'g' else 'time'} unit "
                              f"{short(unit, 20)}; use one of {', '.join(table)}")
        out[key] = table[unit]
    return out


def read_measurements(path: str | Path, columns: dict[str, str] | None = None,
                      units: dict[str, float] | None = None) -> Measurements:
    """Read and validate a measurement CSV; errors name the file, line and column.
    ``columns`` ({key: column name}, :func:`parse_columns`) and ``units`` (SI factors,
    :func:`parse_units`) read a lab's own layout."""
    path = Path(path)
    columns = columns or dict(KEYS)
    units = units or {"g": 1.0, "t": 1.0}
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such measurement file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the path
        raise DataError(f"{short(str(path))}: not a valid file name for a measurement "
                        "CSV") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a folder; give the measurement CSV file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
        raise DataError(f"{path}: is not a regular file; give the measurement CSV file")
    if st.st_size == 0:
        raise DataError(f"{path}: the file is empty; the first line must be the header "
                        f"{','.join(COLUMNS)}")
    max_rows = st.st_size // MIN_ROW_BYTES + 1
    check_memory(max_rows * BYTES_PER_ROW,
                 f"{path}: reading and fitting up to {max_rows:,} measurement rows "
                 f"({st.st_size:,} bytes)",
                 "split the file (by cells) or raise NEUROCOSIM_MAX_MEMORY")
    try:
        with open(path, "rb") as fh:
            m = _read(fh, path, max_rows, columns)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if units["g"] != 1.0 or units["t"] != 1.0:
        with np.errstate(over="ignore"):  # an overflow is refused just below
            m = dataclasses.replace(m, g_target=m.g_target * units["g"],
                                    g_measured=m.g_measured * units["g"], t=m.t * units["t"])
        if not all(np.isfinite(a).all() for a in (m.g_target, m.g_measured, m.t)):
            raise DataError(f"{path}: a value overflows when converted to siemens and seconds "
                            "(--units); check the units")
    return m


def _lines(fh, path: Path) -> Iterator[str]:
    """Decoded lines of ``fh`` (bytes), each bounded, UTF-8 and without NUL."""
    number = 0
    limit = 4 * MAX_LINE_CHARS + 2  # bytes: a UTF-8 character takes up to four
    while True:
        raw = fh.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit:
            raise DataError(f"{path}: line {number}: longer than {MAX_LINE_CHARS:,} characters; "
                            "a measurement row is cell,g_target_S,g_measured_S,t_s,read")
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                            f"at column {exc.start + 1}); save the file as UTF-8 CSV") from None
        if "\x00" in text:
            raise DataError(f"{path}: line {number}, column {text.index(chr(0)) + 1}: a NUL byte; "
                            "this is a binary file, not a CSV")
        if len(text.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise DataError(f"{path}: line {number}: longer than {MAX_LINE_CHARS:,} characters; "
                            "a measurement row is cell,g_target_S,g_measured_S,t_s,read")
        yield text


def _show(raw: str) -> str:
    s = raw.strip()
    return s if s and s.isprintable() and len(s) <= 40 else short(raw, 40)


def _read(fh, path: Path, max_rows: int, columns: dict[str, str]) -> Measurements:
    reader = csv.reader(_lines(fh, path))
    header: list[str] | None = None
    where: dict[str, int] = {}
    ints = {c: array.array("q") for c in _WHOLE}
    floats = {c: array.array("d") for c in COLUMNS if c not in _WHOLE}
    lines = array.array("q")
    try:
        for row in reader:
            if not row or all(not f.strip() for f in row):
                continue  # blank line
            line = reader.line_num
            if header is None:
                header = [h.strip() for h in row]
                where = _header(header, columns, path, line)
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: line {line}: {len(row)} values but the header names "
                                f"{len(header)} columns")
            if len(lines) >= max_rows:  # cannot happen for a regular file; keeps it bounded
                raise DataError(f"{path}: line {line}: more rows than its size allows")
            for c in COLUMNS:
                raw = row[where[c][0]]
                c_file = _show(where[c][1])
                if len(raw) > MAX_FIELD_CHARS:
                    raise DataError(f"{path}: line {line}, column '{c_file}': a value of "
                                    f"{len(raw):,} characters (at most {MAX_FIELD_CHARS})")
                if c in _WHOLE:
                    ints[c].append(_whole(raw, path, line, c_file))
                else:
                    floats[c].append(_value(raw, path, line, c_file))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise DataError(f"{path}: no header; the first line must be {','.join(COLUMNS)}")
    if not lines:
        raise DataError(f"{path}: no measurement rows after the header")
    m = Measurements(cell=np.frombuffer(ints["cell"], np.int64).copy(),
                     g_target=np.frombuffer(floats["g_target_S"], np.float64).copy(),
                     g_measured=np.frombuffer(floats["g_measured_S"], np.float64).copy(),
                     t=np.frombuffer(floats["t_s"], np.float64).copy(),
                     read=np.frombuffer(ints["read"], np.int64).copy(), source=str(path))
    _check_unique(m, np.frombuffer(lines, np.int64), path)
    return m


def _header(header: list[str], columns: dict[str, str], path: Path, line: int
            ) -> dict[str, tuple[int, str]]:
    """{documented column: (index in the file, the file's name for it)}."""
    seen: set[str] = set()
    wanted = set(columns.values())
    for h in header:
        if h in wanted and h in seen:
            raise DataError(f"{path}: line {line}: column '{_show(h)}' appears twice in the "
                            "header")
        seen.add(h)
    missing = [columns[k] for k in KEYS if columns[k] not in seen]
    if missing:
        named = "; name yours with --columns key=column (keys: cell, g_target, g_measured, t, " \
                "read) and --units" if columns == KEYS else " (named by --columns)"
        raise DataError(f"{path}: line {line}: missing column(s) {short(missing, 120)}; the first "
                        f"line must be the header and the layout is {', '.join(COLUMNS)}{named}")
    return {KEYS[k]: (header.index(columns[k]), columns[k]) for k in KEYS}


def _value(raw: str, path: Path, line: int, c: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not a "
                        "number") from None
    if not math.isfinite(v):
        raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not finite "
                        "(NaN or inf)")
    if v < 0:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is negative; "
                        "conductances and times are >= 0")
    return v


def _whole(raw: str, path: Path, line: int, c: str) -> int:
    try:
        v = int(raw)
    except ValueError:
        try:
            f = float(raw)
        except ValueError:
            f = math.nan
        if not (math.isfinite(f) and f.is_integer()):
            raise DataError(f"{path}: line {line}, column '{c}': {short(raw, 40)} is not a whole "
                            f"number; '{c}' is an integer index (0, 1, 2, ...)") from None
        v = int(f)
    if v < 0:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is negative; "
                        f"'{c}' is an index >= 0")
    if v >= MAX_INDEX:
        raise DataError(f"{path}: line {line}, column '{c}': {_show(raw)} is too large "
                        f"(at most {MAX_INDEX - 1})")
    return v


def _check_unique(m: Measurements, lines: np.ndarray, path: Path) -> None:
    """Each (cell, t_s, read) once; one target per cell. Errors name the first clash."""
    order = np.lexsort((lines, m.read, m.t, m.cell))  # stable: equal keys in line order
    c, t, r = m.cell[order], m.t[order], m.read[order]
    same = (c[1:] == c[:-1]) & (t[1:] == t[:-1]) & (r[1:] == r[:-1])
    if same.any():
        later = np.flatnonzero(same) + 1  # positions (sorted) of rows equal to the one before
        k = later[np.argmin(lines[order][later])]  # the duplicate met first in the file
        first = k
        while first > 0 and same[first - 1]:
            first -= 1
        a, b = int(lines[order][first]), int(lines[order][k])
        raise DataError(
            f"{path}: lines {a} and {b}: the same cell {int(c[k])}, t_s {float(t[k])!r} and read "
            f"{int(r[k])}; each (cell, t_s, read) must appear once - number repeat reads "
            f"0, 1, 2, ... ({int(same.sum())} duplicated row(s) in all)")
    order = np.lexsort((lines, m.cell))
    c, g = m.cell[order], m.g_target[order]
    clash = (c[1:] == c[:-1]) & (g[1:] != g[:-1])
    if clash.any():
        k = int(np.flatnonzero(clash)[np.argmin(lines[order][1:][clash])]) + 1
        first = int(np.searchsorted(c, c[k]))
        a, b = int(lines[order][first]), int(lines[order][k])
        raise DataError(
            f"{path}: lines {a} and {b}: cell {int(c[k])} has two targets, g_target_S "
            f"{float(g[first])!r} and {float(g[k])!r}; a cell has one programmed target "
            "(give a re-programmed cell a new id)")


def write_measurements(m: Measurements, path: str | Path) -> Path:
    """Write measurements in the documented CSV layout."""
    from .._atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for row in zip(m.cell, m.g_target, m.g_measured, m.t, m.read, strict=True):
            w.writerow([int(row[0]), repr(float(row[1])), repr(float(row[2])), repr(float(row[3])),
                        int(row[4])])
    return path
