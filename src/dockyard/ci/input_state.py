"""Pending `input` steps of a running build: what the step waits on, and what the APIs answer.

The step registers a `PendingInput` on its build's runner and awaits its future; the Jenkins API
(`/job/N/B/input/ID/proceedEmpty`, `/abort`) settles it. State lives in the running process only:
a build waiting for input when Dockyard stops is marked ABORTED at the next start, like any build
that was running then (no hang)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InputAnswer", "InputParam", "PendingInput", "default_input_id", "may_submit"]

MAX_VALUE = 64 * 1024  # one submitted parameter value, in characters

# input parameter kinds and Jenkins' class names for them (wfapi's "type")
PARAM_TYPES = {
    "string": "StringParameterDefinition",
    "text": "TextParameterDefinition",
    "booleanParam": "BooleanParameterDefinition",
    "choice": "ChoiceParameterDefinition",
}


class InputValueError(ValueError):
    """A submitted value that does not fit the input's parameters (the API answers 400)."""


@dataclass(frozen=True)
class InputParam:
    """One of `input parameters: [string(...), booleanParam(...), choice(...)]`."""

    kind: str
    name: str
    default: str | bool
    description: str = ""
    choices: tuple[str, ...] = ()

    def value(self, raw: Any) -> str | bool:
        """A submitted value as the script gets it: booleans as booleans, choices checked."""
        if self.kind == "booleanParam":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false", "on"):
                return str(raw).lower() in ("true", "on")
            raise InputValueError(f"parameter {self.name!r} is a boolean: true or false")
        if isinstance(raw, dict | list) or raw is None:
            raise InputValueError(f"parameter {self.name!r} takes a string")
        text = str(raw)
        if len(text) > MAX_VALUE:
            raise InputValueError(f"parameter {self.name!r} is longer than {MAX_VALUE} characters")
        if self.choices and text not in self.choices:
            raise InputValueError(f"parameter {self.name!r} is one of {', '.join(self.choices)}")
        return text


@dataclass(frozen=True)
class InputAnswer:
    """How a pending input was settled: proceeded (or not) by whom."""

    proceed: bool
    by: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class PendingInput:
    id: str
    message: str
    ok: str
    submitters: frozenset[str]  # empty: anyone who may run the job
    params: tuple[InputParam, ...] = ()
    stage: str = ""  # the stage it waits in (wfapi shows it PAUSED_PENDING_INPUT)
    future: asyncio.Future[InputAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def values(self, submitted: dict[str, Any]) -> dict[str, Any]:
        """Every parameter's value: the submitted one, else its default; InputValueError for an
        unknown name or a value that does not fit."""
        known = {p.name: p for p in self.params}
        unknown = set(submitted) - set(known)
        if unknown:
            raise InputValueError(f"input {self.id!r} has no parameter {sorted(unknown)[0]!r}")
        return {n: p.value(submitted[n]) if n in submitted else p.default for n, p in known.items()}

    def result(self, values: dict[str, Any]) -> Any:
        """What the step returns, as in Jenkins: nothing, the one value, or a map by name."""
        if not self.params:
            return None
        return values[self.params[0].name] if len(self.params) == 1 else dict(values)

    def settle(self, answer: InputAnswer) -> bool:
        """False when it was settled already (two approvers racing: the first one wins)."""
        if self.future.done():
            return False
        self.future.set_result(answer)
        return True


def default_input_id(message: str) -> str:
    """Jenkins' id for an input without `id:`: the message's MD5, first letter capitalised."""
    return hashlib.md5(message.encode(), usedforsecurity=False).hexdigest().capitalize()


def may_submit(pending: PendingInput, username: str, is_admin: bool) -> bool:
    """Jenkins' rule: administrators always; otherwise the listed submitters, when there are any
    (the caller has already checked that the user may run the job)."""
    return is_admin or not pending.submitters or username.lower() in pending.submitters
