"""The interpreter of the Groovy subset: an async tree walker over `dockyard.ci.groovy.ast`.

It reaches the build only through `StepHost` (steps, the console, the result) and the step's
`Ctx` (environment, directory); it has no way to name a Python object, file or socket. Every
statement, loop iteration and closure call is counted against the build's bounds, and the walker
yields to the event loop every few hundred statements, so a hostile script costs a bounded
moment and the server keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import os
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from dockyard.ci.errors import BuildAborted, Pos, StepFailed
from dockyard.ci.groovy import ast as A
from dockyard.ci.groovy.builtins import METHODS, SPECIAL_METHODS
from dockyard.ci.groovy.operators import arith
from dockyard.ci.groovy.runwrapper import RunWrapper
from dockyard.ci.groovy.specs import STEPS
from dockyard.ci.groovy.values import (
    AGENT_ENV,
    MAX_ITEMS,
    MAX_STRING,
    ClosureValue,
    ErrorValue,
    GroovyError,
    LimitExceeded,
    MapEntry,
    Scope,
    compare,
    equal,
    error_value,
    to_string,
    truth,
    type_name,
)
from dockyard.ci.model import Call
from dockyard.ci.model import Step as StepCall

MAX_STATEMENTS = 200_000  # statements, loop iterations and closure calls of one build
MAX_LOOP = 10_000  # iterations of one loop
MAX_DEPTH = 32  # closure calls inside closure calls
MAX_ALLOC = 64 << 20  # characters of strings plus 8 per list/map element made by one build
YIELD_EVERY = 256
_UNITS = {"NANOSECONDS": 1e-9, "MICROSECONDS": 1e-6, "MILLISECONDS": 1e-3, "SECONDS": 1.0,
          "MINUTES": 60.0, "HOURS": 3600.0, "DAYS": 86400.0}  # fmt: skip
_STRING_ARGS = {
    "sh": ("script", "label", "encoding"), "echo": ("message",), "error": ("message",),
    "unstable": ("message",), "dir": ("path",), "container": ("name", "shell"),
    "archiveArtifacts": ("artifacts", "excludes"), "writeFile": ("file", "text", "encoding"),
    "readFile": ("file", "encoding"), "fileExists": ("file",), "readJSON": ("file", "text"),
    "writeJSON": ("file",), "readYaml": ("file", "text"), "readYAML": ("file", "text"),
    "writeYaml": ("file",), "writeYAML": ("file",), "warnError": ("message",),
    "catchError": ("message", "buildResult", "stageResult"), "junit": ("testResults",),
    "stash": ("name", "includes", "excludes"), "unstash": ("name",), "ansiColor": ("colorMapName",),
    "input": ("message", "ok", "submitter", "id"),
    "gitopsSetImage": ("repo", "path", "credentialsId", "branch", "message", "sourceCommit"),
}  # fmt: skip


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class EnvView:
    """`env`: the step's environment; writes also reach the later stages (as in Jenkins)."""

    def __str__(self) -> str:
        return "env"


class ParamsView:
    def __str__(self) -> str:
        return "params"


class CurrentBuildView:
    def __str__(self) -> str:
        return "currentBuild"


class ScmValue:
    def __str__(self) -> str:
        return "scm"


_ENV, _PARAMS, _BUILD, _SCM = EnvView(), ParamsView(), CurrentBuildView(), ScmValue()
_RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")


@dataclass
class Session:
    """The Groovy state of one build: script globals (names assigned without def), the counters
    behind the bounds, and what scripts set on currentBuild."""

    host: Any
    globals: dict[str, Any] = field(default_factory=dict)
    statements: int = 0
    allocated: int = 0
    root_env: dict[str, str] | None = None
    display_name: str | None = None
    description: str | None = None
    explicit_result: str | None = None
    started: float = field(default_factory=time.time)


CURRENT: ContextVar[Session | None] = ContextVar("dockyard_groovy_session", default=None)
# closure calls in progress, per task: parallel branches each have their own
_DEPTH: ContextVar[int] = ContextVar("dockyard_groovy_depth", default=0)
MAX_BRANCHES = 100  # branches of one `parallel` call in a script
MAX_ENV = 4096  # variables of a step's environment a script may grow it to


def start_session(host: Any) -> Session:
    """The build's Groovy session, visible to everything the build's task runs from now on."""
    session = Session(host)
    CURRENT.set(session)
    return session


