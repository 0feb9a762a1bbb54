#!/usr/bin/env bash
# aihwkit's own environment for tests/devices/test_aihwkit_equivalence.py: .venv-aihwkit
# (git-ignored), CPython 3.10, the project's `aihwkit` extra pins (aihwkit 1.0.0 ships a
# cp310 wheel; its torch comes from PyPI). AIHWKIT_VENV / AIHWKIT_INTERPRETER override.
exec bash "$(dirname "$0")/../side_env.sh" "${AIHWKIT_VENV:-.venv-aihwkit}" \
  "${AIHWKIT_INTERPRETER:-}" "from aihwkit.inference.noise.pcm import PCMLikeNoiseModel" \
  "aihwkit==1.0.0" torch
