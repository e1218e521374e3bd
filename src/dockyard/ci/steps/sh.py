"""`sh 'script'`: a shell script in the agent (or the current `container()`), its output streamed
to the console and scanned for the builder's phases (the trace)."""

from __future__ import annotations

import os
import secrets
import shlex
import time
from pathlib import Path

from dockyard.ci.buildertrace import BuilderOutputTracer
from dockyard.ci.buildlog import Span
from dockyard.ci.executor.interface import StepSpec
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate

# Tools run by a step (the builder behind /kaniko/executor) may append JSON lines here, one span
# each: {"kind": "push", "name": "...", "start": epoch, "end": epoch, "status": "ok", ...}.
TRACE_EVENTS = "trace-events.jsonl"


MAX_STDOUT = 1 << 20  # returnStdout: true keeps at most this much output


class ShStep(Step):
    name = "sh"

    async def run(self, ctx: Ctx, host: StepHost) -> str | int | None:
        """None; the output for returnStdout: true; the exit code for returnStatus: true."""
        script = interpolate(self.args["script"], ctx.env)
        want_stdout, want_status = bool(self.args.get("returnStdout")), bool(self.args.get("returnStatus"))
        out_file = None
        if want_stdout:  # the step's output stream also carries stderr and the `+ cmd` trace
            out_file = ctx.cwd / f".dockyard-stdout-{secrets.token_hex(6)}"
            script = f"{{\n{script}\n}} >{shlex.quote(out_file.name)}"
        given = interpolate(self.args.get("label", ""), ctx.env)
        label = given or _first_line(script)
        host.log.line(f"[Pipeline] sh{' (' + label + ')' if given else ''}")
        with host.trace.span("step", f"sh {label}"[:80], stage=ctx.stage) as span:
            ctx.cwd.mkdir(parents=True, exist_ok=True)
            events = host.paths.root / TRACE_EVENTS
            env = {**ctx.env, "DOCKYARD_TRACE_EVENTS": str(events)}
            handle = await host.executor.start_step(StepSpec(script, env, ctx.cwd, ctx.container, ctx.shell))
            tracer = BuilderOutputTracer()
            try:
                async with host.running(handle):
                    if host.aborted:  # stopped while the step was starting: abort() did not see it
                        await host.executor.kill(handle)
                    async for chunk in host.executor.tail(handle):
                        host.log.write(chunk)
                        tracer.feed(chunk, time.time())
                    code = await host.executor.wait(handle)
            finally:
                host.trace.add([Span(s.kind, s.name, s.start, s.end, "ok", s.detail)
                                for s in tracer.finish(time.time())])
                host.trace.merge_events(events)
            if host.aborted:
                span.status = "aborted"
                raise BuildAborted()
            stdout = _take(out_file) if out_file is not None else None
            if want_status:
                return code
            if code != 0:
                span.status = "failed"
                raise StepFailed(f"script returned exit code {code}")
            return stdout


def _take(path: Path) -> str:
    """The captured standard output (at most MAX_STDOUT bytes), removed from the workspace."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_STDOUT + 1)
    finally:
        path.unlink(missing_ok=True)
    if len(data) > MAX_STDOUT:
        raise StepFailed(f"sh returnStdout: the output is over {MAX_STDOUT} bytes")
    return data.decode("utf-8", "replace")


def _first_line(script: str) -> str:
    for line in script.splitlines():
        if line.strip():
            return line.strip()
    return ""
