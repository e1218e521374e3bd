"""The local agent through the real scheduler and runner: the tutorial's Kaniko pod template
(stand-in container, /busybox shell, the harbor-auth secret at /kaniko/.docker/config.json),
credential bindings and secret masking.

The credential store belongs to another component (dockyard.credentials) that is not on this
branch; `FakeCredentials` stands in for it with the same two calls CI uses (`get(id)` returning an
object with `data()` and `mask_values()`).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockyard.auth import MIGRATIONS as AUTH_MIGRATIONS
from dockyard.auth import AuthService
from dockyard.ci import MIGRATIONS as CI_MIGRATIONS
from dockyard.ci import executor_backend
from dockyard.ci.executor.local import is_kaniko
from dockyard.ci.service import CIService
from dockyard.ci.store import Build
from dockyard.config import Settings
from dockyard.events import EventBus
from dockyard.store import Database
from tests.ci.builds import finished
from tests.ci.conftest import TUTORIAL, inline_job_xml, job_xml, make_repo
from tests.conftest import require_tool

HARBOR_PASSWORD = "bootcamp-harbor-secret"


@dataclass
class FakeCredential:
    values: dict[str, bytes]
    masks: list[str]

    def data(self) -> dict[str, bytes]:
        return self.values

    def mask_values(self) -> list[str]:
        return self.masks


class FakeCredentials:
    def __init__(self) -> None:
        auth = base64.b64encode(f"admin:{HARBOR_PASSWORD}".encode()).decode()
        config = json.dumps({"auths": {"10.0.24.28:30002": {"auth": auth}}}).encode()
        self.items = {
            "harbor-auth": FakeCredential({".dockerconfigjson": config}, [HARBOR_PASSWORD, auth]),
            "git-login": FakeCredential({"username": b"bob", "password": b"s3cret-pass"}, ["s3cret-pass"]),
            "api-token": FakeCredential({"text": b"tok-123456789"}, ["tok-123456789"]),
        }

    def get(self, credential_id: str) -> FakeCredential:
        return self.items[credential_id]

    def mask_values(self) -> list[str]:
        return [m for c in self.items.values() for m in c.masks]


def run_build(tmp_path: Path, xml: str, **service: Any) -> tuple[Build, str]:
    """Create a job, queue one build and run the real scheduler until it finishes."""

    async def main() -> tuple[Build, str]:
        db = Database(tmp_path / "db.sqlite")
        db.migrate([*AUTH_MIGRATIONS, *CI_MIGRATIONS])
        ci = CIService(
            db,
            AuthService(db),
            EventBus(),
            tmp_path / "ci",
            lambda: "http://127.0.0.1:1",
            credentials=FakeCredentials(),
            **service,
        )
        await ci.start()
        try:
            job = ci.store.create_job("job", xml)
            build = ci.trigger(job, {}, "test")
            return await finished(ci, "job", build.number, tmp_path / "ci", timeout=60)
        finally:
            await ci.stop()

    return asyncio.run(main())


def test_kaniko_alias_table() -> None:
    assert is_kaniko("gcr.io/kaniko-project/executor:debug")
    assert is_kaniko("gcr.io/kaniko-project/executor@sha256:" + "0" * 64)
    assert not is_kaniko("alpine:3.20")
    off = Settings.from_environ({"DOCKYARD_KANIKO_ALIAS": "off"}).kaniko_images
    assert not is_kaniko("gcr.io/kaniko-project/executor:debug", off)
    mine = Settings.from_environ({"DOCKYARD_KANIKO_ALIAS": "reg.local/kaniko, other/x"}).kaniko_images
    assert mine == ("reg.local/kaniko", "other/x") and is_kaniko("reg.local/kaniko:v1", mine)


def test_tutorial_pod_template_kaniko_standin_and_secret_volume(tmp_path: Path) -> None:
    """The tutorial's Jenkinsfile's agent with a step that inspects what the stand-in provides."""
    require_tool("busybox")
    jenkinsfile = (TUTORIAL / "Jenkinsfile").read_text()
    head = jenkinsfile[: jenkinsfile.index("  stages {")]
    probe = (
        head
        + """  stages {
    stage('probe') {
      steps {
        container('kaniko') {
          sh '''
test -x /kaniko/executor && head -2 /kaniko/executor
/busybox/sh -c 'echo busybox shell ok'
cat /kaniko/.docker/config.json; echo
ls -l /kaniko/.docker/config.json | cut -c1-10
echo "DOCKER_CONFIG=$DOCKER_CONFIG"
'''
        }
      }
    }
  }
}
"""
    )
    build, log = run_build(tmp_path, inline_job_xml(probe))
    assert build.result == "SUCCESS", log
    assert "runs as Dockyard's built-in Kaniko stand-in" in log
    assert "-m dockyard executor" in log or "zygote_client.py" in log
    assert "busybox shell ok" in log
    assert "secret volume file /kaniko/.docker/config.json materialised" in log
    assert '{"auths": {"10.0.24.28:30002": {"auth": "****"}}}' in log  # the file is there, its secret masked
    assert "-rw-------" in log
    assert HARBOR_PASSWORD not in log
    assert "DOCKER_CONFIG=/kaniko/.docker" in log  # the stand-in's own paths, in its sandbox
    assert not (tmp_path / "ci" / "job" / "1" / "agent").exists()  # secret files gone with the agent


def test_credentials_env_and_with_credentials_are_masked(tmp_path: Path) -> None:
    script = """pipeline {
  agent any
  environment { GIT = credentials('git-login') ; TOKEN = credentials('api-token') }
  stages {
    stage('s') {
      steps {
        sh 'echo "user=$GIT_USR pass=$GIT_PSW both=$GIT token=$TOKEN"'
        withCredentials([string(credentialsId: 'api-token', variable: 'T2')]) {
          sh 'printf "%s" "$T2" | cut -c1-6; printf "%s\\n" "$T2"'
        }
      }
    }
  }
}"""
    build, log = run_build(tmp_path, inline_job_xml(script))
    assert build.result == "SUCCESS", log
    assert "user=bob pass=**** both=bob:**** token=****" in log
    assert "s3cret-pass" not in log and "tok-123456789" not in log
    assert "tok-12" in log  # a partial secret is not the secret


def test_credential_file_is_readable_by_the_sandboxed_step_and_gone_after(tmp_path: Path) -> None:
    """A file credential (`credentials('id')` of a non-text secret) is written under the build
    dir by the server as its root, 0600: the step, root of its own user namespace only, still
    reads it (the build's own secrets are id-mapped in), and nothing else of the build dir."""
    script = """pipeline {
  agent any
  environment { CFG = credentials('harbor-auth') }
  stages { stage('s') { steps {
    sh 'ls -l "$CFG" | cut -c1-10; grep -c auths "$CFG"; echo builddir: $(ls -A "$(dirname "$CFG")/..")'
  } } }
}"""
    build, log = run_build(tmp_path, inline_job_xml(script))
    assert build.result == "SUCCESS", log
    assert "-rw-------" in log and "\n1\n" in log
    shown = next(line for line in log.splitlines() if line.startswith("builddir: ")).split()[1:]
    assert shown == ["scripts", "secrets", "trace-events.jsonl", "workspace"]  # mount points only
    assert not (tmp_path / "ci" / "job" / "1" / "secrets").exists()


def test_missing_secret_volume_credential_names_it(tmp_path: Path) -> None:
    jenkinsfile = (
        (TUTORIAL / "Jenkinsfile").read_text().replace("secretName: harbor-auth", "secretName: nope")
    )
    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": jenkinsfile})
    build, log = run_build(tmp_path, job_xml(str(bare)))
    assert build.result == "FAILURE"
    assert "no credential with id 'nope'" in log


@pytest.mark.skipif(
    importlib.util.find_spec("dockyard.cli.executor_cmd") is None,
    reason="the builder's `dockyard executor` is on another branch until merged",
)
@pytest.mark.parametrize("prewarm", ["1", "0"], ids=["prewarmed", "cold"])
def test_kaniko_executor_shim_runs_dockyard_executor(
    tmp_path: Path, prewarm: str
) -> None:
    settings = Settings.from_environ({"DOCKYARD_CI_PREWARM": prewarm}, data_dir=tmp_path)
    jenkinsfile = (TUTORIAL / "Jenkinsfile").read_text()
    head = jenkinsfile[: jenkinsfile.index("  stages {")]
    script = head + (
        "  stages { stage('v') { steps { container('kaniko') {\n"
        "    sh 'cat /kaniko/executor; /kaniko/executor --help'\n  } } } }\n}\n"
    )
    build, log = run_build(tmp_path, inline_job_xml(script), executor=executor_backend("local", settings))
    assert build.result == "SUCCESS", log
    assert "--destination" in log
    assert ("zygote_client.py" in log) == (prewarm == "1")


def test_stored_credentials_are_masked_even_when_not_bound(tmp_path: Path) -> None:
    script = "pipeline { agent any\n stages { stage('s') { steps { sh 'echo leaked s3cret-pass' } } } }"
    build, log = run_build(tmp_path, inline_job_xml(script))
    assert build.result == "SUCCESS"
    assert "leaked ****" in log and "s3cret-pass" not in log


def test_network_none_annotation_and_limits_reach_the_steps(tmp_path: Path) -> None:
    script = """pipeline {
  agent { kubernetes { yaml '''
kind: Pod
metadata:
  annotations: {dockyard.io/network.jnlp: none}
spec:
  containers:
  - name: jnlp
    image: jenkins/inbound-agent
    resources: {limits: {memory: 96Mi, dockyard.io/pids: "50"}}
''' } }
  stages { stage('s') { steps {
    sh 'echo interfaces: $(sed 1,2d /proc/net/dev | cut -d: -f1)'
    sh 'for i in $(seq 1 60); do sleep 5 & done; wait'
  } } }
}"""
    build, log = run_build(tmp_path, inline_job_xml(script))
    assert "interfaces: lo\n" in log
    if "resource limits not applied" in log:
        pytest.skip("no writable cgroup here")
    assert build.result == "FAILURE", log
    assert "killed: process limit 50 reached" in log
