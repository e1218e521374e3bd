"""`input message: 'Deploy?', ok: 'Yes', submitter: 'alice,bob', id: 'Deploy'`: the build waits
until someone allowed proceeds or aborts it through the Jenkins API (see dockyard.ci.input_state).
Aborting (or a surrounding `timeout`) ends the build ABORTED, as in Jenkins."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.ci.input_state import PARAM_TYPES, InputAnswer, InputParam, PendingInput, default_input_id
from dockyard.ci.model import Call, GString
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.timeout import TIMEOUT_CANCEL
from dockyard.ci.steps.values import interpolate


class InputStep(Step):
    name = "input"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        message = interpolate(self.args["message"], ctx.env)
        ok = interpolate(self.args.get("ok") or "Proceed", ctx.env)
        raw_id = self.args.get("id")
        input_id = interpolate(raw_id, ctx.env) if raw_id else default_input_id(message)
        submitter = interpolate(self.args.get("submitter") or "", ctx.env)
        names = frozenset(s.strip().lower() for s in submitter.split(",") if s.strip())
        params = _params(self.args.get("parameters"), ctx.env)
        pending = PendingInput(input_id, message, ok, names, params, stage=ctx.stage or "")
        answer = await ask(host, pending)
        return pending.result(answer.values)


async def ask(host: StepHost, pending: PendingInput) -> InputAnswer:
    """Waits for `pending` to be answered (the input step's and a stage's `input { }`): the
    console lines Jenkins prints, the answer when it proceeds; BuildAborted when it was aborted
    (the build ends ABORTED), the build stopped, or a surrounding timeout ran out."""
    input_id = pending.id
    if not input_id.replace("-", "").replace("_", "").isalnum() or len(input_id) > 100:
        raise StepFailed(f"input id {input_id!r}: use letters, digits, '-' and '_' (at most 100)")
    inputs = host.pending_inputs
    if input_id in inputs:
        raise StepFailed(
            f"input id {input_id!r} is already waiting in this build: give each input its own id"
        )
    url = f"{host.base_url}/job/{host.job_name}/{host.build_number}/input/{input_id}"
    host.log.line(f"[Pipeline] input\nInput requested\n{pending.message}\n{pending.ok} or Abort")
    host.log.line(f"(POST {url}/proceedEmpty to proceed, {url}/abort to abort)")
    inputs[input_id] = pending
    try:
        answer = await pending.future
    except asyncio.CancelledError as e:
        if e.args and e.args[0] == TIMEOUT_CANCEL:  # a surrounding timeout(): Jenkins aborts
            await host.abort(f"Timeout has been exceeded: input {input_id!r} was not answered")
        raise
    finally:
        inputs.pop(input_id, None)
    if not answer.proceed:
        if not answer.by:  # the build itself was aborted while waiting
            raise BuildAborted()
        host.log.line(f"Rejected by {answer.by}")
        await host.abort(f"Input {input_id!r} aborted by {answer.by}")
        raise BuildAborted()
    host.log.line(f"Approved by {answer.by}")
    return answer


def _params(raw: Any, env: dict[str, str]) -> tuple[InputParam, ...]:
    """`parameters: [string(name:, defaultValue:), booleanParam(...), choice(name:, choices:)]`."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, Call) for c in raw):
        raise StepFailed("input parameters: a list such as [string(name: 'V', defaultValue: '1')]")
    out: list[InputParam] = []
    for c in raw:  # declarative "${...}" values are GStrings until now
        kw = {k: interpolate(v, env) if isinstance(v, GString) else v for k, v in c.kwargs.items()}
        name = kw.get("name")
        if c.name not in PARAM_TYPES or not isinstance(name, str) or not name:
            raise StepFailed(f"input parameters: {', '.join(PARAM_TYPES)} with a name (not {c.name})")
        choices: tuple[str, ...] = ()
        if c.name == "choice":
            given = kw.get("choices")
            items = given.split("\n") if isinstance(given, str) else given
            if not isinstance(items, list | tuple) or not items:
                raise StepFailed(f"input choice {name!r} needs choices: ['a', 'b']")
            choices = tuple(str(x) for x in items if str(x))
        if c.name == "booleanParam":
            default: str | bool = kw.get("defaultValue") in (True, "true")
        else:
            default = choices[0] if choices else str(kw.get("defaultValue") or "")
        out.append(InputParam(c.name, name, default, str(kw.get("description") or ""), choices))
    return tuple(out)
