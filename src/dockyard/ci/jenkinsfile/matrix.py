"""The Jenkinsfile's `matrix { axes { } excludes { } agent/environment/when/options/post stages { } }`
read into a `MatrixSpec` (dockyard.ci.matrix makes the cells). Sections and directives the
declarative builder already reads (agent, environment, when, options, post, stages) are read by it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from dockyard.ci.errors import JenkinsfileError
from dockyard.ci.jenkinsfile.stage_input import parse_stage_input, when_before_input
from dockyard.ci.jenkinsfile.syntax import Node, Ref
from dockyard.ci.matrix import (
    Axis,
    ExcludeAxis,
    MatrixSpec,
    axis_text,
    check_axis,
    check_exclude,
    matrix_cells,
)
from dockyard.ci.model import Agent, Condition, EnvVar, Options, Parameter, Post, Stage


class _Builder(Protocol):
    """What of the declarative builder (dockyard.ci.jenkinsfile.declarative) a matrix uses."""

    def _block(self, node: Node) -> list[Node]: ...
    def _no_block(self, node: Node) -> None: ...
    def _single(self, node: Node, what: str) -> Any: ...
    def _string(self, value: Any, pos: Any, what: str, interpolate: bool = False) -> Any: ...
    def _unique(
        self, nodes: list[Node], allowed: set[str], where: str, hints: dict[str, str] | None = None
    ) -> dict[str, Node]: ...
    def agent(self, node: Node) -> Agent: ...
    def environment(self, node: Node) -> tuple[EnvVar, ...]: ...
    def condition(self, n: Node) -> Condition: ...
    def options(self, node: Node, top: bool) -> Options: ...
    def post(self, node: Node) -> Post: ...
    def stages(self, node: Node) -> tuple[Stage, ...]: ...
    def parameters(self, node: Node) -> tuple[Parameter, ...]: ...


_SECTIONS = {"axes", "excludes", "agent", "environment", "when", "input", "options", "post", "stages"}
_HINTS = {
    "tools": "'tools' is not supported: use a container image that has the tool",
    "steps": "a matrix runs stages: put the steps in stages { stage('...') { steps { } } }",
    "parallel": "a matrix cannot contain parallel: its cells already run in parallel",
}


def parse_matrix(b: _Builder, node: Node) -> tuple[Stage, ...]:
    """The matrix's cells as parallel branch stages."""
    parts = b._unique(b._block(node), _SECTIONS, "matrix", _HINTS)
    if "axes" not in parts:
        raise JenkinsfileError("matrix needs axes { axis { name 'X'; values 'a', 'b' } }", node.pos)
    if "stages" not in parts:
        raise JenkinsfileError("matrix needs stages { stage('...') { ... } }", node.pos)
    axes = _axes(b, parts["axes"])
    excludes = _excludes(b, parts["excludes"], axes) if "excludes" in parts else ()
    spec = MatrixSpec(
        axes=axes,
        excludes=excludes,
        stages=b.stages(parts["stages"]),
        pos=node.pos,
        agent=_agent(b, parts["agent"], axes) if "agent" in parts else None,
        environment=b.environment(parts["environment"]) if "environment" in parts else (),
        when=when_conditions(b, parts["when"]) if "when" in parts else (),
        when_before_input=when_before_input(parts.get("when")),
        input=parse_stage_input(b, parts["input"]) if "input" in parts else None,
        options=b.options(parts["options"], top=False) if "options" in parts else None,
        post=b.post(parts["post"]) if "post" in parts else None,
    )
    return matrix_cells(spec)


def branch_options(b: _Builder, name: str, parts: dict[str, Node]) -> bool:
    """A stage's `failFast true` (for parallel and matrix only), and Jenkins' refusal of an
    agent on the stage that holds a matrix (the agent goes inside it)."""
    if "matrix" in parts and "agent" in parts:
        raise JenkinsfileError(
            f"stage '{name}' has a matrix: put its agent inside matrix {{ }} (each cell gets it)",
            parts["agent"].pos,
        )
    if "failFast" not in parts:
        return False
    n = parts["failFast"]
    if "parallel" not in parts and "matrix" not in parts:
        raise JenkinsfileError(
            f"failFast applies to a stage with parallel or matrix, not to stage '{name}'", n.pos
        )
    value = b._single(n, "true or false")
    if not isinstance(value, bool):
        raise JenkinsfileError("failFast takes true or false", n.pos)
    return value


