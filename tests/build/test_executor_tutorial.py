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

from tests.build.images import busybox_context, dockyard
from tests.conftest import FIXTURES, REPO_ROOT, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_namespaces")]

TUTORIAL = REPO_ROOT / "tests" / "fixtures" / "tutorial"


def tutorial_file(name: str) -> str:
    for directory in (TUTORIAL, FIXTURES / "build-tutorial"):
        if (directory / name).exists():
            return (directory / name).read_text()
    pytest.skip(f"the tutorial's {name} is not in tests/fixtures/tutorial")


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
