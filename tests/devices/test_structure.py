"""The devices package's imports: no circle, physical models apart from the card loader."""

import ast
from pathlib import Path

import neurocosim.devices

FOLDER = Path(neurocosim.devices.__file__).parent
#: the card side that reads, writes and describes cards; no physical model may import it
LOADER = {"cards", "overrides", "describe"}
PHYSICAL = {"noise", "layout", "crossbar", "neuron", "program", "report"}
#: what devices may import from the rest of neurocosim (lower layers only)
BELOW = {"errors", "units", "budget", "_atomic", "_yaml", "ir"}


def imports(path: Path) -> set[str]:
    """Dotted ``neurocosim...`` modules a file imports, at module level or in functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["neurocosim", "devices"][: 3 - node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            out.update(n for n in names if n.startswith("neurocosim"))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("neurocosim"))
    return out


def graph() -> dict[str, set[str]]:
    mods = {p.stem: imports(p) for p in FOLDER.glob("*.py") if p.stem != "__init__"}
    return {m: {i.split(".")[2] for i in deps if i.startswith("neurocosim.devices.")}
            for m, deps in mods.items()}


def test_every_module_is_classified():
    assert set(graph()) == PHYSICAL | LOADER | {"schema"}


def test_no_import_circle_inside_devices():
    g = graph()
    state: dict[str, int] = {}

    def visit(m, trail):
        assert state.get(m) != 1, f"import circle: {' -> '.join(trail + [m])}"
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in sorted(g.get(m, ())):
            visit(d, trail + [m])
        state[m] = 2

    for m in sorted(g):
        visit(m, [])


def test_physical_models_do_not_import_the_loader():
    g = graph()
    for m in PHYSICAL:
        assert not g[m] & LOADER, f"devices/{m}.py imports {g[m] & LOADER}"
    assert not g["schema"] & LOADER


def test_devices_import_only_lower_layers():
    for p in FOLDER.glob("*.py"):
        for i in imports(p):
            top = i.split(".")[1] if "." in i else ""
            assert top in BELOW | {"devices"}, f"devices/{p.name} imports {i}"
