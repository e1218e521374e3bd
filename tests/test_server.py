"""The process itself: health, generated admin password, clean shutdown."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import DockyardServer, free_port


def test_healthz_answers(server: DockyardServer) -> None:
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200


def test_generated_admin_password_is_stored_0600_and_printed_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    cmd = [sys.executable, "-m", "dockyard", "up", "--data-dir", str(data), "--port", str(port)]
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out.decode()
        outputs.append(out.decode())
    secret_file = data / "secrets" / "admin-password"
    password = secret_file.read_text().strip()
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert password in outputs[0]
    assert password not in outputs[1]
    assert "created administrator" not in outputs[1]


def test_metrics_count_requests_by_component(server: DockyardServer) -> None:
    httpx.get(server.url + "/v2/")
    httpx.get(server.url + "/healthz")
    text = httpx.get(server.url + "/metrics").text
    assert 'dockyard_http_requests_total{component="registry",method="GET",status="4xx"}' in text
    assert 'dockyard_http_requests_total{component="health",method="GET",status="2xx"}' in text
    assert "process_resident_memory_bytes" in text
