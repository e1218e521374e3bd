"""`.dockyard.yml`'s stage `input:`, the Jenkinsfile's stage-level `input { }` in YAML
(docs/pipelines.md):

    - name: Deploy
      input:
        message: Deploy to production?
        id: Deploy                 # default: from the stage's name
        ok: Ship it
        submitter: alice,release   # users or organisations; default: whoever may run the job
        submitterParameter: APPROVER
        parameters:                # as the pipeline's parameters:, without password
          - {name: TARGET, type: choice, choices: [staging, prod]}
      steps: [...]

It makes the same `StageInput`, so the stage waits and gets the answers as a Jenkinsfile's does
(before its `when:`, Jenkins' default order)."""

from __future__ import annotations

from typing import Any, Protocol

from dockyard.ci.errors import ForbiddenParameter, PipelineError, Pos
from dockyard.ci.model import Parameter, StageInput
from dockyard.ci.params import forbidden_env_name

__all__ = ["yaml_stage_input"]

_KEYS = {"message", "id", "ok", "submitter", "submitterParameter", "parameters"}


class _Builder(Protocol):
    """What of the YAML builder (dockyard.ci.yamlpipeline) an input uses."""

    def pos(self, node: Any, key: Any = None) -> Pos: ...
    def mapping(
        self, node: Any, where: str, allowed: set[str], parent: Any = None, key: Any = None
    ) -> dict: ...
    def text(self, value: Any, parent: Any, key: Any, what: str) -> str: ...
    def parameters(self, value: Any, parent: Any) -> tuple[Parameter, ...]: ...


def yaml_stage_input(b: _Builder, value: Any, parent: Any) -> StageInput:
    """A stage's `input:` mapping; unknown keys, a missing message, password parameters and a
    submitterParameter that is no variable name are refused with their line:column."""
    m = b.mapping(value, "input", _KEYS, parent, "input")
    if "message" not in m:
        raise PipelineError("input needs message: (what the approver is asked)", b.pos(parent, "input"))
    params = b.parameters(m.get("parameters"), m)
    for p in params:
        if p.kind == "password":
            raise PipelineError(
                "input parameters take type: string|text|boolean|choice (not password)",
                b.pos(m, "parameters"),
            )
    who = ""
    if "submitterParameter" in m:
        who = b.text(m["submitterParameter"], m, "submitterParameter", "input.submitterParameter")
    if who:
        why = forbidden_env_name(who)
        if why:
            raise ForbiddenParameter(why, b.pos(m, "submitterParameter"))
        if not who.replace("_", "").isalnum() or who[0].isdigit() or who in {p.name for p in params}:
            raise PipelineError(
                f"input.submitterParameter {who!r}: a variable name (letters, digits, _) no parameter has",
                b.pos(m, "submitterParameter"),
            )
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise PipelineError("input parameters: each name once", b.pos(m, "parameters"))

    def text(key: str) -> str:
        return b.text(m[key], m, key, f"input.{key}") if key in m else ""

    return StageInput(
        message=text("message"),
        id=text("id"),
        ok=text("ok"),
        submitter=text("submitter"),
        submitter_parameter=who,
        parameters=params,
        pos=b.pos(parent, "input"),
    )
