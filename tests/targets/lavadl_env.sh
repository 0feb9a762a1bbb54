#!/usr/bin/env bash
# lava-dl's own environment for tests/targets/test_lavadl.py: .venv-lavadl (git-ignored),
# CPython 3.10, lava-nc 0.10 (as the project's Lava tests) and lava-dl 0.6.0 with its torch
# from PyPI. LAVADL_VENV / LAVADL_INTERPRETER override.
exec bash "$(dirname "$0")/../side_env.sh" "${LAVADL_VENV:-.venv-lavadl}" \
  "${LAVADL_INTERPRETER:-}" "from lava.lib.dl.netx.hdf5 import Network" \
  "lava-nc==0.10.*" "lava-dl==0.6.0" torch h5py
