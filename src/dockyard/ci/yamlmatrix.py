"""`.dockyard.yml`'s `matrix:`, the Jenkinsfile's matrix in YAML (docs/pipelines.md):

    - name: Test
      failFast: true
      matrix:
        axes:                      # in order; each a list of strings
          OS: [linux, mac]
          PY: ["3.11", "3.12"]
        exclude:                   # a cell is left out when it matches every key of an entry
          - {OS: mac, PY: "3.11"}
          - {OS: {notValues: [linux]}, PY: "3.12"}
        agent: {label: "${OS}-runner"}
        environment: {...}
        when: {...}
        input: {...}               # a stage's input:, asked in each cell
        timeout: 10m
        post: {...}
        stages: [...]

It makes the same `MatrixSpec` as the Jenkinsfile front end, so the cells are the same.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Protocol

from dockyard.ci.errors import PipelineError, Pos
from dockyard.ci.matrix import (
    Axis,
    ExcludeAxis,
    MatrixSpec,
    axis_ref,
    check_axis,
    check_exclude,
    matrix_cells,
)
from dockyard.ci.model import Agent, Condition, EnvVar, Options, Parameter, Post, Stage
from dockyard.ci.yamlinput import yaml_stage_input

__all__ = ["yaml_matrix"]

_KEYS = {"axes", "exclude", "agent", "environment", "when", "input", "timeout", "post", "stages"}


class _Compiler(Protocol):
    """What of the YAML compiler (dockyard.ci.yamlpipeline) a matrix uses."""

    def pos(self, node: Any, key: Any = None) -> Pos: ...
    def mapping(
        self, node: Any, where: str, allowed: set[str], parent: Any = None, key: Any = None
    ) -> dict: ...
    def agent(self, value: Any, parent: Any, key: Any) -> Agent: ...
    def environment(self, value: Any, parent: Any) -> tuple[EnvVar, ...]: ...
    def condition(self, value: Any, parent: Any, key: Any) -> Condition: ...
    def duration(self, value: Any, parent: Any, key: Any) -> float: ...
    def post(self, value: Any, parent: Any) -> Post: ...
    def stages(self, value: Any, parent: Any, key: Any) -> tuple[Stage, ...]: ...
    def text(self, value: Any, parent: Any, key: Any, what: str) -> str: ...
    def parameters(self, value: Any, parent: Any) -> tuple[Parameter, ...]: ...


def yaml_matrix(c: _Compiler, value: Any, parent: Any, key: Any) -> tuple[Stage, ...]:
    """The matrix's cells as parallel branch stages."""
    m = c.mapping(value, "matrix", _KEYS, parent, key)
    for needed in ("axes", "stages"):
        if needed not in m:
            raise PipelineError(f"matrix needs {needed}:", c.pos(parent, key))
    axes = _axes(c, m)
    excludes = _excludes(c, m, axes) if "exclude" in m else ()
    options = None
    if "timeout" in m:
        options = Options(timeout_seconds=c.duration(m["timeout"], m, "timeout"))
    spec = MatrixSpec(
        axes=axes,
        excludes=excludes,
        stages=c.stages(m["stages"], m, "stages"),
        pos=c.pos(parent, key),
        agent=_agent(c, m, axes) if "agent" in m else None,
        environment=c.environment(m.get("environment"), m),
        when=(c.condition(m["when"], m, "when"),) if "when" in m else (),
        options=options,
        post=c.post(m.get("post"), m) if "post" in m else None,
        input=yaml_stage_input(c, m["input"], m) if "input" in m else None,  # asked in each cell
    )
    return matrix_cells(spec)


def _axes(c: _Compiler, m: dict) -> tuple[Axis, ...]:
    raw = m["axes"]
    if not isinstance(raw, dict) or not raw:
        raise PipelineError("matrix axes: a mapping of NAME: [values] (at least one)", c.pos(m, "axes"))
    out: list[Axis] = []
    seen: set[str] = set()
    for name, values in raw.items():
        pos = c.pos(raw, name)
        items = values if isinstance(values, list) else [values]
        for v in items:
            if not isinstance(v, str):
                raise PipelineError(
                    f"matrix axis {name!r}: values must be strings: quote {v!r} as '{v}'"
                    " (YAML reads 3.10 as the number 3.1)",
                    pos,
                )
        out.append(Axis(str(name), check_axis(str(name), items, pos, pos, seen), pos))
        seen.add(str(name))
    return tuple(out)


def _excludes(c: _Compiler, m: dict, axes: tuple[Axis, ...]) -> tuple[tuple[ExcludeAxis, ...], ...]:
    raw = m["exclude"]
    if not isinstance(raw, list) or not raw:
        raise PipelineError("matrix exclude: a list of {AXIS: value(s)} entries", c.pos(m, "exclude"))
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise PipelineError("a matrix exclude entry is a mapping {AXIS: value(s)}", c.pos(raw, i))
        found = []
        for name, v in entry.items():
            pos = c.pos(entry, name)
            inverse = isinstance(v, dict)
            if inverse:
                v = c.mapping(v, f"exclude {name}", {"notValues"}, entry, name).get("notValues")
            values = v if isinstance(v, list) else [v]
            if not all(isinstance(x, str) for x in values):
                raise PipelineError(f"exclude {name}: values must be strings (quote numbers)", pos)
            found.append(ExcludeAxis(str(name), tuple(values), inverse, pos))
        check_exclude(axes, tuple(found), c.pos(raw, i))
        out.append(tuple(found))
    return tuple(out)


def _agent(c: _Compiler, m: dict, axes: tuple[Axis, ...]) -> Agent:
    """`agent: {label: "${OS}-runner"}` or a pod template with `${AXIS}`: filled in per cell."""
    value = m["agent"]
    names = {a.name for a in axes}
    if isinstance(value, dict) and set(value) == {"label"} and isinstance(value["label"], str):
        label, pos = value["label"], c.pos(value, "label")
        for ref in re.findall(r"\$\{([^}]*)\}", label):
            if ref not in names:
                raise PipelineError(
                    f"matrix agent label: ${{{ref}}} is not an axis of this matrix"
                    f" (axes: {', '.join(sorted(names))})",
                    pos,
                )
        return Agent("label", label=_refs(label, names), pos=c.pos(m, "agent"))
    agent = c.agent(value, m, "agent")
    return replace(agent, pod_yaml=_refs(agent.pod_yaml, names))


def _refs(text: str, names: set[str]) -> str:
    """`${AXIS}` in a YAML agent's text as the mark a cell fills in (other `${...}` stay)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: axis_ref(m.group(1)) if m.group(1) in names else m.group(0), text)
