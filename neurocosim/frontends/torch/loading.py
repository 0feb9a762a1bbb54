"""Load ``MODEL.py:FACTORY`` and its ``state_dict`` for ``neurocosim convert``.

``MODEL.py`` is the user's own Python file (it is run, as ``python MODEL.py`` would run
it: it defines the architecture); ``FACTORY()`` returns the ``nn.Module``. The weights are
read with ``torch.load(path, weights_only=True)``, which unpickles tensors and plain
containers only (never code), and loaded with ``strict=True`` (a missing or unexpected
key is an error naming it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ...errors import ModelError, short

__all__ = ["load_model"]


def load_model(spec: str, weights: str | Path | None):
    """The module built by ``spec`` (``"path/model.py:factory"``) with ``weights``."""
    import torch

    path, sep, factory = str(spec).rpartition(":")
    if not sep or not path.endswith(".py") or not factory.isidentifier():
        raise ModelError(f"model {short(spec)}: give MODEL.py:FACTORY, a Python file and the "
                         "name of a function in it that returns the nn.Module")
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"model {short(path)}: no such file")
    mod_name = f"_neurocosim_model_{abs(hash(str(file.resolve())))}"
    loader = importlib.util.spec_from_file_location(mod_name, file)
    mod = importlib.util.module_from_spec(loader)
    sys.modules[mod_name] = mod  # dataclasses and pickling look the module up
    try:
        loader.loader.exec_module(mod)
    except Exception as exc:  # noqa: BLE001 - the user's file: report, don't crash
        raise ModelError(f"model {short(path)}: running it failed: "
                         f"{type(exc).__name__}: {short(str(exc))}") from None
    fn = getattr(mod, factory, None)
    if not callable(fn):
        raise ModelError(f"model {short(path)}: defines no function {factory!r}")
    try:
        module = fn()
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"model {short(spec)}: {factory}() failed: "
                         f"{type(exc).__name__}: {short(str(exc))}") from None
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"model {short(spec)}: {factory}() returned a "
                         f"{type(module).__name__}, not an nn.Module")
    if weights is not None:
        _load_state(module, Path(weights))
    return module


def _load_state(module, path: Path) -> None:
    import torch

    if not path.is_file():
        raise ModelError(f"--weights {short(str(path))}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types on bad files
        raise ModelError(f"--weights {short(str(path))}: not a state_dict torch.load can read "
                         f"with weights_only=True ({type(exc).__name__}: "
                         f"{short(str(exc).splitlines()[0] if str(exc) else '')})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"--weights {short(str(path))}: holds a {type(state).__name__}, "
                         "not a state_dict (save model.state_dict())")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"--weights {short(str(path))}: does not fit the model: "
                         f"{short(' '.join(str(exc).split()), 300)}") from None
