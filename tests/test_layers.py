"""Dependencies point down: the tools and the memory never import the graph or the CLI, and
never read the config file (they are handed their settings; ``director.config`` reads the file
when a command resolves its options); no module imports itself round a loop."""

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


GROUND = (
    "director.config",
    "director.records",
    "director.errors",
    "director.files",
    "director.text",
)


def test_the_ground_floor_imports_nothing_above_it():
    paths = [PACKAGE / name for name in ("config.py", "errors.py", "files.py", "text.py")]
    for path in [*paths, *sorted((PACKAGE / "records").rglob("*.py"))]:
        modules = [m for _, m in _imports(path) if m.startswith("director.")]
        assert all(m in GROUND or m.startswith("director.records.") for m in modules), path.name


LOWER = ("tools", "memory", "replay", "prompts")
# What finds or reads the config file: only the commands' resolution calls these.
FILE_READERS = {"read_config", "config_path", "load_config_file"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in PACKAGE.rglob("*.py")}


def _targets(path: Path) -> set[str]:
    """The director modules ``path`` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name in MODULES and name != _module(path)}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_round_a_loop():
    """Imports inside functions count: a lazy import still ties the two layers together."""
    graph = {name: _targets(path) for name, path in MODULES.items()}
    assert _cycles(graph) == []


def _config_uses(path: Path) -> tuple[set[str], bool]:
    """The names a module takes from director.config, and whether it imports the module."""
    names, whole = set(), False
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "director.config":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "director":
            whole |= any(alias.name == "config" for alias in node.names)
        elif isinstance(node, ast.Import):
            whole |= any(alias.name == "director.config" for alias in node.names)
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "config":
            names.add(node.attr)
    return names, whole


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_receive_their_settings_and_never_read_the_config_file(layer):
    readers = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        names, _ = _config_uses(path)
        if names & FILE_READERS or "tomllib" in {m for _, m in _imports(path)}:
            readers[str(path.relative_to(PACKAGE.parent))] = sorted(names & FILE_READERS)
    assert readers == {}


def test_no_lower_part_pulls_a_table_of_the_config_file():
    """A part is handed its table (a ``Section``) by the command that read the file; none takes
    one itself through ``director.config``."""
    pulling = {}
    for layer in LOWER:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            names, whole = _config_uses(path)
            if whole or "section" in names:
                pulling[str(path.relative_to(PACKAGE.parent))] = sorted(names)
    assert pulling == {}
