"""Steps that set the build's result while it goes on: `unstable('why')`, `catchError { }`,
`warnError('why') { }` (Jenkins' semantics: the result only gets worse; a caught error does not
skip the later stages)."""

from __future__ import annotations

from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate


class UnstableStep(Step):
    name = "unstable"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        message = interpolate(self.args["message"], ctx.env)
        host.log.line(f"[Pipeline] unstable\nWARNING: {message}")
        host.mark_result("UNSTABLE", ctx.stage)


class CatchErrorStep(Step):
    """`catchError(buildResult: 'FAILURE', stageResult: 'SUCCESS', message: '...') { ... }`
    (those are Jenkins' defaults)."""

    name = "catchError"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        host.log.line("[Pipeline] catchError")
        try:
            await host.run_steps(self.body, ctx)
        except BuildAborted:
            raise
        except StepFailed as e:
            if self.args.get("message"):
                host.log.line(interpolate(self.args["message"], ctx.env))
            host.log.line(f"ERROR: {e}")
            build_result = interpolate(self.args.get("buildResult") or "FAILURE", ctx.env)
            stage_result = interpolate(self.args.get("stageResult") or "SUCCESS", ctx.env)
            host.mark_result(build_result, ctx.stage, stage_result)


class WarnErrorStep(Step):
    """`warnError('why') { ... }`: a failure inside makes the build UNSTABLE and goes on."""

    name = "warnError"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        host.log.line("[Pipeline] warnError")
        try:
            await host.run_steps(self.body, ctx)
        except BuildAborted:
            raise
        except StepFailed as e:
            host.log.line(f"{interpolate(self.args['message'], ctx.env)}\nERROR: {e}")
            host.mark_result("UNSTABLE", ctx.stage)