def session_for(host: Any) -> Session:
    session = CURRENT.get()
    if session is None or session.host is not host:
        session = start_session(host)
    return session


class Exec:
    """Evaluates script code for one step context (`Ctx`: environment, directory, container)."""

    def __init__(self, session: Session, ctx: Any, may_run_steps: bool = True) -> None:
        self.session, self.ctx = session, ctx
        self.may_run_steps = may_run_steps

    # -- bounds -----------------------------------------------------------------------------
    def tick(self, pos: Pos) -> None:
        s = self.session
        s.statements += 1
        if s.statements > MAX_STATEMENTS:
            raise LimitExceeded(
                f"the build's scripts ran more than {MAX_STATEMENTS} statements, loop iterations"
                " and closure calls (an endless loop?): stopped",
                pos,
            )
        if self.session.host is not None and getattr(self.session.host, "aborted", False):
            raise BuildAborted()

    async def pause(self) -> None:
        if self.session.statements % YIELD_EVERY == 0 and self.may_run_steps:
            await asyncio.sleep(0)

    def charge(self, units: int, pos: Pos) -> None:
        self.session.allocated += units
        if self.session.allocated > MAX_ALLOC:
            raise LimitExceeded(
                f"the build's scripts made more than {MAX_ALLOC >> 20} MiB of strings and lists: stopped", pos
            )

    def arity(self, fn: Any) -> int:
        node: A.Closure = fn.node
        return 1 if node.implicit_it else len(node.params)

    # -- entry points -----------------------------------------------------------------------
    async def run_block(self, block: A.Block, scope: Scope | None = None) -> Any:
        """Runs statements; the value is that of `return x`, else of the last expression."""
        try:
            return await self.block(block, scope or Scope())
        except _Return as r:
            return r.value
        except (_Break, _Continue):
            raise GroovyError("break/continue outside a loop", block.pos) from None

    async def call(self, fn: Any, args: list[Any], pos: Pos) -> Any:
        if not isinstance(fn, ClosureValue):
            raise GroovyError(f"{type_name(fn)} is not a closure", pos)
        depth = _DEPTH.get()
        if depth >= MAX_DEPTH:
            raise LimitExceeded(f"closures call each other deeper than {MAX_DEPTH} levels: stopped", pos)
        self.tick(pos)
        node = fn.node
        scope = Scope(fn.scope)
        if node.implicit_it:
            if len(args) > 1:
                raise GroovyError(f"the closure takes one argument (it), got {len(args)}", pos)
            scope.vars["it"] = args[0] if args else None
        else:
            if len(args) != len(node.params):
                raise GroovyError(f"the closure takes {len(node.params)} argument(s), got {len(args)}", pos)
            scope.vars.update(zip(node.params, args, strict=True))
        token = _DEPTH.set(depth + 1)
        try:
            return await self.run_block(node.body, scope)
        finally:
            _DEPTH.reset(token)

    # -- statements -------------------------------------------------------------------------
    async def block(self, block: A.Block, scope: Scope) -> Any:
        value = None
        for stmt in block.body:
            value = await self.stmt(stmt, scope)
        return value

    async def stmt(self, n: A.Node, scope: Scope) -> Any:
        self.tick(n.pos)
        await self.pause()
        if isinstance(n, A.ExprStmt):
            try:
                return await self.expr(n.expr, scope)
            except TypeError as e:  # a list or map as a map key, and the like
                raise _type_error(e, n.pos) from None
        if isinstance(n, A.VarDecl):
            try:
                scope.vars[n.name] = await self.expr(n.value, scope) if n.value is not None else None
            except TypeError as e:
                raise _type_error(e, n.pos) from None
            return None
        if isinstance(n, A.Block):
            return await self.block(n, Scope(scope))
        if isinstance(n, A.If):
            if truth(await self.expr(n.cond, scope)):
                return await self.stmt(n.then, Scope(scope))
            if n.other is not None:
                return await self.stmt(n.other, Scope(scope))
            return None
        if isinstance(n, A.ForIn):
            return await self._for_in(n, scope)
        if isinstance(n, A.ForC | A.While):
            return await self._loop(n, scope)
        if isinstance(n, A.Try):
            return await self._try(n, scope)
        if isinstance(n, A.Return):
            raise _Return(await self.expr(n.value, scope) if n.value is not None else None)
        if isinstance(n, A.Break):
            raise _Break()
        if isinstance(n, A.Continue):
            raise _Continue()
        if isinstance(n, A.Throw):
            value = await self.expr(n.value, scope)
            if not isinstance(value, ErrorValue):
                raise GroovyError("throw needs a caught exception (throw e); use error('message')", n.pos)
            raise value.error  # the caught failure itself, with its own message and position
        raise GroovyError(f"cannot run {type(n).__name__}", n.pos)

    async def _for_in(self, n: A.ForIn, scope: Scope) -> None:
        iterable = await self.expr(n.iterable, scope)
        if isinstance(iterable, dict):
            items: list[Any] = [MapEntry(k, v) for k, v in iterable.items()]
        elif isinstance(iterable, list | str):
            items = list(iterable)
        elif iterable is None:
            items = []
        else:
            raise GroovyError(f"cannot iterate over {type_name(iterable)}", n.pos)
        for count, item in enumerate(items):
            self._iteration(count, n.pos)
            inner = Scope(scope)
            inner.vars[n.var] = item
            try:
                await self.stmt(n.body, inner)
            except _Break:
                break
            except _Continue:
                continue

    def _iteration(self, count: int, pos: Pos) -> None:
        if count >= MAX_LOOP:
            raise LimitExceeded(f"a loop ran more than {MAX_LOOP} iterations: stopped", pos)
        self.tick(pos)

    async def _loop(self, n: A.ForC | A.While, scope: Scope) -> None:
        outer = Scope(scope)
        if isinstance(n, A.ForC) and n.init is not None:
            await self.stmt(n.init, outer)
        count = 0
        while True:
            cond = n.cond
            if cond is not None and not truth(await self.expr(cond, outer)):
                return
            self._iteration(count, n.pos)
            count += 1
            await self.pause()
            try:
                await self.stmt(n.body, Scope(outer))
            except _Break:
                return
            except _Continue:
                pass
            if isinstance(n, A.ForC) and n.update is not None:
                await self.expr(n.update, outer)

    async def _try(self, n: A.Try, scope: Scope) -> Any:
        try:
            return await self.block(n.body, Scope(scope))
        except (LimitExceeded, BuildAborted, _Return, _Break, _Continue):
            raise
        except StepFailed as e:
            if not n.catches:
                raise
            catch = n.catches[0]
            inner = Scope(scope)
            inner.vars[catch.name] = error_value(e)
            return await self.block(catch.body, inner)
        finally:
            if n.final is not None:
                await self.block(n.final, Scope(scope))

    # -- expressions ------------------------------------------------------------------------
    async def expr(self, n: A.Node, scope: Scope) -> Any:  # noqa: C901 - one dispatch
        if isinstance(n, A.Lit):
            return n.value
        if isinstance(n, A.GStr):
            out: list[str] = []
            size = 0
            for part in n.parts:
                s = (
                    part
                    if isinstance(part, str)
                    else to_string(await self.expr(part, scope), MAX_STRING - size)
                )
                size += len(s)
                if size > MAX_STRING:
                    raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", n.pos)
                out.append(s)
            self.charge(size, n.pos)
            return "".join(out)
        if isinstance(n, A.Name):
            return self.lookup(n.name, scope, n.pos)
        if isinstance(n, A.ListLit):
            items = [await self.expr(i, scope) for i in n.items]
            self.charge(8 * len(items), n.pos)
            return items
        if isinstance(n, A.MapLit):
            m: dict[Any, Any] = {}
            for k, v in n.entries:
                m[await self.expr(k, scope)] = await self.expr(v, scope)
            self.charge(8 * len(m), n.pos)
            return m
        if isinstance(n, A.Prop):
            obj = await self.expr(n.obj, scope)
            if obj is None and n.safe:
                return None
            return self.get_prop(obj, n.name, n.pos)
        if isinstance(n, A.Index):
            return self.get_index(await self.expr(n.obj, scope), await self.expr(n.index, scope), n.pos)
        if isinstance(n, A.Binary):
            return await self.binary(n, scope)
        if isinstance(n, A.Unary):
            v = await self.expr(n.operand, scope)
            if n.op == "!":
                return not truth(v)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise GroovyError(f"unary {n.op} needs a number, got {type_name(v)}", n.pos)
            return -v if n.op == "-" else v
        if isinstance(n, A.Ternary):
            return await self.expr(n.then if truth(await self.expr(n.cond, scope)) else n.other, scope)
        if isinstance(n, A.Elvis):
            v = await self.expr(n.value, scope)
            return v if truth(v) else await self.expr(n.other, scope)
        if isinstance(n, A.Closure):
            return ClosureValue(n, scope)
        if isinstance(n, A.Range):
            return self.range(await self.expr(n.low, scope), await self.expr(n.high, scope), n)
        if isinstance(n, A.Assign):
            return await self.assign(n, scope)
        if isinstance(n, A.IncDec):
            old = await self.expr(n.target, scope)
            new = arith(self, "+", old, n.delta, n.pos)
            await self.store(n.target, new, scope)
            return new if n.prefix else old
        if isinstance(n, A.MethodCall):
            return await self.method_call(n, scope)
        if isinstance(n, A.FuncCall):
            return await self.func_call(n, scope)
        raise GroovyError(f"cannot evaluate {type(n).__name__}", n.pos)

    def range(self, low: Any, high: Any, n: A.Range) -> list[int]:
        if (
            isinstance(low, bool)
            or isinstance(high, bool)
            or not (isinstance(low, int) and isinstance(high, int))
        ):
            raise GroovyError("ranges need integers (0..<n)", n.pos)
        step = 1 if high >= low else -1
        end = high if n.exclusive else high + step
        if abs(end - low) > MAX_ITEMS:
            raise LimitExceeded(f"a range would have more than {MAX_ITEMS} elements", n.pos)
        self.charge(8 * abs(end - low), n.pos)
        return list(range(low, end, step))

    async def binary(self, n: A.Binary, scope: Scope) -> Any:
        op = n.op
        if op == "&&":
            return truth(await self.expr(n.left, scope)) and truth(await self.expr(n.right, scope))
        if op == "||":
            return truth(await self.expr(n.left, scope)) or truth(await self.expr(n.right, scope))
        a, b = await self.expr(n.left, scope), await self.expr(n.right, scope)
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        if op in ("<", "<=", ">", ">=", "<=>"):
            c = compare(a, b, n.pos)
            return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "<=>": c}[op]
        if op == "in":
            if isinstance(b, list):
                return any(equal(a, x) for x in b)
            if isinstance(b, dict):
                return a in b
            if isinstance(b, str):
                return to_string(a) in b
            raise GroovyError(f"'in' needs a list, map or string, got {type_name(b)}", n.pos)
        if op == "<<":
            if not isinstance(a, list):
                raise GroovyError(f"<< appends to a List, got {type_name(a)}", n.pos)
            a.append(b)
            if len(a) > MAX_ITEMS:
                raise LimitExceeded(f"a list would have more than {MAX_ITEMS} elements", n.pos)
            self.charge(8, n.pos)
            return a
        return arith(self, op, a, b, n.pos)

    # -- names, properties, indexes ------------------------------------------------------------
    def lookup(self, name: str, scope: Scope, pos: Pos) -> Any:
        found = scope.find(name)
        if found is not None:
            return found.vars[name]
        if name in self.session.globals:
            return self.session.globals[name]
        special = {"env": _ENV, "params": _PARAMS, "currentBuild": _BUILD, "scm": _SCM}.get(name)
        if special is not None:
            return special
        value = self.env_value(name)
        if value is not None:
            return value
        if name in _UNITS:
            return name
        raise GroovyError(f"No such property: {name}", pos, "groovy.lang.MissingPropertyException")

    def env_value(self, name: str) -> str | None:
        env = self.ctx.env
        if name in env:
            return str(env[name])
        if name in AGENT_ENV:
            return os.environ.get(name)
        return None

    def params(self) -> dict[str, Any]:
        host = self.session.host
        out: dict[str, Any] = {}
        pipeline = getattr(host, "pipeline", None)
        for p in getattr(pipeline, "parameters", ()) or ():
            out[p.name] = p.default
        build = getattr(host, "build", None)
        out.update(getattr(build, "params", {}) or {})
        return out

    def get_prop(self, obj: Any, name: str, pos: Pos) -> Any:
        if obj is None:
            raise GroovyError(
                f"Cannot get property '{name}' on null object", pos, "java.lang.NullPointerException"
            )
        if isinstance(obj, EnvView):
            return self.env_value(name)
        if isinstance(obj, ParamsView):
            return self.params().get(name)
        if isinstance(obj, CurrentBuildView):
            return self.build_prop(name, pos)
        if isinstance(obj, dict):
            return obj.get(name)
        if isinstance(obj, MapEntry) and name in ("key", "value"):
            return obj.key if name == "key" else obj.value
        if isinstance(obj, ErrorValue) and name in ("message", "localizedMessage"):
            return obj.message
        raise GroovyError(
            f"No such property: {name} for class: {type_name(obj)}",
            pos,
            "groovy.lang.MissingPropertyException",
        )

    def build_prop(self, name: str, pos: Pos) -> Any:
        host, s = self.session.host, self.session
        build = getattr(host, "build", None)
        number = int(getattr(build, "number", 0))
        job = getattr(getattr(host, "job", None), "name", "")
        if name == "number" or name == "id":
            return number if name == "number" else str(number)
        if name == "result":
            current = self.current_result()
            return None if current == "SUCCESS" and s.explicit_result is None else current
        if name == "currentResult":
            return self.current_result()
        if name == "displayName":
            return s.display_name or f"#{number}"
        if name == "description":
            return s.description
        if name in ("projectName", "fullProjectName"):
            return job
        if name == "fullDisplayName":
            return f"{job} {s.display_name or f'#{number}'}"
        if name == "absoluteUrl":
            return f"{getattr(host, 'base_url', '')}/job/{job}/{number}/"
        if name in ("duration", "durationString"):
            secs = time.time() - s.started
            return int(secs * 1000) if name == "duration" else f"{secs:.1f} sec and counting"
        if name in ("startTimeInMillis", "timeInMillis"):
            return int(s.started * 1000)
        raise GroovyError(
            f"currentBuild.{name} is not available in Dockyard (number, result, currentResult,"
            " displayName, description, absoluteUrl, projectName, duration)",
            pos,
        )

    def current_result(self) -> str:
        host = self.session.host
        fn = getattr(host, "current_result", None)
        return str(fn()) if callable(fn) else (self.session.explicit_result or "SUCCESS")

    def get_index(self, obj: Any, index: Any, pos: Pos) -> Any:
        if isinstance(obj, dict):
            return obj.get(index)
        if isinstance(obj, EnvView | ParamsView | CurrentBuildView):
            return self.get_prop(obj, to_string(index), pos)
        if isinstance(obj, list | str):
            if isinstance(index, bool) or not isinstance(index, int):
                raise GroovyError(f"index must be an Integer, got {type_name(index)}", pos)
            if not -len(obj) <= index < len(obj):
                if isinstance(obj, list):
                    return None
                raise GroovyError(
                    f"index {index} out of range", pos, "java.lang.StringIndexOutOfBoundsException"
                )
            return obj[index]
        if obj is None:
            raise GroovyError("Cannot get [index] on null object", pos, "java.lang.NullPointerException")
        raise GroovyError(f"cannot index {type_name(obj)}", pos)

    async def assign(self, n: A.Assign, scope: Scope) -> Any:
        value = await self.expr(n.value, scope)
        if n.op != "=":
            value = arith(self, n.op[0], await self.expr(n.target, scope), value, n.pos)
        await self.store(n.target, value, scope)
        return value

    async def store(self, target: A.Node, value: Any, scope: Scope) -> None:
        if isinstance(target, A.Name):
            found = scope.find(target.name)
            (found.vars if found is not None else self.session.globals)[target.name] = value
            return
        if isinstance(target, A.Prop):
            obj = await self.expr(target.obj, scope)
            self.set_prop(obj, target.name, value, target.pos)
            return
        assert isinstance(target, A.Index)
        obj, index = await self.expr(target.obj, scope), await self.expr(target.index, scope)
        if isinstance(obj, dict):
            obj[index] = value
            if len(obj) > MAX_ITEMS:
                raise LimitExceeded(f"a map would have more than {MAX_ITEMS} entries", target.pos)
        elif isinstance(obj, list) and isinstance(index, int) and not isinstance(index, bool):
            if index == len(obj):
                obj.append(value)
            elif -len(obj) <= index < len(obj):
                obj[index] = value
            else:
                raise GroovyError(
                    f"index {index} out of range", target.pos, "java.lang.IndexOutOfBoundsException"
                )
        elif isinstance(obj, EnvView):
            self.set_prop(obj, to_string(index), value, target.pos)
        else:
            raise GroovyError(f"cannot assign [index] of {type_name(obj)}", target.pos)

    def set_prop(self, obj: Any, name: str, value: Any, pos: Pos) -> None:
        if isinstance(obj, EnvView):
            if not name or "=" in name or "\0" in name:
                raise GroovyError(f"{name!r} is not a valid environment variable name", pos)
            if name not in self.ctx.env and len(self.ctx.env) >= MAX_ENV:
                raise LimitExceeded(f"the environment would have more than {MAX_ENV} variables", pos)
            text = to_string(value)
            self.ctx.env[name] = text
            if self.session.root_env is not None:
                self.session.root_env[name] = text
            return
        if isinstance(obj, CurrentBuildView):
            self.set_build(name, value, pos)
            return
        if isinstance(obj, dict):
            obj[name] = value
            return
        if obj is None:
            raise GroovyError(
                f"Cannot set property '{name}' on null object", pos, "java.lang.NullPointerException"
            )
        raise GroovyError(f"cannot set property {name} of {type_name(obj)}", pos)

    def set_build(self, name: str, value: Any, pos: Pos) -> None:
        s = self.session
        if name == "result":
            result = to_string(value).upper()
            if result not in _RESULTS:
                raise GroovyError(f"currentBuild.result must be one of {', '.join(_RESULTS)}", pos)
            s.explicit_result = result
            mark = getattr(s.host, "mark_result", None)
            if callable(mark):
                mark(result)
        elif name == "displayName":
            s.display_name = to_string(value)[:200]
            self._narrate(f"[dockyard] display name set to {s.display_name!r}")
            self._record(displayName=s.display_name)
        elif name == "description":
            s.description = None if value is None else to_string(value)[:2000]
            self._narrate(f"[dockyard] description set to {s.description!r}")
            self._record(description=s.description)
        else:
            raise GroovyError(
                f"currentBuild.{name} cannot be set (result, displayName and description can)", pos
            )

    def _record(self, **values: str | None) -> None:
        """Kept for the build's API (`StepHost.set_build_info`)."""
        record = getattr(self.session.host, "set_build_info", None)
        if callable(record):
            record(**values)

    def _narrate(self, line: str) -> None:
        log = getattr(self.session.host, "log", None)
        if log is not None:
            log.line(line)

    # -- calls ---------------------------------------------------------------------------------
    async def args(self, args: A.Args, scope: Scope) -> list[Any]:
        values = [await self.expr(a, scope) for a in args.positional]
        if args.named:
            named = {k: await self.expr(v, scope) for k, v in args.named}
            values.insert(0, named)
        if args.closure is not None:
            values.append(ClosureValue(args.closure, scope))
        return values

    async def method_call(self, n: A.MethodCall, scope: Scope) -> Any:
        recv = await self.expr(n.obj, scope)
        if recv is None and n.safe:
            return None
        values = await self.args(n.args, scope)
        if recv is None:
            raise GroovyError(
                f"Cannot invoke method {n.name}() on null object", n.pos, "java.lang.NullPointerException"
            )
        self.tick(n.pos)
        if isinstance(recv, CurrentBuildView) and n.name in SPECIAL_METHODS:
            return self.build_method(n.name, values, n.pos)
        if isinstance(recv, RunWrapper) and n.name in SPECIAL_METHODS:  # what `build job:` returns
            return recv.method(n.name, values, n.pos)
        if isinstance(recv, EnvView | ParamsView | CurrentBuildView | ScmValue) and n.name != "toString":
            raise GroovyError(f"{recv}.{n.name}() is not available", n.pos)
        return await METHODS[n.name](self, recv, values, n.pos)

    def build_method(self, name: str, args: list[Any], pos: Pos) -> Any:
        if name.startswith("get"):
            prop = name[3].lower() + name[4:]
            return self.build_prop(prop, pos)
        if len(args) != 1 or to_string(args[0]) not in _RESULTS:
            raise GroovyError(f"{name}() takes one of {', '.join(_RESULTS)}", pos)
        order = {"SUCCESS": 0, "UNSTABLE": 1, "FAILURE": 2, "NOT_BUILT": 3, "ABORTED": 4}
        mine, other = order[self.current_result()], order[to_string(args[0])]
        return mine <= other if name == "resultIsBetterOrEqualTo" else mine >= other

    async def func_call(self, n: A.FuncCall, scope: Scope) -> Any:
        name = n.name
        found = scope.find(name)
        target = found.vars[name] if found else self.session.globals.get(name)
        if isinstance(target, ClosureValue):
            return await self.call(target, await self.args(n.args, scope), n.pos)
        if name in ("usernamePassword", "string", "file", "usernameColonPassword"):
            named = {k: await self.expr(v, scope) for k, v in n.args.named}
            return Call(name, (), {k: to_string(v) for k, v in named.items()}, n.pos)
        if name in ("booleanParam", "choice", "text"):  # input parameters: lists, booleans kept
            named = {k: await self.expr(v, scope) for k, v in n.args.named}
            keep = (bool, list)
            return Call(
                name, (), {k: v if isinstance(v, keep) else to_string(v) for k, v in named.items()}, n.pos
            )
        if name == "isUnix":
            return True
        if name == "parallel":
            return await self.parallel(n, scope)
        if name == "println":
            values = [await self.expr(a, scope) for a in n.args.positional]
            self._narrate(to_string(values[0]) if values else "")
            return None
        if name in STEPS:
            return await self.step(n, scope)
        raise GroovyError(f"No such method or step: {name}()", n.pos, "java.lang.NoSuchMethodError")

    async def parallel(self, n: A.FuncCall, scope: Scope) -> None:
        """`parallel branches` / `parallel a: { ... }, b: { ... }, failFast: true`: the closures
        run at once (at most the build's parallel limit), each in its own `Branch: name` block;
        the first failure fails the call once all have ended (at once with failFast)."""
        if not self.may_run_steps:
            raise GroovyError("parallel cannot run here", n.pos)
        branches: dict[str, Any] = {}
        for value in [await self.expr(a, scope) for a in n.args.positional]:
            if not isinstance(value, dict):
                raise GroovyError("parallel takes a map of branch name to closure", n.pos)
            branches.update({to_string(k): v for k, v in value.items()})
        branches.update({k: await self.expr(v, scope) for k, v in n.args.named})
        fail_fast = truth(branches.pop("failFast", False))
        if not branches or len(branches) > MAX_BRANCHES:
            raise GroovyError(f"parallel needs 1 to {MAX_BRANCHES} branches, got {len(branches)}", n.pos)
        bad = [k for k, v in branches.items() if not isinstance(v, ClosureValue)]
        if bad:
            raise GroovyError(f"parallel branch {bad[0]!r} is not a closure {{ ... }}", n.pos)
        host = self.session.host
        slots = asyncio.Semaphore(max(1, int(getattr(host, "max_parallel", 16))))
        failures: list[BaseException] = []
        tasks: list[asyncio.Task[None]] = []

        async def branch(name: str, fn: ClosureValue) -> None:
            async with slots:
                self._narrate(f"[Pipeline] {{ (Branch: {name})")
                try:
                    await Exec(self.session, self.ctx).call(fn, [], n.pos)
                except StepFailed as e:
                    failures.append(e)
                    self._narrate(f"Failed in branch {name}")
                    if fail_fast:
                        for t in tasks:
                            if t is not asyncio.current_task():
                                t.cancel()
                finally:
                    self._narrate("[Pipeline] }")

        self._narrate("[Pipeline] parallel")
        tasks.extend(asyncio.create_task(branch(k, v)) for k, v in branches.items())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        aborted = [r for r in results if isinstance(r, BuildAborted)]
        if aborted:
            raise aborted[0]
        if failures:
            raise failures[0]

    async def step(self, n: A.FuncCall, scope: Scope) -> Any:
        if not self.may_run_steps:
            raise GroovyError(f"step {n.name} cannot run here", n.pos)
        spec = STEPS[n.name]
        named = {k: await self.expr(v, scope) for k, v in n.args.named}
        if n.args.positional:
            value = await self.expr(n.args.positional[0], scope)
            if isinstance(value, dict) and not named and spec.positional not in ("json", "data"):
                named = {to_string(k): v for k, v in value.items()}  # sh([script: 'x'])
            else:
                assert spec.positional is not None
                named[spec.positional] = value
        missing = [r for r in spec.required if named.get(r) is None]
        if missing:
            raise GroovyError(f"step '{n.name}' needs {', '.join(missing)}", n.pos)
        unknown = set(named) - spec.named
        if unknown:
            raise GroovyError(f"step '{n.name}': unknown argument(s) {', '.join(sorted(unknown))}", n.pos)
        args = self.step_args(n.name, named, n.pos)
        body = None
        if n.args.closure is not None:
            body = (StepCall("script", {"closure": ClosureValue(n.args.closure, scope)}, None, n.pos),)
        self.tick(n.pos)
        return await self.session.host.run_step(StepCall(n.name, args, body, n.pos), self.ctx)

    def step_args(self, name: str, args: dict[str, Any], pos: Pos) -> dict[str, Any]:
        """Values as the step modules take them from the declarative front end."""
        for key in _STRING_ARGS.get(name, ()):
            if args.get(key) is not None:
                args[key] = to_string(args[key])
        if name in ("timeout", "sleep"):
            unit = to_string(args.get("unit", "MINUTES" if name == "timeout" else "SECONDS")).upper()
            t = args["time"]
            if isinstance(t, bool) or not isinstance(t, int | float) or t < 0 or unit not in _UNITS:
                raise GroovyError(f"{name} needs time: a number and unit: SECONDS, MINUTES...", pos)
            args["unit"] = unit
            if name == "timeout":
                args["seconds"] = float(t) * _UNITS[unit]
        if name == "retry":
            args["count"] = int(args["count"])
        if name == "withEnv":
            args["vars"] = [to_string(v) for v in args["vars"]] if isinstance(args["vars"], list) else None
            if args["vars"] is None:
                raise GroovyError("withEnv needs a list of 'NAME=value' strings", pos)
        if name == "withCredentials":
            bindings = args["bindings"]
            if not isinstance(bindings, list) or not all(isinstance(b, Call) for b in bindings):
                raise GroovyError(
                    "withCredentials needs a list: withCredentials([usernamePassword(...)])", pos
                )
        if name == "checkout":
            if not isinstance(args["scm"], ScmValue):
                raise GroovyError("only 'checkout scm' is supported (the job's repository)", pos)
            args["scm"] = "scm"
        return args


