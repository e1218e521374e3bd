"""`withCredentials([usernamePassword(...), string(...), file(...)]) { ... }`: the nested steps see
the bound secrets (masked in the console)."""

from __future__ import annotations

from dataclasses import replace

from dockyard.ci.model import Call
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost


class WithCredentialsStep(Step):
    name = "withCredentials"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        env = dict(ctx.env)
        for binding in self.args["bindings"]:
            assert isinstance(binding, Call)
            cid = binding.kwargs["credentialsId"]
            values = host.credentials.env("_DY", cid)
            if binding.name == "usernamePassword":
                if "_DY_USR" not in values:
                    raise StepFailed(f"credential {cid!r} is not a username/password")
                env[binding.kwargs["usernameVariable"]] = values["_DY_USR"]
                env[binding.kwargs["passwordVariable"]] = values["_DY_PSW"]
            else:  # usernameColonPassword, string, file
                env[binding.kwargs["variable"]] = values["_DY"]
        await host.run_steps(self.body, replace(ctx, env=env))
