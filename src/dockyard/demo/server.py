"""`dockyard up` as a child process on a free loopback port: started, awaited, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from dockyard.demo.errors import DemoError

ADMIN_USER = "admin"
ADMIN_PASSWORD = "bootcamp"  # the tutorial's admin:bootcamp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ChildServer:
    """A `dockyard up` this demo started (and so may stop)."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM to our child (graceful), SIGKILL after 15 s."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                return self.process.wait()
        return int(self.process.returncode)


def start_server(data_dir: Path, port: int | None, log_path: Path, timeout: float = 60) -> ChildServer:
    """Start `python -m dockyard up` and wait for /healthz; the log goes to `log_path`."""
    port = port or free_port()
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DemoError(f"port {port} on 127.0.0.1 is taken ({exc}); pick another with --port") from None
    command = [
        sys.executable, "-m", "dockyard", "up", "--data-dir", str(data_dir), "--host", "127.0.0.1",
        "--port", str(port), "--admin-user", ADMIN_USER, "--admin-password", ADMIN_PASSWORD,
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    server = ChildServer(process, port, data_dir, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"dockyard up exited with status {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise DemoError(f"dockyard up did not answer /healthz within {timeout:.0f} s:\n{server.log_tail()}")
