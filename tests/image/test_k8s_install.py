"""Dockyard installed into the real test cluster (tests/k8s) with `kubectl apply -k` of an overlay
on deploy/kubernetes, from its own image (built by `dockyard image self`, pulled by containerd
from a Dockyard registry on the host), in a namespace that enforces Pod Security `restricted`.

The cluster has no storage provisioner: the test makes a hostPath PersistentVolume bound to the
StatefulSet's claim (what a provisioner would do). There is no kube-proxy either: the host
reaches the server at its pod IP on the cluster's bridge."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard import __version__
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer
from tests.doctor.helpers import admin_http
from tests.image.fixtures import REPO, docker_config, push_dockyard_image
from tests.k8s.cluster import Cluster
from tests.k8s.images import PodImages

pytestmark = pytest.mark.slow
BASE = REPO_ROOT / "deploy" / "kubernetes"
CREDS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
RESTRICTED = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}


def objects(text: str) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML

    return [o for o in YAML(typ="safe", pure=True).load_all(text) if o]


def kustomize(cluster: Cluster, directory: Path) -> list[dict[str, Any]]:
    built = cluster.kubectl("kustomize", str(directory))
    assert built.returncode == 0, built.stderr
    return objects(built.stdout)


def write_overlay(directory: Path, namespace: str, image: str, extra: dict[str, Any]) -> Path:
    name, _, tag = image.rpartition(":")
    overlay = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
               "resources": [os.path.relpath(BASE, directory)], "namespace": namespace,
               "images": [{"name": f"{REPO}", "newName": name, "newTag": tag}], **extra}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(json.dumps(overlay))
    return directory


def test_manifests_command_renders_what_kustomize_builds(k8s_cluster: Cluster, tmp_path: Path) -> None:
    """`dockyard k8s manifests` and `kubectl kustomize` of the same values agree, object by object."""
    image = "registry.example:5000/dockyard/dockyard:7"
    overlay = write_overlay(tmp_path / "overlay", "dy", image, {})
    expected = kustomize(k8s_cluster, overlay)
    printed = subprocess.run([sys.executable, "-m", "dockyard", "k8s", "manifests", "--namespace", "dy",
                              "--image", image], capture_output=True, text=True, check=True).stdout
    out = k8s_cluster.kubectl("create", "--dry-run=client", "-f", "-", input=printed)
    assert out.returncode == 0, out.stderr  # valid objects for the API
    got = objects(printed)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    kinds = sorted(o["kind"] for o in got)
    assert kinds == ["Role", "RoleBinding", "Service", "ServiceAccount", "StatefulSet"]
    for obj in got:  # every container has requests and limits and the restricted settings
        if obj["kind"] == "StatefulSet":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert {"requests", "limits"} <= set(container["resources"])
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    tutorial = kustomize(k8s_cluster, REPO_ROOT / "deploy" / "overlays" / "tutorial-ports")
    node_ports = sorted(p["nodePort"] for o in tutorial if o["kind"] == "Service"
                        for p in o["spec"]["ports"] if "nodePort" in p)
    assert node_ports == [30002, 30022, 30808]
    policy = k8s_cluster.kubectl("apply", "--dry-run=server", "-n", "default", "-f",
                                 str(BASE / "examples" / "networkpolicy.yaml"))
    assert policy.returncode == 0 and policy.stdout.count("created (server dry run)") == 2, policy.stderr


class InCluster:
    """The installed server at its current pod IP (found again after the pod is replaced)."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def pod(self) -> dict[str, Any]:
        got = self.cluster.kubectl("get", "pod", "-n", self.namespace, "dockyard-0", "-o", "json")
        assert got.returncode == 0, got.stderr
        return dict(json.loads(got.stdout))

    def ready(self, timeout: float = 240) -> DockyardServer:
        pod = self.cluster.wait_pod(self.namespace, "dockyard-0", "Running", timeout=timeout)
        ip = pod["status"]["podIP"]
        url = f"http://{ip}:8080"
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
        # the test helpers' view of a server: its URL and address (the process is the pod)
        return DockyardServer(url, f"{ip}:8080", Path("/nonexistent"), None, Path("/dev/null"))  # type: ignore[arg-type]


