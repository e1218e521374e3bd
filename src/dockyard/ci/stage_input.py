"""A stage's `input { }` at run time: the stage waits with the `input` step's machinery
(dockyard.ci.steps.input.ask: the same pending input, Jenkins endpoints, submitter rule, console
lines), and once someone allowed proceeds, the parameters' values (and `submitterParameter`, the
approver's user id) become environment variables for the whole stage, as Jenkins' declarative
`stageInput` does with `withEnv`. Aborting ends the stage and the build ABORTED."""

from __future__ import annotations

import re

from dockyard.ci.input_state import InputParam, PendingInput
from dockyard.ci.model import GString, Parameter, StageInput
from dockyard.ci.steps.input import ask
from dockyard.ci.steps.interface import StepHost
from dockyard.ci.steps.values import interpolate

__all__ = ["stage_input_env", "stage_input_id"]


def stage_input_id(stage_name: str) -> str:
    """Jenkins' default id of a stage's input is its stage's name (capitalised, as the input step
    does to ids); characters an id may not hold become '-' (`Deploy to prod` -> `Deploy-to-prod`)."""
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", stage_name).strip("-")[:100] or "Input"
    return text[0].upper() + text[1:]


async def stage_input_env(
    host: StepHost, given: StageInput, stage_name: str, env: dict[str, str]
) -> dict[str, str]:
    """Asks `given` in stage `stage_name` (its texts interpolated with `env`) and returns `env`
    with the variables its answer adds; BuildAborted when it is not proceeded."""
    env = {**env, **dict(given.known)}
    message = interpolate(given.message, env)
    ok = interpolate(given.ok, env) if given.ok else "Proceed"
    input_id = interpolate(given.id, env) if given.id else stage_input_id(stage_name)
    submitter = interpolate(given.submitter, env) if given.submitter else ""
    names = frozenset(s.strip().lower() for s in submitter.split(",") if s.strip())
    params = tuple(_input_param(p, env) for p in given.parameters)
    pending = PendingInput(input_id, message, ok, names, params, stage=stage_name)
    answer = await ask(host, pending)
    values = {name: _env_value(v) for name, v in answer.values.items()}
    if given.submitter_parameter:
        values[given.submitter_parameter] = answer.by
    return {**env, **values}


def _input_param(p: Parameter, env: dict[str, str]) -> InputParam:
    """A declared parameter as the pending input's: its default interpolated now."""
    raw = p.default
    if p.kind == "booleanParam":
        return InputParam(p.kind, p.name, raw in (True, "true"), p.description)
    default = interpolate(raw, env) if isinstance(raw, str | GString) else _env_value(raw)
    return InputParam(p.kind, p.name, p.choices[0] if p.choices else default, p.description, p.choices)


def _env_value(value: object) -> str:
    """A value as Jenkins' withEnv gets it: booleans as Groovy prints them."""
    return str(value).lower() if isinstance(value, bool) else str(value)
