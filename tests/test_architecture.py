"""The structure of the code (ARCHITECTURE.md) cannot silently rot:

* the import direction, as import-linter contracts in pyproject.toml (imports inside
  functions count too);
* no function outside the Numba kernels takes more than 12 parameters or runs longer than
  80 lines, no module is over 500 lines, the CLI package stays under 600 lines;
* the pipeline appears once: the CLI, sweeps, prune-on-chip (training) and the examples
  call ``neurocosim.pipeline``; none of them maps, programs, calibrates, simulates on the
  chip and costs a run by itself.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "neurocosim"
MAX_PARAMS, MAX_LINES, MAX_MODULE, MAX_CLI = 12, 80, 500, 600


def _modules(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _is_numba_kernel(fn: ast.FunctionDef) -> bool:
    names = set()
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        names.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return bool(names & {"njit", "pjit", "jit"})


def _params(fn: ast.FunctionDef) -> int:
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    n = len(names) + (a.vararg is not None) + (a.kwarg is not None)
    return n - (names[:1] in (["self"], ["cls"]))


def test_import_direction_contracts_hold():
    from importlinter.cli import lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                            no_logo=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "an import breaks the layering: run `lint-imports` for the chain"


def test_functions_and_modules_stay_small():
    too_big = []
    for path in _modules(PACKAGE):
        src = path.read_text()
        rel = path.relative_to(ROOT)
        if len(src.splitlines()) > MAX_MODULE:
            too_big.append(f"{rel}: {len(src.splitlines())} lines (module)")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    not _is_numba_kernel(node):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES or _params(node) > MAX_PARAMS:
                    too_big.append(f"{rel}:{node.lineno} {node.name}: {lines} lines, "
                                   f"{_params(node)} parameters")
    cli = sum(len(p.read_text().splitlines()) for p in _modules(PACKAGE / "cli"))
    if cli >= MAX_CLI:
        too_big.append(f"neurocosim/cli: {cli} lines in all")
    assert not too_big, "\n".join(too_big)


#: the steps of the pipeline: only neurocosim/pipeline.py (and the layers below it)
#: may call them
PIPELINE_STEPS = {"map_network", "program_chip", "calibrate_adc_ranges", "rebalance_thresholds",
                  "estimate", "build_tables"}
#: a building block a folder may use without composing the pipeline: prune-on-chip's
#: electroforming model programs the mapped tiles first, then overwrites their conductances
ALLOWED = {"neurocosim/training": {"program_chip"}}


def _pipeline_calls(path: Path, allowed: frozenset = frozenset()) -> list[str]:
    """Names of pipeline steps a file imports or calls (``nc.map_network`` included);
    ``simulate`` counts when it comes from ``neurocosim.hwsim`` or ``nc.simulate``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                hw = a.name == "simulate" and node.module.rstrip(".").endswith("hwsim")
                if (a.name in PIPELINE_STEPS - allowed) or hw or (a.name == "simulate" and node.level == 0
                                                       and node.module == "neurocosim"):
                    found.append(f"{path.name}:{node.lineno} imports {a.name}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in ("nc", "neurocosim") and \
                node.attr in PIPELINE_STEPS | {"simulate"}:
            found.append(f"{path.name}:{node.lineno} calls {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("folder", ["neurocosim/cli", "neurocosim/sweep", "neurocosim/training",
                                    "examples"])
def test_the_pipeline_appears_once(folder):
    allowed = frozenset(ALLOWED.get(folder, ()))
    found = [f for p in _modules(ROOT / folder) for f in _pipeline_calls(p, allowed)]
    assert not found, f"{folder} re-implements pipeline steps: " + "; ".join(found)


def test_the_checks_can_fail(tmp_path):
    """The AST checks see what they are meant to see (so a pass means something)."""
    bad = tmp_path / "bad.py"
    bad.write_text("import neurocosim as nc\nfrom neurocosim.hwsim import simulate\n"
                   "def f(a, b, c, d, e, f, g, h, i, j, k, l, m):\n    nc.map_network(a, b)\n")
    assert len(_pipeline_calls(bad)) == 2
    fn = next(n for n in ast.walk(ast.parse(bad.read_text())) if isinstance(n, ast.FunctionDef))
    assert _params(fn) == 13 and not _is_numba_kernel(fn)
