"""Import contracts (issue 11), checked by walking the source's `ast`: every `import` counts, at
module level, inside a function (a function-level import is a cycle deferred, not removed) or
under `TYPE_CHECKING`. A package's `__init__` is one of its modules; importing a submodule does
not count as importing its package's `__init__`.

1. No import cycles between the modules of Dockyard, within a package or across packages.
2. The "never" rules of docs/architecture.md: what each package may import of Dockyard.
3. A module of package A imports from package B only B's `__init__` (`from dockyard.B import
   name` with `name` in `dockyard.B.__all__`), never `dockyard.B.sub`.
Each failure lists the offending imports with file:line."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# What each package may import of Dockyard (besides itself); `atomicfile`, `lazydataclass` and
# `lazyimport` are the dependency-free helper modules. A package not listed may import anything not forbidden.
ALLOWED = {
    "oci": {"atomicfile", "lazydataclass", "lazyimport"},  # nothing inside Dockyard: any registry's client
    "sandbox": set(),  # the standard library only: the builder's start-up does not pay for it
    # runs alone in a pod, as Kaniko
    "builder": {"oci", "sandbox", "atomicfile", "lazydataclass", "lazyimport"},
    "http": {"auth", "lazyimport"},
    "atomicfile": set(),
    "lazydataclass": set(),
    "lazyimport": set(),
    "config": set(),
    "events": set(),
    "store": {"atomicfile"},
    "auth": {"store"},
    "services": {"auth", "config", "events", "store"},  # types only
}
FORBIDDEN = {
    "git": {"ci"},  # git and CI meet only on the event bus
    "ci": {"git"},
    "ui": {"server", "cli", "demo"},  # the UI calls the components' public APIs only
}
COMPOSERS = {"server", "cli", "__main__"}  # only these import `server` and `cli`


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # the module imported (of `from pkg import sub`: pkg.sub)
    via: str  # the module the statement names (`from via import name`, `import via`)
    name: str  # '' for `import via`
    where: str  # file:line


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


def edges_of(name: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    """Every import of one of `modules` that module `name` makes anywhere in its body."""

    def owner(dotted: str) -> str | None:  # the module a dotted name lives in, if ours
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: list[Edge] = []
    where = path.relative_to(SRC.parent).as_posix()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = owner(alias.name)
                if module is not None and module != name:
                    found.append(Edge(name, module, alias.name, "", f"{where}:{node.lineno}"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds this module
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                # `from pkg import sub` imports module pkg.sub; `from mod import name` imports mod
                full = f"{base}.{alias.name}"
                module = owner(full if full in modules else base)
                if module is not None and module != name:
                    found.append(Edge(name, module, base, alias.name, f"{where}:{node.lineno}"))
    return found


def graph(package: str) -> dict[str, list[Edge]]:
    modules = modules_of(package)
    return {name: edges_of(name, path, modules) for name, path in modules.items()}


def cycles(package: str) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), with its edges."""
    edges = graph(package)
    targets = {name: {e.target for e in out} for name, out in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(targets[node]):
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
                groups.append(sorted({f"{e.source} -> {e.target} ({e.where})"
                                      for m in group for e in edges[m] if e.target in members}))

    for node in sorted(targets):
        if node not in index:
            visit(node)
    return groups


def unit(module: str) -> str:
    """The top-level package (or top-level module) a module belongs to: dockyard.ci.steps.sh -> ci."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def is_package(name: str) -> bool:
    return (SRC / "dockyard" / name / "__init__.py").is_file()


def test_no_import_cycles() -> None:
    found = cycles("dockyard")
    assert not found, "import cycles in dockyard:\n" + "\n".join(
        "  cycle:\n" + "\n".join(f"    {edge}" for edge in group) for group in found)


def test_each_package_imports_only_what_its_rules_allow() -> None:
    offending = []
    for out in graph("dockyard").values():
        for edge in out:
            source, target = unit(edge.source), unit(edge.target)
            if source == target or not target:  # within a package; `dockyard` itself (__version__)
                continue
            if source in ALLOWED and target not in ALLOWED[source]:
                offending.append(f"{edge.where}: {source} imports {edge.target} (may import only "
                                 f"{sorted(ALLOWED[source]) or 'nothing of Dockyard'})")
            elif target in FORBIDDEN.get(source, ()):
                offending.append(f"{edge.where}: {source} must never import {target} ({edge.target})")
            elif target in COMPOSERS and source not in COMPOSERS:
                offending.append(f"{edge.where}: {source} imports {edge.target}; only "
                                 f"{sorted(COMPOSERS)} import the composition")
    assert not offending, "imports against the architecture's rules:\n  " + "\n  ".join(offending)


def test_packages_import_each_other_only_through_their_init() -> None:
    offending = []
    public: dict[str, set[str]] = {}
    for out in graph("dockyard").values():
        for edge in out:
            source, target = unit(edge.source), unit(edge.target)
            if source == target or not target or not is_package(target):
                continue
            package = f"dockyard.{target}"
            if edge.via == "dockyard" and edge.name == target:  # `from dockyard import oci`
                continue
            if edge.via != package:
                offending.append(f"{edge.where}: {edge.via} (import from {package})")
                continue
            if package not in public:
                public[package] = set(getattr(importlib.import_module(package), "__all__", ()))
            if edge.name and edge.name not in public[package]:
                offending.append(f"{edge.where}: {edge.name} from {package}, which does not export it "
                                 f"(add it to {package}.__all__)")
    assert not offending, ("imports that reach into another package (import its __init__'s public "
                           "names only):\n  " + "\n  ".join(offending))


def test_the_checks_see_function_level_relative_and_submodule_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (package / "b.py").write_text("from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["SRC"]), "SRC", tmp_path)
    at = tmp_path.name
    assert cycles("pkg") == [[f"pkg.a -> pkg.b ({at}/pkg/a.py:2)", f"pkg.b -> pkg.c ({at}/pkg/b.py:1)",
                              f"pkg.c -> pkg.a ({at}/pkg/c.py:1)"]]
    assert [(e.target, e.via, e.name) for e in graph("pkg")["pkg.d"]] == [("pkg.a", "pkg", "a")]
