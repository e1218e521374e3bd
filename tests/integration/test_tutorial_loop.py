"""The tutorial's build-and-push step against Dockyard's own registry, end to end.

The Jenkinsfile's `sh` body runs with `/kaniko/executor` replaced by `dockyard executor` and the
Harbor address replaced by Dockyard's; the credentials come from a docker config.json the way
the tutorial's `harbor-auth` secret provides them; the tutorial's C.5 Harbor check then prints
exactly what the tutorial shows, and the image runs under runc.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builder.images import busybox_context, dockyard
from tests.builder.test_executor_tutorial import executor_script, tutorial_file
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]


def docker_config(directory: Path, host_port: str) -> Path:
    """What `kubectl create secret docker-registry harbor-auth` mounts as config.json."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    config = {"auths": {host_port: {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "auth": auth}}}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def test_tutorial_executor_pushes_to_dockyard_and_harbor_check_matches(
    fresh_server: DockyardServer, tmp_path: Path
) -> None:
    server = fresh_server  # its own server: the Harbor check counts every bootcamp/hello-kaniko push
    for tool in ("skopeo", "umoci", "runc", "curl", "jq"):
        require_tool(tool)
    env = {
        "DOCKER_CONFIG": str(docker_config(tmp_path / "docker", server.host_port)),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    base = f"{server.host_port}/library/busybox:1"
    rootfs = busybox_context(tmp_path / "base") / "rootfs"
    dockyard("image", "import", "--rootfs", str(rootfs), "--destination", base, "--insecure", env=env)

    workspace = tmp_path / "notes-app"
    workspace.mkdir()
    (workspace / "Dockerfile").write_text(
        tutorial_file("Dockerfile").replace("FROM alpine:3.20", f"FROM {base}")
    )
    script = executor_script(tutorial_file("Jenkinsfile")).replace("10.0.24.28:30002", server.host_port)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dockyard").write_text(f'#!/bin/sh\nexec {sys.executable} -m dockyard "$@"\n')
    (bin_dir / "dockyard").chmod(0o755)
    run_env = {**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", "-c", script], cwd=workspace, env=run_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    secret_auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    assert secret_auth not in result.stdout + result.stderr
    assert f"{ADMIN_USER}:{ADMIN_PASSWORD}" not in result.stdout + result.stderr

    # The tutorial's C.5 check, unchanged except host and port.
    check = (
        f"curl -s -u admin:bootcamp http://{server.host_port}/api/v2.0/projects/bootcamp/repositories"
        " | jq -c '.[] | {name, artifact_count}'"
    )
    out = subprocess.run(check, shell=True, capture_output=True, text=True, check=True).stdout
    assert out.strip() == '{"name":"bootcamp/hello-kaniko","artifact_count":1}'

    creds = ["--src-tls-verify=false", "--src-creds", f"{ADMIN_USER}:{ADMIN_PASSWORD}"]
    layout = tmp_path / "pulled"
    subprocess.run(
        [
            "skopeo",
            "copy",
            *creds,
            f"docker://{server.host_port}/bootcamp/hello-kaniko:latest",
            f"oci:{layout}:latest",
        ],
        capture_output=True,
        check=True,
    )
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], capture_output=True, check=True
    )
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    run = subprocess.run(
        ["runc", "run", f"dockyard-loop-{os.getpid()}"],
        cwd=bundle,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "Hello from Kaniko", run.stderr
