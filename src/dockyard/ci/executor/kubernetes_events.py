"""A build pod's events as build log lines, and the one decision made from them while the pod
starts: ready, still waiting (and why), or failed (and why) - so a pod that cannot start fails
the build in seconds naming the reason, instead of Jenkins' 1000 s of Pending with an empty log
(research/k8s-executor.md, complaints 4 and 5).

Works on plain mappings (the API objects as JSON: `sanitize_for_serialization`), so every rule is
testable without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# A container waiting for one of these reasons will not start by waiting longer.
FATAL_WAITING = {
    "CreateContainerConfigError": "its configuration names something missing (a Secret or ConfigMap key?)",
    "CreateContainerError": "the runtime could not create it",
    "InvalidImageName": "the image name is not valid",
    "ErrImageNeverPull": "imagePullPolicy is Never and the image is not on the node",
    "RunContainerError": "the runtime could not start it",
}
PULL_WAITING = ("ImagePullBackOff", "ErrImagePull")
PULL_BACKOFF_LIMIT = 3  # back-off events for a pull before the build fails (as Jenkins' Reaper)
MISSING_MOUNT = ("not found", "does not exist")  # FailedMount messages that waiting will not fix


@dataclass(frozen=True)
class Verdict:
    """`state` is "ready", "waiting" or "failed"; `reason` says why in one line."""

    state: str
    reason: str = ""


def event_key(event: Mapping[str, Any]) -> tuple[str, int]:
    """Identity of one occurrence: the event object and its repeat count (the API aggregates
    repeats into one object whose `count` grows)."""
    meta = event.get("metadata") or {}
    series = event.get("series") or {}
    count = event.get("count") or series.get("count") or 1
    return str(meta.get("uid") or meta.get("name") or id(event)), int(count)


def format_event(event: Mapping[str, Any], pod: str) -> str:
    """Jenkins' format (`[Normal][ns/pod][Pulling] Pulling image "x"`), plus the repeat count."""
    meta, involved = event.get("metadata") or {}, event.get("involvedObject") or {}
    ns = meta.get("namespace") or involved.get("namespace")
    count = int(event.get("count") or 1)
    repeat = f" (x{count})" if count > 1 else ""
    message = " ".join(str(event.get("message") or "").split())
    return f"[{event.get('type') or 'Normal'}][{ns}/{pod}][{event.get('reason') or '?'}] {message}{repeat}"


def _sorted(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def when(e: Mapping[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "")

    return sorted(events, key=when)


def container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def assess_start(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Verdict:
    """Whether a starting pod is ready (every container running), failed for a reason waiting
    will not fix, or still waiting (the reason is the latest one the cluster gave)."""
    events = _sorted(events)
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase in ("Failed", "Succeeded"):
        return Verdict("failed", _ended(pod))
    for cs in container_statuses(pod):
        state = cs.get("state") or {}
        name = cs.get("name")
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        reason = str(waiting.get("reason") or "")
        if reason in FATAL_WAITING:
            detail = waiting.get("message") or FATAL_WAITING[reason]
            return Verdict("failed", f"container '{name}': {reason}: {_one_line(detail)}")
        if reason in PULL_WAITING:
            backoffs = sum(int(e.get("count") or 1) for e in events
                           if e.get("reason") == "BackOff" and "pull" in str(e.get("message", "")).lower())
            if backoffs >= PULL_BACKOFF_LIMIT:
                failed = [e for e in events
                          if e.get("reason") == "Failed" and "pull" in str(e.get("message", ""))]
                why = _one_line(failed[-1].get("message")) if failed else waiting.get("message") or reason
                return Verdict("failed", f"container '{name}': {reason}: {why}")
        if terminated and not _is_init(pod, str(name)):
            why = _termination(terminated)
            return Verdict("failed", f"container '{name}' ended before the build started: {why}")
    for e in events:
        message = str(e.get("message") or "")
        if e.get("reason") == "FailedMount" and any(m in message for m in MISSING_MOUNT):
            return Verdict("failed", f"FailedMount: {_one_line(message)}")
    if phase == "Running" and _all_running(pod):
        return Verdict("ready")
    return Verdict("waiting", waiting_reason(pod, events))


def waiting_reason(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> str:
    """The latest reason the pod is not running: a Warning event, the scheduler's condition, a
    container's waiting reason, else the phase."""
    warnings = [e for e in _sorted(events) if e.get("type") == "Warning"]
    if warnings:
        last = warnings[-1]
        return f"{last.get('reason')}: {_one_line(last.get('message'))}"
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"{cond.get('reason') or 'Unschedulable'}: {_one_line(cond.get('message'))}"
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return f"container '{cs.get('name')}': {waiting['reason']}"
    return f"pod is {status.get('phase') or 'Pending'}"


def explain_stop(pod: Mapping[str, Any] | None, container: str) -> str:
    """Why a container of a running build pod stopped answering (the step's process is gone):
    OOMKilled, evicted, deadline exceeded, deleted."""
    if pod is None:
        return "the build pod was deleted"
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "the build pod is being deleted"
    for cs in container_statuses(pod):
        if cs.get("name") == container:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated:
                return f"container '{container}' ended: {_termination(terminated)}"
    if status.get("phase") in ("Failed", "Succeeded", "Unknown"):
        return _ended(pod)
    return f"container '{container}' lost the step's process"


def _ended(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    why = status.get("reason") or status.get("phase") or "Failed"
    message = status.get("message") or ""
    for cs in container_statuses(pod):
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated and not message:
            message = f"container '{cs.get('name')}': {_termination(terminated)}"
    return f"pod {why}" + (f": {_one_line(message)}" if message else "")


def _termination(t: Mapping[str, Any]) -> str:
    text = f"{t.get('reason') or 'Terminated'} (exit code {t.get('exitCode')})"
    return text + (f": {_one_line(t['message'])}" if t.get("message") else "")


def _all_running(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    names = {c.get("name") for c in spec.get("containers") or []}
    running = {cs.get("name") for cs in (pod.get("status") or {}).get("containerStatuses") or []
               if (cs.get("state") or {}).get("running")}
    return bool(names) and names <= running


def _is_init(pod: Mapping[str, Any], name: str) -> bool:
    return any(c.get("name") == name for c in (pod.get("spec") or {}).get("initContainers") or [])


def _one_line(text: object) -> str:
    return " ".join(str(text or "").split())
