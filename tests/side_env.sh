#!/usr/bin/env bash
# Build a git-ignored side environment for a test that checks neurocosim against another
# tool (aihwkit, lava-dl) in that tool's own interpreter:
#   tests/side_env.sh VENV INTERPRETER_OR_EMPTY IMPORT_CHECK PACKAGE...
# CPython 3.10 (SIDE_ENV_PYVER=3.11 picks another; the found one unless given), the
# packages from pip, the import checked, then VENV/.ready. Exits non-zero when pip cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"; interp="$2"; check="$3"; shift 3
# one build of an environment at a time: `make test` starts the builds in the background
# while the tests run, and a test that needs one waits here for it (then pip finds it done)
exec 9>"$venv.lock"
flock 9
ver="${SIDE_ENV_PYVER:-3.10}"
if [ -z "$interp" ]; then
  for c in "python$ver" "$HOME/.pyenv/versions/$ver"*/bin/"python$ver"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; assert sys.version_info[:2] == (${ver/./,})" 2>/dev/null; then
      interp="$c"; break
    fi
  done
fi
if [ -z "$interp" ]; then echo "no CPython $ver interpreter found" >&2; exit 3; fi
if [ ! -x "$venv/bin/python" ]; then
  "$interp" -m venv "$venv" || { echo "cannot create $venv with $interp" >&2; exit 3; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
  || { echo "pip cannot install $* into $venv ($interp)" >&2; exit 4; }
"$venv/bin/python" -c "$check"
touch "$venv/.ready"
