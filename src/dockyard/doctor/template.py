"""The pod template's registry secret volume: the tutorial's most famous pitfall.

`kubectl create secret docker-registry` stores the credentials under the key `.dockerconfigjson`;
Kaniko reads `/kaniko/.docker/config.json`. Mounted without `items: [{key: .dockerconfigjson,
path: config.json}]` the kubelet writes `/kaniko/.docker/.dockerconfigjson`, Kaniko finds no
credentials and the push fails with UNAUTHORIZED. This needs no cluster: the template says it."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from dockyard.doctor.findings import OK, PROBLEM, WARNING, Report

AREA = "template"
KANIKO_CONFIG_DIR = "/kaniko/.docker"
DOCKERCONFIG_KEY = ".dockerconfigjson"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class ConfigVolume:
    """A secret volume mounted where a container's registry client reads config.json."""

    container: str
    volume: str
    secret: str
    mount_path: str
    items: tuple[tuple[str, str], ...] | None  # (key, path); None without `items`

    def file_for(self, key: str) -> str:
        """Where the kubelet puts the secret's `key` in the container."""
        if self.items is None:
            return posixpath.join(self.mount_path, key)
        for k, path in self.items:
            if k == key:
                return posixpath.join(self.mount_path, posixpath.normpath(path))
        return ""


def config_volumes(pod: dict[str, Any]) -> list[ConfigVolume]:
    spec = pod.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    found = []
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        env = {str(e.get("name")): str(e.get("value", "")) for e in c.get("env") or [] if isinstance(e, dict)}
        config_dirs = {KANIKO_CONFIG_DIR, env.get("DOCKER_CONFIG", KANIKO_CONFIG_DIR).rstrip("/")}
        for mount in c.get("volumeMounts") or []:
            if not isinstance(mount, dict):
                continue
            path = str(mount.get("mountPath") or "").rstrip("/")
            vol = volumes.get(mount.get("name"))
            if path not in config_dirs or not vol or not isinstance(vol.get("secret"), dict):
                continue
            secret = vol["secret"]
            items = secret.get("items")
            pairs = None if not items else tuple(
                (str(i.get("key")), str(i.get("path"))) for i in items if isinstance(i, dict))
            found.append(ConfigVolume(str(c.get("name")), str(vol.get("name")),
                                      str(secret.get("secretName") or ""), path, pairs))
    return found


def pull_secrets(pod: dict[str, Any]) -> list[str]:
    refs = (pod.get("spec") or {}).get("imagePullSecrets") or []
    return [str(r.get("name")) for r in refs if isinstance(r, dict) and r.get("name")]


def fixed_volume_yaml(volume: ConfigVolume) -> str:
    return (
        "volumes:\n"
        f"- name: {volume.volume}\n"
        "  secret:\n"
        f"    secretName: {volume.secret}\n"
        f"    items: [{{key: {DOCKERCONFIG_KEY}, path: {CONFIG_FILE}}}]\n"
    )


def check_items(report: Report, pod: dict[str, Any], has_destinations: bool,
                secret_keys: dict[str, set[str]] | None = None) -> None:
    """`secret_keys`: the data keys of secrets read from the cluster (by name), when known."""
    volumes = config_volumes(pod)
    if not volumes:
        if has_destinations:
            report.add(AREA, "template.items", WARNING,
                       f"no secret volume is mounted at {KANIKO_CONFIG_DIR}: Kaniko pushes without"
                       " credentials, which only a public project with anonymous push accepts",
                       fix="mount the registry secret at /kaniko/.docker with items mapping"
                           " .dockerconfigjson to config.json (the tutorial's B.3)")
        return
    for v in volumes:
        keys = (secret_keys or {}).get(v.secret)
        wanted = posixpath.join(v.mount_path, CONFIG_FILE)
        where = f"volume {v.volume!r} (secret {v.secret!r}) in container {v.container!r}"
        if v.items is None and keys is not None and CONFIG_FILE in keys:
            report.add(AREA, "template.items", OK, f"{where}: the secret has a {CONFIG_FILE} key,"
                       f" mounted as {wanted}")
            continue
        if v.file_for(DOCKERCONFIG_KEY) == wanted:
            report.add(AREA, "template.items", OK,
                       f"{where}: items map {DOCKERCONFIG_KEY} -> {CONFIG_FILE}, so Kaniko reads {wanted}")
            continue
        if v.items is None:
            why = (f"is mounted at {v.mount_path} without items: the kubelet writes the key as"
                   f" {v.mount_path}/{DOCKERCONFIG_KEY}, but Kaniko reads {wanted}, so the push fails"
                   " with UNAUTHORIZED")
        else:
            layout = ", ".join(f"{k} -> {p}" for k, p in v.items)
            why = (f"maps {layout}: nothing maps {DOCKERCONFIG_KEY} to {CONFIG_FILE}, so Kaniko finds"
                   f" no {wanted} and the push fails with UNAUTHORIZED")
        report.add(AREA, "template.items", PROBLEM, f"{where} {why}",
                   fix="in the Jenkinsfile's pod template, give the secret volume items:\n"
                       + fixed_volume_yaml(v))