def data_volume(cluster: Cluster, ns: str, root: Path) -> str:
    """What a provisioner would make for the StatefulSet's claim: a hostPath PV bound to
    `data-dockyard-0` of `ns`, owned by the server's uid; its StorageClass name."""
    data = root / "pv"
    data.mkdir(mode=0o700)
    os.chown(data, 65532, 65532)
    storage_class = f"dockyard-{ns}"
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{ns}"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Retain", "storageClassName": storage_class,
                   "hostPath": {"path": str(data), "type": "Directory"},
                   "claimRef": {"namespace": ns, "name": "data-dockyard-0"}}}
    applied = cluster.apply(pv)
    assert applied.returncode == 0, applied.stderr
    return storage_class


def prepare(cluster: Cluster, ns: str, registry: PodImages, root: Path) -> tuple[str, str, str]:
    """A restricted namespace with the admin Secret and a pull secret, Dockyard's image in the
    host's registry, the data volume: (image, pull secret, storage class)."""
    labels = [f"{k}={v}" for k, v in RESTRICTED.items()]
    assert cluster.kubectl("label", "namespace", ns, *labels).returncode == 0
    host = registry.server.host_port
    image = push_dockyard_image(host, docker_config(root / "docker", host))
    pull = registry.pull_secret(cluster, ns)
    made = cluster.kubectl("create", "secret", "generic", "dockyard-admin", "-n", ns,
                           f"--from-literal=password={ADMIN_PASSWORD}")
    assert made.returncode == 0, made.stderr
    return image, pull, data_volume(cluster, ns, root)


def replace_pod(cluster: Cluster, server: InCluster) -> DockyardServer:
    """Deletes the server's pod; the StatefulSet's new one, once ready."""
    uid = server.pod()["metadata"]["uid"]
    deleted = cluster.kubectl("delete", "pod", "-n", server.namespace, "dockyard-0", "--wait=true")
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 120
    while True:
        got = cluster.kubectl("get", "pod", "-n", server.namespace, "dockyard-0", "-o", "json")
        if got.returncode == 0 and json.loads(got.stdout)["metadata"]["uid"] != uid:
            return server.ready()
        assert time.monotonic() < deadline, "the StatefulSet did not replace the pod"
        time.sleep(0.5)


