"""`input message: 'Deploy?', ok: 'Yes', submitter: 'alice,bob', id: 'Deploy'`: the build waits
until someone allowed proceeds or aborts it through the Jenkins API (see dockyard.ci.input_state).
Aborting (or a surrounding `timeout`) ends the build ABORTED, as in Jenkins."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.ci.input_state import PendingInput, default_input_id
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class InputStep(Step):
    name = "input"

    async def run(self, ctx: Ctx, host: StepHost) -> Any:
        message = interpolate(self.args["message"], ctx.env)
        ok = interpolate(self.args.get("ok") or "Proceed", ctx.env)
        raw_id = self.args.get("id")
        input_id = interpolate(raw_id, ctx.env) if raw_id else default_input_id(message)
        if not input_id.replace("-", "").replace("_", "").isalnum() or len(input_id) > 100:
            raise StepFailed(f"input id {input_id!r}: use letters, digits, '-' and '_' (at most 100)")
        submitter = interpolate(self.args.get("submitter") or "", ctx.env)
        names = frozenset(s.strip().lower() for s in submitter.split(",") if s.strip())
        inputs = host.pending_inputs
        if input_id in inputs:
            raise StepFailed(
                f"input id {input_id!r} is already waiting in this build: give each input its own id"
            )
        pending = PendingInput(input_id, message, ok, names)
        url = f"{host.base_url}/job/{host.job_name}/{host.build_number}/input/{input_id}"
        host.log.line(f"[Pipeline] input\nInput requested\n{message}\n{ok} or Abort")
        host.log.line(f"(POST {url}/proceedEmpty to proceed, {url}/abort to abort)")
        inputs[input_id] = pending
        try:
            answer = await pending.future
        except asyncio.CancelledError:  # a surrounding timeout(): Jenkins aborts the build
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
        return None
