"""The package's shape, checked statically: small modules and functions, no import
cycles (library and emulator alike), and the emulator's signature verifier kept apart
from the backend's presigner."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import django_alioss

PACKAGE_DIR = Path(django_alioss.__file__).resolve().parent
EMULATOR_DIR = PACKAGE_DIR / "emulator"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(directory: Path = PACKAGE_DIR) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(directory.rglob("*.py"))}


def _top_level_imports(path: Path) -> Iterator[str]:
    """Modules imported when ``path`` is imported (not inside functions or TYPE_CHECKING)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                for block in (node.body, node.orelse, *(h.body for h in getattr(
                        node, "handlers", []))):
                    yield from walk(block)
            elif isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)

    yield from walk(tree.body)


def _internal_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_and_functions_are_small(name: str) -> None:
    path = _modules()[name]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [(node.name, node.end_lineno - node.lineno + 1)
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno is not None
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_no_import_cycles_between_modules() -> None:
    graph = _internal_graph()
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_verifier_and_the_presigner_stay_twins() -> None:
    """A signing bug shared by both sides would pass every test: the emulator never
    imports django_alioss.signing, and signing imports nothing of the emulator."""
    for name, path in _modules(EMULATOR_DIR).items():
        assert not any(m.startswith("django_alioss.signing")
                       for m in _top_level_imports(path)), name
    signing = PACKAGE_DIR / "signing.py"
    assert not any("emulator" in m for m in _top_level_imports(signing))
    # Not even lazily, inside a function: every import statement of the verifier.
    verifier = ast.parse((EMULATOR_DIR / "auth.py").read_text())
    imported = [ast.unparse(n) for n in ast.walk(verifier)
                if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imported and not any("signing" in line for line in imported)
