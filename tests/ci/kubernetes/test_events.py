"""How a starting pod's status and events decide the build (kubernetes_events): the objects are
shaped as the API serves them (JSON); the cluster tests check the same rules on real pods."""

from __future__ import annotations

from typing import Any

from dockyard.ci.executor.kubernetes_events import assess_start, event_key, explain_stop, format_event

SPEC = {"containers": [{"name": "kaniko"}, {"name": "jnlp"}]}


def pod(phase: str = "Pending", statuses: list[dict[str, Any]] | None = None,
        **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": SPEC,
            "status": {"phase": phase, "containerStatuses": statuses or [], **status}}


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}


def running(name: str) -> dict[str, Any]:
    return {"name": name, "state": {"running": {"startedAt": "2026-12-07T20:00:00Z"}}}


def event(reason: str, message: str, type_: str = "Warning", count: int = 1,
          at: str = "20:00:01") -> dict[str, Any]:
    return {"metadata": {"uid": f"{reason}-{at}", "namespace": "ns"}, "reason": reason, "message": message,
            "type": type_, "count": count, "lastTimestamp": f"2026-12-07T{at}Z"}


def test_all_containers_running_is_ready() -> None:
    assert assess_start(pod("Running", [running("kaniko"), running("jnlp")]), []).state == "ready"
    half = assess_start(pod("Running", [running("kaniko"), waiting("jnlp", "ContainerCreating")]), [])
    assert half.state == "waiting" and "ContainerCreating" in half.reason


def test_missing_secret_fails_at_the_first_failedmount() -> None:
    ev = event("FailedMount",
               'MountVolume.SetUp failed for volume "docker-config" : secret "harbor-auth" not found')
    v = assess_start(pod(), [event("Scheduled", "Successfully assigned", "Normal"), ev])
    assert v.state == "failed" and 'secret "harbor-auth" not found' in v.reason and "FailedMount" in v.reason


def test_image_pull_fails_after_three_backoffs_with_the_registrys_answer() -> None:
    pulled = event("Failed", 'Failed to pull image "r/x:1": failed to resolve reference: 401 Unauthorized',
                   at="20:00:02")
    few = [pulled, event("BackOff", 'Back-off pulling image "r/x:1"', count=2, at="20:00:03")]
    statuses = [waiting("kaniko", "ImagePullBackOff", 'Back-off pulling image "r/x:1"'), running("jnlp")]
    assert assess_start(pod("Pending", statuses), few).state == "waiting"
    many = [pulled, event("BackOff", 'Back-off pulling image "r/x:1"', count=3, at="20:00:03")]
    v = assess_start(pod("Pending", statuses), many)
    assert v.state == "failed" and "401 Unauthorized" in v.reason and "container 'kaniko'" in v.reason


def test_config_errors_and_dead_containers_fail_at_once() -> None:
    config = waiting("jnlp", "CreateContainerConfigError", 'secret "x" not found')
    v = assess_start(pod("Pending", [config]), [])
    assert v.state == "failed" and 'secret "x" not found' in v.reason
    dead = {"name": "kaniko", "state": {"terminated": {"reason": "StartError", "exitCode": 128,
                                                       "message": 'exec: "sh": executable file not found'}}}
    v = assess_start(pod("Pending", [dead, running("jnlp")]), [])
    assert v.state == "failed" and "ended before the build started" in v.reason
    assert "executable file" in v.reason
    v = assess_start(pod("Failed", reason="DeadlineExceeded", message="Pod was active too long"), [])
    assert v.state == "failed" and "DeadlineExceeded" in v.reason


def test_unschedulable_waits_with_the_schedulers_reason() -> None:
    cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}
    v = assess_start(pod(conditions=[cond]), [])
    assert v.state == "waiting" and "didn't match Pod's node affinity" in v.reason
    ev = event("FailedScheduling", "0/1 nodes are available: 1 Insufficient memory.")
    v = assess_start(pod(conditions=[cond]), [ev])
    assert v.reason == "FailedScheduling: 0/1 nodes are available: 1 Insufficient memory."


def test_event_lines_and_identity() -> None:
    ev = event("Pulling", 'Pulling image "busybox"', "Normal", count=2)
    assert format_event(ev, "p") == '[Normal][ns/p][Pulling] Pulling image "busybox" (x2)'
    again = {**ev, "count": 3}
    assert event_key(ev) != event_key(again)  # a repeat is a new occurrence to print


def test_why_a_running_container_stopped() -> None:
    oom = {"name": "kaniko", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
    assert "OOMKilled (exit code 137)" in explain_stop(pod("Running", [oom, running("jnlp")]), "kaniko")
    assert explain_stop(None, "kaniko") == "the build pod was deleted"
    evicted = pod("Failed", reason="Evicted", message="low on ephemeral-storage")
    assert "Evicted" in explain_stop(evicted, "jnlp")
