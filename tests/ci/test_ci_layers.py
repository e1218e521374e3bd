"""The CI package's import rules, checked on the source (an ast walk, function-level imports too):
ci never imports the command line or the server; the HTTP route modules depend on the narrow
`CIOperations` protocol, never on the service that composes them; steps never reach back into
the runner that runs them."""

from __future__ import annotations

import ast
from pathlib import Path

import dockyard.ci

CI = Path(dockyard.ci.__file__).parent


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        for name in sorted(imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(CI.parent)} imports {name}")
    return found


def test_ci_never_imports_the_cli_or_the_server() -> None:
    assert offenders(sorted(CI.rglob("*.py")), ("dockyard.cli", "dockyard.server")) == []


def test_route_modules_depend_on_the_protocol_not_the_service() -> None:
    routes = [CI / "jenkins_api.py", CI / "native_api.py", CI / "hooks.py"]
    assert offenders(routes, ("dockyard.ci.service",)) == []
    assert all("dockyard.ci.component" in imports(p) for p in routes)


def test_steps_never_reach_back_into_the_runner() -> None:
    steps = sorted((CI / "steps").glob("*.py"))
    assert len(steps) > 10
    assert offenders(steps, ("dockyard.ci.runner", "dockyard.ci.scheduler", "dockyard.ci.service")) == []
