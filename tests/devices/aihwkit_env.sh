#!/usr/bin/env bash
# Build aihwkit's own environment for tests/devices/test_aihwkit_equivalence.py:
# .venv-aihwkit (git-ignored) with CPython 3.10 and the project's `aihwkit` extra pins
# (aihwkit 1.0.0 ships a cp310 wheel; its torch comes from PyPI). AIHWKIT_VENV overrides
# the folder, AIHWKIT_INTERPRETER the interpreter. Exits non-zero when pip cannot install.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${AIHWKIT_VENV:-.venv-aihwkit}"
interp="${AIHWKIT_INTERPRETER:-}"
if [ -z "$interp" ]; then
  for c in python3.10 "$HOME/.pyenv/versions/3.10"*/bin/python3.10; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      interp="$c"; break
    fi
  done
fi
if [ -z "$interp" ]; then echo "no CPython 3.10 interpreter found (aihwkit 1.0.0 has a cp310 wheel only)" >&2; exit 3; fi
if [ ! -x "$venv/bin/python" ]; then
  "$interp" -m venv "$venv" || { echo "cannot create $venv with $interp" >&2; exit 3; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aihwkit==1.0.0" torch \
  || { echo "pip cannot install aihwkit==1.0.0 with torch into $venv ($interp)" >&2; exit 4; }
"$venv/bin/python" -c "from aihwkit.inference.noise.pcm import PCMLikeNoiseModel"
touch "$venv/.aihwkit-ready"
