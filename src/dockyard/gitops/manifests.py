"""Where images live in Kubernetes manifests: pod specs of workloads, and kustomization `images:`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# kind -> path from the object to its pod spec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
    "Rollout": ("spec", "template", "spec"),  # Argo Rollouts, same shape as a Deployment
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class ContainerImage:
    """One `image:` field: the container mapping holding it and a human-readable location."""

    container: Any
    where: str


@dataclass
class KustomizeImage:
    """One entry of a kustomization's `images:` list."""

    entry: Any
    where: str


def container_images(doc: Any) -> Iterator[ContainerImage]:
    """Every container `image` in a workload document (or in a `List`'s items)."""
    if not isinstance(doc, dict):
        return
    kind = str(doc.get("kind", ""))
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from container_images(item)
        return
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return
    spec: Any = doc
    for step in path:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return
    metadata = doc.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if not isinstance(containers, list):
            continue
        for container in containers:
            if isinstance(container, dict) and isinstance(container.get("image"), str):
                label = "initContainer" if list_name == "initContainers" else list_name[:-1]
                yield ContainerImage(container, f"{kind}/{name} {label} {container.get('name', '?')}")


def is_kustomization(filename: str, doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    return filename in KUSTOMIZATION_FILES or (
        doc.get("kind") == "Kustomization" and "kustomize.config.k8s.io" in str(doc.get("apiVersion", ""))
    )


def kustomize_images(doc: Any) -> Iterator[KustomizeImage]:
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, list):
        return
    for index, entry in enumerate(images):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            yield KustomizeImage(entry, f"kustomization images[{index}] {entry['name']}")
