"""`dockyard demo`: the tutorial end to end on a fresh server, run as a user runs it (a
subprocess), plus the checks that need no server: the embedded tutorial artefacts are the
fixtures, the edited Jenkinsfile parses, and bad setups fail with the fix in the message."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES

TUTORIAL = FIXTURES / "tutorial"


def demo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard", "demo", *args], capture_output=True,
                          text=True, timeout=timeout)


def needs_namespaces() -> None:
    from tests.builder.conftest import namespaces_available

    reason = namespaces_available()
    if reason:
        pytest.skip(reason)


def test_embedded_artefacts_are_the_tutorials() -> None:
    from dockyard.demo import tutorial

    assert (TUTORIAL / "Dockerfile").read_text() == tutorial.DOCKERFILE
    assert (TUTORIAL / "Jenkinsfile").read_text() == tutorial.JENKINSFILE
    assert (TUTORIAL / "job.xml").read_text() == tutorial.JOB_XML


def test_demo_jenkinsfile_is_the_tutorials_plus_a_gitops_stage() -> None:
    from dockyard.ci.jenkinsfile import parse_jenkinsfile
    from dockyard.demo import tutorial

    text = tutorial.jenkinsfile("127.0.0.1:8080")
    original = (TUTORIAL / "Jenkinsfile").read_text().replace("10.0.24.28:30002", "127.0.0.1:8080")
    edits = difflib.SequenceMatcher(None, original.splitlines(), text.splitlines()).get_opcodes()
    assert {op for op, *_ in edits} == {"equal", "insert"}  # only additions to the tutorial's file
    assert "10.0.24.28" not in text
    pipeline = parse_jenkinsfile(text)
    assert [stage.name for stage in pipeline.stages] == ["Build and Push", "Deploy"]
    assert "gitopsSetImage repo: 'http://127.0.0.1:8080/bootcamp/notes-deploy.git'" in text
    assert tutorial.job_xml("h:1") == (TUTORIAL / "job.xml").read_text().replace("10.0.24.28:30022", "h:1")
    assert tutorial.dockerfile("h:1/library/busybox:1").startswith("FROM h:1/library/busybox:1\n")


def test_missing_busybox_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dockyard.demo import DemoError, baseimage

    monkeypatch.setattr(baseimage, "BUSYBOX", tmp_path / "busybox")
    monkeypatch.setattr(baseimage.shutil, "which", lambda _name: None)
    with pytest.raises(DemoError, match="apt-get install busybox-static"):
        baseimage.make_rootfs(tmp_path / "rootfs")


def test_dynamic_busybox_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.demo import DemoError, baseimage

    monkeypatch.setattr(baseimage, "BUSYBOX", Path(sys.executable).resolve())  # a dynamic ELF
    with pytest.raises(DemoError, match="busybox-static"):
        baseimage.static_busybox()


def test_a_used_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dockyard.db").write_text("")
    result = demo("--data-dir", str(tmp_path), timeout=60)
    assert result.returncode == 1
    assert "is not empty: the demo needs a fresh data dir" in result.stderr


@pytest.mark.slow
def test_demo_runs_the_tutorial_end_to_end(tmp_path: Path) -> None:
    needs_namespaces()
    result = demo("--data-dir", str(tmp_path / "data"))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "HTTP 201 bootcamp/notes-app" in out and "HTTP 201 bootcamp/notes-deploy" in out
    assert "createItem HTTP 200" in out
    assert "(Gitea API): pending (Build #1 is running), success (Build #1: SUCCESS)" in out
    sha = re.search(r"pushed ([0-9a-f]{40}) to main", out)
    assert sha, out
    host = re.search(r"http://(127\.0\.0\.1:\d+)  pid (\d+)", out)
    assert host, out
    assert f"{host[1]}/bootcamp/hello-kaniko:{sha[1]} sha256:" in out
    assert '{"name":"bootcamp/hello-kaniko","artifact_count":1}' in out
    assert "    Hello from Kaniko\n" in out
    assert f"+        image: {host[1]}/bootcamp/hello-kaniko:{sha[1]}" in out  # the gitops diff
    assert f"Source-Commit: {sha[1]}" in out
    assert "| Build and Push |" in out and "| Deploy |" in out and "| gitops: " in out
    assert re.search(r"git push -> both tags in the registry: \d+\.\d\ds", out)
    assert "dockyard demo: OK" in out
    assert f"stopped dockyard up (pid {host[2]}, exit status 0)" in out
    assert not Path(f"/proc/{host[2]}").exists()


@pytest.mark.slow
def test_demo_keep_leaves_the_server_running(tmp_path: Path) -> None:
    needs_namespaces()
    result = demo("--data-dir", str(tmp_path / "data"), "--keep")
    assert result.returncode == 0, result.stdout + result.stderr
    kept = re.search(r"keeps running at (http://\S+) .*pid (\d+)", result.stdout)
    assert kept, result.stdout
    pid = int(kept[2])
    try:
        tags = httpx.get(f"{kept[1]}/v2/bootcamp/hello-kaniko/tags/list", auth=("admin", "bootcamp"))
        assert tags.status_code == 200 and "latest" in tags.json()["tags"]
    finally:
        os.kill(pid, signal.SIGTERM)  # the server this test had the demo start
        clones = re.search(r"clones in (\S+)", result.stdout)
        if clones:
            shutil.rmtree(clones[1], ignore_errors=True)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_a_failed_step_exits_1_names_it_and_stops_the_server(tmp_path: Path) -> None:
    needs_namespaces()
    result = demo("--data-dir", str(tmp_path / "data"), "--timeout", "0.001")
    kept = re.search(r"clones and server log in (\S+)", result.stdout)
    if kept:
        shutil.rmtree(kept[1], ignore_errors=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED at step 10 (wait for bootcamp/hello-kaniko:<commit> and :latest in the registry)" in (
        result.stderr
    )
    assert "the image did not appear within 0.001 s" in result.stderr
    assert "console of build #1" in result.stderr or "no build #1" in result.stderr
    stopped = re.search(r"stopped dockyard up \(pid (\d+), exit status 0\)", result.stdout)
    assert stopped, result.stdout
    assert not Path(f"/proc/{stopped[1]}").exists()
    assert "dockyard demo: OK" not in result.stdout


def test_a_taken_port_is_refused_with_the_fix() -> None:
    import socket

    needs_namespaces()  # checked (with busybox-static) before the port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = demo("--port", str(port), timeout=60)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "--port" in result.stderr


def test_running_the_image_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.demo import container

    monkeypatch.setattr(container.shutil, "which", lambda name: None if name == "runc" else "/bin/" + name)
    assert container.unavailable_reason() == "runc is not installed (apt-get install runc)"
