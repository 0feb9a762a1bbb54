"""Bounded YAML and text reading for every file a user hands to neurocosim.

``yaml.safe_load`` never executes code, but it still accepts two classic attacks:
alias bombs ("billion laughs": a few hundred bytes that expand to 10⁹ nodes the moment
anything walks them) and deep nesting (100,000 brackets → ``RecursionError`` in the
composer). :func:`load_yaml` counts aliases, nesting depth and the *expanded* node and
character counts while composing, refuses aliases that make a cycle (``&a [*a]``), and
refuses past small limits with one line naming the file. Scalars PyYAML would turn into
a ``ValueError`` (``2020-02-30``, an integer of 5,000 digits) or into slow big-number
arithmetic (a 10⁶-digit integer) are refused the same way.
:func:`read_text` refuses files over a size limit, anything but a regular file, and text
that is not UTF-8.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, NeurocosimError, short

__all__ = ["load_yaml", "read_text", "MAX_ALIASES", "MAX_DEPTH", "MAX_NODES",
           "MAX_EXPANDED_CHARS", "MAX_NUMBER_CHARS", "MAX_TEXT_BYTES"]

MAX_ALIASES = 100          # anchors referenced (*name) per document
MAX_DEPTH = 64             # nested mappings/sequences
MAX_NODES = 200_000        # nodes after expanding every alias
MAX_TEXT_BYTES = 16 << 20  # a card, study or CSV header file larger than this is refused
#: characters of all scalars after expanding every alias: without aliases a document
#: holds at most its file's characters, so this only stops strings multiplied by aliases
MAX_EXPANDED_CHARS = 2 * MAX_TEXT_BYTES
MAX_NUMBER_CHARS = 100     # characters of one integer or float scalar


class _Refused(Exception):
    """Raised while checking or constructing; turned into the caller's error class."""


# libyaml (C) parses and composes ~20x faster than PyYAML's pure-Python code; the limits
# are checked on its event stream before anything is composed, so both are bounded.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """Safe loader whose scalar constructors refuse what would raise or run for long."""

    def construct_object(self, node, deep=False):  # noqa: D401 - PyYAML hook
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, ArithmeticError, TypeError) as exc:
            # e.g. the timestamp 2020-02-30, which PyYAML hands to datetime as is
            what = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
            raise _Refused(f"line {node.start_mark.line + 1}, column "
                           f"{node.start_mark.column + 1}: invalid value ({what})") from None

    def construct_yaml_int(self, node):
        _check_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        _check_number(node)
        return super().construct_yaml_float(node)


