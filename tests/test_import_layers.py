"""The packages read bottom-up: no module imports a module that (directly or through others) imports it back.

Every import counts, in-function ones included: an import moved into a function still ties the two modules together.
Add a package to ``LAYERED_PACKAGES`` once its circles are gone.
"""

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERED_PACKAGES = ["zoo", "zootrain"]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` imports anywhere in its body."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            # `from . import features` imports the module zoo.features; `from .base import ZooModel` imports zoo.base
            found.update(f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names)
    return {name for name in found if name in known} - {this}


def import_graph(packages: list[str]) -> dict[str, set[str]]:
    paths = [p for package in packages for p in sorted((REPO_ROOT / package).rglob("*.py"))]
    known = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, known) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle per module on one (as a path from it back to itself), found by depth-first search."""
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append(path + [start])
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_the_checker_finds_a_circle_through_an_in_function_import(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\n")
    (package / "b.py").write_text("def thing():\n    from . import a\n")
    monkeypatch.setattr(__import__(__name__), "REPO_ROOT", tmp_path)
    assert cycles(import_graph(["pkg"])) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"]]


@pytest.mark.parametrize("package", LAYERED_PACKAGES)
def test_no_import_circles(package):
    circles = cycles(import_graph([package]))
    assert not circles, "import circles (give the shared names a module below both):\n" + "\n".join(
        " -> ".join(c) for c in circles
    )
