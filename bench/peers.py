"""Start the peers a benchmark compares against: Dockyard itself and CNCF distribution."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.processes import stop_process


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Peer:
    name: str
    process: subprocess.Popen[bytes]
    host_port: str
    creds: str | None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        stop_process(self.process, timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def start_dockyard(workdir: Path, password: str = "bench-pass", storage: str = "file://",
                   env: dict[str, str] | None = None, host: str = "127.0.0.1") -> Peer:
    """`storage`: its --storage URL; `env`: extra environment (an S3 server's credentials);
    `host`: the loopback address it listens on (a test cluster's gateway, for pods)."""
    port = free_port(host)
    log = open(workdir / "dockyard.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dockyard",
            "up",
            "--data-dir",
            str(workdir / "dockyard-data"),
            "--host",
            host,
            "--port",
            str(port),
            "--admin-password",
            password,
            "--log-level",
            "warning",
            "--storage",
            storage,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    _wait_ready(f"http://{host}:{port}/healthz", process, "dockyard")
    return Peer("dockyard", process, f"{host}:{port}", f"admin:{password}")


def start_distribution(workdir: Path) -> Peer:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit(
            "docker-registry (Debian package docker-registry) is not installed: run make install"
        )
    port = free_port()
    storage = workdir / "distribution-data"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "distribution.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(workdir / "distribution.log", "wb")  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env)
    _wait_ready(f"http://127.0.0.1:{port}/v2/", process, "docker-registry")
    return Peer("distribution", process, f"127.0.0.1:{port}", None)
