"""Values of step arguments at run time: `GString` interpolation against the build's environment."""

from __future__ import annotations

import os

from dockyard.ci.groovy.interpreter import evaluate_interpolation, script_variable
from dockyard.ci.groovy.values import AGENT_ENV
from dockyard.ci.model import GString, Interp
from dockyard.ci.steps.interface import StepFailed


def interpolate(value: str | GString, env: dict[str, str]) -> str:
    """`"tag-${BUILD_NUMBER}"` -> `tag-7`; a plain string is returned as is."""
    if isinstance(value, str):
        return value
    return "".join(resolve(part, env) if isinstance(part, Interp) else part for part in value.parts)


def resolve(part: Interp, env: dict[str, str]) -> str:
    expr = part.expr
    head, _, rest = expr.partition(".")
    if head in ("env", "params") and rest and "." not in rest:
        expr = rest
    elif part.code is not None and ("." in expr or not expr.isidentifier()):
        return evaluate_interpolation(part.code, env)
    elif "." in expr:
        raise StepFailed(
            f"{part.pos}: ${{{part.expr}}} is not supported (use a name, env.NAME or params.NAME)"
        )
    if expr in env:
        return env[expr]
    if expr in AGENT_ENV and expr in os.environ:
        return os.environ[expr]
    value = script_variable(expr) if head not in ("env", "params") else None
    if value is not None:  # `script { version = '1.2' }` earlier in the build, as in Jenkins
        return value
    raise StepFailed(f"{part.pos}: no such property: {part.expr} (not in the environment or parameters)")


def split_list(value: str | GString, env: dict[str, str]) -> list[str]:
    """A comma-separated argument (`artifacts: 'a/*, b/*'`) as its non-empty items."""
    return [p.strip() for p in interpolate(value, env).split(",") if p.strip()]
