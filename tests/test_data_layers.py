"""The data package reads bottom-up: no module imports one that imports it back (in-function imports included)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import zootrain.data

PACKAGE = Path(zootrain.data.__file__).parent


def package_imports(path: Path) -> set[str]:
    """The sibling modules a module imports anywhere in its body (relative or absolute)."""
    siblings = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zootrain.data."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("zootrain.data.")}
    return found & siblings


def test_the_data_modules_import_each_other_without_a_circle():
    graph = {p.stem: package_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert graph["folders"] and graph["datasets"]  # the parser sees the imports
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise AssertionError(f"import circle: {' -> '.join(err.args[1])}") from None
    assert order.index("errors") < order.index("datamodule")
