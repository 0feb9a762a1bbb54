"""The set-up's interpreter choice (tools/find-python), run against fake PATHs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "find-python"
BASH = shutil.which("bash")


def _exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _fake_python(path: Path, version: str) -> Path:
    """A stand-in interpreter that reports ``version`` to the script's probes."""
    major, minor = version.split(".")[:2]
    return _exe(path, f'exec "{sys.executable}" -c "import sys; sys.exit(0 if ({major}, {minor}) '
                      f'>= (3, 10) and (\'$*\'.find(\'== (3, 10)\') < 0 or ({major}, {minor}) == '
                      f'(3, 10)) else 1)"')


def run(path_dirs):
    env = {"PATH": os.pathsep.join(str(p) for p in path_dirs), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run([BASH, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def coreutils(tmp_path):
    """A bin dir with only the tools the script needs besides Python."""
    d = tmp_path / "core"
    d.mkdir()
    for tool in ("grep", "sort", "tail", "sh", "bash"):
        src = shutil.which(tool)
        if src:
            (d / tool).symlink_to(src)
    return d


def test_working_python310_on_path_wins(tmp_path, coreutils):
    good = _fake_python(tmp_path / "a" / "python3.10", "3.10")
    res = run([tmp_path / "a", coreutils])
    assert res.returncode == 0
    assert res.stdout.split() == [str(good), "lava"]


def test_broken_shim_falls_back_to_newest_pyenv_310(tmp_path, coreutils):
    _exe(tmp_path / "shims" / "python3.10", "echo 'pyenv: python3.10: command not found' >&2; exit 127")
    root = tmp_path / "pyenv"
    for v in ("3.10.4", "3.10.13"):
        _fake_python(root / "versions" / v / "bin" / "python3.10", "3.10")
    _exe(tmp_path / "pyenvbin" / "pyenv",
         f'case "$1" in versions) printf "system\\n3.9.1\\n3.10.4\\n3.10.13\\n3.11.7\\n";; '
         f'prefix) echo "{root}/versions/$2";; esac')
    res = run([tmp_path / "shims", tmp_path / "pyenvbin", coreutils])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(root / "versions" / "3.10.13" / "bin" / "python3.10"), "lava"]


def test_no_310_uses_newest_python_without_lava(tmp_path, coreutils):
    _fake_python(tmp_path / "b" / "python3.12", "3.12")
    _fake_python(tmp_path / "b" / "python3.11", "3.11")
    res = run([tmp_path / "b", coreutils])
    assert res.returncode == 0
    assert res.stdout.split() == [str(tmp_path / "b" / "python3.12"), "nolava"]
    assert "without the 'lava' extra" in res.stderr


def test_no_python_at_all_fails_clearly(tmp_path, coreutils):
    res = run([coreutils])
    assert res.returncode == 1
    assert "no Python >= 3.10 found" in res.stderr


def test_ci_runs_make_test():
    text = (ROOT / ".ci" / "run").read_text()
    assert "make test" in text
