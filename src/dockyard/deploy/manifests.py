"""`dockyard k8s manifests`: the kustomize base in `kubernetes/` (the repository's
deploy/kubernetes) rendered with chosen values, as `kubectl kustomize` of an overlay would, for
clusters or tools without kustomize.

The base's YAML files are the one source: this module applies what the base's
kustomization.yaml says (labels, image) and the values given (namespace, image, storage,
NodePort, build namespace, pull secret), nothing else.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE = Path(__file__).with_name("kubernetes")
Manifest = dict[str, Any]


@dataclass
class Values:
    namespace: str = "dockyard"
    image: str | None = None  # default: the base's (dockyard/dockyard:VERSION)
    storage_size: str | None = None
    storage_class: str | None = None
    node_port: int | None = None
    build_namespace: str | None = None  # default: the server's own namespace
    image_pull_secret: str | None = None
    public_url: str | None = None  # `dockyard up --public-url` (may use $(POD_IP))
    env: dict[str, str] = field(default_factory=dict)  # more DOCKYARD_* settings


def _yaml() -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)


def base_objects() -> list[Manifest]:
    """The base's objects with its kustomization's labels and image applied."""
    yaml = _yaml()
    kustomization = yaml.load((BASE / "kustomization.yaml").read_text())
    objects: list[Manifest] = []
    for resource in kustomization["resources"]:
        objects += [o for o in yaml.load_all((BASE / resource).read_text()) if o]
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels", []):
        labels.update(entry["pairs"])
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(labels)
    for image in kustomization.get("images", []):
        _set_image(objects, image["name"], f"{image['newName']}:{image['newTag']}")
    return objects


def render(values: Values) -> list[Manifest]:
    objects = copy.deepcopy(base_objects())
    if values.image:
        _set_image(objects, None, values.image)
    for obj in objects:
        kind = obj["kind"]
        in_builds = kind in ("Role", "RoleBinding") and values.build_namespace
        obj["metadata"]["namespace"] = values.build_namespace if in_builds else values.namespace
        if kind == "RoleBinding":
            for subject in obj["subjects"]:
                subject["namespace"] = values.namespace
        if kind == "ServiceAccount" and values.image_pull_secret:
            obj["imagePullSecrets"] = [{"name": values.image_pull_secret}]
        if kind == "StatefulSet":
            _server_settings(obj["spec"]["template"]["spec"]["containers"][0], values)
            claim = obj["spec"]["volumeClaimTemplates"][0]["spec"]
            if values.storage_size:
                claim["resources"]["requests"]["storage"] = values.storage_size
            if values.storage_class:
                claim["storageClassName"] = values.storage_class
    if values.node_port is not None:
        objects.append(_node_port_service(objects, values))
    return objects


def _server_settings(container: Manifest, values: Values) -> None:
    """--public-url and the environment: DOCKYARD_K8S_NAMESPACE follows --build-namespace."""
    if values.public_url:
        container["args"] += ["--public-url", values.public_url]
    env = dict(values.env)
    if values.build_namespace:
        env.setdefault("DOCKYARD_K8S_NAMESPACE", values.build_namespace)
    for name, value in env.items():
        container["env"] = [e for e in container["env"] if e["name"] != name]
        container["env"].append({"name": name, "value": value})


def _node_port_service(objects: list[Manifest], values: Values) -> Manifest:
    service = next(o for o in objects if o["kind"] == "Service")
    node_port = copy.deepcopy(service)
    node_port["metadata"]["name"] = "dockyard-nodeport"
    node_port["spec"]["type"] = "NodePort"
    node_port["spec"]["ports"] = [{"name": "http", "port": 8080, "targetPort": "http",
                                   "nodePort": values.node_port}]
    return node_port


def _set_image(objects: list[Manifest], name: str | None, image: str) -> None:
    """Sets the image of containers named `name` in the base (every container when None)."""
    for obj in objects:
        if obj["kind"] != "StatefulSet":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            if name is None or container["image"].split(":")[0] == name:
                container["image"] = image


def to_yaml(objects: list[Manifest]) -> str:
    out = io.StringIO()
    yaml = _yaml()
    yaml.default_flow_style = False
    yaml.dump_all(objects, out)
    return out.getvalue()
