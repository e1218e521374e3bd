"""Declarative-pipeline meaning of the statement tree: which sections and steps exist, what
arguments they take. Everything not listed here is an error with its line:column, never skipped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.ci.errors import ForbiddenParameter, JenkinsfileError, Pos
from dockyard.ci.groovy import ast as A
from dockyard.ci.groovy.specs import COLOR_MAPS, STEPS
from dockyard.ci.jenkinsfile.matrix import branch_options, parse_matrix, when_conditions
from dockyard.ci.jenkinsfile.stage_input import parse_stage_input, when_before_input
from dockyard.ci.jenkinsfile.syntax import Node, Ref, parse_statements
from dockyard.ci.model import (
    POST_CONDITIONS,
    Agent,
    Call,
    Condition,
    EnvVar,
    GString,
    Options,
    Parameter,
    Pipeline,
    Post,
    Stage,
    Step,
)
from dockyard.ci.params import forbidden_env_name
from dockyard.ci.trigger_spec import check_parameters, job_option, trigger_call, unique_triggers

_TIME_UNITS = {
    "NANOSECONDS": 1e-9,
    "MICROSECONDS": 1e-6,
    "MILLISECONDS": 1e-3,
    "SECONDS": 1.0,
    "MINUTES": 60.0,
    "HOURS": 3600.0,
    "DAYS": 86400.0,
}


_BINDINGS = {
    "usernamePassword": (
        {"credentialsId", "usernameVariable", "passwordVariable"},
        ("credentialsId", "usernameVariable", "passwordVariable"),
    ),
    "string": ({"credentialsId", "variable"}, ("credentialsId", "variable")),
    "file": ({"credentialsId", "variable"}, ("credentialsId", "variable")),
    "usernameColonPassword": ({"credentialsId", "variable"}, ("credentialsId", "variable")),
}
_PARAMS = {"string", "text", "booleanParam", "choice", "password"}


def parse_jenkinsfile(source: str, filename: str = "Jenkinsfile") -> Pipeline:
    """Parse a declarative Jenkinsfile; raises `JenkinsfileError` (file:line:col) on any problem."""
    nodes = parse_statements(source, filename)
    if not nodes:
        raise JenkinsfileError("empty Jenkinsfile: expected 'pipeline { ... }'", Pos(filename, 1, 1))
    if len(nodes) != 1 or nodes[0].name != "pipeline":
        bad = next((n for n in nodes if n.name != "pipeline"), nodes[-1])
        raise JenkinsfileError(
            f"expected exactly one 'pipeline {{ ... }}' block, found '{bad.name}'"
            " (scripted pipelines are not supported)",
            bad.pos,
        )
    return _Builder(filename).pipeline(nodes[0])


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    # -- helpers ----------------------------------------------------------------
    def _block(self, node: Node) -> list[Node]:
        if node.block is None:
            raise JenkinsfileError(f"'{node.name}' needs a {{ ... }} block", node.pos)
        if node.args or node.kwargs:
            raise JenkinsfileError(f"'{node.name}' takes no arguments", node.pos)
        return node.block

    def _no_block(self, node: Node) -> None:
        if node.block is not None:
            raise JenkinsfileError(f"'{node.name}' does not take a {{ ... }} block", node.pos)

    def _single(self, node: Node, what: str) -> Any:
        self._no_block(node)
        if len(node.args) != 1 or node.kwargs:
            raise JenkinsfileError(f"'{node.name}' takes exactly one {what}", node.pos)
        return node.args[0]

    def _string(self, value: Any, pos: Pos, what: str, interpolate: bool = False) -> str | GString:
        if isinstance(value, str):
            return value
        if interpolate and isinstance(value, GString):
            return value
        if isinstance(value, GString):
            raise JenkinsfileError(f"{what} cannot use ${{...}} interpolation here: use '...' quotes", pos)
        if isinstance(value, Ref):
            raise JenkinsfileError(
                f"{what}: expected a quoted string, found the bare name {value.name} (write '{value.name}')",
                value.pos,
            )
        raise JenkinsfileError(f"{what}: expected a quoted string", pos)

    def _unique(
        self, nodes: list[Node], allowed: set[str], where: str, hints: dict[str, str] | None = None
    ) -> dict[str, Node]:
        seen: dict[str, Node] = {}
        for n in nodes:
            if n.name not in allowed:
                hint = (hints or {}).get(n.name, "")
                raise JenkinsfileError(
                    f"'{n.name}' is not allowed in {where}"
                    + (f": {hint}" if hint else f" (allowed: {', '.join(sorted(allowed))})"),
                    n.pos,
                )
            if n.name in seen:
                raise JenkinsfileError(f"'{n.name}' appears twice in {where}", n.pos)
            seen[n.name] = n
        return seen

    # -- pipeline ---------------------------------------------------------------
    def pipeline(self, node: Node) -> Pipeline:
        sections = self._unique(
            self._block(node),
            {"agent", "environment", "options", "parameters", "triggers", "stages", "post", "tools"},
            "pipeline",
            {"libraries": "shared libraries are not supported"},
        )
        if "tools" in sections:
            raise JenkinsfileError(
                "'tools' is not supported: use a container image that has the tool", sections["tools"].pos
            )
        if "agent" not in sections:
            raise JenkinsfileError("pipeline needs an 'agent' section (for example 'agent any')", node.pos)
        if "stages" not in sections:
            raise JenkinsfileError("pipeline needs a 'stages { ... }' section", node.pos)
        agent = self.agent(sections["agent"])
        if agent is None or agent.kind == "none":
            agent = agent or Agent("none")
        options = self.options(sections["options"], top=True) if "options" in sections else Options()
        environment = self.environment(sections["environment"]) if "environment" in sections else ()
        if options.ansi_color:  # as the AnsiColor plugin: TERM names the color map for the steps
            environment = (EnvVar("TERM", options.ansi_color), *environment)
        return Pipeline(
            agent=agent,
            stages=self.stages(sections["stages"]),
            environment=environment,
            options=options,
            parameters=self.parameters(sections["parameters"]) if "parameters" in sections else (),
            triggers=self.triggers(sections["triggers"]) if "triggers" in sections else (),
            post=self.post(sections["post"]) if "post" in sections else Post(),
            source=self.filename,
        )

    def agent(self, node: Node) -> Agent:
        if node.block is None:
            value = self._single(node, "agent type (any, none, or a { ... } block)")
            if isinstance(value, Ref) and value.name in ("any", "none"):
                return Agent(value.name, pos=node.pos)
            raise JenkinsfileError(
                "agent must be 'any', 'none', or a block such as { label 'x' } or"
                " { kubernetes { yaml '''...''' } }",
                node.pos,
            )
        inner = self._block(node)
        if len(inner) != 1:
            raise JenkinsfileError("agent block must contain exactly one of: label, kubernetes", node.pos)
        kind = inner[0]
        if kind.name == "label":
            return Agent(
                "label",
                label=str(self._string(self._single(kind, "label string"), kind.pos, "label")),
                pos=kind.pos,
            )
        if kind.name == "kubernetes":
            fields = self._unique(
                self._block(kind),
                {"yaml", "defaultContainer", "cloud", "namespace", "inheritFrom", "yamlFile"},
                "kubernetes agent",
            )
            for unsupported in ("yamlFile", "inheritFrom"):
                if unsupported in fields:
                    raise JenkinsfileError(
                        f"kubernetes '{unsupported}' is not supported: put the pod in 'yaml' inline",
                        fields[unsupported].pos,
                    )
            if "yaml" not in fields:
                raise JenkinsfileError(
                    "kubernetes agent needs yaml '''...''' with the pod template", kind.pos
                )
            pod_yaml = self._string(self._single(fields["yaml"], "string"), fields["yaml"].pos, "yaml")
            default = ""
            if "defaultContainer" in fields:
                default = str(
                    self._string(
                        self._single(fields["defaultContainer"], "string"),
                        fields["defaultContainer"].pos,
                        "defaultContainer",
                    )
                )
            return Agent("kubernetes", pod_yaml=str(pod_yaml), default_container=default, pos=kind.pos)
        if kind.name in ("docker", "dockerfile", "node"):
            raise JenkinsfileError(
                f"agent '{kind.name}' is not supported: use kubernetes {{ yaml ... }}"
                " with the image as a container, or label",
                kind.pos,
            )
        raise JenkinsfileError(
            f"unknown agent type '{kind.name}' (use any, none, label or kubernetes)", kind.pos
        )

    def environment(self, node: Node) -> tuple[EnvVar, ...]:
        out: list[EnvVar] = []
        for n in self._block(node):
            if not n.is_assign:
                raise JenkinsfileError(f"environment entries are NAME = value; found '{n.name}'", n.pos)
            v = n.assign
            if v is None and n.groovy is not None:
                _no_credentials_call(n.groovy)
                out.append(EnvVar(n.name, pos=n.pos, code=A.Block(n.pos, (A.Return(n.pos, n.groovy),))))
                continue
            if isinstance(v, Call):
                if v.name != "credentials" or len(v.args) != 1 or v.kwargs or not isinstance(v.args[0], str):
                    raise JenkinsfileError(
                        f"only credentials('id') may be called in environment, found {v.name}(...)", v.pos
                    )
                out.append(EnvVar(n.name, credential_id=v.args[0], pos=n.pos))
            elif isinstance(v, str | GString):
                out.append(EnvVar(n.name, v, pos=n.pos))
            elif isinstance(v, bool | int | float):
                out.append(EnvVar(n.name, str(v).lower() if isinstance(v, bool) else str(v), pos=n.pos))
            else:
                raise JenkinsfileError(f"environment {n.name}: expected a string or credentials('id')", n.pos)
        return tuple(out)

    def options(self, node: Node, top: bool) -> Options:
        opts = Options()
        allowed = (
            {
                "timeout",
                "disableConcurrentBuilds",
                "buildDiscarder",
                "timestamps",
                "skipDefaultCheckout",
                "ansiColor",
                "preserveStashes",
                "disableRestartFromStage",
                "quietPeriod",
                "parallelsAlwaysFailFast",
            }
            if top
            else {"timeout"}
        )
        for n in self._block(node):
            if n.name not in allowed:
                raise JenkinsfileError(
                    f"option '{n.name}' is not supported here (supported: {', '.join(sorted(allowed))})",
                    n.pos,
                )
            self._no_block(n)
            if n.name == "ansiColor":
                opts.ansi_color = _color_map(self._single(n, "color map name ('xterm')"), n.pos)
            elif n.name == "parallelsAlwaysFailFast":
                if n.args or n.kwargs:
                    raise JenkinsfileError("parallelsAlwaysFailFast() takes no arguments", n.pos)
                opts.parallels_always_fail_fast = True
            elif n.name in ("timestamps", "disableRestartFromStage"):
                if n.args or n.kwargs:
                    raise JenkinsfileError(f"{n.name}() takes no arguments", n.pos)
                opts.timestamps |= n.name == "timestamps"
                opts.disable_restart |= n.name == "disableRestartFromStage"
            elif n.name == "timeout":
                opts.timeout_seconds = self._timeout(n.args, n.kwargs, n.pos)
            elif n.name == "disableConcurrentBuilds":
                if n.args or set(n.kwargs) - {"abortPrevious"}:
                    raise JenkinsfileError("disableConcurrentBuilds takes no arguments", n.pos)
                opts.disable_concurrent = True
            elif n.name == "buildDiscarder":
                opts.keep_builds = self._log_rotator(n)
            elif n.name == "preserveStashes":
                opts.preserve_stashes = _preserve_stashes(n.args, n.kwargs, n.pos)
            elif n.name in ("quietPeriod", "skipDefaultCheckout"):
                job_option(opts, n.name, n.args, n.kwargs, n.pos)
        return opts

    def _timeout(self, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any], pos: Pos) -> float:
        if set(kwargs) - {"time", "unit", "activity"}:
            raise JenkinsfileError(f"timeout takes time: and unit:, found {sorted(kwargs)}", pos)
        time_v = kwargs.get("time", args[0] if args else None)
        unit_v = kwargs.get("unit", "MINUTES")
        if isinstance(unit_v, Ref):
            unit_v = unit_v.name
        if not isinstance(time_v, int | float) or isinstance(time_v, bool) or time_v <= 0:
            raise JenkinsfileError("timeout needs time: a positive number", pos)
        if unit_v not in _TIME_UNITS:
            raise JenkinsfileError(
                f"timeout unit {unit_v!r} is unknown (use SECONDS, MINUTES, HOURS...)", pos
            )
        return float(time_v) * _TIME_UNITS[str(unit_v)]

    def _log_rotator(self, n: Node) -> int:
        value = n.args[0] if len(n.args) == 1 and not n.kwargs else None
        if not isinstance(value, Call) or value.name != "logRotator":
            raise JenkinsfileError("buildDiscarder needs logRotator(numToKeepStr: 'N')", n.pos)
        keep = value.kwargs.get("numToKeepStr")
        extra = set(value.kwargs) - {
            "numToKeepStr",
            "daysToKeepStr",
            "artifactNumToKeepStr",
            "artifactDaysToKeepStr",
        }
        if extra or not isinstance(keep, str) or not keep.isdigit():
            raise JenkinsfileError("logRotator needs numToKeepStr: 'N' (a number in quotes)", value.pos)
        return int(keep)

    def parameters(self, node: Node) -> tuple[Parameter, ...]:
        out: list[Parameter] = []
        for n in self._block(node):
            self._no_block(n)
            if n.name not in _PARAMS:
                raise JenkinsfileError(
                    f"parameter type '{n.name}' is not supported ({', '.join(sorted(_PARAMS))})", n.pos
                )
            name = n.kwargs.get("name")
            if not isinstance(name, str) or not name:
                raise JenkinsfileError(f"{n.name} parameter needs name: '...'", n.pos)
            why = forbidden_env_name(name)
            if why:
                raise ForbiddenParameter(why, n.pos)
            extra = set(n.kwargs) - {"name", "defaultValue", "description", "choices", "trim"}
            if extra or n.args:
                raise JenkinsfileError(f"{n.name} parameter: unexpected arguments {sorted(extra)}", n.pos)
            default = n.kwargs.get("defaultValue", False if n.name == "booleanParam" else "")
            choices: tuple[str, ...] = ()
            if n.name == "choice":
                raw = n.kwargs.get("choices")
                if isinstance(raw, str):
                    choices = tuple(c for c in raw.split("\n") if c)
                elif isinstance(raw, list) and all(isinstance(c, str) for c in raw):
                    choices = tuple(raw)
                else:
                    raise JenkinsfileError("choice parameter needs choices: ['a', 'b']", n.pos)
                default = choices[0] if choices else ""
            desc = n.kwargs.get("description", "")
            out.append(Parameter(n.name, name, default, desc if isinstance(desc, str) else "", choices))
        return tuple(out)

    def triggers(self, node: Node) -> tuple[Call, ...]:
        calls = (trigger_call(n.name, n.args, n.kwargs, n.block, n.pos) for n in self._block(node))
        return unique_triggers(tuple(calls))

    # -- stages -----------------------------------------------------------------
    def stages(self, node: Node) -> tuple[Stage, ...]:
        out = []
        for n in self._block(node):
            if n.name != "stage":
                raise JenkinsfileError(f"expected stage('name') {{ ... }} in stages, found '{n.name}'", n.pos)
            out.append(self.stage(n))
        if not out:
            raise JenkinsfileError("stages needs at least one stage", node.pos)
        names = [s.name for s in out]
        for s in out:
            if names.count(s.name) > 1:
                raise JenkinsfileError(f"stage name {s.name!r} is used twice", s.pos or node.pos)
        return tuple(out)

    def stage(self, node: Node) -> Stage:
        if len(node.args) != 1 or node.kwargs or not isinstance(node.args[0], str):
            raise JenkinsfileError("stage needs a quoted name: stage('Build') { ... }", node.pos)
        if node.block is None:
            raise JenkinsfileError(f"stage('{node.args[0]}') needs a {{ ... }} block", node.pos)
        parts = self._unique(
            node.block,
            {"agent", "environment", "when", "options", "steps", "parallel", "stages", "post"}
            | {"matrix", "failFast", "input"},
            f"stage '{node.args[0]}'",
            {"script": "put script-free steps inside steps { }"},
        )
        bodies = [k for k in ("steps", "parallel", "matrix", "stages") if k in parts]
        if len(bodies) != 1:
            raise JenkinsfileError(
                f"stage '{node.args[0]}' needs exactly one of steps, parallel, matrix or stages", node.pos
            )
        stage = Stage(name=node.args[0], pos=node.pos)
        stage.fail_fast = branch_options(self, node.args[0], parts)
        if "agent" in parts:
            stage.agent = self.agent(parts["agent"])
        if "environment" in parts:
            stage.environment = self.environment(parts["environment"])
        if "when" in parts:
            stage.when = when_conditions(self, parts["when"])
            stage.when_before_input = when_before_input(parts["when"])
        if "input" in parts:
            stage.input = parse_stage_input(self, parts["input"])
        if "options" in parts:
            stage.options = self.options(parts["options"], top=False)
        if "post" in parts:
            stage.post = self.post(parts["post"])
        if "steps" in parts:
            stage.steps = self.steps(parts["steps"])
        elif "parallel" in parts:
            stage.parallel = self.stages(parts["parallel"])
        elif "matrix" in parts:
            stage.parallel = parse_matrix(self, parts["matrix"])
        else:
            stage.stages = self.stages(parts["stages"])
        return stage

    def condition(self, n: Node) -> Condition:
        if n.name == "branch":
            if n.kwargs and set(n.kwargs) <= {"pattern", "comparator"}:
                pattern = n.kwargs.get("pattern")
                if n.kwargs.get("comparator", "GLOB") != "GLOB":
                    raise JenkinsfileError("branch comparator: only GLOB is supported", n.pos)
            else:
                pattern = self._single(n, "branch pattern")
            return Condition("branch", pattern=str(self._string(pattern, n.pos, "branch")))
        if n.name == "environment":
            self._no_block(n)
            name, value = n.kwargs.get("name"), n.kwargs.get("value")
            if not isinstance(name, str) or not isinstance(value, str) or n.args:
                raise JenkinsfileError("when environment needs name: 'X', value: 'y'", n.pos)
            return Condition("environment", name=name, value=value)
        if n.name in ("not", "allOf", "anyOf"):
            children = tuple(self.condition(c) for c in self._block(n))
            if n.name == "not" and len(children) != 1:
                raise JenkinsfileError("not { } takes exactly one condition", n.pos)
            if not children:
                raise JenkinsfileError(f"{n.name} {{ }} needs conditions", n.pos)
            return Condition(n.name, children=children)
        if n.name == "expression":
            if n.groovy is None:
                raise JenkinsfileError("when expression needs a block: expression { return ... }", n.pos)
            return Condition("expression", code=n.groovy)
        raise JenkinsfileError(
            f"when condition '{n.name}' is not supported (branch, environment, expression, not,"
            " allOf, anyOf)",
            n.pos,
        )

    def post(self, node: Node) -> Post:
        allowed = set(POST_CONDITIONS)
        parts = self._unique(self._block(node), allowed, "post")
        return Post({k: self.steps(v) for k, v in parts.items()})

    # -- steps ------------------------------------------------------------------
    def steps(self, node: Node) -> tuple[Step, ...]:
        return tuple(self.step(n) for n in self._block(node))

    def step(self, n: Node) -> Step:
        if n.is_assign:
            raise JenkinsfileError(
                f"assignments ({n.name} = ...) belong in a script {{ }} block (or in"
                " environment {{ }})",
                n.pos,
            )
        if n.name == "script":
            if n.groovy is None:
                raise JenkinsfileError("script needs a block: script { ... }", n.pos)
            return Step("script", {"code": n.groovy}, None, n.pos)
        spec = STEPS.get(n.name)
        if spec is None:
            raise JenkinsfileError(
                f"unsupported step '{n.name}' (supported: {', '.join(sorted(STEPS))})", n.pos
            )
        args: dict[str, Any] = dict(n.kwargs)
        if n.args:
            if len(n.args) != 1 or spec.positional is None:
                raise JenkinsfileError(
                    f"step '{n.name}' takes named arguments only"
                    if spec.positional is None
                    else f"step '{n.name}' takes one unnamed argument",
                    n.pos,
                )
            if spec.positional in args:
                raise JenkinsfileError(f"step '{n.name}': {spec.positional} given twice", n.pos)
            args[spec.positional] = n.args[0]
        unknown = set(args) - spec.named
        if unknown:
            raise JenkinsfileError(
                f"step '{n.name}': unknown argument(s) {', '.join(sorted(unknown))}", n.pos
            )
        missing = [r for r in spec.required if r not in args]
        if missing:
            raise JenkinsfileError(f"step '{n.name}' needs {', '.join(missing)}", n.pos)
        if spec.block and n.block is None:
            raise JenkinsfileError(f"step '{n.name}' needs a {{ ... }} block", n.pos)
        if not spec.block and n.block is not None:
            raise JenkinsfileError(f"step '{n.name}' does not take a {{ ... }} block", n.pos)
        _CHECKS.get(n.name, _no_check)(self, n, args)
        body = tuple(self.step(c) for c in n.block) if n.block is not None else None
        return Step(n.name, args, body, n.pos)


def _no_check(_b: _Builder, _n: Node, _args: dict[str, Any]) -> None:
    return None


def _check_strings(*names: str, interpolate: bool = True) -> Callable[[_Builder, Node, dict[str, Any]], None]:
    def check(b: _Builder, n: Node, args: dict[str, Any]) -> None:
        for name in names:
            if name in args:
                args[name] = b._string(args[name], n.pos, f"{n.name} {name}", interpolate)

    return check


def _check_checkout(_b: _Builder, n: Node, args: dict[str, Any]) -> None:
    if not (isinstance(args["scm"], Ref) and args["scm"].name == "scm"):
        raise JenkinsfileError("only 'checkout scm' is supported (the job's repository)", n.pos)
    args["scm"] = "scm"


def _check_with_credentials(_b: _Builder, n: Node, args: dict[str, Any]) -> None:
    bindings = args["bindings"]
    if not isinstance(bindings, list) or not bindings:
        raise JenkinsfileError(
            "withCredentials needs a list: withCredentials([usernamePassword(...)])", n.pos
        )
    for b in bindings:
        if not isinstance(b, Call) or b.name not in _BINDINGS:
            raise JenkinsfileError(
                f"withCredentials binding must be one of {', '.join(sorted(_BINDINGS))}",
                b.pos if isinstance(b, Call) else n.pos,
            )
        allowed, required = _BINDINGS[b.name]
        if b.args or set(b.kwargs) - allowed or any(not isinstance(b.kwargs.get(r), str) for r in required):
            raise JenkinsfileError(f"{b.name} needs {', '.join(f'{r}: ...' for r in required)}", b.pos)


def _check_with_env(_b: _Builder, n: Node, args: dict[str, Any]) -> None:
    values = args["vars"]
    if not isinstance(values, list) or not all(isinstance(v, str | GString) for v in values):
        raise JenkinsfileError("withEnv needs a list of 'NAME=value' strings", n.pos)


def _check_gitops(b: _Builder, n: Node, args: dict[str, Any]) -> None:
    for key in ("repo", "path", "credentialsId", "branch", "message", "sourceCommit"):
        if key in args:
            args[key] = b._string(args[key], n.pos, f"gitopsSetImage {key}", interpolate=True)
    image = args.get("image")
    if image is not None and not (
        isinstance(image, str | GString)
        or (isinstance(image, list) and all(isinstance(i, str | GString) for i in image))
    ):
        raise JenkinsfileError("gitopsSetImage image: 'NAME=REF' or a list of them", n.pos)
    images = args.get("images")
    if images is not None and not (
        isinstance(images, dict) and all(isinstance(v, str | GString) for v in images.values())
    ):
        raise JenkinsfileError("gitopsSetImage images: a map [NAME: 'REF', ...]", n.pos)
    if image is None and images is None:
        raise JenkinsfileError("gitopsSetImage needs image: 'NAME=REF' (or images: [NAME: 'REF'])", n.pos)
    if "maxAttempts" in args and (
        not isinstance(args["maxAttempts"], int) or isinstance(args["maxAttempts"], bool)
    ):
        raise JenkinsfileError("gitopsSetImage maxAttempts: a number", n.pos)


def _check_number(name: str) -> Callable[[_Builder, Node, dict[str, Any]], None]:
    def check(b: _Builder, n: Node, args: dict[str, Any]) -> None:
        value = args[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise JenkinsfileError(f"{n.name} {name}: expected a number", n.pos)
        if "unit" in args:
            unit = args["unit"].name if isinstance(args["unit"], Ref) else args["unit"]
            if unit not in _TIME_UNITS:
                raise JenkinsfileError(f"{n.name} unit {unit!r} is unknown", n.pos)
            args["unit"] = unit

    return check


def _color_map(value: Any, pos: Pos) -> str:
    if value not in COLOR_MAPS:
        raise JenkinsfileError(f"ansiColor takes a color map: {', '.join(repr(c) for c in COLOR_MAPS)}", pos)
    return str(value)


def _check_ansi_color(_b: _Builder, n: Node, args: dict[str, Any]) -> None:
    args["colorMapName"] = _color_map(args["colorMapName"], n.pos)


def _check_catch_error(b: _Builder, n: Node, args: dict[str, Any]) -> None:
    _check_strings("message", "buildResult", "stageResult")(b, n, args)
    for key in ("buildResult", "stageResult"):
        value = args.get(key)
        if value is not None and value not in ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED"):
            raise JenkinsfileError(f"catchError {key}: one of 'SUCCESS', 'UNSTABLE', 'FAILURE'", n.pos)


def _check_build(b: _Builder, n: Node, args: dict[str, Any]) -> None:
    _check_strings("job")(b, n, args)
    why = check_parameters(args["parameters"]) if "parameters" in args else None
    if why:
        raise JenkinsfileError(why, n.pos)


def _check_timeout(b: _Builder, n: Node, args: dict[str, Any]) -> None:
    args["seconds"] = b._timeout([], {k: v for k, v in args.items() if k != "seconds"}, n.pos)


_CHECKS: dict[str, Callable[[_Builder, Node, dict[str, Any]], None]] = {
    "sh": _check_strings("script", "label"),
    "echo": _check_strings("message"),
    "error": _check_strings("message"),
    "container": _check_strings("name", "shell", interpolate=False),
    "dir": _check_strings("path"),
    "archiveArtifacts": _check_strings("artifacts", "excludes"),
    "checkout": _check_checkout,
    "withCredentials": _check_with_credentials,
    "withEnv": _check_with_env,
    "sleep": _check_number("time"),
    "retry": _check_number("count"),
    "timeout": _check_timeout,
    "gitopsSetImage": _check_gitops,
    "unstable": _check_strings("message"),
    "writeFile": _check_strings("file", "text", "encoding"),
    "readFile": _check_strings("file", "encoding"),
    "fileExists": _check_strings("file"),
    "readJSON": _check_strings("file", "text"),
    "writeJSON": _check_strings("file"),
    "readYaml": _check_strings("file", "text"),
    "readYAML": _check_strings("file", "text"),
    "writeYaml": _check_strings("file"),
    "writeYAML": _check_strings("file"),
    "warnError": _check_strings("message"),
    "catchError": _check_catch_error,
    "junit": _check_strings("testResults"),
    "ansiColor": _check_ansi_color,
    "stash": _check_strings("name", "includes", "excludes"),
    "unstash": _check_strings("name"),
    "input": _check_strings("message", "ok", "submitter", "id"),
    "build": _check_build,
}


def _no_credentials_call(expr: A.Node) -> None:
    """credentials('id') is an environment binding of its own, never part of an expression."""
    if isinstance(expr, A.FuncCall) and expr.name == "credentials":
        raise JenkinsfileError("credentials() takes one quoted id: NAME = credentials('id')", expr.pos)


def _preserve_stashes(args: Any, kwargs: dict[str, Any], pos: Pos) -> int:
    """preserveStashes() keeps the stashes of the most recent completed build, (buildCount: N) of
    the N most recent (Jenkins allows 1 to 50)."""
    count = kwargs.get("buildCount", 1)
    if args or set(kwargs) - {"buildCount"} or isinstance(count, bool) or not isinstance(count, int) \
            or not 1 <= count <= 50:
        raise JenkinsfileError("preserveStashes takes buildCount: a number from 1 to 50", pos)
    return count