def test_install_restricted_namespace_and_data_survives_the_pod(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages, tmp_path: Path) -> None:
    cluster, ns = k8s_cluster, k8s_namespace
    image, pull, storage_class = prepare(cluster, ns, k8s_registry, tmp_path)
    try:
        claim = "/spec/volumeClaimTemplates/0/spec"
        patches = [
            {"target": {"kind": "StatefulSet", "name": "dockyard"}, "patch": json.dumps([
                {"op": "add", "path": f"{claim}/storageClassName", "value": storage_class},
                {"op": "replace", "path": f"{claim}/resources/requests/storage", "value": "1Gi"}])},
            {"target": {"kind": "ServiceAccount", "name": "dockyard"}, "patch": json.dumps([
                {"op": "add", "path": "/imagePullSecrets", "value": [{"name": pull}]}])},
        ]
        overlay = write_overlay(tmp_path / "overlay", ns, image, {"patches": patches})
        applied = cluster.kubectl("apply", "-k", str(overlay))
        assert applied.returncode == 0, applied.stderr
        assert "violate" not in applied.stderr, applied.stderr
        server = InCluster(cluster, ns)
        first = server.ready()
        assert server.pod()["spec"]["containers"][0]["image"] == image
        # PSS restricted is enforced on the namespace: the running pod passed admission
        relabel = cluster.kubectl("label", "--dry-run=server", "--overwrite", "namespace", ns,
                                  "pod-security.kubernetes.io/enforce=restricted")
        assert relabel.returncode == 0 and "Warning" not in relabel.stderr, relabel.stderr

        # repositories, images and build history
        with first.client() as http:
            made = http.post("/api/v1/user/repos", json={"name": "notes-app", "auto_init": True})
            assert made.status_code == 201, made.text
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                        "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                        "--dest-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                        f"docker://{k8s_registry.busybox}", f"docker://{first.host_port}/bootcamp/busybox:1"],
                       check=True, capture_output=True, timeout=300)
        with admin_http(first) as http:
            xml = (REPO_ROOT / "tests" / "fixtures" / "tutorial" / "job.xml").read_text()
            assert http.post("/createItem", params={"name": "hello"}, content=xml,
                             headers={"Content-Type": "application/xml"}).status_code == 200
            assert http.post("/job/hello/build").status_code in (200, 201)
        with first.client() as http:
            deadline = time.monotonic() + 60
            while http.get("/job/hello/1/api/json").status_code != 200:
                assert time.monotonic() < deadline, "build 1 never appeared"
                time.sleep(0.5)

        def kept(now: DockyardServer) -> None:
            with now.client() as http:
                assert http.get("/api/v1/repos/admin/notes-app").status_code == 200
                assert http.get("/job/hello/1/api/json").status_code == 200
            tags = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", "--creds", CREDS,
                                   f"docker://{now.host_port}/bootcamp/busybox"],
                                  check=True, capture_output=True, text=True).stdout
            assert json.loads(tags)["Tags"] == ["1"]

        kept(replace_pod(cluster, server))
        # an upgrade: a new image tag rolls the StatefulSet; the claim stays
        registry = k8s_registry.server.host_port
        upgraded = push_dockyard_image(registry, docker_config(tmp_path / "docker", registry), "upgrade")
        uid = server.pod()["metadata"]["uid"]
        overlay = write_overlay(tmp_path / "overlay", ns, upgraded, {"patches": patches})
        applied = cluster.kubectl("apply", "-k", str(overlay))
        assert applied.returncode == 0, applied.stderr
        deadline = time.monotonic() + 180
        while True:
            got = cluster.kubectl("get", "pod", "-n", ns, "dockyard-0", "-o", "json")
            pod = json.loads(got.stdout) if got.returncode == 0 else {}
            if pod and pod["metadata"]["uid"] != uid and pod["spec"]["containers"][0]["image"] == upgraded:
                break
            assert time.monotonic() < deadline, "the StatefulSet did not roll to the new image"
            time.sleep(0.5)
        kept(server.ready())
        assert __version__ in image
        token = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
        logs = cluster.kubectl("logs", "-n", ns, "dockyard-0").stdout
        assert ADMIN_PASSWORD not in logs and token not in logs
    finally:
        cluster.kubectl("delete", "namespace", ns, "--wait=true", timeout=120)
        cluster.kubectl("delete", "pv", f"pv-{ns}")


