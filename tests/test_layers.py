"""Dependencies point down: the tools and the memory never import the graph or the CLI (they
are handed what they need, and read the config file through ``director.config``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "director"
UPPER = ("director.agent", "director.cli")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("layer", ["tools", "memory", "replay", "prompts"])
def test_lower_layers_never_import_the_graph_or_the_cli(layer):
    upward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, module in _imports(path)
        if module.startswith(UPPER)
    ]
    assert upward == []


def test_the_ground_floor_imports_nothing_above_it():
    for name in ("config.py", "records.py", "errors.py", "files.py"):
        modules = [m for _, m in _imports(PACKAGE / name) if m.startswith("director.")]
        assert all(m in ("director.errors", "director.records") for m in modules), name
