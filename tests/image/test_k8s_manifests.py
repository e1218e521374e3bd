"""`dockyard k8s manifests` values (no cluster: tests/image/test_k8s_install.py compares the
defaults with kubectl kustomize and installs them on the real test cluster)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from ruamel.yaml import YAML


def manifests(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard", "k8s", "manifests", *args],
                          capture_output=True, text=True)


def by_kind(text: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in YAML(typ="safe", pure=True).load_all(text):
        out.setdefault(obj["kind"], []).append(obj)
    return out


def test_values_land_where_they_belong() -> None:
    result = manifests("--namespace", "ci", "--image", "reg:5000/dy/dockyard:9", "--storage-size", "3Gi",
                       "--storage-class", "local", "--node-port", "30002", "--build-namespace", "builds",
                       "--image-pull-secret", "regcred")
    assert result.returncode == 0, result.stderr
    objs = by_kind(result.stdout)
    sts = objs["StatefulSet"][0]
    assert sts["metadata"]["namespace"] == "ci"
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "reg:5000/dy/dockyard:9"
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == ("local", "3Gi")
    assert objs["ServiceAccount"][0]["imagePullSecrets"] == [{"name": "regcred"}]
    role, binding = objs["Role"][0], objs["RoleBinding"][0]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "builds"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "dockyard", "namespace": "ci"}]
    node_port = next(s for s in objs["Service"] if s["spec"]["type"] == "NodePort")
    assert node_port["spec"]["ports"][0]["nodePort"] == 30002
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods", "pods/exec", "pods/log", "events", "secrets"}


def test_bad_values_are_refused_with_the_reason() -> None:
    for args, message in ((("--namespace", "Bad_NS"), "not a Kubernetes name"),
                          (("--storage-size", "lots"), "not a storage size"),
                          (("--node-port", "99999"), "not a port")):
        result = manifests(*args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
