"""The native `.dockyard.yml` pipeline: the Jenkinsfile's concepts in plain YAML (docs/pipelines.md).

Compiles to the same `Pipeline` model, so both front ends run identically. Errors carry
file:line:column (from ruamel.yaml's node positions); unknown keys are errors.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.reader import ReaderError

from dockyard.ci.errors import (
    MAX_ELEMENTS,
    MAX_NESTING,
    ForbiddenParameter,
    PipelineError,
    Pos,
    check_size,
    too_many_elements,
)
from dockyard.ci.jenkinsfile.declarative import STEPS
from dockyard.ci.model import (
    POST_CONDITIONS,
    Agent,
    Condition,
    EnvVar,
    Options,
    Parameter,
    Pipeline,
    Post,
    Stage,
    Step,
)
from dockyard.ci.params import forbidden_env_name
from dockyard.ci.trigger_spec import YAML_JOB_OPTIONS, job_option, yaml_triggers
from dockyard.ci.yamlinput import yaml_stage_input
from dockyard.ci.yamlmatrix import yaml_matrix

_DURATION = re.compile(r"^(\d+)(s|m|h)?$")
_BLOCK_STEPS = {
    "container": "name",
    "dir": "path",
    "withCredentials": "bindings",
    "withEnv": "vars",
    "retry": "count",
    "timeout": "time",
}


def parse_yaml_pipeline(source: str, filename: str = ".dockyard.yml") -> Pipeline:
    check_size(source, filename)
    try:
        _check_events(source, filename)
        doc = YAML(typ="rt").load(source)
    except MarkedYAMLError as e:
        mark = e.problem_mark
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else Pos(filename, 1, 1)
        raise PipelineError(f"YAML syntax: {e.problem}", pos) from None
    except ReaderError as e:  # a control character: the reader reports an offset, not a mark
        before = source[: max(e.position, 0)]
        pos = Pos(filename, before.count("\n") + 1, len(before) - before.rfind("\n"))
        raise PipelineError(f"YAML syntax: character #x{e.character:04x} is not allowed", pos) from None
    except YAMLError as e:
        raise PipelineError(f"YAML syntax: {e}", Pos(filename, 1, 1)) from None
    return _Compiler(filename).pipeline(doc)


def _check_events(source: str, filename: str) -> None:
    """Refuse aliases and deep nesting before anything is built: `*name` lets a few hundred bytes
    stand for millions of stages (a "billion laughs"), and the composer recurses per level.
    Runs over the parser's event stream, which is linear in the text and not recursive."""
    depth = 0
    for count, event in enumerate(YAML(typ="rt").parse(source)):
        mark = event.start_mark
        if count >= MAX_ELEMENTS:
            raise too_many_elements("YAML nodes", Pos(filename, mark.line + 1, mark.column + 1))
        if isinstance(event, AliasEvent):
            raise PipelineError(
                f"YAML alias *{event.anchor} is not allowed in a pipeline file: write the repeated"
                " part out (anchors and aliases are refused so that a small file stays small)",
                Pos(filename, mark.line + 1, mark.column + 1),
            )
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise PipelineError(
                    f"nesting deeper than {MAX_NESTING} levels of mappings or lists",
                    Pos(filename, mark.line + 1, mark.column + 1),
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


class _Compiler:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def pos(self, node: Any, key: Any = None) -> Pos:
        try:
            if key is not None and isinstance(node, CommentedMap):
                line, col = node.lc.key(key)
            elif key is not None and isinstance(node, CommentedSeq):
                line, col = node.lc.item(key)
            else:
                line, col = node.lc.line, node.lc.col
            return Pos(self.filename, line + 1, col + 1)
        except (AttributeError, KeyError, TypeError):
            return Pos(self.filename, 1, 1)

    def mapping(self, node: Any, where: str, allowed: set[str], parent: Any = None, key: Any = None) -> dict:
        if not isinstance(node, dict):
            raise PipelineError(
                f"{where} must be a mapping", self.pos(parent, key) if parent is not None else self.pos(node)
            )
        for k in node:
            if k not in allowed:
                raise PipelineError(
                    f"unknown key '{k}' in {where} (allowed: {', '.join(sorted(allowed))})", self.pos(node, k)
                )
        return node

    def text(self, value: Any, parent: Any, key: Any, what: str) -> str:
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise PipelineError(f"{what} must be a string", self.pos(parent, key))
        return str(value)

    def pipeline(self, doc: Any) -> Pipeline:
        if doc is None:
            raise PipelineError("empty pipeline file: expected stages:", Pos(self.filename, 1, 1))
        top = self.mapping(
            doc,
            "the pipeline",
            {"agent", "environment", "options", "parameters", "stages", "post", "triggers"},
        )
        if "stages" not in top:
            raise PipelineError("the pipeline needs stages:", self.pos(doc))
        return Pipeline(
            agent=self.agent(top.get("agent", "any"), top, "agent"),
            stages=self.stages(top["stages"], top, "stages"),
            environment=self.environment(top.get("environment"), top),
            options=self.options(top.get("options"), top),
            parameters=self.parameters(top.get("parameters"), top),
            triggers=yaml_triggers(self, top.get("triggers"), top),
            post=self.post(top.get("post"), top),
            source=self.filename,
        )

    def agent(self, value: Any, parent: Any, key: Any) -> Agent:
        pos = self.pos(parent, key)
        if value in ("any", "none"):
            return Agent(str(value), pos=pos)
        m = self.mapping(value, "agent", {"label", "kubernetes"}, parent, key)
        if "label" in m:
            return Agent("label", label=self.text(m["label"], m, "label", "agent label"), pos=pos)
        k = self.mapping(
            m.get("kubernetes"), "agent.kubernetes", {"yaml", "defaultContainer"}, m, "kubernetes"
        )
        if "yaml" not in k:
            raise PipelineError("agent.kubernetes needs yaml: (the pod template)", pos)
        return Agent(
            "kubernetes",
            pod_yaml=self.text(k["yaml"], k, "yaml", "pod yaml"),
            default_container=str(k.get("defaultContainer", "")),
            pos=pos,
        )

    def environment(self, value: Any, parent: Any) -> tuple[EnvVar, ...]:
        if value is None:
            return ()
        env = self.mapping(
            value, "environment", set(value) if isinstance(value, dict) else set(), parent, "environment"
        )
        out = []
        for name, v in env.items():
            if isinstance(v, dict):
                c = self.mapping(v, f"environment.{name}", {"credentials"}, env, name)
                out.append(
                    EnvVar(
                        str(name),
                        credential_id=self.text(c.get("credentials"), c, "credentials", "credentials id"),
                        pos=self.pos(env, name),
                    )
                )
            else:
                out.append(
                    EnvVar(str(name), self.text(v, env, name, f"environment {name}"), pos=self.pos(env, name))
                )
        return tuple(out)

    def options(self, value: Any, parent: Any) -> Options:
        opts = Options()
        if value is None:
            return opts
        m = self.mapping(
            value,
            "options",
            {"timeout", "disableConcurrentBuilds", "keepBuilds", "parallelsAlwaysFailFast", "preserveStashes",
             "disableRestartFromStage"}
            | YAML_JOB_OPTIONS,
            parent,
            "options",
        )
        opts.parallels_always_fail_fast = bool(m.get("parallelsAlwaysFailFast", False))
        for name in YAML_JOB_OPTIONS & set(m):  # quietPeriod: 30, skipDefaultCheckout: true
            job_option(opts, name, [m[name]], {}, self.pos(m, name))
        if "timeout" in m:
            opts.timeout_seconds = self.duration(m["timeout"], m, "timeout")
        opts.disable_concurrent = bool(m.get("disableConcurrentBuilds", False))
        if "keepBuilds" in m:
            if not isinstance(m["keepBuilds"], int) or m["keepBuilds"] < 1:
                raise PipelineError("options.keepBuilds must be a positive number", self.pos(m, "keepBuilds"))
            opts.keep_builds = m["keepBuilds"]
        if "preserveStashes" in m:  # the Jenkinsfile's preserveStashes(buildCount: N)
            count = m["preserveStashes"]
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 50:
                raise PipelineError("options.preserveStashes is a number of builds, 1 to 50",
                                    self.pos(m, "preserveStashes"))
            opts.preserve_stashes = count
        opts.disable_restart = bool(m.get("disableRestartFromStage", False))
        return opts

    def duration(self, value: Any, parent: Any, key: Any) -> float:
        match = _DURATION.match(str(value))
        if not match:
            raise PipelineError(f"bad duration {value!r}: use 90s, 10m or 1h", self.pos(parent, key))
        return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 60}[match.group(2)]

    def parameters(self, value: Any, parent: Any) -> tuple[Parameter, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise PipelineError("parameters must be a list", self.pos(parent, "parameters"))
        out = []
        for i, p in enumerate(value):
            m = self.mapping(
                p, "a parameter", {"name", "type", "default", "description", "choices"}, value, i
            )
            kind = {
                "string": "string",
                "text": "text",
                "boolean": "booleanParam",
                "choice": "choice",
                "password": "password",
            }.get(str(m.get("type", "string")))
            if kind is None or "name" not in m:
                raise PipelineError(
                    "a parameter needs name: and type: string|text|boolean|choice|password",
                    self.pos(value, i),
                )
            why = forbidden_env_name(str(m["name"]))
            if why:
                raise ForbiddenParameter(why, self.pos(m, "name"))
            choices = tuple(str(c) for c in m.get("choices", []))
            default = m.get("default", choices[0] if choices else (False if kind == "booleanParam" else ""))
            out.append(Parameter(kind, str(m["name"]), default, str(m.get("description", "")), choices))
        return tuple(out)

    def stages(self, value: Any, parent: Any, key: Any) -> tuple[Stage, ...]:
        if not isinstance(value, list) or not value:
            raise PipelineError("stages must be a non-empty list", self.pos(parent, key))
        return tuple(self.stage(s, value, i) for i, s in enumerate(value))

    def stage(self, value: Any, parent: Any, index: int) -> Stage:
        m = self.mapping(
            value,
            "a stage",
            {
                "name",
                "agent",
                "container",
                "environment",
                "when",
                "timeout",
                "steps",
                "parallel",
                "stages",
                "post",
                "matrix",
                "failFast",
                "input",
            },
            parent,
            index,
        )
        if "name" not in m:
            raise PipelineError("a stage needs name:", self.pos(parent, index))
        bodies = [k for k in ("steps", "parallel", "matrix", "stages") if k in m]
        if len(bodies) != 1:
            raise PipelineError(
                f"stage '{m['name']}' needs exactly one of steps, parallel, matrix or stages",
                self.pos(parent, index),
            )
        stage = Stage(name=str(m["name"]), pos=self.pos(parent, index))
        if "failFast" in m:
            if bodies[0] not in ("parallel", "matrix") or not isinstance(m["failFast"], bool):
                raise PipelineError(
                    "failFast: true|false, on a stage with parallel or matrix", self.pos(m, "failFast")
                )
            stage.fail_fast = m["failFast"]
        if "agent" in m:
            stage.agent = self.agent(m["agent"], m, "agent")
        stage.environment = self.environment(m.get("environment"), m)
        if "when" in m:
            stage.when = (self.condition(m["when"], m, "when"),)
        if "timeout" in m:
            stage.options.timeout_seconds = self.duration(m["timeout"], m, "timeout")
        if "input" in m:
            stage.input = yaml_stage_input(self, m["input"], m)
        stage.post = self.post(m.get("post"), m)
        if "steps" in m:
            steps = self.steps(m["steps"], m, "steps")
            if "container" in m:
                steps = (Step("container", {"name": str(m["container"])}, steps, self.pos(m, "container")),)
            stage.steps = steps
        elif "parallel" in m:
            stage.parallel = self.stages(m["parallel"], m, "parallel")
        elif "matrix" in m:
            stage.parallel = yaml_matrix(self, m["matrix"], m, "matrix")
        else:
            stage.stages = self.stages(m["stages"], m, "stages")
        return stage

    def condition(self, value: Any, parent: Any, key: Any) -> Condition:
        m = self.mapping(value, "when", {"branch", "environment", "not", "allOf", "anyOf"}, parent, key)
        conds: list[Condition] = []
        for k, v in m.items():
            if k == "branch":
                conds.append(Condition("branch", pattern=self.text(v, m, k, "when.branch")))
            elif k == "environment":
                e = self.mapping(v, "when.environment", {"name", "value"}, m, k)
                conds.append(Condition("environment", name=str(e.get("name")), value=str(e.get("value"))))
            elif k == "not":
                conds.append(Condition("not", children=(self.condition(v, m, k),)))
            else:
                if not isinstance(v, list):
                    raise PipelineError(f"when.{k} must be a list of conditions", self.pos(m, k))
                conds.append(
                    Condition(str(k), children=tuple(self.condition(c, v, i) for i, c in enumerate(v)))
                )
        return conds[0] if len(conds) == 1 else Condition("allOf", children=tuple(conds))

    def post(self, value: Any, parent: Any) -> Post:
        if value is None:
            return Post()
        m = self.mapping(value, "post", set(POST_CONDITIONS), parent, "post")
        return Post({str(k): self.steps(v, m, k) for k, v in m.items()})

    def steps(self, value: Any, parent: Any, key: Any) -> tuple[Step, ...]:
        if not isinstance(value, list):
            raise PipelineError("steps must be a list", self.pos(parent, key))
        return tuple(self.step(s, value, i) for i, s in enumerate(value))

    def step(self, value: Any, parent: Any, index: int) -> Step:
        pos = self.pos(parent, index)
        if isinstance(value, str):
            return Step("sh", {"script": value}, None, pos)
        if not isinstance(value, dict) or not value:
            raise PipelineError("a step is a string (shell) or a mapping such as {sh: ...}", pos)
        name = next(iter(value))
        if name not in STEPS:
            raise PipelineError(
                f"unsupported step '{name}' (supported: {', '.join(sorted(STEPS))})", self.pos(value, name)
            )
        if STEPS[name].block and name not in _BLOCK_STEPS:
            raise PipelineError(
                f"step '{name}' takes a block of steps, which .dockyard.yml does not offer for it:"
                " use a Jenkinsfile",
                self.pos(value, name),
            )
        args: dict[str, Any]
        body = None
        if name in _BLOCK_STEPS:
            allowed = {name, "steps"}
            self.mapping(value, f"step {name}", allowed, parent, index)
            args = {_BLOCK_STEPS[name]: self.block_arg(name, value[name], value)}
            if name == "timeout":
                args["seconds"] = self.duration(value[name], value, name)
            body = self.steps(value.get("steps"), value, "steps")
        else:
            spec = STEPS[name]
            raw = value[name]
            if isinstance(raw, dict):
                args = {str(k): v for k, v in raw.items()}
                unknown = set(args) - spec.named
                if unknown:
                    raise PipelineError(
                        f"step '{name}': unknown argument(s) {', '.join(sorted(unknown))}",
                        self.pos(value, name),
                    )
            else:
                if spec.positional is None:
                    raise PipelineError(f"step '{name}' takes a mapping of arguments", self.pos(value, name))
                args = {
                    spec.positional: raw
                    if isinstance(raw, int | float)
                    else self.text(raw, value, name, name)
                }
            self.mapping(value, f"step {name}", {name}, parent, index)
            missing = [r for r in spec.required if r not in args]
            if missing:
                raise PipelineError(f"step '{name}' needs {', '.join(missing)}", self.pos(value, name))
        return Step(name, args, body, pos)

    def block_arg(self, name: str, raw: Any, parent: Any) -> Any:
        if name == "withCredentials":
            from dockyard.ci.model import Call

            if not isinstance(raw, list):
                raise PipelineError("withCredentials needs a list of bindings", self.pos(parent, name))
            calls = []
            for i, b in enumerate(raw):
                m = self.mapping(
                    b,
                    "a credential binding",
                    {"type", "credentialsId", "variable", "usernameVariable", "passwordVariable"},
                    raw,
                    i,
                )
                kind = str(m.get("type", "string"))
                if kind not in ("usernamePassword", "string", "file", "usernameColonPassword"):
                    raise PipelineError(f"unknown binding type {kind!r}", self.pos(raw, i))
                calls.append(
                    Call(kind, (), {k: str(v) for k, v in m.items() if k != "type"}, self.pos(raw, i))
                )
            return calls
        if name == "withEnv":
            if not isinstance(raw, list):
                raise PipelineError("withEnv needs a list of NAME=value", self.pos(parent, name))
            return [str(v) for v in raw]
        if name in ("retry",):
            return int(raw)
        return raw if name == "timeout" else self.text(raw, parent, name, name)
