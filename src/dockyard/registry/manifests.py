"""Parse and check a pushed manifest: its kind, what it references, its subject and type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.http import BadRequest, parse_json
from dockyard.registry.errors import RegistryError
from dockyard.registry.names import valid_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass
class ParsedManifest:
    media_type: str
    blobs: list[tuple[str, int]] = field(default_factory=list)  # (digest, size) to check
    children: list[tuple[str, int]] = field(default_factory=list)  # manifests of an index
    subject: str | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    total_size: int = 0


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate the structure the spec requires; raise MANIFEST_INVALID with the reason."""
    try:
        doc = parse_json(body)
    except BadRequest as exc:
        raise RegistryError("MANIFEST_INVALID", f"manifest: {exc.message}") from None
    if not isinstance(doc, dict):
        raise RegistryError("MANIFEST_INVALID", "manifest must be a JSON object")
    declared = doc.get("mediaType")
    header = (content_type or "").split(";", 1)[0].strip()
    if header in DOCKER_SCHEMA1 or declared in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError(
            "MANIFEST_INVALID",
            "Docker schema 1 manifests are not supported: push with a current docker, podman or"
            " skopeo (they convert to schema 2 or OCI)",
        )
    if doc.get("schemaVersion") != 2:
        raise RegistryError("MANIFEST_INVALID", "manifest schemaVersion must be 2")
    if header in MANIFEST_TYPES:
        media_type = header
        if declared and declared != header:
            raise RegistryError(
                "MANIFEST_INVALID",
                f"Content-Type {header} does not match the manifest's mediaType {declared}",
            )
    elif declared in MANIFEST_TYPES:
        media_type = declared
    elif "manifests" in doc:
        media_type = OCI_INDEX
    elif "config" in doc:
        media_type = OCI_MANIFEST
    else:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"unsupported manifest media type {header or declared!r}; expected one of"
            f" {', '.join(MANIFEST_TYPES)}",
        )
    parsed = ParsedManifest(media_type=media_type, total_size=len(body))
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise RegistryError("MANIFEST_INVALID", "annotations must be an object of strings")
    parsed.annotations = {str(k): str(v) for k, v in annotations.items()}
    if media_type in IMAGE_TYPES:
        config = _descriptor(doc.get("config"), "config")
        parsed.blobs.append((config["digest"], config["size"]))
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise RegistryError("MANIFEST_INVALID", "manifest has no layers array")
        for i, layer in enumerate(layers):
            desc = _descriptor(layer, f"layers[{i}]")
            if desc.get("urls"):
                continue  # foreign layer: lives elsewhere by design
            parsed.blobs.append((desc["digest"], desc["size"]))
        parsed.total_size += sum(size for _d, size in parsed.blobs)
        parsed.artifact_type = str(doc.get("artifactType") or config.get("mediaType") or "")
    else:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise RegistryError("MANIFEST_INVALID", "index has no manifests array")
        for i, child in enumerate(children):
            desc = _descriptor(child, f"manifests[{i}]")
            parsed.children.append((desc["digest"], desc["size"]))
        parsed.artifact_type = str(doc.get("artifactType") or "")
    if doc.get("subject") is not None:
        parsed.subject = _descriptor(doc["subject"], "subject")["digest"]
    return parsed


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RegistryError("MANIFEST_INVALID", f"{where} must be a descriptor object")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(digest, str) or not valid_digest(digest):
        raise RegistryError("MANIFEST_INVALID", f"{where} has an invalid digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError("MANIFEST_INVALID", f"{where} has an invalid size {size!r}")
    return value
