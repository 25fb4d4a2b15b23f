"""The layering rules, read from the code (issue 12): a test, not a hope.

Cycles are counted twice: over module-level imports (what Python resolves at start-up)
and over every import, including those inside functions and under ``TYPE_CHECKING`` (an
import moved into a function to dodge a cycle is still a cycle of the design).

Layers point down only: ``crypto.errors`` (imports nothing of the project) < ``crypto``,
``features`` < ``federation`` < ``lab`` < ``sandbox_ui``. Imports are read with ``ast``
(top-level and inside functions, relative imports resolved); the sandbox imports nothing
below lab, without exception. Import cycles are found with Tarjan's algorithm (checked on
a planted cycle) and there are none. No module is over 600 lines and no function over 80
(checked on planted ones). Coded errors have one class per code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.errors import ERROR_CLASSES, ERROR_CODES

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("crypto", "features", "federation", "lab", "sandbox_ui")


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> Iterator[tuple[str, Path]]:
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            if "migrations" not in p.parts:
                yield _module(p), p


def _imports(name: str, path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also imports under `if TYPE_CHECKING:` are not runtime edges
        nodes = [n for n in nodes if isinstance(n, ast.Import | ast.ImportFrom)]
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    mods = dict(_sources())
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        graph[name] = {
            m
            for m in _imports(name, path, top_level_only=top_level_only)
            if m in mods and m != name
        }
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [frozenset({"a", "b", "c"})]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert find_cycles(_graph(top_level_only=True)) == []


def test_no_cycle_through_imports_inside_functions() -> None:
    assert find_cycles(_graph(top_level_only=False)) == []


RULES = {  # importer package -> packages it must not import
    "crypto": {"features", "federation", "lab", "sandbox_ui"},
    "features": {"federation", "lab", "sandbox_ui"},
    "federation": {"lab", "sandbox_ui"},
    "lab": {"sandbox_ui"},
}


@pytest.mark.parametrize("package", sorted(RULES))
def test_layers_point_down(package: str) -> None:
    bad = []
    for name, path in _sources():
        if name.split(".")[0] != package:
            continue
        for m in _imports(name, path, top_level_only=False):
            if m.split(".")[0] in RULES[package]:
                bad.append(f"{name} imports {m}")
    assert not bad, bad


def test_errors_module_imports_nothing_of_the_project() -> None:
    path = REPO / "crypto" / "errors.py"
    assert _imports("crypto.errors", path, top_level_only=False) == set()


def test_sandbox_talks_to_lab_only() -> None:
    bad = set()
    for name, path in _sources():
        if name.split(".")[0] != "sandbox_ui":
            continue
        for m in _imports(name, path, top_level_only=False):
            top = m.split(".")[0]
            if top in ("crypto", "features", "federation"):
                bad.add((name, top))
    assert not bad, f"imports from the sandbox below lab: {sorted(bad)}"


def test_one_class_per_error_code() -> None:
    assert len(ERROR_CODES) == len(ERROR_CLASSES)
    for cls in ERROR_CLASSES:
        assert cls.code.startswith("FEDLAB-") and cls.code[7:].isdigit() and len(cls.code) == 10


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80  # from `def` to the last line, docstring included


def oversize(name: str, text: str) -> set[str]:
    """``name`` if the module is too long, ``name:function`` for each function that is."""
    out = {name} if len(text.splitlines()) > MAX_MODULE_LINES else set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                out.add(f"{name}:{node.name}")
    return out


def test_size_check_finds_a_planted_long_function() -> None:
    body = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    assert oversize("m", body) == {"m:f"}
    assert oversize("m", "def g():\n    return 1\n") == set()
    assert oversize("m", "x = 1\n" * (MAX_MODULE_LINES + 1)) == {"m"}


def test_no_module_or_function_over_the_limits() -> None:
    found: set[str] = set()
    for name, path in _sources():
        found |= oversize(name, path.read_text(encoding="utf-8"))
    assert not found, f"over the size limits: {sorted(found)}"
