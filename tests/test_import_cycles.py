"""No import cycles between the modules of one package (issue 11): every `import` in a module
counts, at module level or inside a function (a function-level import is a cycle deferred, not
removed). A package's `__init__` is one of its modules; importing a submodule does not count as
importing its package's `__init__`. Add a package to PACKAGES once it is cycle-free."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGES = ["dockyard.oci", "dockyard.builder"]


def modules_of(package: str) -> dict[str, Path]:
    """Module name -> file, for the package and all its subpackages."""
    root = SRC / package.replace(".", "/")
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports anywhere in its body."""

    def owner(dotted: str) -> str | None:  # the module a dotted name lives in, if ours
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds this module
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            # `from pkg import sub` imports module pkg.sub; `from mod import name` imports mod
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        for target in targets:
            module = owner(target)
            if module is not None and module != name:
                found.add(module)
    return found


def cycles(package: str) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), with its edges."""
    modules = modules_of(package)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                members = set(group)
                groups.append(sorted(f"{m} -> {', '.join(sorted(graph[m] & members))}"
                                     for m in group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package: str) -> None:
    found = cycles(package)
    assert not found, f"import cycles in {package}:\n" + "\n".join(
        "  cycle:\n" + "\n".join(f"    {edge}" for edge in group) for group in found)


def test_the_check_sees_function_level_and_relative_imports(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (package / "b.py").write_text("from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["SRC"]), "SRC", tmp_path)
    assert cycles("pkg") == [["pkg.a -> pkg.b", "pkg.b -> pkg.c", "pkg.c -> pkg.a"]]
