#!/usr/bin/env bash
# Build lava-dl's own environment for tests/targets/test_lavadl.py: .venv-lavadl
# (git-ignored) with CPython 3.10, lava-nc 0.10 (the version the project's Lava tests use)
# and lava-dl 0.6.0 with its torch from PyPI. LAVADL_VENV overrides the folder,
# LAVADL_INTERPRETER the interpreter. Exits non-zero when pip cannot install.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${LAVADL_VENV:-.venv-lavadl}"
interp="${LAVADL_INTERPRETER:-}"
if [ -z "$interp" ]; then
  for c in python3.10 "$HOME/.pyenv/versions/3.10"*/bin/python3.10; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      interp="$c"; break
    fi
  done
fi
if [ -z "$interp" ]; then echo "no CPython 3.10 interpreter found" >&2; exit 3; fi
if [ ! -x "$venv/bin/python" ]; then
  "$interp" -m venv "$venv" || { echo "cannot create $venv with $interp" >&2; exit 3; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "lava-nc==0.10.*" "lava-dl==0.6.0" torch h5py \
  || { echo "pip cannot install lava-dl==0.6.0 with lava-nc 0.10 and torch into $venv ($interp)" >&2; exit 4; }
"$venv/bin/python" -c "from lava.lib.dl.netx.hdf5 import Network"
touch "$venv/.lavadl-ready"
