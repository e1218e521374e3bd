"""A Kubernetes pod template (`agent { kubernetes { yaml ... } }`) read into `ContainerSpec`s.

Secret volumes are filled from Dockyard's credential store: `secretName` is a credential id, and
`items: [{key, path}]` picks data keys exactly as the kubelet would (the tutorial's
`.dockerconfigjson` -> `config.json`). A missing credential or key is an error naming it.

`resources.limits` (`memory`, `cpu`, and `dockyard.io/pids` for a process count) are checked
here and applied by the executor; the pod annotation `dockyard.io/network: none` gives every
container an empty network namespace, `dockyard.io/network.<container>: none` one container
(`default` turns it back on).
"""

from __future__ import annotations

import posixpath
from typing import Any, Protocol

from ruamel.yaml.error import YAMLError

from dockyard.ci.executor.interface import ContainerSpec, ExecutorError, VolumeFile
from dockyard.ci.executor.kubernetes_pod import parse_yaml
from dockyard.sandbox import parse_cpu, parse_memory

NETWORK_ANNOTATION = "dockyard.io/network"
PIDS_LIMIT = "dockyard.io/pids"


class CredentialLike(Protocol):
    def data(self) -> dict[str, bytes]: ...

    def mask_values(self) -> list[str]: ...


class CredentialLookup(Protocol):
    """What CI needs from the credentials store (dockyard.credentials.CredentialStore fits)."""

    def get(self, credential_id: str) -> CredentialLike: ...


def parse_pod_template(
    pod_yaml: str, credentials: CredentialLookup | None
) -> tuple[dict[str, ContainerSpec], list[str]]:
    """(containers by name, secret values to mask)."""
    try:
        doc = parse_yaml(pod_yaml)
    except YAMLError as e:
        raise ExecutorError(f"kubernetes agent yaml is not valid YAML: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod":
        raise ExecutorError("kubernetes agent yaml must be a Pod (kind: Pod)")
    spec = doc.get("spec") or {}
    containers = spec.get("containers") or []
    if not isinstance(containers, list):
        raise ExecutorError("pod spec.containers must be a list")
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ExecutorError("pod metadata.annotations must be a mapping")
    masks: list[str] = []
    out: dict[str, ContainerSpec] = {}
    for c in containers:
        if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
            raise ExecutorError("every pod container needs name: and image:")
        env = {}
        for item in c.get("env") or []:
            if "valueFrom" in item:
                raise ExecutorError(
                    f"container {c['name']}: env valueFrom is not supported; use"
                    " environment { X = credentials('id') } in the pipeline"
                )
            env[str(item["name"])] = str(item.get("value", ""))
        cs = ContainerSpec(
            str(c["name"]),
            str(c["image"]),
            env,
            str(c.get("workingDir") or ""),
            limits=_limits(str(c["name"]), (c.get("resources") or {}).get("limits") or {}),
            network=_network(str(c["name"]), annotations),
        )
        for mount in c.get("volumeMounts") or []:
            vol = volumes.get(mount.get("name"))
            if vol is None:
                raise ExecutorError(f"container {cs.name}: volumeMount {mount.get('name')!r} has no volume")
            mount_path = str(mount.get("mountPath") or "")
            if not mount_path.startswith("/"):
                raise ExecutorError(f"container {cs.name}: mountPath must be absolute")
            if "secret" in vol:
                files, values = _secret_files(vol, mount_path, credentials)
                cs.files.extend(files)
                masks.extend(values)
            elif "emptyDir" in vol:
                continue
            else:
                kinds = sorted(k for k in vol if k != "name")
                raise ExecutorError(
                    f"volume {vol.get('name')!r}: type {kinds} is not supported on the local"
                    " agent (secret and emptyDir are)"
                )
        out[cs.name] = cs
    return out, masks


def _limits(name: str, raw: object) -> dict[str, Any]:
    """`resources.limits`, each value checked so a typo fails the build before any step."""
    if not isinstance(raw, dict):
        raise ExecutorError(f"container {name}: resources.limits must be a mapping")
    try:
        if "memory" in raw:
            parse_memory(raw["memory"])
        if "cpu" in raw:
            parse_cpu(raw["cpu"])
        if PIDS_LIMIT in raw and not (str(raw[PIDS_LIMIT]).isdigit() and int(str(raw[PIDS_LIMIT])) > 0):
            raise ValueError(f"{PIDS_LIMIT} limit {raw[PIDS_LIMIT]!r} must be a positive whole number")
    except ValueError as e:
        raise ExecutorError(f"container {name}: {e}") from None
    return dict(raw)


def _network(name: str, annotations: dict[str, Any]) -> str:
    pod_wide = annotations.get(NETWORK_ANNOTATION, "default")
    value = str(annotations.get(f"{NETWORK_ANNOTATION}.{name}", pod_wide))
    if value not in ("none", "default"):
        raise ExecutorError(f"annotation {NETWORK_ANNOTATION}: {value!r} is not a network (none or default)")
    return value


def _secret_files(
    vol: dict[str, Any], mount_path: str, credentials: CredentialLookup | None
) -> tuple[list[VolumeFile], list[str]]:
    secret = vol["secret"] or {}
    name = str(secret.get("secretName") or "")
    if not name:
        raise ExecutorError(f"secret volume {vol.get('name')!r} needs secretName")
    if credentials is None:
        raise ExecutorError(f"secret volume needs credential {name!r}, but no credential store is configured")
    try:
        cred = credentials.get(name)
    except KeyError as e:  # not found (add it), or not available to this job (grant it)
        why = str(e) if type(e) is not KeyError else f"no credential with id {name!r}"
        raise ExecutorError(f"secret volume {vol.get('name')!r}: {why}") from None
    data = cred.data()
    items = secret.get("items")
    pairs: list[tuple[str, str]]
    if items:
        pairs = [(str(i.get("key")), str(i.get("path"))) for i in items]
        for key, _ in pairs:
            if key not in data:
                raise ExecutorError(
                    f"credential {name!r} has no key {key!r} (it has: {', '.join(sorted(data))})"
                )
    else:
        pairs = [(k, k) for k in data]
    # Kubernetes' default is 0644; here the files sit on the Dockyard host, so only its user reads them
    mode = int(secret.get("defaultMode", 0o600))
    files = []
    for key, rel in pairs:
        norm = posixpath.normpath(rel)
        if norm.startswith("..") or norm.startswith("/"):
            raise ExecutorError(f"secret item path {rel!r} must stay inside the mount")
        files.append(VolumeFile(posixpath.join(mount_path, norm), data[key], mode))
    return files, list(cred.mask_values())
