#!/usr/bin/env bash
# Make Brian2's own environment for bench/bench_engine.py: bench/.venv-brian2 (git-ignored
# by bench/.gitignore), built from the interpreter of the project's .venv, with brian2 from
# PyPI. Brian2's C++ standalone mode needs a C++ compiler (g++).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-brian2"
base="$("$here/../.venv/bin/python" -c 'import sys; v = sys.version_info
print(f"{sys.base_prefix}/bin/python{v[0]}.{v[1]}")' 2>/dev/null || command -v python3)"
command -v g++ >/dev/null || { echo "g++ not found: Brian2's C++ standalone mode needs it" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet brian2
"$venv/bin/python" -c 'import brian2; print("brian2", brian2.__version__, "in", "'"$venv"'")'
