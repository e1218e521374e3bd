"""Declarative `matrix`: axes, excludes and the cells they make, shared by both front ends.

A matrix compiles to the parallel branches Jenkins generates for it (pipeline-model-definition's
RuntimeASTTransformer): one branch stage per combination of axis values, minus the excluded ones,
named `Matrix - OS = 'linux', BROWSER = 'chrome'` (axes in declaration order), each with the
axis values as its first environment entries, then the matrix's own agent, environment, when,
options and post, and the matrix's stages inside. The runner then runs them as it runs
`parallel` (dockyard.ci.branches), so a matrix and a parallel behave the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from math import prod

from dockyard.ci.errors import PipelineError, Pos
from dockyard.ci.model import Agent, Condition, EnvVar, GString, Interp, Options, Post, Stage, StageInput

__all__ = [
    "MAX_CELLS",
    "Axis",
    "ExcludeAxis",
    "MatrixSpec",
    "axis_ref",
    "axis_text",
    "cell_name",
    "expand_cells",
    "matrix_cells",
]

# Cells one matrix may have (after excludes): each runs its stages as a parallel branch, and 256
# is more than the CI systems teams move from allow (GitHub Actions: 256 jobs per matrix).
MAX_CELLS = 256
# Combinations looked at before excludes: the product is never built beyond this.
MAX_COMBINATIONS = 4096
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]
    pos: Pos


@dataclass(frozen=True)
class ExcludeAxis:
    """`axis { name 'X'; values 'a' }` (or `notValues`, `inverse`) inside an `exclude`."""

    name: str
    values: tuple[str, ...]
    inverse: bool
    pos: Pos


@dataclass(frozen=True)
class MatrixSpec:
    """What a `matrix { }` block says, before its cells are made."""

    axes: tuple[Axis, ...]
    excludes: tuple[tuple[ExcludeAxis, ...], ...]
    stages: tuple[Stage, ...]
    pos: Pos
    agent: Agent | None = None
    environment: tuple[EnvVar, ...] = ()
    when: tuple[Condition, ...] = ()
    options: Options | None = None
    post: Post | None = None
    input: StageInput | None = None  # asked in each cell (its id made the cell's own)
    when_before_input: bool = False


def check_axis(name: str, values: list[object], name_pos: Pos, pos: Pos, seen: set[str]) -> tuple[str, ...]:
    """An axis's values as strings, or the refusal Jenkins' validator gives (with a fix);
    `name_pos` and `pos` are those of its `name` and `values` lines."""
    if not _IDENTIFIER.match(name):
        raise PipelineError(
            f"matrix axis name {name!r} is not a valid environment variable name (letters, digits, _)",
            name_pos,
        )
    if name in seen:
        raise PipelineError(f"matrix axis {name!r} is declared twice: give each axis its own name", name_pos)
    if not values:
        raise PipelineError(f"matrix axis {name!r} needs values 'a', 'b', ...", pos)
    out: list[str] = []
    for v in values:
        if isinstance(v, GString):
            raise PipelineError(
                f"matrix axis {name!r}: values are literal strings; ${{...}} is not allowed in them", pos
            )
        if not isinstance(v, str):
            raise PipelineError(
                f"matrix axis {name!r}: values must be quoted strings, found {v!r} (write '{v}')", pos
            )
        if v in out:
            raise PipelineError(f"matrix axis {name!r}: value {v!r} is listed twice", pos)
        out.append(v)
    return tuple(out)


def check_exclude(axes: tuple[Axis, ...], exclude: tuple[ExcludeAxis, ...], pos: Pos) -> None:
    """An exclude names known axes, each once, with values those axes have (a typo would
    otherwise exclude nothing, silently)."""
    if not exclude:
        raise PipelineError("exclude needs at least one axis { name 'X'; values 'a' }", pos)
    by_name = {a.name: a for a in axes}
    seen: set[str] = set()
    for e in exclude:
        axis = by_name.get(e.name)
        if axis is None:
            raise PipelineError(
                f"exclude names axis {e.name!r}, which the matrix does not have (axes: {', '.join(by_name)})",
                e.pos,
            )
        if e.name in seen:
            raise PipelineError(f"exclude names axis {e.name!r} twice", e.pos)
        seen.add(e.name)
        if not e.values:
            raise PipelineError(f"exclude axis {e.name!r} needs values or notValues", e.pos)
        unknown = [v for v in e.values if v not in axis.values]
        if unknown:
            raise PipelineError(
                f"exclude axis {e.name!r}: {unknown[0]!r} is not one of its values"
                f" ({', '.join(repr(v) for v in axis.values)})",
                e.pos,
            )


def expand_cells(
    axes: tuple[Axis, ...], excludes: tuple[tuple[ExcludeAxis, ...], ...], pos: Pos
) -> list[dict[str, str]]:
    """The cells in Jenkins' order (the first axis varies fastest), minus every cell that all
    axes of some exclude match; more than MAX_CELLS is refused."""
    if not axes:
        raise PipelineError("matrix needs axes { axis { name 'X'; values 'a', 'b' } }", pos)
    total = prod(len(a.values) for a in axes)
    if total > MAX_COMBINATIONS:
        raise PipelineError(
            f"the matrix has {total} combinations of axis values; at most {MAX_COMBINATIONS} are"
            f" looked at (and {MAX_CELLS} cells run): split it or use fewer values",
            pos,
        )
    cells: list[dict[str, str]] = [{}]
    for axis in axes:
        cells = [{**cell, axis.name: value} for value in axis.values for cell in cells]
    kept = [c for c in cells if not any(_excluded(c, e) for e in excludes)]
    if not kept:
        raise PipelineError("the excludes leave no cell of the matrix to run", pos)
    if len(kept) > MAX_CELLS:
        raise PipelineError(
            f"the matrix has {len(kept)} cells; at most {MAX_CELLS} are allowed: add excludes,"
            " use fewer values, or split it into several matrix stages",
            pos,
        )
    return kept


def _excluded(cell: dict[str, str], exclude: tuple[ExcludeAxis, ...]) -> bool:
    return all((cell.get(e.name) in e.values) != e.inverse for e in exclude)


def cell_name(cell: dict[str, str]) -> str:
    """The branch name Jenkins gives a cell: `Matrix - OS = 'linux', BROWSER = 'chrome'`."""
    return "Matrix - " + ", ".join(f"{k} = '{v}'" for k, v in cell.items())


def matrix_cells(spec: MatrixSpec) -> tuple[Stage, ...]:
    """One branch stage per cell (see the module docstring)."""
    _no_branches_inside(spec.stages)
    cells = expand_cells(spec.axes, spec.excludes, spec.pos)
    out = []
    for cell in cells:
        env = tuple(EnvVar(name, value, pos=spec.pos) for name, value in cell.items())
        out.append(
            Stage(
                name=cell_name(cell),
                stages=spec.stages,
                agent=_cell_agent(spec.agent, cell),
                environment=env + spec.environment,
                when=spec.when,
                options=replace(spec.options) if spec.options else Options(),
                post=spec.post or Post(),
                pos=spec.pos,
                input=_cell_input(spec.input, cell),
                when_before_input=spec.when_before_input,
            )
        )
    return tuple(out)


def _no_branches_inside(stages: tuple[Stage, ...]) -> None:
    """Jenkins refuses parallel and matrix inside a matrix's stages (its cells already run in
    parallel); so does Dockyard, which also keeps a build at MAX_CELLS branches."""
    for stage in stages:
        if stage.parallel:
            raise PipelineError(
                f"stage '{stage.name}' is inside a matrix and cannot contain parallel or matrix:"
                " the matrix's cells already run in parallel",
                stage.pos or Pos("", 0, 0),
            )
        _no_branches_inside(stage.stages)


def _cell_input(given: StageInput | None, cell: dict[str, str]) -> StageInput | None:
    """A matrix's `input { }` in one cell, which knows the cell's axis values. The cells wait at
    once, so a literal `id` gets the cell's values (`Deploy-linux-chrome`); an id in "${AXIS}"
    form is the cell's already, and without an id the cell's stage name makes it."""
    if given is None:
        return None
    given = replace(given, known=tuple(cell.items()))
    if not isinstance(given.id, str) or not given.id:
        return given
    values = (re.sub(r"[^A-Za-z0-9_-]+", "_", v) for v in cell.values())
    return replace(given, id="-".join((given.id, *values)))


def axis_ref(name: str) -> str:
    """How an agent's text (label, pod template) marks `${NAME}` of an axis until a cell fills it
    in: a form no literal text can have, so `'${X}'` written in single quotes stays as written."""
    return f"\x00{name}\x00"


def _cell_agent(agent: Agent | None, cell: dict[str, str]) -> Agent | None:
    """`agent { label "${OS}-runner" }` or a pod template naming axes: with this cell's values."""
    if agent is None:
        return None
    label, pod_yaml = agent.label, agent.pod_yaml
    for name, value in cell.items():
        label, pod_yaml = label.replace(axis_ref(name), value), pod_yaml.replace(axis_ref(name), value)
    return replace(agent, label=label, pod_yaml=pod_yaml)


def axis_text(value: object, axes: tuple[Axis, ...], pos: Pos, what: str) -> str:
    """A matrix agent's label or pod template: a string, or a "${AXIS}" GString naming axes only
    (filled in per cell by `_cell_agent`); anything else is known only at run time: refused."""
    if isinstance(value, str):
        return value
    if not isinstance(value, GString):
        raise PipelineError(f"{what}: expected a quoted string", pos)
    names = {a.name for a in axes}
    text = []
    for part in value.parts:
        if isinstance(part, Interp):
            if part.expr not in names:
                raise PipelineError(
                    f"matrix agent {what}: ${{{part.expr}}} is not an axis of this matrix"
                    f" (axes: {', '.join(sorted(names))})",
                    part.pos,
                )
            text.append(axis_ref(part.expr))
        else:
            text.append(part)
    return "".join(text)
