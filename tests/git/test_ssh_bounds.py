"""git over SSH never hangs on a client that stops talking: the SSH server runs in this test's
process (the app under uvicorn in a thread) with its time limits shortened, so that the git
processes it starts are this process's children and can be watched."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from dockyard.config import Settings
from dockyard.git import sshserver
from dockyard.server.app import build_app, open_services
from tests.conftest import free_port, require_tool
from tests.git.conftest import Git
from tests.git.test_ssh import git_ssh, new_key


@dataclass
class Running:
    url: str
    ssh_port: int


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    require_tool("ssh")
    for name, value in (("LOGIN_TIMEOUT", 2.0), ("SESSION_WAIT", 2.0), ("KEEPALIVE_INTERVAL", 1.0),
                        ("KEEPALIVE_COUNT", 2), ("IDLE_TIMEOUT", 3.0)):
        monkeypatch.setattr(sshserver, name, value)
    port, ssh_port = free_port(), free_port()
    services = open_services(Settings(data_dir=tmp_path / "data", port=port, ssh_port=ssh_port))
    services.auth.ensure_admin("admin", "bootcamp")
    server = uvicorn.Server(uvicorn.Config(build_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Running(f"http://127.0.0.1:{port}", ssh_port)
    server.should_exit = True
    thread.join(timeout=15)


def git_children() -> list[str]:
    """Command lines of this process's git upload-pack/receive-pack children."""
    out = subprocess.run(["pgrep", "-a", "-P", str(os.getpid())], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "upload-pack" in line or "receive-pack" in line]


def wait_until(condition: Callable[[], object], limit: float = 30.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_silent_connections_are_closed(running: Running, tmp_path: Path) -> None:
    # a TCP client that never speaks SSH: closed after the login timeout
    with socket.create_connection(("127.0.0.1", running.ssh_port), timeout=30) as raw:
        assert raw.recv(100).startswith(b"SSH-2.0-Dockyard")
        while raw.recv(4096):
            pass  # EOF: the server closed it (a hang would raise socket.timeout here)
    # an authenticated client that opens no session (ssh -N): disconnected too
    key = new_key(tmp_path)
    httpx.post(running.url + "/api/v1/user/keys", auth=("admin", "bootcamp"),
               json={"title": "k", "key": key.public}).raise_for_status()
    idle = subprocess.run(["ssh", "-F", "/dev/null", "-i", str(key.path), "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={tmp_path / 'kh'}",
                           "-o", "StrictHostKeyChecking=accept-new", "-N", "-p",
                           str(running.ssh_port), "git@127.0.0.1"],
                          capture_output=True, text=True, timeout=60)
    assert idle.returncode == 255 and "no session opened" in idle.stderr


def test_a_stopped_client_does_not_hold_git(running: Running, git: Git, tmp_path: Path) -> None:
    """A client frozen mid-clone (SIGSTOP: its TCP stays open, it answers nothing) is dropped
    by the keepalives, and git upload-pack ends instead of waiting on it forever."""
    auth = ("admin", "bootcamp")
    httpx.post(running.url + "/api/v1/user/repos", auth=auth, json={"name": "big"}).raise_for_status()
    key = new_key(tmp_path)
    httpx.post(running.url + "/api/v1/user/keys", auth=auth,
               json={"title": "k", "key": key.public}).raise_for_status()
    source = tmp_path / "source"
    git.run("init", "-q", "-b", "main", str(source))
    (source / "noise").write_bytes(os.urandom(24 << 20))  # incompressible: more than the windows
    git.run("add", "noise", cwd=source)
    git.run("commit", "-qm", "noise", cwd=source)
    git.run("push", "-q", f"http://admin:bootcamp@{running.url.split('://')[1]}/admin/big.git", "main",
            cwd=source)

    env = {**git.env, **git_ssh(tmp_path, key)}
    wrapper = tmp_path / "ssh-wrapper"
    wrapper.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'ssh.pid'}\nexec {env['GIT_SSH_COMMAND']} \"$@\"\n")
    wrapper.chmod(0o700)
    env["GIT_SSH_COMMAND"] = str(wrapper)
    # a pipe nobody reads: git blocks, ssh stops reading, the server's window fills
    clone = subprocess.Popen(["git", "clone", "--bare", f"ssh://git@127.0.0.1:{running.ssh_port}/admin/big.git",
                              str(tmp_path / "clone")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    ssh_pid = 0
    try:
        assert wait_until(lambda: git_children() and (tmp_path / "ssh.pid").exists())
        ssh_pid = int((tmp_path / "ssh.pid").read_text())
        os.kill(ssh_pid, signal.SIGSTOP)
        assert wait_until(lambda: not git_children()), git_children()
    finally:
        if ssh_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(ssh_pid, signal.SIGKILL)
        clone.kill()
        clone.wait(timeout=30)
