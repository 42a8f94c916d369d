"""The package's layout rules (README, "Architecture"), read from the source with ``ast``: layers
import only downward, no import circle, no private name imported across modules, no module over
450 lines. Imports inside functions count like the others."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qlstm_qiskit"
MAX_LINES = 450
#: layer of each module, lowest first: a module imports only from its own layer and below
LAYERS = {
    "foundation": ["checks", "files", "locks"],
    "sim": ["sim"],
    "backends": ["backends"],
    "model": [
        "__init__",
        "circuits",
        "recurrence",
        "variants",
        "packed",
        "cell_checks",
        "bound_cache",
        "cell",
        "qlstm",
    ],
    "forecasting": ["forecasting"],
    "cli": ["cli", "__main__"],
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    parts = name.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    for level, members in enumerate(LAYERS.values()):
        if first in members:
            return level
    raise AssertionError(f"{name} belongs to no layer of LAYERS: add it there")


def imports(name: str, path: Path, known: dict[str, Path]):
    """``(imported module, imported names)`` for every import of ``qlstm_qiskit`` in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "qlstm_qiskit":
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "qlstm_qiskit":
                continue
            names = [alias.name for alias in node.names]
            yield target, names
            for imported in names:  # ``from . import module``
                if f"{target}.{imported}" in known:
                    yield f"{target}.{imported}", []


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target, _ in imports(name, path, known) if target != name}
        for name, path in known.items()
    }


def test_every_import_runs_down_the_layers():
    upward = [
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_no_import_circle():
    edges = graph()
    state: dict[str, str] = {}
    circles = []

    def visit(name, trail):
        state[name] = "open"
        for target in sorted(edges.get(name, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_no_private_name_is_imported_across_modules():
    known = modules()
    private = [
        f"{name}: {target}.{imported}"
        for name, path in known.items()
        for target, names in imports(name, path, known)
        for imported in names
        if imported.startswith("_") and not imported.endswith("__")
    ]
    assert private == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_the_line_limit(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_the_rules_can_fail(tmp_path, monkeypatch):
    """The checks above see an upward import, a circle and a private import when there is one."""
    root = tmp_path / "qlstm_qiskit"
    (root / "sim").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "checks.py").write_text("from .sim.engine import _helper\n")
    (root / "sim" / "__init__.py").write_text("")
    (root / "sim" / "engine.py").write_text("from ..checks import check\n_helper = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", root)
    edges = graph()
    assert edges["qlstm_qiskit.checks"] == {"qlstm_qiskit.sim.engine"}
    assert layer_of("qlstm_qiskit.sim.engine") > layer_of("qlstm_qiskit.checks")
    with pytest.raises(AssertionError):
        test_every_import_runs_down_the_layers()
    with pytest.raises(AssertionError):
        test_no_import_circle()
    with pytest.raises(AssertionError):
        test_no_private_name_is_imported_across_modules()