def when_conditions(b: _Builder, node: Node) -> tuple[Condition, ...]:
    """A stage's or matrix's `when` conditions. `beforeAgent` and `beforeOptions true` are
    accepted: Dockyard evaluates `when` before a stage's agent and options are entered anyway (its
    agent is the build's, set up once); `beforeInput` (and `beforeOptions`) also put it before the
    stage's `input`, which otherwise comes first (`stage_input.when_before_input`)."""
    out = []
    for n in b._block(node):
        if n.name in ("beforeAgent", "beforeInput", "beforeOptions"):
            if not isinstance(b._single(n, "true or false"), bool):
                raise JenkinsfileError(f"{n.name} takes true or false", n.pos)
            continue
        out.append(b.condition(n))
    if not out:
        raise JenkinsfileError("when needs at least one condition", node.pos)
    return tuple(out)


def _axes(b: _Builder, node: Node) -> tuple[Axis, ...]:
    out: list[Axis] = []
    seen: set[str] = set()
    for n in b._block(node):
        if n.name != "axis":
            raise JenkinsfileError(
                f"expected axis {{ name 'X'; values 'a', 'b' }} in axes, found '{n.name}'", n.pos
            )
        fields = b._unique(b._block(n), {"name", "values"}, "axis")
        if "name" not in fields or "values" not in fields:
            raise JenkinsfileError("axis needs name 'X' and values 'a', 'b', ...", n.pos)
        name = str(b._string(b._single(fields["name"], "quoted name"), fields["name"].pos, "axis name"))
        values = _values(b, fields["values"])
        out.append(
            Axis(name, check_axis(name, values, fields["name"].pos, fields["values"].pos, seen), n.pos)
        )
        seen.add(name)
    if not out:
        raise JenkinsfileError("axes needs at least one axis { name 'X'; values 'a', 'b' }", node.pos)
    return tuple(out)


def _values(b: _Builder, node: Node) -> list[Any]:
    b._no_block(node)
    if node.kwargs:
        raise JenkinsfileError(f"{node.name} takes quoted strings: {node.name} 'a', 'b'", node.pos)
    values = node.args[0] if len(node.args) == 1 and isinstance(node.args[0], list) else node.args
    for v in values:
        if isinstance(v, Ref):
            raise JenkinsfileError(
                f"{node.name}: expected quoted strings, found the bare name {v.name} (write '{v.name}')",
                v.pos,
            )
    return list(values)


def _excludes(b: _Builder, node: Node, axes: tuple[Axis, ...]) -> tuple[tuple[ExcludeAxis, ...], ...]:
    out = []
    for n in b._block(node):
        if n.name != "exclude":
            raise JenkinsfileError(
                f"expected exclude {{ axis {{ ... }} }} in excludes, found '{n.name}'", n.pos
            )
        entries = []
        for a in b._block(n):
            if a.name != "axis":
                raise JenkinsfileError(
                    f"expected axis {{ name 'X'; values 'a' }} in exclude, found '{a.name}'", a.pos
                )
            fields = b._unique(b._block(a), {"name", "values", "notValues"}, "exclude axis")
            kinds = [k for k in ("values", "notValues") if k in fields]
            if "name" not in fields or len(kinds) != 1:
                raise JenkinsfileError("exclude axis needs name 'X' and one of values or notValues", a.pos)
            name = str(b._string(b._single(fields["name"], "quoted name"), fields["name"].pos, "axis name"))
            raw = _values(b, fields[kinds[0]])
            if not all(isinstance(v, str) for v in raw):
                raise JenkinsfileError(f"exclude axis {name!r}: {kinds[0]} must be quoted strings", a.pos)
            entries.append(ExcludeAxis(name, tuple(raw), kinds[0] == "notValues", a.pos))
        check_exclude(axes, tuple(entries), n.pos)
        out.append(tuple(entries))
    if not out:
        raise JenkinsfileError("excludes needs at least one exclude { axis { ... } }", node.pos)
    return tuple(out)


def _agent(b: _Builder, node: Node, axes: tuple[Axis, ...]) -> Agent:
    """The builder's agent, except that its label or pod template may name axes:
    `label "${OS}-runner"`, or `yaml` in double quotes with `image: node:${NODE}`."""
    inner = node.block or []
    if len(inner) == 1 and inner[0].name == "label" and inner[0].block is None:
        kind = inner[0]
        label = axis_text(b._single(kind, "label string"), axes, kind.pos, "label")
        return Agent("label", label=label, pos=kind.pos)
    if len(inner) == 1 and inner[0].name == "kubernetes" and inner[0].block:
        fields = [
            replace(f, args=[axis_text(f.args[0], axes, f.pos, "yaml")])
            if f.name == "yaml" and len(f.args) == 1
            else f
            for f in inner[0].block
        ]
        node = replace(node, block=[replace(inner[0], block=fields)])
    return b.agent(node)
