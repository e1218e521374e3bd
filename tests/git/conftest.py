"""Helpers for the git server tests: real git client processes against a real server."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import DockyardServer, require_tool


@dataclass
class Account:
    username: str
    password: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def git_env(home: Path) -> dict[str, str]:
    """A git client with no user or system config, never prompting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.com",
        "LC_ALL": "C",
    })
    return env


class Git:
    """Runs the real `git` in a scratch home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = git_env(home)

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True,
        env: dict[str, str] | None = None, timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env={**self.env, **(env or {})}, capture_output=True,
            text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def out(self, *args: str, cwd: Path | None = None) -> str:
        return self.run(*args, cwd=cwd).stdout.strip()

    def commit_file(self, repo: Path, name: str, content: str, message: str) -> str:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
        self.run("add", name, cwd=repo)
        self.run("commit", "-q", "-m", message, cwd=repo)
        return self.out("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    require_tool("git")
    home = tmp_path / "home"
    home.mkdir()
    return Git(home)


def repo_url(server: DockyardServer, full_name: str, user: str | None = None,
             secret: str | None = None) -> str:
    if user is None:
        return f"{server.url}/{full_name}.git"
    userinfo = f"{quote(user, safe='')}:{quote(secret or '', safe='')}"
    return f"http://{userinfo}@{server.host_port}/{full_name}.git"


def create_user(server: DockyardServer, prefix: str = "user") -> Account:
    account = Account(unique(prefix), uuid.uuid4().hex)
    with server.client() as admin:
        response = admin.post("/api/v1/admin/users", json={
            "username": account.username, "password": account.password,
            "email": f"{account.username}@example.com"})
    assert response.status_code == 201, response.text
    return account


def client(server: DockyardServer, account: Account | None) -> httpx.Client:
    if account is None:
        return server.client(user=None)
    return server.client(account.username, account.password)


def create_repo(server: DockyardServer, account: Account, name: str | None = None,
                **options: object) -> dict:
    body = {"name": name or unique("repo"), "auto_init": True, "default_branch": "main", **options}
    with client(server, account) as c:
        response = c.post("/api/v1/user/repos", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def alice(server: DockyardServer) -> Account:
    return create_user(server, "alice")


@pytest.fixture
def bob(server: DockyardServer) -> Account:
    return create_user(server, "bob")


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "work"
    path.mkdir()
    yield path