def drive(coro: Any) -> Any:
    """Runs a coroutine that never waits (a pure expression) to its end, synchronously."""
    try:
        while True:
            if coro.send(None) is not None:
                coro.close()
                raise GroovyError("this expression cannot wait for anything here", None)
    except StopIteration as stop:
        return stop.value


def evaluate_interpolation(node: A.Node, env: dict[str, str]) -> str:
    """`${expr}` of a string outside script { } (no steps), against the build's session."""
    session = CURRENT.get() or Session(None)
    ctx = _EnvCtx(env)
    try:
        return to_string(drive(Exec(session, ctx, may_run_steps=False).expr(node, Scope())))
    except RecursionError:
        raise _too_deep(node.pos) from None
    except TypeError as e:
        raise _type_error(e, node.pos) from None


def script_variable(name: str) -> str | None:
    """A variable a script of this build set without `def` (the script binding), as text."""
    session = CURRENT.get()
    if session is None or name not in session.globals:
        return None
    return to_string(session.globals[name])


@dataclass
class _EnvCtx:
    env: dict[str, str]


async def evaluate(code: A.Block, ctx: Any, host: Any) -> Any:
    """A script { } body, when expression or environment value for `ctx` in the build of `host`."""
    try:
        return await Exec(session_for(host), ctx).run_block(code)
    except RecursionError:
        raise _too_deep(code.pos) from None


async def run_closure(fn: ClosureValue, ctx: Any, host: Any) -> Any:
    """The body of a block step called from a script (`dir('x') { ... }`), in the step's ctx."""
    try:
        return await Exec(session_for(host), ctx).call(fn, [], fn.node.pos)
    except RecursionError:
        raise _too_deep(fn.node.pos) from None


def _type_error(e: TypeError, pos: Pos) -> GroovyError:
    why = "a list or map cannot be a map key" if "unhashable" in str(e) else str(e)
    return GroovyError(f"{why} in Dockyard's Groovy subset", pos, "java.lang.IllegalArgumentException")


def _too_deep(pos: Pos) -> LimitExceeded:
    """Nested expressions inside recursive closures can outgrow Python's own stack first."""
    return LimitExceeded("the script nests calls and expressions too deeply: stopped", pos)


__all__ = ["ClosureValue", "Session", "arith", "evaluate", "run_closure", "start_session"]
