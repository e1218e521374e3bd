"""Whether a pod in the build namespace reaches the registry (and git server) the build uses:
a short busybox pod runs `timeout 5 wget` against each URL (busybox-static's own `wget -T`
crashes) and is deleted afterwards, whatever happened. Any HTTP answer, 401 included, means the
network path works; "Connection refused" or a timeout is quoted as the problem.

The pod passes Pod Security `restricted` (non-root, no privilege escalation, no capabilities,
RuntimeDefault seccomp), so it runs wherever a build pod could."""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import time
from typing import Any

from dockyard.doctor.findings import OK, PROBLEM, Report
from dockyard.doctor.kube import Cluster, api_message
from dockyard.doctor.pod import DOCTOR_LABEL

AREA = "network"
_MARK = "== dockyard-doctor "
_STATUS = re.compile(r"HTTP/1\.[01] (\d{3})")
# container states that will not resolve by waiting
_STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}


def probe_pod(name: str, image: str, urls: list[str], pull_secrets: list[str]) -> dict[str, Any]:
    script = "; ".join(
        f"echo '{_MARK}{i}'; timeout 5 wget -S -O /dev/null {shlex.quote(u)} 2>&1; echo '{_MARK}exit '$?"
        for i, u in enumerate(urls))
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": 120,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "probe", "image": image, "command": ["sh", "-c", script],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                          "limits": {"cpu": "200m", "memory": "64Mi"}},
        }],
    }
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {DOCTOR_LABEL: "probe"}}, "spec": spec}


def check_from_pod(report: Report, cluster: Cluster, image: str, urls: list[str], pull_secrets: list[str],
                   wait: float = 60.0) -> None:
    if not urls:
        return
    core, ns = cluster.core(), cluster.namespace
    name = f"dockyard-doctor-probe-{secrets.token_hex(4)}"
    try:
        cluster.call(core.create_namespaced_pod, ns, probe_pod(name, image, urls, pull_secrets))
    except Exception as e:  # noqa: BLE001 - an admission denial or API failure is the finding
        report.add(AREA, "network.pod", PROBLEM, f"the probe pod could not be created: {api_message(e)}",
                   fix="see the admission and rbac findings above")
        return
    try:
        phase = _wait(cluster, name, wait)
        if phase not in ("Succeeded", "Failed"):
            report.add(AREA, "network.pod", PROBLEM,
                       f"the probe pod ({image}) did not run within {wait:g} s (phase {phase})",
                       detail=_events(cluster, name),
                       fix="see the pod's events above (image pull, scheduling); --probe-image picks"
                           " another image")
            return
        log = cluster.call(core.read_namespaced_pod_log, name, ns)
    except Exception as e:  # noqa: BLE001
        report.add(AREA, "network.pod", PROBLEM, f"watching the probe pod failed: {api_message(e)}")
        return
    finally:
        with contextlib.suppress(Exception):  # best effort: the pod's deadline ends it anyway
            cluster.call(core.delete_namespaced_pod, name, ns, grace_period_seconds=0)
    _report_output(report, urls, str(log))


def _report_output(report: Report, urls: list[str], log: str) -> None:
    sections = log.split(_MARK)
    by_index: dict[int, str] = {}
    for chunk in sections[1:]:
        head, _, body = chunk.partition("\n")
        if head.strip().isdigit():
            by_index[int(head)] = body
    for i, url in enumerate(urls):
        body = by_index.get(i, "")
        status = _STATUS.search(body)
        if status:
            report.add(AREA, "network.reach", OK, f"a pod in the build namespace reaches {url}"
                       f" (HTTP {status.group(1)})")
            continue
        said = "\n".join(line for line in body.splitlines() if line.strip() and _MARK not in line) \
            or "(no output: timed out after 5 s)"
        report.add(AREA, "network.reach", PROBLEM, f"a pod in the build namespace cannot reach {url}",
                   detail=said,
                   fix="serve Dockyard on an address pods can reach (not 127.0.0.1: `dockyard up --host"
                       " <node or service address>`, see deploy/kubernetes) and use that address in"
                       " the Jenkinsfile's --destination")


def _wait(cluster: Cluster, name: str, wait: float) -> str:
    core, ns = cluster.core(), cluster.namespace
    deadline = time.monotonic() + wait
    phase = "Pending"
    while time.monotonic() < deadline:
        pod = cluster.call(core.read_namespaced_pod, name, ns)
        phase = str(pod.status.phase or "Pending")
        if phase in ("Succeeded", "Failed"):
            return phase
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in _STUCK:
                return f"{phase}, {waiting.reason}"
        time.sleep(0.5)
    return phase


def _events(cluster: Cluster, name: str) -> str:
    try:
        events = cluster.call(cluster.core().list_namespaced_event, cluster.namespace,
                              field_selector=f"involvedObject.name={name}")
    except Exception as e:  # noqa: BLE001
        return f"(events unavailable: {api_message(e)})"
    lines = [f"{e.type} {e.reason}: {e.message}" for e in events.items]
    return "\n".join(lines) or "(no events)"
