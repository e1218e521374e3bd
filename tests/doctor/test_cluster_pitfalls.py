"""The tutorial's pitfalls reproduced on the real test cluster (tests/k8s) and diagnosed by
`dockyard doctor`: each test breaks one thing, checks that the cluster really fails the way the
doctor says, applies the fix the doctor prints, and checks that the doctor is then satisfied.

The job is the tutorial's (its Jenkinsfile with the registry address changed) in a repository
of a Dockyard that listens on the cluster's gateway, so pods reach it as a build would."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, free_port
from tests.doctor.cluster import Setup, until
from tests.doctor.helpers import doctor, login, repo_with_job, tutorial_jenkinsfile
from tests.k8s.pki import UNPRIVILEGED_USER

pytestmark = pytest.mark.slow


def _events(setup: Setup, pod: str, reason: str, wait: float = 60) -> list[str]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got = setup.cluster.kubectl("get", "events", "-n", setup.namespace, "-o", "json",
                                    "--field-selector", f"involvedObject.name={pod}")
        items = json.loads(got.stdout or "{}").get("items", [])
        found = [e["message"] for e in items if e["reason"] == reason]
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {reason} event for pod {pod}")


def _secret_pod(setup: Setup, name: str, items: bool) -> dict[str, object]:
    """A busybox pod with the registry secret mounted at /kaniko/.docker, as the template does."""
    secret: dict[str, object] = {"secretName": "harbor-auth"}
    if items:
        secret["items"] = [{"key": ".dockerconfigjson", "path": "config.json"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "imagePullSecrets": [{"name": "harbor-auth"}],
        "containers": [{"name": "kaniko", "image": setup.images.busybox,
                        "command": ["sh", "-c", "ls -A /kaniko/.docker"],
                        "volumeMounts": [{"name": "docker-config", "mountPath": "/kaniko/.docker"}]}],
        "volumes": [{"name": "docker-config", "secret": secret}]}}


def test_an_all_good_namespace_exits_0(setup: Setup) -> None:
    setup.secret()
    job = setup.job()
    r = setup.doctor(job, "--probe-image", setup.images.busybox)
    assert r.code == 0, r.out
    for check in ("kubernetes.reach", "rbac.pods", "rbac.pods/exec", "rbac.pods/log", "rbac.events",
                  "rbac.secrets", "admission.dry-run", "template.items", "registry.push", "registry.image",
                  "git.http", "job.pod"):
        assert r.statuses(check) == ["ok"], (check, r.out)
    assert r.statuses("secret.auths") == ["ok", "ok"]  # harbor-auth and the pull secret
    # the executor's pod: Kaniko's image runs as Dockyard's executor image (here the agent image)
    mapped = r.finding("job.pod")["message"]
    assert "gcr.io/kaniko-project/executor:debug runs as Dockyard's executor image" in mapped
    # the pod reached the registry and the git server on the gateway
    reached = [f["message"] for f in r.json()["findings"] if f["check"] == "network.reach"]
    assert len(reached) == 2 and all(f["status"] == "ok" for f in r.json()["findings"]
                                     if f["check"] == "network.reach"), r.out
    assert any("/v2/ (HTTP 401)" in m for m in reached) and any("info/refs" in m for m in reached)
    left = setup.cluster.kubectl("get", "pods", "-n", setup.namespace, "-o", "name").stdout
    assert left == ""  # the probe pod is gone


def test_a_secret_without_items_gives_kaniko_no_config_json(setup: Setup) -> None:
    setup.secret()
    # the cluster's side of the pitfall: without items the file is .dockerconfigjson
    for name, items in (("plain", False), ("mapped", True)):
        made = setup.cluster.apply(_secret_pod(setup, name, items), "-n", setup.namespace)
        assert made.returncode == 0, made.stderr
        setup.cluster.wait_pod(setup.namespace, name)
    def files(pod: str) -> list[str]:  # without the kubelet's own ..data and ..<timestamp>
        listing = setup.cluster.kubectl("logs", "-n", setup.namespace, pod).stdout.split()
        return [name for name in listing if not name.startswith("..")]

    assert files("plain") == [".dockerconfigjson"]
    assert files("mapped") == ["config.json"]

    r = setup.doctor(setup.job(items=False))
    assert r.code == 1
    problem = r.finding("template.items", "problem")
    assert "/kaniko/.docker/.dockerconfigjson" in problem["message"]
    assert "Kaniko reads /kaniko/.docker/config.json" in problem["message"]
    assert "items: [{key: .dockerconfigjson, path: config.json}]" in problem["fix"]
    assert set(r.statuses("secret.auths")) == {"ok"}  # the secret itself is fine: only the layout is wrong


def test_a_missing_secret_is_named_with_the_command_that_creates_it(setup: Setup) -> None:
    # the cluster's side: the pod waits in FailedMount within seconds
    made = setup.cluster.apply(_secret_pod(setup, "nosecret", True), "-n", setup.namespace)
    assert made.returncode == 0, made.stderr
    assert any("harbor-auth" in m for m in _events(setup, "nosecret", "FailedMount"))

    job = setup.job()
    r = setup.doctor(job)
    assert r.code == 1
    problem = r.finding("secret.exists", "problem")
    assert f"secret 'harbor-auth' does not exist in namespace {setup.namespace}" in problem["message"]
    assert "FailedMount" in problem["message"]
    assert problem["fix"] == ("kubectl create secret docker-registry harbor-auth"
                              f" --namespace {setup.namespace}"
                              f" --docker-server={setup.registry} --docker-username=USER"
                              " --docker-password=PASSWORD")
    assert r.statuses("registry.push") == ["skipped"]
    setup.run_fix(problem["fix"])
    again = setup.doctor(job)
    assert again.code == 0, again.out
    assert again.statuses("secret.auths") == ["ok", "ok"] and again.statuses("registry.push") == ["ok"]


def test_a_wrong_password_or_registry_in_the_secret(setup: Setup) -> None:
    job = setup.job()
    setup.secret(password="wrong")
    r = setup.doctor(job)
    assert r.code == 1
    problem = r.finding("registry.push", "problem")
    assert "refuses user 'admin' (secret harbor-auth)" in problem["message"]

    setup.cluster.kubectl("delete", "secret", "harbor-auth", "-n", setup.namespace)
    setup.secret(server=f"127.0.0.1:{free_port()}")
    r = setup.doctor(job)
    problem = r.finding("secret.auths", "problem")
    assert f"not for {setup.registry}" in problem["message"]
    setup.run_fix(problem["fix"])
    assert setup.doctor(job).code == 0


def test_pod_security_restricted_is_quoted_and_fixed(setup: Setup) -> None:
    setup.secret()
    job = setup.job()
    labelled = setup.cluster.kubectl("label", "namespace", setup.namespace,
                                     "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.returncode == 0, labelled.stderr
    r = setup.doctor(job)
    assert r.code == 1
    problem = r.finding("admission.pod-security", "problem")
    assert "enforces 'restricted'" in problem["message"]
    assert 'violates PodSecurity "restricted:latest"' in problem["detail"]
    assert "allowPrivilegeEscalation != false" in problem["detail"] and '"kaniko"' in problem["detail"]
    setup.run_fix(problem["fix"])
    assert setup.doctor(job).statuses("admission.dry-run") == ["ok"]


def test_a_validating_admission_policy_is_quoted_and_fixed(setup: Setup) -> None:
    setup.secret()
    job = setup.job()
    name = f"doctor-{uuid.uuid4().hex[:8]}"
    message = "every container needs resources.limits"
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
              "metadata": {"name": name}, "spec": {
                  "failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                          "operations": ["CREATE"], "resources": ["pods"]}]},
                  "validations": [{
                      "expression": "object.spec.containers.all(c, has(c.resources)"
                                    " && has(c.resources.limits))",
                      "message": message}]}}
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
               "metadata": {"name": f"{name}-binding"}, "spec": {
                   "policyName": name, "validationActions": ["Deny"],
                   "matchResources": {"namespaceSelector": {"matchLabels": {
                       "kubernetes.io/metadata.name": setup.namespace}}}}}
    try:
        for manifest in (policy, binding):
            applied = setup.cluster.apply(manifest)
            assert applied.returncode == 0, applied.stderr
        r = until(lambda: setup.doctor(job), lambda r: "admission.policy" in r.out)  # policies load async
        assert r.code == 1
        problem = r.finding("admission.policy", "problem")
        assert f"ValidatingAdmissionPolicy '{name}' (binding '{name}-binding')" in problem["message"]
        assert message in problem["detail"]
        setup.run_fix(problem["fix"])
        fixed = until(lambda: setup.doctor(job), lambda r: r.code == 0)
        warning = fixed.finding("admission.warning", "warning")
        assert message in warning["message"]
    finally:
        setup.cluster.kubectl("delete", "validatingadmissionpolicybinding", f"{name}-binding")
        setup.cluster.kubectl("delete", "validatingadmissionpolicy", name)


def test_a_user_without_rbac_is_told_which_verbs(setup: Setup) -> None:
    setup.secret()
    job = setup.job()
    r = setup.doctor(job, kubeconfig=setup.cluster.user_kubeconfig)
    assert r.code == 1
    pods = r.finding("rbac.pods", "problem")
    assert pods["message"].startswith(f"{UNPRIVILEGED_USER} may not create, get, list, watch, delete pods"
                                      f" in namespace {setup.namespace}")
    for check, verbs in (("rbac.pods/exec", "create pods/exec"), ("rbac.pods/log", "get pods/log"),
                         ("rbac.events", "list, watch events"), ("rbac.secrets", "get secrets")):
        assert f"may not {verbs}" in r.finding(check, "problem")["message"]
    assert r.statuses("admission.dry-run") == ["skipped"]  # needs create pods
    # an executor that makes each build's pull secret from a credential needs more of secrets
    pulls = setup.doctor(job, kubeconfig=setup.cluster.user_kubeconfig,
                         env={"DOCKYARD_K8S_PULL_CREDENTIAL": "registry-login"})
    assert "may not get, create, patch secrets" in pulls.finding("rbac.secrets", "problem")["message"]
    assert set(r.statuses("secret.exists")) == {"skipped"}  # needs get secrets
    text = doctor("--url", setup.images.server.url, *login(), "--job", job, "--kubeconfig",
                  str(setup.cluster.user_kubeconfig), "--namespace", setup.namespace, home=setup.home)
    print(text.out)  # the terminal form, for the curious (pytest -s)
    assert text.code == 1 and text.out.splitlines()[-1].endswith("a build would fail: fix the problems above")
    assert f"PROBLEM    [rbac] {UNPRIVILEGED_USER} may not create pods/exec" in text.out
    assert "fix: as a cluster administrator:\n" in text.out
    assert f"     kubectl create role dockyard-build-pods --namespace {setup.namespace}" in text.out
    for check in ("rbac.pods", "rbac.pods/exec", "rbac.pods/log", "rbac.events", "rbac.secrets"):
        fix = r.finding(check, "problem")["fix"]
        assert f"--user={UNPRIVILEGED_USER}" in fix
        setup.run_fix(fix)
    again = setup.doctor(job, kubeconfig=setup.cluster.user_kubeconfig)
    assert again.code == 0, again.out
    assert again.statuses("admission.dry-run") == ["ok"]


def test_template_images_resolve_with_the_pull_secret_only(setup: Setup) -> None:
    setup.secret()
    image = setup.images.busybox  # in a private project
    good = setup.doctor(setup.job(image=image))
    assert good.code == 0, good.out
    resolved = good.finding("registry.image", "ok")["message"]
    assert f"image {image} resolves with secret dockyard-pull" in resolved
    assert "secret 'dockyard-pull'" in " ".join(f["message"] for f in good.json()["findings"]
                                                  if f["check"] == "secret.auths")
    bad = setup.doctor(setup.job(image=image, pull_secret=""))
    assert bad.code == 1
    problem = bad.finding("registry.image", "problem")
    assert f"image {image} cannot be resolved anonymously" in problem["message"]
    assert "imagePullSecrets" in problem["fix"]
    missing = setup.doctor(setup.job(image=image.replace("busybox", "nothing-here")))
    assert "does not exist in the registry" in missing.finding("registry.image", "problem")["message"]


def test_a_registry_pods_cannot_reach(setup: Setup) -> None:
    """The tutorial's addresses work from the host; a loopback one does not from a pod."""
    setup.secret()
    loopback = f"127.0.0.1:{setup.registry.rsplit(':', 1)[1]}"
    text = tutorial_jenkinsfile(setup.registry).replace(f"--destination={setup.registry}",
                                                        f"--destination={loopback}")
    job = repo_with_job(setup.images.server, ADMIN_USER, ADMIN_PASSWORD, text)[1]
    r = setup.doctor(job, "--probe-image", setup.images.busybox)
    assert r.code == 1
    problem = r.finding("network.reach", "problem")
    assert f"cannot reach http://{loopback}/v2/" in problem["message"]
    assert "refused" in problem["detail"].lower() or "timed out" in problem["detail"]


def test_a_build_namespace_that_does_not_exist(setup: Setup) -> None:
    missing = f"t-{uuid.uuid4().hex[:12]}"
    job = setup.job()
    r = doctor("--url", setup.images.server.url, *login(), "--job", job, "--kubeconfig",
               str(setup.cluster.kubeconfig), "--namespace", missing, "--agent-image", setup.images.busybox,
               "--json", home=setup.home)
    assert r.code == 1
    problem = r.finding("admission.dry-run", "problem")
    assert problem["message"] == f"namespace {missing} does not exist"
    assert problem["fix"] == f"kubectl create namespace {missing}"
    assert f"secret 'harbor-auth' does not exist in namespace {missing}" in r.out
    setup.run_fix(problem["fix"])
    try:
        fixed = until(lambda: doctor("--url", setup.images.server.url, *login(), "--job", job, "--kubeconfig",
                                     str(setup.cluster.kubeconfig), "--namespace", missing, "--json",
                                     home=setup.home),
                      lambda r: r.statuses("admission.dry-run") == ["ok"])
        assert fixed.statuses("admission.dry-run") == ["ok"], fixed.out
    finally:
        setup.cluster.kubectl("delete", "namespace", missing, "--wait=false")
