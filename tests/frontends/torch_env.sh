#!/usr/bin/env bash
# The PyTorch importer's own environment for tests/frontends/test_torch_import.py:
# .venv-torch (git-ignored), CPython 3.11 (SpikingJelly 2.0 needs >= 3.11), torch 2.13.0,
# the project's `torch` extra (SpikingJelly, snnTorch) and neurocosim itself (editable,
# without Lava), and for tests/frontends/test_nir_to_frameworks.py nirtorch (snnTorch's
# import_nir needs it but does not declare it) and Norse 1.1.0 (installs with torch 2.13.0:
# a pure-Python wheel built locally, ~7 s). TORCH_VENV / TORCH_INTERPRETER override; TORCH_PIP_ARGS adds pip options,
# e.g. "--extra-index-url https://download.pytorch.org/whl/cpu" where PyPI's torch would
# be the multi-GB CUDA build (this machine finds a CPU wheel in its local wheel store).
# shellcheck disable=SC2086
SIDE_ENV_PYVER=3.11 exec bash "$(dirname "$0")/../side_env.sh" "${TORCH_VENV:-.venv-torch}" \
  "${TORCH_INTERPRETER:-}" \
  "import torch, spikingjelly.activation_based.neuron, snntorch, snntorch.import_nir, norse.torch, neurocosim.frontends.torch" \
  ${TORCH_PIP_ARGS:-} "torch==2.13.0" -e ".[torch]" "nirtorch==2.6" "norse==1.1.0"
