"""The tutorial's sections B and C through Dockyard's CI, end to end on one server:

B.3 `dockyard credentials add-docker-registry harbor-auth` (the kubectl secret), C.2 crumb +
cookie jar + createItem with the tutorial's job.xml (host:port changed), a `git push` of the
tutorial's Dockerfile and Jenkinsfile (registry address changed; offline, FROM a local busybox
base) to Dockyard's git server, the push event starts the job, the Kaniko pod template runs
`/kaniko/executor` (Dockyard's builder) with the harbor-auth secret at
/kaniko/.docker/config.json, both tags land in the registry, the C.5 Harbor check matches, and
`dockyard trace` prints the C.5 table.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import TUTORIAL, git
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("dockyard.credentials") is None,
        reason="needs dockyard.credentials (the harbor-auth secret), merged separately",
    ),
]


def _dockyard(*args: str, env: dict[str, str] | None = None) -> str:
    import os

    r = subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert r.returncode == 0, f"dockyard {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.mark.parametrize("platforms", [None, "linux/amd64,linux/arm64"],
                         ids=["one-platform", "two-platforms"])
def test_tutorial_push_to_image_through_ci(
    fresh_server: DockyardServer, tmp_path: Path, platforms: str | None
) -> None:
    """With `platforms`, the Kaniko step adds --custom-platform with both: the tags name ONE
    index (its arm64 RUN under qemu-user), which the C.5 check counts as one artifact."""
    from tests.builder.conftest import namespaces_available
    from tests.builder.images import busybox_context

    reason = namespaces_available()
    if reason:
        pytest.skip(reason)
    for tool in ("curl", "busybox"):
        require_tool(tool)
    server = fresh_server
    hp = server.host_port
    admin = (ADMIN_USER, ADMIN_PASSWORD)
    server.add_user("bootcamp", "bootcamp")

    # A.3: the repository, through the Gitea API as the tutorial does
    r = httpx.post(
        f"{server.url}/api/v1/user/repos",
        auth=("bootcamp", "bootcamp"),
        json={"name": "notes-app", "private": False, "auto_init": True, "default_branch": "main"},
    )
    assert r.status_code == 201, r.text

    # B.3: the registry credential, Dockyard's `kubectl create secret docker-registry harbor-auth
    # -n <build namespace>`: stored in the repository owner's namespace, so bootcamp's jobs bind it
    conn = ["--url", server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD]
    _dockyard(
        "credentials",
        *conn,
        "add-docker-registry",
        "harbor-auth",
        "--owner",
        "bootcamp",
        "--server",
        hp,
        "--username",
        ADMIN_USER,
        "--password",
        ADMIN_PASSWORD,
    )

    # offline stand-in for alpine:3.20: a busybox base image imported into the registry
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    import base64

    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {hp: {"auth": auth}}}))
    base = f"{hp}/library/busybox:1"
    if platforms:  # an index of amd64 and arm64 busybox images, Debian's for arm64
        from tests.builder.multiarch import ensure_qemu_binfmt, push_bases

        reason = ensure_qemu_binfmt("aarch64")
        if reason:
            pytest.skip(reason)
        env = {"DOCKER_CONFIG": str(docker_dir), "DOCKYARD_CACHE_DIR": str(tmp_path / "cache")}
        base = push_bases(hp, "library/busybox", env, tmp_path / "bases")["multi"]
    else:
        rootfs = busybox_context(tmp_path / "base") / "rootfs"
        _dockyard(
            "image",
            "import",
            "--rootfs",
            str(rootfs),
            "--destination",
            base,
            "--insecure",
            env={"DOCKER_CONFIG": str(docker_dir)},
        )

    # C.2: crumb + cookie jar, then createItem with the tutorial's job.xml (host:port changed)
    cookie = str(tmp_path / "jenkins-cookie")
    job_xml = tmp_path / "job.xml"
    job_xml.write_text((TUTORIAL / "job.xml").read_text().replace("10.0.24.28:30022", hp))
    crumb = subprocess.run(
        [
            "curl",
            "-sS",
            "-c",
            cookie,
            "-b",
            cookie,
            "-u",
            "admin:bootcamp",
            f"{server.url}/crumbIssuer/api/xml?xpath=concat(//crumbRequestField,%22:%22,//crumb)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    created = subprocess.run(
        [
            "curl",
            "-sS",
            "-c",
            cookie,
            "-b",
            cookie,
            "-u",
            "admin:bootcamp",
            "-X",
            "POST",
            "-H",
            crumb,
            "-H",
            "Content-Type:application/xml",
            "--data-binary",
            f"@{job_xml}",
            "-w",
            "%{http_code}",
            f"{server.url}/createItem?name=hello-kaniko",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert created == "200"

    # C.1: push the Dockerfile and the Jenkinsfile (registry address -> Dockyard, base -> local)
    work = tmp_path / "notes-app"
    git("clone", "-q", f"http://bootcamp:bootcamp@{hp}/bootcamp/notes-app.git", str(work), cwd=tmp_path)
    (work / "Dockerfile").write_text(
        (TUTORIAL / "Dockerfile").read_text().replace("FROM alpine:3.20", f"FROM {base}")
    )
    jenkinsfile = (TUTORIAL / "Jenkinsfile").read_text().replace("10.0.24.28:30002", hp)
    if platforms:
        jenkinsfile = jenkinsfile.replace("--insecure --skip-tls-verify",
                                          f"--custom-platform={platforms} --insecure --skip-tls-verify")
    (work / "Jenkinsfile").write_text(jenkinsfile)
    git("add", "Dockerfile", "Jenkinsfile", cwd=work)
    git("commit", "-q", "-m", "hello kaniko", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    pushed = time.monotonic()
    sha = git("rev-parse", "HEAD", cwd=work).strip()
    short = git("rev-parse", "--short", "HEAD", cwd=work).strip()

    # the push event started build #1; wait for both tags
    http = httpx.Client(base_url=server.url, auth=admin, timeout=30)
    deadline = time.monotonic() + 240
    info = None
    while time.monotonic() < deadline:
        r = http.get("/job/hello-kaniko/1/api/json")
        if r.status_code == 200 and r.json()["result"]:
            info = r.json()
            break
        time.sleep(0.1)
    log = http.get("/job/hello-kaniko/1/consoleText").text
    assert info is not None and info["result"] == "SUCCESS", log
    took = time.monotonic() - pushed
    # the job URL embeds bootcamp:bootcamp, so "bootcamp" is a secret and masked everywhere
    assert f"to main ({sha[:12]})" in log and "bootcamp" not in log
    assert ADMIN_PASSWORD not in log.replace("admin:bootcamp", "") and auth not in log
    for tag in (short, "latest"):
        m = http.head(
            f"/v2/bootcamp/hello-kaniko/manifests/{tag}",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json,"
                "application/vnd.oci.image.index.v1+json,"
                "application/vnd.docker.distribution.manifest.v2+json"
            },
        )
        assert m.status_code == 200, (tag, m.status_code)
        kind = "index" if platforms else "manifest"
        assert m.headers["content-type"] == f"application/vnd.oci.image.{kind}.v1+json", log
    if platforms:
        index = http.get(
            f"/v2/bootcamp/hello-kaniko/manifests/{short}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        ).json()
        assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
        assert "[linux/arm64]     RUN for linux/arm64 runs under " in log, log  # qemu-user

    # CI reported pending, then success, on the pushed commit through the git server's statuses
    statuses = http.get(f"/api/v1/repos/bootcamp/notes-app/statuses/{sha}").json()
    states = sorted(st["status"] if "status" in st else st["state"] for st in statuses)
    assert states == ["pending", "success"]
    assert all(st["context"] == "dockyard/hello-kaniko" for st in statuses)

    # C.5: the Harbor check, unchanged except host and port
    repos = http.get("/api/v2.0/projects/bootcamp/repositories").json()
    assert [{"name": r["name"], "artifact_count": r["artifact_count"]} for r in repos] == [
        {"name": "bootcamp/hello-kaniko", "artifact_count": 1}
    ]

    table = _dockyard("trace", "hello-kaniko", "1", *conn)
    assert "| queued |" in table and "| checkout |" in table and "| Build and Push |" in table
    assert (
        f"| pull: {base} |" in table and '| instruction: RUN echo "Hello from Kaniko" > /hello.txt |' in table
    )
    assert f"| push: {hp}/****/hello-kaniko:{short} |" in table  # "bootcamp" is masked: a secret here
    assert f"| push: {hp}/****/hello-kaniko:latest |" in table
    print(f"\npush -> both tags: {took:.2f}s\n{table}")
