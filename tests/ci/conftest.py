"""Helpers for CI tests: real git repositories, job XML, a crumb-aware Jenkins client, waiting."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

HERE = Path(__file__).parent
TUTORIAL = HERE.parent / "fixtures" / "tutorial"
_names = itertools.count(1)
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout


def make_repo(base: Path, files: dict[str, str], branch: str = "main") -> tuple[Path, Path, str]:
    """(bare repo, work tree, commit) with `files` committed on `branch`."""
    name = unique("repo")
    work = base / name
    work.mkdir(parents=True)
    git("init", "-q", "-b", branch, cwd=work)
    commit = commit_files(work, files)
    bare = base / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=base)
    git("remote", "add", "origin", str(bare), cwd=work)
    return bare, work, commit


def commit_files(work: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def job_xml(url: str, branch: str = "*/main", script_path: str = "Jenkinsfile", extra: str = "") -> str:
    return f"""<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  {extra}
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps">
    <scm class="hudson.plugins.git.GitSCM" plugin="git">
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig><url>{url}</url></hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
      <branches><hudson.plugins.git.BranchSpec><name>{branch}</name></hudson.plugins.git.BranchSpec></branches>
    </scm>
    <scriptPath>{script_path}</scriptPath>
  </definition>
</flow-definition>
"""


def inline_job_xml(script: str) -> str:
    from xml.sax.saxutils import escape

    return f"""<flow-definition plugin="workflow-job">
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">
    <script>{escape(script)}</script><sandbox>true</sandbox>
  </definition>
</flow-definition>"""


class Jenkins:
    """An httpx client that authenticates with an API token (no crumb needed, as in Jenkins)."""

    def __init__(self, server: DockyardServer, token: str) -> None:
        self.server = server
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def create(self, name: str, xml: str) -> None:
        r = self.http.post(
            "/createItem", params={"name": name}, content=xml, headers={"Content-Type": "application/xml"}
        )
        assert r.status_code == 200, r.text

    def build(self, name: str, **params: str) -> int:
        path = f"/job/{name}/buildWithParameters" if params else f"/job/{name}/build"
        r = self.http.post(path, params=params)
        assert r.status_code == 201, r.text
        return int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])

    def number_of(self, queue_id: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.http.get(f"/queue/item/{queue_id}/api/json").json()
            if item.get("executable"):
                return int(item["executable"]["number"])
            time.sleep(0.05)
        raise AssertionError(f"queue item {queue_id} never started")

    def wait(self, name: str, number: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.http.get(f"/job/{name}/{number}/api/json")
            if r.status_code == 200 and not r.json()["building"] and r.json()["result"]:
                return dict(r.json())
            time.sleep(0.05)
        raise AssertionError(f"{name} #{number} did not finish; log:\n{self.console(name, number)}")

    def run(self, name: str, timeout: float = 60, **params: str) -> tuple[dict[str, Any], str]:
        number = self.number_of(self.build(name, **params), timeout)
        info = self.wait(name, number, timeout)
        return info, self.console(name, number)

    def console(self, name: str, number: int) -> str:
        return self.http.get(f"/job/{name}/{number}/consoleText").text


def api_token(server: DockyardServer, name: str | None = None) -> str:
    out = subprocess.run(
        server.command("user", "token", ADMIN_USER, "--name", name or unique("ci")),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().split()[-1]


@pytest.fixture(scope="session")
def jenkins(server: DockyardServer) -> Jenkins:
    return Jenkins(server, api_token(server))


__all__ = ["ADMIN_PASSWORD", "ADMIN_USER", "Jenkins", "make_repo", "job_xml", "unique"]
