"""Which `post` blocks run, as Jenkins' declarative pipeline decides it.

Kept apart from the runner because `changed`, `fixed` and `regression` compare the result with the
previous *completed* build of the job, which only the store knows."""

from __future__ import annotations

from dockyard.ci.model import POST_CONDITIONS
from dockyard.ci.store import ABORTED, FAILURE, SUCCESS, UNSTABLE

__all__ = ["HISTORY_CONDITIONS", "POST_CONDITIONS", "post_conditions"]

# the conditions that need the previous completed build's result
HISTORY_CONDITIONS = frozenset({"changed", "fixed", "regression"})

_BY_RESULT = {
    ABORTED: {"aborted", "unsuccessful"},
    FAILURE: {"failure", "unsuccessful"},
    UNSTABLE: {"unstable", "unsuccessful"},
    SUCCESS: {"success"},
}


def post_conditions(result: str, previous: str | None) -> set[str]:
    """The post blocks that run for a build (or stage) with `result`; `previous` is the result of
    the job's previous completed build (None for the first). As in Jenkins: `changed` when it
    differs (and for a first build), `fixed` from FAILURE/UNSTABLE to SUCCESS, `regression` from
    SUCCESS to UNSTABLE/FAILURE/ABORTED; `always` and `cleanup` every time."""
    run = {"always", "cleanup"} | _BY_RESULT[result]
    if previous is None or previous != result:
        run.add("changed")
    if previous in (FAILURE, UNSTABLE) and result == SUCCESS:
        run.add("fixed")
    if previous == SUCCESS and result in (UNSTABLE, FAILURE, ABORTED):
        run.add("regression")
    return run
