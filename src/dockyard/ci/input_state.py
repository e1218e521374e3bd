"""Pending `input` steps of a running build: what the step waits on, and what the APIs answer.

The step registers a `PendingInput` on its build's runner and awaits its future; the Jenkins API
(`/job/N/B/input/ID/proceedEmpty`, `/abort`) settles it. State lives in the running process only:
a build waiting for input when Dockyard stops is marked ABORTED at the next start, like any build
that was running then (no hang)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

__all__ = ["InputAnswer", "PendingInput", "default_input_id", "may_submit"]


@dataclass(frozen=True)
class InputAnswer:
    """How a pending input was settled: proceeded (or not) by whom."""

    proceed: bool
    by: str


@dataclass
class PendingInput:
    id: str
    message: str
    ok: str
    submitters: frozenset[str]  # empty: anyone who may run the job
    future: asyncio.Future[InputAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

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
