"""Shared fixtures: a real `dockyard up` process on a free loopback port in a temp data dir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ADMIN_USER = "admin"
ADMIN_PASSWORD = "bootcamp"
# the test Kubernetes cluster's fixtures (k8s_cluster, k8s_namespace, k8s_registry) for any test
pytest_plugins = ["tests.k8s.fixtures"]
REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def require_tool(name: str) -> str:
    """The tool's path; skips the test with the install hint when the machine lacks it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make install adds it on Debian)")
    return path


@dataclass
class DockyardServer:
    """A running server: its address, data dir and process."""

    url: str
    host_port: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    storage: str = "file://"
    database_url: str = ""  # '' is SQLite in the data dir

    def database(self) -> str:
        """What `store.Database` opens to read this server's metadata."""
        return self.database_url or str(self.data_dir / "dockyard.db")

    def client(self, user: str | None = ADMIN_USER, password: str = ADMIN_PASSWORD) -> httpx.Client:
        auth = (user, password) if user else None
        return httpx.Client(base_url=self.url, auth=auth, timeout=30)

    def command(self, subcommand: str, *args: str) -> list[str]:
        """`dockyard <subcommand>` on this server's data directory and database."""
        return [sys.executable, "-m", "dockyard", subcommand, "--data-dir", str(self.data_dir),
                "--database-url", self.database_url, *args]

    def add_user(self, username: str, password: str, *, admin: bool = False) -> None:
        """Create a user through the `dockyard user` CLI on the live data directory."""
        cmd = self.command("user", "add", username)
        cmd += ["--password", password] + (["--admin"] if admin else [])
        subprocess.run(cmd, check=True, capture_output=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return int(self.process.returncode)


def start_server(data_dir: Path, port: int | None = None, *extra: str,
                 env: dict[str, str] | None = None, storage: str = "file://",
                 host: str = "127.0.0.1") -> DockyardServer:
    """`env`: settings for this server only (e.g. DOCKYARD_WEBHOOK_ALLOWED_HOSTS=loopback for
    tests whose webhook receivers listen on 127.0.0.1, which the default refuses);
    `storage`: its `--storage` URL; `host`: the loopback address it listens on (the test
    cluster's gateway for a server that pods reach). With DOCKYARD_TEST_DATABASE=postgresql
    its metadata lives in a fresh database of the session's PostgreSQL server (tests/pgserver.py)."""
    from tests import pgserver

    database_url = pgserver.database_for(data_dir) if pgserver.wanted() else ""
    port = port or free_port(host)
    log_path = data_dir.parent / f"dockyard-{port}.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockyard",
            "up",
            "--data-dir",
            str(data_dir),
            "--host",
            host,
            "--port",
            str(port),
            "--admin-user",
            ADMIN_USER,
            "--admin-password",
            ADMIN_PASSWORD,
            "--storage",
            storage,
            "--database-url",
            database_url,
            *extra,
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockyard exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return DockyardServer(url, f"{host}:{port}", data_dir, process, log_path, storage,
                                      database_url)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"dockyard did not become ready:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    """One server shared by a whole test session (tests use distinct names to stay apart)."""
    base = tmp_path_factory.mktemp("dockyard")
    srv = start_server(base / "data")
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[DockyardServer]:
    """A server of the test's own, for tests that kill or restart it."""
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()