def test_tutorial_loop_in_cluster_with_builds_as_pods(
        k8s_cluster: Cluster, k8s_namespace: str, k8s_registry: PodImages, tmp_path: Path) -> None:
    """Acceptance 4: Dockyard in a restricted namespace (`dockyard k8s manifests`), builds as
    pods of the Kubernetes executor in a baseline namespace; the tutorial's Jenkinsfile
    (registry address changed) builds and pushes to the in-cluster registry, the image runs;
    the build, its image and the repository survive the server's pod."""
    from tests.doctor.helpers import repo_with_job, tutorial_jenkinsfile
    from tests.image.podlike import pod_config, run_pod
    from tests.image.test_self_image import unpack

    cluster, ns = k8s_cluster, k8s_namespace
    builds = f"{ns}-builds"
    assert cluster.kubectl("create", "namespace", builds).returncode == 0
    assert cluster.kubectl("label", "namespace", builds,
                           "pod-security.kubernetes.io/enforce=baseline").returncode == 0
    image, pull, storage_class = prepare(cluster, ns, k8s_registry, tmp_path)
    try:
        printed = subprocess.run(
            [sys.executable, "-m", "dockyard", "k8s", "manifests", "--namespace", ns, "--image", image,
             "--storage-size", "1Gi", "--storage-class", storage_class, "--image-pull-secret", pull,
             "--build-namespace", builds, "--public-url", "http://$(POD_IP):8080",
             "--env", "DOCKYARD_CI_EXECUTOR=kubernetes"], capture_output=True, text=True, check=True).stdout
        applied = cluster.kubectl("apply", "-f", "-", input=printed)
        assert applied.returncode == 0 and "violate" not in applied.stderr, applied.stderr
        server = InCluster(cluster, ns)
        first = server.ready()
        own = first.host_port  # the in-cluster registry, as pods and containerd reach it
        cluster.trust_registry(own)
        with first.client() as http:  # Dockyard's image and the base: public, pods pull anonymously
            for project in ("dockyard", "library"):
                made = http.post("/api/v2.0/projects", json={"project_name": project,
                                                              "metadata": {"public": "true"}})
                assert made.status_code == 201, made.text
        push_dockyard_image(own, docker_config(tmp_path / "own-docker", own))
        base = f"{own}/library/busybox:1"
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                        "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                        "--dest-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
                        f"docker://{k8s_registry.busybox}", f"docker://{base}"],
                       check=True, capture_output=True, timeout=300)
        secret = cluster.kubectl("create", "secret", "docker-registry", "harbor-auth", "-n", builds,
                                 f"--docker-server={own}", f"--docker-username={ADMIN_USER}",
                                 f"--docker-password={ADMIN_PASSWORD}")
        assert secret.returncode == 0, secret.stderr

        repo, job = repo_with_job(first, ADMIN_USER, ADMIN_PASSWORD, tutorial_jenkinsfile(own))
        dockerfile = (REPO_ROOT / "tests" / "fixtures" / "tutorial" / "Dockerfile").read_text()
        content = base64.b64encode(dockerfile.replace("FROM alpine:3.20", f"FROM {base}").encode())
        with first.client() as http:
            added = http.post(f"/api/v1/repos/{repo}/contents/Dockerfile",
                              json={"content": content.decode(), "message": "Dockerfile"})
            assert added.status_code == 201, added.text
        with admin_http(first) as http:
            assert http.post(f"/job/{job}/build").status_code in (200, 201)
        with first.client() as http:
            deadline = time.monotonic() + 420
            info: dict[str, Any] = {}
            while not info.get("result"):
                assert time.monotonic() < deadline, "the build did not finish"
                got = http.get(f"/job/{job}/1/api/json")
                info = got.json() if got.status_code == 200 else {}
                time.sleep(1)
            log = http.get(f"/job/{job}/1/consoleText").text
        assert info["result"] == "SUCCESS", log
        assert f"build pod {builds}/" in log, log
        assert "[Normal]" in log and "Scheduled" in log, log  # the pod's events in the build log
        assert "RUN mode:" in log, log  # chroot, or the sandbox where the pod allows namespaces
        tags = json.loads(subprocess.run(
            ["skopeo", "list-tags", "--tls-verify=false", "--creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
             f"docker://{own}/bootcamp/hello-kaniko"], check=True, capture_output=True, text=True).stdout)
        assert "latest" in tags["Tags"] and len(tags["Tags"]) == 2, tags
        hello = unpack(f"{own}/bootcamp/hello-kaniko:latest", tmp_path, "hello")
        pod_config(hello, ["cat", "/hello.txt"], cwd="/")
        ran = run_pod(hello, f"k8simage-incluster-{os.getpid()}")
        assert ran.stdout == "Hello from Kaniko\n", ran.stderr

        second = replace_pod(cluster, server)
        with second.client() as http:
            assert http.get(f"/job/{job}/1/api/json").json()["result"] == "SUCCESS"
            assert http.get(f"/api/v1/repos/{repo}").status_code == 200
        cluster.trust_registry(second.host_port)
        tags_after = json.loads(subprocess.run(
            ["skopeo", "list-tags", "--tls-verify=false", "--creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}",
             f"docker://{second.host_port}/bootcamp/hello-kaniko"], check=True, capture_output=True,
            text=True).stdout)
        assert sorted(tags_after["Tags"]) == sorted(tags["Tags"])
    finally:
        cluster.kubectl("delete", "namespace", builds, "--wait=false")
        cluster.kubectl("delete", "namespace", ns, "--wait=true", timeout=120)
        cluster.kubectl("delete", "pv", f"pv-{ns}")
