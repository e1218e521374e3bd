"""Issue 12, acceptance 1 and the first pitfall of 2: the tutorial's Jenkinsfile, unchanged except
for the registry address, runs as a real pod on the real test cluster.

One Dockyard on the cluster's gateway is git server, CI and registry; builds run on Kubernetes
(DOCKYARD_CI_EXECUTOR=kubernetes) with Dockyard's own image (`dockyard image self`, pushed to that
registry) as agent and as the Kaniko stand-in. The registry secret is made exactly as the tutorial
makes it (`kubectl create secret docker-registry harbor-auth`, B.3) and the cluster mounts it
through `items`. A push to notes-app produces `hello-kaniko:<sha>` and `:latest`, the image runs
(skopeo + umoci + runc) and prints "Hello from Kaniko", the build log shows the pod's events.
Then the pitfall: the same template without `items` mounts `.dockerconfigjson`, so the push gets
401, as on Jenkins.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.builder.images import busybox_context
from tests.ci.conftest import TUTORIAL, Jenkins, api_token, git
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, require_tool, start_server
from tests.image.fixtures import docker_config, push_dockyard_image
from tests.image.podlike import pod_config, run_pod
from tests.k8s.cluster import Cluster

pytestmark = pytest.mark.slow


def dockyard(*args: str, env: dict[str, str] | None = None) -> None:
    import os

    r = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=600)
    assert r.returncode == 0, f"dockyard {' '.join(args)}:\n{r.stdout}\n{r.stderr}"


def wait_build(http: httpx.Client, job: str, number: int, timeout: float = 600) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = http.get(f"/job/{job}/{number}/api/json")
        if r.status_code == 200 and r.json()["result"]:
            return r.json()["result"], http.get(f"/job/{job}/{number}/consoleText").text
        time.sleep(0.2)
    log = http.get(f"/job/{job}/{number}/consoleText").text
    raise AssertionError(f"build #{number} did not finish:\n{log}")


def test_tutorial_jenkinsfile_runs_as_a_pod_and_the_items_pitfall_gives_401(
        k8s_cluster: Cluster, k8s_namespace: str, tmp_path: Path) -> None:
    for tool in ("skopeo", "umoci", "runc", "busybox"):
        require_tool(tool)
    server = start_server(tmp_path / "data", host=k8s_cluster.gateway, env={
        "DOCKYARD_CI_EXECUTOR": "kubernetes",
        "DOCKYARD_K8S_KUBECONFIG": str(k8s_cluster.kubeconfig),
        "DOCKYARD_K8S_NAMESPACE": k8s_namespace,
        "DOCKYARD_K8S_PULL_CREDENTIAL": "dockyard-registry",
        # agent and executor image: the default, Dockyard's own image in its own registry
    })
    try:
        hp = server.host_port
        k8s_cluster.trust_registry(hp)
        auth_dir = docker_config(tmp_path / "docker", hp)
        push_dockyard_image(hp, auth_dir)
        conn = ["--url", server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD]
        dockyard("credentials", *conn, "add-docker-registry", "dockyard-registry", "--server", hp,
                 "--username", ADMIN_USER, "--password", ADMIN_PASSWORD)
        # the tutorial's alpine base, offline: a busybox image in the registry
        base = f"{hp}/library/busybox:1"
        dockyard("image", "import", "--rootfs", str(busybox_context(tmp_path / "base") / "rootfs"),
                 "--destination", base, "--insecure", env={"DOCKER_CONFIG": str(auth_dir)})
        # B.3 unchanged (the build namespace instead of `jenkins`)
        made = k8s_cluster.kubectl("create", "secret", "docker-registry", "harbor-auth",
                                   "--namespace", k8s_namespace, f"--docker-server={hp}",
                                   f"--docker-username={ADMIN_USER}", f"--docker-password={ADMIN_PASSWORD}")
        assert made.returncode == 0, made.stderr

        server.add_user("bootcamp", "bootcamp")
        r = httpx.post(f"{server.url}/api/v1/user/repos", auth=("bootcamp", "bootcamp"),
                       json={"name": "notes-app", "private": False, "auto_init": True,
                             "default_branch": "main"})
        assert r.status_code == 201, r.text
        ci = Jenkins(server, api_token(server))
        ci.create("hello-kaniko", (TUTORIAL / "job.xml").read_text().replace("10.0.24.28:30022", hp))

        work = tmp_path / "notes-app"
        git("clone", "-q", f"http://bootcamp:bootcamp@{hp}/bootcamp/notes-app.git", str(work), cwd=tmp_path)
        (work / "Dockerfile").write_text(
            (TUTORIAL / "Dockerfile").read_text().replace("FROM alpine:3.20", f"FROM {base}"))
        jenkinsfile = (TUTORIAL / "Jenkinsfile").read_text().replace("10.0.24.28:30002", hp)
        (work / "Jenkinsfile").write_text(jenkinsfile)
        git("add", "Dockerfile", "Jenkinsfile", cwd=work)
        git("commit", "-q", "-m", "hello kaniko", cwd=work)
        pushed = time.monotonic()
        git("push", "-q", "origin", "main", cwd=work)
        short = git("rev-parse", "--short", "HEAD", cwd=work).strip()

        http = httpx.Client(base_url=server.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
        result, log = wait_build(http, "hello-kaniko", 1)
        took = time.monotonic() - pushed
        assert result == "SUCCESS", log
        assert f"[Normal][{k8s_namespace}/dockyard-hello-kaniko-1-" in log and "[Scheduled]" in log
        assert "runs as Dockyard's executor image" in log
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json,"
                            "application/vnd.docker.distribution.manifest.v2+json"}
        for tag in (short, "latest"):
            m = http.head(f"/v2/bootcamp/hello-kaniko/manifests/{tag}", headers=accept)
            assert m.status_code == 200, (tag, m.status_code, log)
        print(f"\npush -> both tags on Kubernetes: {took:.1f} s")
        # the builder's spans, written in the pod, reach the build's trace
        table = subprocess.run([sys.executable, "-m", "dockyard", "trace", "hello-kaniko", "1", "--url",
                                server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD],
                               capture_output=True, text=True, timeout=60).stdout
        assert "| agent ready |" in table and f"| pull: {base} |" in table, table
        assert f"| push: {hp}/****/hello-kaniko:latest |" in table, table

        # the image runs and prints the tutorial's line
        layout = tmp_path / "hello-oci"
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--src-creds",
                        f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"docker://{hp}/bootcamp/hello-kaniko:{short}",
                        f"oci:{layout}:hello"], check=True, timeout=300)
        bundle = tmp_path / "hello-bundle"
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:hello", str(bundle)], check=True,
                       capture_output=True, timeout=300)
        pod_config(bundle, ["cat", "/hello.txt"], cwd="/")
        ran = run_pod(bundle, f"k8sexec-hello-{short}")
        assert ran.stdout == "Hello from Kaniko\n", ran.stderr

        # the pitfall: no `items`, so /kaniko/.docker holds .dockerconfigjson, not config.json
        no_items = jenkinsfile.replace("      items: [{key: .dockerconfigjson, path: config.json}]\n", "")
        assert no_items != jenkinsfile
        (work / "Jenkinsfile").write_text(no_items)
        git("commit", "-q", "-am", "no items", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        result, log = wait_build(http, "hello-kaniko", 2)
        assert result == "FAILURE", log
        assert "401" in log, log

        # fixed again: the loop on a node that has Dockyard's image already
        (work / "Jenkinsfile").write_text(jenkinsfile)
        git("commit", "-q", "-am", "items again", cwd=work)
        pushed = time.monotonic()
        git("push", "-q", "origin", "main", cwd=work)
        result, log = wait_build(http, "hello-kaniko", 3)
        assert result == "SUCCESS", log
        print(f"push -> both tags on Kubernetes, image cached on the node: {time.monotonic() - pushed:.1f} s")
    finally:
        server.stop()