def _check_number(node) -> None:
    if isinstance(node.value, str) and len(node.value) > MAX_NUMBER_CHARS:
        raise _Refused(f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}: "
                       f"a number of {len(node.value):,} characters (at most "
                       f"{MAX_NUMBER_CHARS}); no quantity needs that many digits")


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _check_events(text: str, max_nodes: int, max_chars: int) -> None:
    """Walk the event stream once: count aliases, depth and the expanded size.

    The size of an anchored node is remembered, so an alias costs its expanded size
    without being expanded; no work here grows with the expansion."""
    aliases = 0
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, characters) expanded
    open_anchors: dict[str, int] = {}
    stack: list[list[Any]] = [[0, 0, None]]  # [nodes, characters, anchor] per open collection
    for ev in yaml.parse(text, Loader=_Base):
        line = ev.start_mark.line + 1 if ev.start_mark is not None else 0
        if isinstance(ev, yaml.ScalarEvent):
            size, anchor = (1, len(ev.value)), ev.anchor
        elif isinstance(ev, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Refused(f"line {line}: more than {MAX_ALIASES} aliases (*name); "
                               "write the values out instead of referencing anchors")
            if open_anchors.get(ev.anchor):
                raise _Refused(f"line {line}: the alias refers to a node that contains it "
                               "(a cycle); write the value out instead")
            if ev.anchor not in sizes:
                continue  # the composer reports the undefined alias with its position
            size, anchor = sizes[ev.anchor], None
        elif isinstance(ev, yaml.CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                raise _Refused(f"line {line}: nested more than {MAX_DEPTH} levels deep")
            if ev.anchor is not None:
                open_anchors[ev.anchor] = open_anchors.get(ev.anchor, 0) + 1
            stack.append([1, 0, ev.anchor])
            continue
        elif isinstance(ev, yaml.CollectionEndEvent):
            n, c, anchor = stack.pop()
            if anchor is not None:
                open_anchors[anchor] -= 1
            size = (n, c)
        else:  # stream and document start/end
            continue
        if anchor is not None:
            sizes[anchor] = size
        parent = stack[-1]
        parent[0] += size[0]
        parent[1] += size[1]
        if parent[0] > max_nodes:
            raise _Refused(f"line {line}: more than {max_nodes:,} values once its aliases are "
                           "expanded (an alias bomb?)")
        if parent[1] > max_chars:
            raise _Refused(f"line {line}: more than {max_chars:,} characters once its "
                           "aliases are expanded (an alias bomb?)")


def load_yaml(text: str, source: str, error: type[NeurocosimError] = ConfigError,
              max_nodes: int = MAX_NODES, max_chars: int = MAX_EXPANDED_CHARS) -> Any:
    """Parse one YAML document safely (no code, bounded aliases, depth and size).

    ``max_nodes`` and ``max_chars`` bound the values and the characters of all strings
    after alias expansion (a chip card needs a few hundred and a few KiB; the defaults
    suit any file neurocosim reads)."""
    loader = None
    try:
        _check_events(text, max_nodes, max_chars)
        loader = _Loader(text)
        return loader.get_single_data()
    except _Refused as exc:
        raise error(f"{source}: refused YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        if mark is None and isinstance(getattr(exc, "position", None), int):  # ReaderError
            where = f" line {text.count(chr(10), 0, exc.position) + 1}:"
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
        raise error(f"{source}:{where} malformed YAML: {_one_line(problem)}") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise error(f"{source}: refused YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _one_line(text: object, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else f"{s[: limit - 3]}..."


def read_text(path: str | Path, what: str, error: type[NeurocosimError] = ConfigError,
              max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path``; a missing, huge, binary or non-UTF-8 file → ``error``."""
    path = Path(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{path}: is a folder; give the {what} file")
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
            raise error(f"{path}: is not a regular file; give the {what} file")
        if st.st_size > max_bytes:
            raise error(f"{path}: {_size(st.st_size)} is too large for a {what} "
                        f"(limit {_size(max_bytes)})")
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)  # the file may have grown since stat
        if len(raw) > max_bytes:
            raise error(f"{path}: more than {_size(max_bytes)}, too large for a {what}")
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the path
        raise error(f"{short(str(path))}: not a valid file name for the {what}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}: the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on "
                    f"line {line}, offset {exc.start}); save it as UTF-8") from None
    if "\x00" in text:
        at = text.index("\x00")
        raise error(f"{path}: the {what} holds a NUL byte (line {text.count(chr(10), 0, at) + 1}, "
                    f"offset {at}); it is a binary file, not text")
    return text


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def input_file(path, what: str, error: type[NeurocosimError], hint: str) -> Path:
    """``path`` as a readable regular file, or ``error`` naming it: missing, a folder, a
    device or pipe, or a name the system cannot use. ``hint`` says what to give."""
    try:
        p = Path(path)
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except (TypeError, ValueError, OSError) as exc:
        why = getattr(exc, "strerror", None) or short(str(exc))
        raise error(f"{short(str(path))}: cannot access the {what}: {why}") from None
    if not exists:
        raise error(f"{p}: no such {what}")
    if is_dir:
        raise error(f"{p}: is a folder, not a {what}; give {hint}")
    if not is_file:
        raise error(f"{p}: is not a regular file (a device or a pipe?); give {hint}")
    return p
