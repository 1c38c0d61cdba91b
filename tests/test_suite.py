"""The suite's own layout: what test modules share lives in helper modules (tests/pictures.py,
tests/reference.py, tests/engines/inputs.py...), never in another test module. Importing a test module
runs it, fixtures and all, in a module that did not ask for them, and two copies of a helper drift."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The modules a file imports from, by their dotted names (absolute imports only: the suite's)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    crossed = {
        f"{path.relative_to(TESTS.parent)}: {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    }
    assert not crossed, sorted(crossed)
