"""Safe writes: a saved result is either complete or absent, and a user's file is never
deleted or overwritten without ``force``.

* :func:`atomic_path` — one file, written beside its target and renamed onto it.
* :func:`output_dir` — a results folder. neurocosim writes into a folder only if it does
  not exist, is empty, or holds the marker file :data:`MARKER` that neurocosim left
  there (listing the files it wrote with their sha256). Otherwise :class:`~neurocosim.errors.OutputError`
  names the folder and ``--force``. New results replace only the files neurocosim wrote
  (each file renamed into place atomically); nothing else in the folder is touched, and a
  file where a folder is expected is refused.
* :func:`check_output_file` / :func:`check_output_dir` — the same checks, made before a
  command starts its work so it fails in a second rather than after the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .errors import OutputError

__all__ = ["atomic_path", "output_dir", "check_output_dir", "check_output_file", "MARKER",
           "written_files", "marker_entries", "mark_written"]

#: marker file neurocosim leaves in every folder it writes: JSON with the files it wrote
MARKER = ".neurocosim.json"
_TMP_PREFIX = ".neurocosim-tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process, or a pid we cannot probe: keep its files
    return True


def clear_stale(folder: Path) -> list[str]:
    """Remove the temporary files and folders neurocosim left in ``folder`` when a run
    was killed: those named ``.neurocosim-tmp-<pid>-…`` whose process no longer runs on
    this machine (never another name, never a live process's). Returns their names."""
    gone = []
    try:
        names = os.listdir(folder)
    except OSError:
        return gone
    for name in names:
        head = name[len(_TMP_PREFIX):].split("-", 1)[0] if name.startswith(_TMP_PREFIX) else ""
        if not head.isdigit() or _alive(int(head)):
            continue
        entry = Path(folder) / name
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            gone.append(name)
    return gone


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-{path.name}.", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the usual umask'd mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _unwritable_parent(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it cannot be written into."""
    for p in path.parents:
        if p.exists():
            return None if os.access(p, os.W_OK | os.X_OK) else p
    return None


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing non-folder among ``path``'s ancestors (a file under a file)."""
    for p in path.parents:
        if p.exists():
            return None if p.is_dir() else p
    return None


def check_output_file(path: str | Path, *, force: bool = False, option: str = "-o") -> Path:
    """Refuse an output file that exists (without ``force``), is a folder or sits under a file."""
    path = Path(path)
    if str(path) in ("", "."):
        raise OutputError(f"{option} {str(path)!r}: give a file name")
    if path.is_symlink() and not force:
        raise OutputError(f"{path}: is a symbolic link; give a new file name for {option}, or "
                          "pass --force to replace the link (its target is not touched)")
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise OutputError(f"{path}: cannot write it: {blocker} is a file, not a folder")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name for {option}")
    if path.exists() and not force:
        raise OutputError(f"{path}: file exists; choose another name for {option}, or pass "
                          "--force to overwrite it")
    locked = _unwritable_parent(path)
    if locked is not None:
        raise OutputError(f"{path}: cannot write there: the folder {locked} is not writable")
    return path


def written_files(folder: str | Path) -> set[str] | None:
    """Files neurocosim wrote in ``folder`` and that are still as it wrote them (same
    sha256): None when ``folder`` is not a neurocosim folder. A file the user has since
    changed — or one a forged marker lists — is the user's, and is never removed."""
    files = marker_entries(folder)
    if files is None:
        return None
    out = set()
    for name, digest in files.items():
        p = Path(folder) / name
        if digest and _inside(folder, p) and p.is_file() and not p.is_symlink():
            try:
                if _sha256(p) in digest.split("|"):
                    out.add(name)
            except OSError:  # unreadable: not provably ours, so the user's
                continue
    return out


def _inside(folder, p: Path) -> bool:
    """``p`` lies in ``folder`` once every symbolic link is followed (a marker entry under
    a linked subfolder must not reach outside)."""
    try:
        return Path(os.path.realpath(p)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError):
        return False


def marker_command(folder: str | Path) -> str | None:
    """The command that wrote ``folder`` (from its marker), or None."""
    try:
        cmd = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return cmd if isinstance(cmd, str) else None


def marker_entries(folder: str | Path) -> dict[str, str] | None:
    """What the folder's marker lists (name → recorded sha256, ``""`` when none was
    recorded), whatever the files' state now; None without a readable marker."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(files, dict):
        return None
    def digests(v) -> str:  # one digest, or several while a write is under way
        if isinstance(v, list):
            return "|".join(d for d in v if isinstance(d, str))
        return v if isinstance(v, str) else ""

    return {k: digests(v) for k, v in files.items() if isinstance(k, str) and _safe_relative(k)}


def mark_written(folder: str | Path, names: list[str], command: str,
                 sources: dict[str, Path] | None = None) -> None:
    """Record ``names`` in ``folder``'s marker with their current sha256 (taken from
    ``sources[name]`` for a file about to be moved in; ``""`` for one not yet written).
    For writers that grow files in place (a sweep's table); the other entries are kept."""
    folder = Path(folder)
    files = dict(marker_entries(folder) or {})
    for n in names:
        src = (sources or {}).get(n, folder / n)
        files[n] = _sha256(src) if src.is_file() else ""
    _write_marker(folder, files, command)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_relative(name: str) -> bool:
    """A marker entry must name a file inside the folder (a hostile marker cannot point
    outside it: no absolute paths, no '..', no backslashes)."""
    p = PurePosixPath(name)
    return (bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name
            and name != MARKER and not name.startswith(_TMP_PREFIX))


def check_output_dir(path: str | Path, *, force: bool = False, option: str = "-o") -> Path:
    """Refuse an output folder holding files neurocosim did not write (without ``force``)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{path}: is a broken symbolic link (or a loop); give a folder for "
                          f"{option}")
    blocker = _file_in_the_way(path)
    if blocker is not None:
        raise OutputError(f"{path}: cannot create the folder: {blocker} is a file")
    locked = _unwritable_parent(path) if not path.exists() else None
    if locked is not None:
        raise OutputError(f"{path}: cannot create the folder: {locked} is not writable")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, not a folder; give a folder name for {option}")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: the folder is not writable")
        if force or written_files(path) is not None:
            return path
        theirs = sorted(e for e in os.listdir(path) if not e.startswith(_TMP_PREFIX))
        if theirs:
            raise OutputError(
                f"{path}: the folder holds files neurocosim did not write ({len(theirs)}, e.g. "
                f"'{theirs[0][:60]}'); choose a new or empty folder for {option}, or pass --force "
                "to write neurocosim's files beside them (nothing else is touched)")
    return path


def _files_under(root: Path) -> list[str]:
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            out.append((Path(dirpath) / f).relative_to(root).as_posix())
    return sorted(out)


def _write_marker(folder: Path, files: dict[str, str], command: str) -> None:
    from ._version import __version__

    with atomic_path(folder / MARKER) as tmp:
        tmp.write_text(json.dumps({"written_by": f"neurocosim {__version__}",
                                   "command": command, "files": dict(sorted(files.items()))},
                                  indent=1) + "\n")


def _refuse_unsafe(path: Path, new: dict, old: set, *, force: bool, merge: bool,
                   command: str) -> None:
    """Refuse a write that would overwrite a user's file, write through a link out of the
    folder, replace a folder, or replace another command's results (without --force)."""
    clash = [f for f in new if f not in old and (path / f).exists()]
    if clash and not force:
        raise OutputError(f"{path / clash[0]}: exists and was not written by neurocosim "
                          "(or was changed since); pass --force to overwrite it, or choose "
                          "another folder")
    for f in new:
        if not _inside(path, (path / f).parent):
            raise OutputError(f"{path / f}: lies under a link that leads out of {path}; "
                              "remove the link or choose another folder")
        if (path / f).is_dir() and not (path / f).is_symlink():
            raise OutputError(f"{path / f}: is a folder where neurocosim writes a file; "
                              "move it away or choose another folder")
    before = marker_command(path)
    if old and not (force or merge) and before and command and before.split()[0] != \
            command.split()[0]:
        raise OutputError(f"{path}: holds the results of 'neurocosim {before}', which "
                          f"'neurocosim {command}' would replace; choose another folder, or "
                          "pass --force")


@contextlib.contextmanager
def output_dir(path: str | Path, *, force: bool = False, merge: bool = False,
               command: str = "") -> Iterator[Path]:
    """Yield a temporary folder; on success move its files into ``path``.

    ``merge``: keep the files neurocosim wrote earlier in ``path`` (adding to a run
    folder, as ``energy RUN`` does); otherwise those of them not written again are
    removed, so the folder holds one consistent result. Files neurocosim did not write
    are never touched; one that would be overwritten is refused unless ``force``.
    """
    path = check_output_dir(path, force=force)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=path))
    try:
        yield tmp
        new = {f: _sha256(tmp / f) for f in _files_under(tmp)}
        old = written_files(path) or set()
        _refuse_unsafe(path, new, old, force=force, merge=merge, command=command)
        kept = {f: _sha256(path / f) for f in old if f not in new}
        # a kill from here on leaves no orphans: while files are replaced one by one, the
        # marker accepts the old or the new content of each, so a re-run needs no --force
        during = {f: [d for d in (_sha256(path / f) if f in old else None, h) if d]
                  for f, h in new.items()}
        _write_marker(path, {**kept, **during}, command)
        for f in new:
            (path / f).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / f, path / f)
        if not merge:
            for f in sorted(kept):
                (path / f).unlink()
            kept = {}
        _write_marker(path, {**kept, **new}, command)
    except BaseException:
        if created:
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
