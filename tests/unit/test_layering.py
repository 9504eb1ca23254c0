"""The layering the architecture promises, read from the source: app/web uses the engine through
its public names only, and the engine knows nothing of the web."""

from __future__ import annotations

import ast
from pathlib import Path

import app

PACKAGE = Path(app.__file__).parent


def sources(room: str) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted((PACKAGE / room).rglob("*.py"))}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def engine_private_names() -> set[str]:
    """Every `_name` the engine defines on its objects: attributes it assigns (self._x = ...,
    including class-level ones) and methods."""
    names: set[str] = set()
    for tree in sources("engine").values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and private(node.attr):
                names.add(node.attr)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and private(item.name):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        if private(item.target.id):
                            names.add(item.target.id)
    return names


def reaches(tree: ast.Module, names: set[str]) -> list[tuple[int, str]]:
    """(line, what) for each `x._name` (x not self/cls) and getattr(x, "_name") naming one of `names`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.lineno, f"{ast.unparse(node)}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr"):
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in names:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_engine_defines_private_names_for_this_check_to_guard():
    # The check below is only as good as this set: it must hold the engine's real private state.
    names = engine_private_names()
    assert {"_evaluator", "_grid", "_gradient", "_scratch"} <= names


def test_the_web_layer_touches_no_private_attribute_of_an_engine_object():
    names = engine_private_names()
    reached = {
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path, tree in sources("web").items()
        for line, what in reaches(tree, names)
    }
    assert not reached, "app/web reaches into the engine:\n" + "\n".join(sorted(reached))


def test_the_web_layer_imports_no_private_engine_name():
    imported = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {alias.name} from {node.module}"
        for path, tree in sources("web").items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.engine")
        for alias in node.names
        if private(alias.name)
    ]
    assert not imported, imported


def test_the_engine_imports_nothing_of_the_web():
    imports = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path, tree in sources("engine").items()
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.web"))
        or (isinstance(node, ast.Import) and any(alias.name.startswith("app.web") for alias in node.names))
    ]
    assert not imports, imports


def test_the_check_finds_a_reach_when_there_is_one():
    # The detector itself: a reach written three ways is found, the web's own `self._x` is not.
    tree = ast.parse(
        "def f(race, self):\n"
        "    race._grid.copy()\n"
        "    getattr(race.ff, '_gradient')\n"
        "    self._grid = 1\n"
        "    race.grid_size\n"
    )
    assert sorted(line for line, _ in reaches(tree, {"_grid", "_gradient"})) == [2, 3]
