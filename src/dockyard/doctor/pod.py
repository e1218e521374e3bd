"""The build pod the doctor dry-runs: the Kubernetes executor's own pod for the job's template
(`dockyard.ci.build_pod`: workspace, agent container, the Kaniko image mapped to Dockyard's
executor image, keep-alive, labels), so admission sees exactly what a build would create."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from dockyard.config import DEFAULT_KANIKO_IMAGES
from dockyard.doctor.job import JobTarget

DOCTOR_LABEL = "dockyard.io/doctor"


@dataclass(frozen=True)
class PodSettings:
    """The cloud's settings the executor builds pods with (`Settings.k8s_*`, DOCKYARD_K8S_*)."""

    agent_image: str = ""  # '' -> Dockyard's own image in its own registry
    executor_image: str = ""  # '' -> the agent image
    kaniko_images: tuple[str, ...] = DEFAULT_KANIKO_IMAGES
    pull_credential: str = ""  # a credential id the executor makes each build's pull secret from


def build_pod(target: JobTarget, settings: PodSettings,
              registry: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the Pod manifest for a build of `target`, container -> the Kaniko image it no longer runs);
    `registry`: this Dockyard's host:port."""
    from dockyard.ci import PodOptions, default_image
    from dockyard.ci import build_pod as executor_pod

    agent = settings.agent_image or default_image(registry)
    options = PodOptions(agent_image=agent, executor_image=settings.executor_image or agent,
                         kaniko_images=settings.kaniko_images, instance="dockyard-doctor",
                         job=target.name, number=0)
    pod = executor_pod(target.pod_yaml, options, secrets.token_hex(3))
    pod.manifest["metadata"].setdefault("labels", {})[DOCTOR_LABEL] = "true"
    return pod.manifest, dict(pod.mapped)


def images(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    out = []
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if isinstance(c, dict) and c.get("image") and str(c["image"]) not in out:
            out.append(str(c["image"]))
    return out
