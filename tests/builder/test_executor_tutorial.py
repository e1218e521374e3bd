"""Acceptance: the tutorial's Kaniko command line, with only the binary's name changed,
builds the tutorial's Dockerfile (FROM a busybox base made with `dockyard image import`)
and pushes both tags into CNCF docker-registry; skopeo + umoci + runc run the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builder.images import busybox_context, dockyard
from tests.conftest import REPO_ROOT, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]

TUTORIAL = REPO_ROOT / "tests" / "fixtures" / "tutorial"


def tutorial_file(name: str) -> str:
    return (TUTORIAL / name).read_text()


def executor_script(jenkinsfile: str) -> str:
    """The `sh '''...'''` body of the Jenkinsfile, `/kaniko/executor` -> `dockyard executor`."""
    body = jenkinsfile.split("sh '''", 1)[1].split("'''", 1)[0]
    return body.replace("\\\\\n", "\\\n").replace("/kaniko/executor", "dockyard executor")


def test_tutorial_build_push_and_run(docker_registry: str, tmp_path: Path) -> None:
    for tool in ("skopeo", "umoci", "runc"):
        require_tool(tool)
    base_rootfs = busybox_context(tmp_path / "base") / "rootfs"
    base = f"{docker_registry}/library/busybox:1"
    dockyard("image", "import", "--rootfs", str(base_rootfs), "--destination", base,
             "--cmd", '["sh"]')
    workspace = tmp_path / "notes-app"
    workspace.mkdir()
    dockerfile = tutorial_file("Dockerfile").replace("FROM alpine:3.20", f"FROM {base}")
    (workspace / "Dockerfile").write_text(dockerfile)
    script = executor_script(tutorial_file("Jenkinsfile")).replace("10.0.24.28:30002",
                                                                    docker_registry)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dockyard").write_text(f"#!/bin/sh\nexec {sys.executable} -m dockyard \"$@\"\n")
    (bin_dir / "dockyard").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run(["sh", "-c", script], cwd=workspace, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "--insecure --skip-tls-verify" in script and script.count("--destination=") == 2

    tags = json.loads(subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false",
         f"docker://{docker_registry}/bootcamp/hello-kaniko"],
        capture_output=True, text=True, check=True).stdout)["Tags"]
    assert sorted(tags) == ["dev", "latest"]

    layout = tmp_path / "pulled"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                    f"docker://{docker_registry}/bootcamp/hello-kaniko:latest",
                    f"oci:{layout}:latest"], capture_output=True, check=True)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)],
                   capture_output=True, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    run = subprocess.run(["runc", "run", f"dockyard-test-{os.getpid()}"], cwd=bundle,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "Hello from Kaniko", run.stderr


def test_cache_repo_shares_layers_between_ephemeral_pods(docker_registry: str,
                                                         tmp_path: Path) -> None:
    """Section C.4: `--cache=true --cache-repo=... --cache-ttl=168h`; each run gets an empty
    local cache dir (a fresh pod) and still reuses the layers through the registry."""
    base = f"{docker_registry}/library/busybox:cache"
    dockyard("image", "import", "--rootfs", str(busybox_context(tmp_path / "base") / "rootfs"),
             "--destination", base)
    context = tmp_path / "app"
    context.mkdir()
    (context / "lib.txt").write_text("lib\n")
    (context / "Dockerfile").write_text(
        f"FROM {base}\nCOPY lib.txt /lib.txt\nRUN cat /lib.txt > /built.txt\n")

    def pod(n: int) -> str:
        return dockyard("executor", "--cache=true",
                        f"--cache-repo={docker_registry}/bootcamp/kaniko-cache",
                        "--cache-ttl=168h", "--dockerfile=Dockerfile", f"--context={context}",
                        f"--destination={docker_registry}/bootcamp/cached:{n}",
                        f"--cache-dir={tmp_path / f'pod-{n}'}", "--insecure").stderr

    assert "(cached)" not in pod(1)
    second = pod(2)
    assert "COPY lib.txt /lib.txt (cached)" in second
    assert "RUN cat /lib.txt > /built.txt (cached)" in second


def test_push_with_the_tutorials_docker_config_secret(tmp_path: Path) -> None:
    """The Jenkinsfile mounts the `harbor-auth` secret (a .dockerconfigjson) as
    /kaniko/.docker/config.json; here DOCKER_CONFIG points at the same file. Without it
    the push is refused with a clear error; the password never appears in the output."""
    import base64
    import warnings

    from tests.builder.conftest import start_docker_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = pytest.importorskip("crypt", reason="bcrypt for htpasswd needs the crypt module")

    password = "bootcamp-s3cret"
    entry = "admin:" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)) + "\n"
    registry_root = tmp_path / "registry"
    registry_root.mkdir()
    host, process = start_docker_registry(registry_root, htpasswd=entry)
    try:
        context = tmp_path / "app"
        context.mkdir()
        (context / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
        args = ("executor", "--dockerfile=Dockerfile", f"--context={context}",
                f"--destination={host}/bootcamp/hello-kaniko:latest", "--insecure",
                "--skip-tls-verify", f"--cache-dir={tmp_path / 'cache'}")
        empty = tmp_path / "no-creds"
        empty.mkdir()
        refused = dockyard(*args, check=False, env={"DOCKER_CONFIG": str(empty)})
        assert refused.returncode == 1
        assert "requires a user name" in refused.stderr and "config.json" in refused.stderr
        docker_config = tmp_path / "kaniko-docker"
        docker_config.mkdir()
        auth = base64.b64encode(f"admin:{password}".encode()).decode()
        (docker_config / "config.json").write_text(json.dumps(
            {"auths": {host: {"username": "admin", "password": password, "auth": auth}}}))
        pushed = dockyard(*args, env={"DOCKER_CONFIG": str(docker_config)})
        assert password not in pushed.stdout + pushed.stderr and auth not in pushed.stderr
        listed = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", "--creds",
                                 f"admin:{password}", f"docker://{host}/bootcamp/hello-kaniko"],
                                capture_output=True, text=True, check=True)
        assert json.loads(listed.stdout)["Tags"] == ["latest"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_unchanged_tutorial_dockerfile_through_a_registry_mirror(docker_registry: str,
                                                                 tmp_path: Path) -> None:
    """Offline, a mirror stands in for Docker Hub: the tutorial's Dockerfile, `FROM
    alpine:3.20` untouched, builds with `--registry-mirror` pointing at a registry that
    holds a busybox image under library/alpine:3.20."""
    dockyard("image", "import", "--rootfs", str(busybox_context(tmp_path / "base") / "rootfs"),
             "--destination", f"{docker_registry}/library/alpine:3.20")
    workspace = tmp_path / "notes-app"
    workspace.mkdir()
    (workspace / "Dockerfile").write_text(tutorial_file("Dockerfile"))
    assert "FROM alpine:3.20" in (workspace / "Dockerfile").read_text()
    result = dockyard("executor", "--dockerfile=Dockerfile", f"--context={workspace}",
                      f"--registry-mirror={docker_registry}", "--insecure-pull",
                      f"--destination={docker_registry}/bootcamp/hello-kaniko:mirror",
                      "--insecure", "--skip-tls-verify", f"--cache-dir={tmp_path / 'cache'}")
    assert f"{docker_registry}/library/alpine" in result.stderr
