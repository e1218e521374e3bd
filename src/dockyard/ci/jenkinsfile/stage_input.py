"""A stage's (or a matrix's) `input { message '...'; id '...'; ok '...'; submitter 'a,b';
submitterParameter 'APPROVER'; parameters { string(...); choice(...); booleanParam(...) } }`
read into a `StageInput`, and whether its `when` asks to be evaluated before the input
(`beforeInput true`, or `beforeOptions true`, which comes earlier still)."""

from __future__ import annotations

from typing import Any, Protocol

from dockyard.ci.errors import ForbiddenParameter, JenkinsfileError
from dockyard.ci.input_state import PARAM_TYPES
from dockyard.ci.jenkinsfile.syntax import Node
from dockyard.ci.model import Parameter, StageInput
from dockyard.ci.params import forbidden_env_name

__all__ = ["parse_stage_input", "when_before_input"]

_KEYS = {"message", "id", "ok", "submitter", "submitterParameter", "parameters"}


class _Builder(Protocol):
    """What of the declarative builder (dockyard.ci.jenkinsfile.declarative) an input uses."""

    def _block(self, node: Node) -> list[Node]: ...
    def _single(self, node: Node, what: str) -> Any: ...
    def _string(self, value: Any, pos: Any, what: str, interpolate: bool = False) -> Any: ...
    def _unique(
        self, nodes: list[Node], allowed: set[str], where: str, hints: dict[str, str] | None = None
    ) -> dict[str, Node]: ...
    def parameters(self, node: Node) -> tuple[Parameter, ...]: ...


def parse_stage_input(b: _Builder, node: Node) -> StageInput:
    """The `input { }` directive; unknown keys, a missing message and parameters that are not
    string/text/booleanParam/choice are refused with their line:column."""
    fields = b._unique(b._block(node), _KEYS, "input", {"timeout": "put timeout in the stage's options { }"})
    if "message" not in fields:
        raise JenkinsfileError("input needs message '...' (what the approver is asked)", node.pos)

    def text(key: str, interpolate: bool = True) -> Any:
        if key not in fields:
            return ""
        n = fields[key]
        return b._string(b._single(n, "quoted string"), n.pos, f"input {key}", interpolate)

    params = _parameters(b, fields["parameters"]) if "parameters" in fields else ()
    who = str(text("submitterParameter", interpolate=False))
    if who:
        pos = fields["submitterParameter"].pos
        why = forbidden_env_name(who)
        if why:
            raise ForbiddenParameter(why, pos)
        if not who.replace("_", "").isalnum() or who[0].isdigit():
            raise JenkinsfileError(
                f"input submitterParameter {who!r} is not an environment variable name (letters, digits, _)",
                pos,
            )
        if who in {p.name for p in params}:
            raise JenkinsfileError(f"input submitterParameter {who!r} is also a parameter's name", pos)
    return StageInput(
        message=text("message"),
        id=text("id"),
        ok=text("ok"),
        submitter=text("submitter"),
        submitter_parameter=who,
        parameters=params,
        pos=node.pos,
    )


def _parameters(b: _Builder, node: Node) -> tuple[Parameter, ...]:
    for n in b._block(node):
        if n.name not in PARAM_TYPES:
            raise JenkinsfileError(
                f"input parameter type '{n.name}' is not supported ({', '.join(sorted(PARAM_TYPES))})",
                n.pos,
            )
    params = b.parameters(node)
    names = [p.name for p in params]
    for p, n in zip(params, b._block(node), strict=True):
        if names.count(p.name) > 1:
            raise JenkinsfileError(f"input parameter {p.name!r} is declared twice", n.pos)
    return params


def when_before_input(node: Node | None) -> bool:
    """`when { beforeInput true }` (or `beforeOptions true`): `when` is evaluated before the
    stage's input, so a stage that will be skipped never asks. Jenkins' default is the input
    first. (declarative's when_conditions has checked that these take true or false.)"""
    if node is None or node.block is None:
        return False
    return any(n.name in ("beforeInput", "beforeOptions") and n.args == [True] for n in node.block)
