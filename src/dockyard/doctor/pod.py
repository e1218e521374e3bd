"""The build pod the doctor dry-runs: the job's pod template made into a Pod the way the executor
will, with a name of the doctor's own so it never collides with a real build."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any

from dockyard.doctor.job import JobTarget

AGENT_HOME = "/home/jenkins/agent"
WORKSPACE_VOLUME = "workspace-volume"
DOCTOR_LABEL = "dockyard.io/doctor"


@dataclass(frozen=True)
class PodSettings:
    """What the executor adds that the template does not say (the cloud's settings)."""

    agent_image: str = ""  # the agent container's image; '' leaves the agent container out


def build_pod(target: JobTarget, settings: PodSettings) -> dict[str, Any]:
    """The Pod manifest for a build of `target` (whose template must be set)."""
    assert target.pod is not None
    doc = copy.deepcopy(target.pod)
    spec = doc.setdefault("spec", {})
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    names = {c.get("name") for c in containers}
    if settings.agent_image and "jnlp" not in names:
        containers.append({"name": "jnlp", "image": settings.agent_image,
                           "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}})
    for c in containers:
        mounts = c.setdefault("volumeMounts", [])
        if not any(isinstance(m, dict) and m.get("mountPath") == AGENT_HOME for m in mounts):
            mounts.append({"name": WORKSPACE_VOLUME, "mountPath": AGENT_HOME})
    spec["containers"] = containers
    volumes = spec.setdefault("volumes", [])
    if not any(isinstance(v, dict) and v.get("name") == WORKSPACE_VOLUME for v in volumes):
        volumes.append({"name": WORKSPACE_VOLUME, "emptyDir": {}})
    spec["restartPolicy"] = "Never"
    meta = doc.setdefault("metadata", {})
    meta["name"] = f"dockyard-doctor-{secrets.token_hex(4)}"
    meta.pop("namespace", None)
    meta.setdefault("labels", {})[DOCTOR_LABEL] = "true"
    doc["apiVersion"], doc["kind"] = "v1", "Pod"
    return doc


def images(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    out = []
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if isinstance(c, dict) and c.get("image") and str(c["image"]) not in out:
            out.append(str(c["image"]))
    return out
