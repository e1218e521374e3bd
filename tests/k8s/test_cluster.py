"""The test cluster itself works as a cluster: a Ready node, pods pulled from a private project of
Dockyard's registry with an imagePullSecret, logs, exec with exit codes, the pod network to a
Dockyard server on the gateway, Pod Security admission on server-side dry-run, and RBAC."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.k8s.cluster import Cluster
from tests.k8s.images import PodImages

pytestmark = pytest.mark.slow


def pod(name: str, image: str, command: str, *, secret: str | None = None,
        restart: str = "Never") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "containers": [{"name": "main", "image": image, "command": ["sh", "-c", command]}],
    }
    if secret:
        spec["imagePullSecrets"] = [{"name": secret}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def test_node_is_ready(k8s_cluster: Cluster) -> None:
    node = json.loads(k8s_cluster.kubectl("get", "node", "127.0.0.1", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_private_image_runs_logs_and_reaches_dockyard_on_the_gateway(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages) -> None:
    secret = k8s_registry.pull_secret(k8s_cluster, k8s_namespace)
    healthz = f"{k8s_registry.server.url}/healthz"
    assert healthz.startswith(f"http://{k8s_cluster.gateway}:")
    command = f"echo hello from a pod; timeout 20 wget -q -O - {healthz}; echo; echo wget=$?"
    applied = k8s_cluster.apply(pod("hello", k8s_registry.busybox, command, secret=secret),
                                "-n", k8s_namespace)
    assert applied.returncode == 0, applied.stderr
    k8s_cluster.wait_pod(k8s_namespace, "hello", "Succeeded")
    logs = k8s_cluster.kubectl("logs", "-n", k8s_namespace, "hello")
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert lines[0] == "hello from a pod"
    assert lines[-1] == "wget=0", logs.stdout
    assert lines[1] == httpx.get(healthz).text.strip(), logs.stdout  # the server's own answer


def test_private_image_without_pull_secret_is_refused(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages) -> None:
    applied = k8s_cluster.apply(pod("nosecret", k8s_registry.busybox, "true"), "-n", k8s_namespace)
    assert applied.returncode == 0, applied.stderr
    with pytest.raises(AssertionError, match="401 Unauthorized"):
        k8s_cluster.wait_pod(k8s_namespace, "nosecret", "Succeeded")


def test_pod_reaches_the_api_server_through_the_kubernetes_service(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages) -> None:
    """An in-cluster client (kubectl with the pod's service account token, CA and
    KUBERNETES_SERVICE_HOST) reaches the API server and is who RBAC says it is."""
    secret = k8s_registry.pull_secret(k8s_cluster, k8s_namespace)
    command = "/k8s/kubectl get --raw /version && /k8s/kubectl auth whoami -o name; /k8s/kubectl get pods"
    manifest = pod("incluster", k8s_registry.busybox, command, secret=secret)
    manifest["spec"]["volumes"] = [{"name": "k8s", "hostPath": {
        "path": str(k8s_cluster.binaries), "type": "Directory"}}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "k8s", "mountPath": "/k8s", "readOnly": True}]
    applied = k8s_cluster.apply(manifest, "-n", k8s_namespace)
    assert applied.returncode == 0, applied.stderr
    k8s_cluster.wait_pod(k8s_namespace, "incluster", "Failed")  # `get pods` is forbidden
    logs = k8s_cluster.kubectl("logs", "-n", k8s_namespace, "incluster").stdout
    assert '"gitVersion": "v1.36.3"' in logs
    assert f"system:serviceaccount:{k8s_namespace}:default" in logs
    assert 'pods is forbidden: User "system:serviceaccount:' in logs


def test_exec_streams_output_and_returns_the_exit_code(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages) -> None:
    secret = k8s_registry.pull_secret(k8s_cluster, k8s_namespace)
    applied = k8s_cluster.apply(pod("sleeper", k8s_registry.busybox, "sleep 3600", secret=secret),
                                "-n", k8s_namespace)
    assert applied.returncode == 0, applied.stderr
    k8s_cluster.wait_pod(k8s_namespace, "sleeper", "Running")
    done = k8s_cluster.kubectl("exec", "-n", k8s_namespace, "sleeper", "--",
                               "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "out\n"
    assert "err" in done.stderr
    ok = k8s_cluster.kubectl("exec", "-n", k8s_namespace, "sleeper", "--", "cat", "/etc/passwd")
    assert ok.returncode == 0 and ok.stdout.startswith("root:x:0:0:"), ok.stderr


def test_pod_security_restricted_denies_a_privileged_pod_on_dry_run(
        k8s_cluster: Cluster, k8s_namespace: str) -> None:
    labelled = k8s_cluster.kubectl("label", "namespace", k8s_namespace,
                                   "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.returncode == 0, labelled.stderr
    privileged = pod("root", "example.invalid/busybox:1", "true")
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    denied = k8s_cluster.apply(privileged, "-n", k8s_namespace, "--dry-run=server")
    assert denied.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in denied.stderr
    assert "privileged" in denied.stderr
    compliant = pod("fine", "example.invalid/busybox:1", "true")
    compliant["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000,
                                            "seccompProfile": {"type": "RuntimeDefault"}}
    compliant["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    allowed = k8s_cluster.apply(compliant, "-n", k8s_namespace, "--dry-run=server")
    assert allowed.returncode == 0, allowed.stderr
    assert k8s_cluster.kubectl("get", "pods", "-n", k8s_namespace, "-o", "name").stdout == ""


def test_unprivileged_user_has_no_rights(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    user = k8s_cluster.user_kubeconfig
    who = k8s_cluster.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                              kubeconfig=user)
    assert who.stdout == "dockyard-user", who.stderr
    cannot = k8s_cluster.kubectl("auth", "can-i", "create", "pods", "-n", k8s_namespace,
                                 kubeconfig=user)
    assert (cannot.returncode, cannot.stdout.strip()) == (1, "no")
    listed = k8s_cluster.kubectl("get", "pods", "-n", k8s_namespace, kubeconfig=user)
    assert listed.returncode != 0 and "Forbidden" in listed.stderr
    admin = k8s_cluster.kubectl("auth", "can-i", "create", "pods", "-n", k8s_namespace)
    assert admin.stdout.strip() == "yes"


def test_validating_admission_policy_denies_with_its_message(
        k8s_cluster: Cluster, k8s_namespace: str) -> None:
    name = f"{k8s_namespace}-no-forbidden"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{
                     "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                     "resources": ["pods"]}]},
                 "validations": [{"expression": "object.metadata.name != 'forbidden'",
                                  "message": "pods may not be called forbidden"}]}}
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": k8s_namespace}}}}}
    try:
        for manifest in (policy, binding):
            applied = k8s_cluster.apply(manifest)
            assert applied.returncode == 0, applied.stderr
        forbidden = pod("forbidden", "example.invalid/busybox:1", "true")
        deadline = time.monotonic() + 30
        while True:  # the API server compiles a new policy a moment after it is stored
            denied = k8s_cluster.apply(forbidden, "-n", k8s_namespace, "--dry-run=server")
            if denied.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "pods may not be called forbidden" in denied.stderr, denied.stderr
        allowed = k8s_cluster.apply(pod("fine", "example.invalid/busybox:1", "true"),
                                    "-n", k8s_namespace, "--dry-run=server")
        assert allowed.returncode == 0, allowed.stderr
    finally:
        k8s_cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                            name, "--ignore-not-found")


def test_claim_binds_to_a_persistent_volume_on_the_host(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages) -> None:
    directory = k8s_cluster.persistent_volume(f"{k8s_namespace}-data")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    assert k8s_cluster.apply(claim, "-n", k8s_namespace).returncode == 0
    secret = k8s_registry.pull_secret(k8s_cluster, k8s_namespace)
    writer = pod("writer", k8s_registry.busybox, "id -u > /data/who", secret=secret)
    writer["spec"]["securityContext"] = {"runAsUser": 1000}
    writer["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    applied = k8s_cluster.apply(writer, "-n", k8s_namespace)
    assert applied.returncode == 0, applied.stderr
    k8s_cluster.wait_pod(k8s_namespace, "writer", "Succeeded")
    assert (directory / "who").read_text() == "1000\n"
