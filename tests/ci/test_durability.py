"""SIGKILL during a build, then restart: the build is ABORTED with a reason, what it started is
killed, and the queue continues."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.ci.conftest import Jenkins, api_token, inline_job_xml, unique
from tests.conftest import DockyardServer, start_server

SCRIPT = """pipeline { agent any
  stages { stage('s') { steps {
    sh 'if [ "$BUILD_NUMBER" = 1 ]; then touch "$WORKSPACE/started"; sleep 307; fi; echo quick build'
  } } } }"""


@pytest.mark.slow
def test_sigkill_during_build_then_restart_aborts_it_and_runs_the_queue(fresh_server: DockyardServer) -> None:
    jenkins = Jenkins(fresh_server, api_token(fresh_server))
    name = unique("crash")
    jenkins.create(name, inline_job_xml(SCRIPT))
    n1 = jenkins.number_of(jenkins.build(name))
    q2 = jenkins.build(name)  # waits behind #1 (one build per job)
    started = fresh_server.data_dir / "ci" / name / str(n1) / "workspace" / "started"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    shell_pid = _host_pid_of("sleep 307")  # the step runs in its own PID namespace
    fresh_server.process.kill()  # SIGKILL: no shutdown handlers run
    fresh_server.process.wait()
    os.kill(shell_pid, 0)  # the step outlived the server (its own session)...

    restarted = start_server(fresh_server.data_dir, None)
    fresh_server.process = restarted.process  # the fixture stops the new process at the end
    try:
        jenkins = Jenkins(restarted, api_token(restarted))
        info = jenkins.wait(name, n1, timeout=30)
        assert info["result"] == "ABORTED"
        assert "the Dockyard process stopped while this build was running" in info["description"]
        assert "Finished: ABORTED" in jenkins.console(name, n1)
        deadline = time.monotonic() + 10
        while _alive(shell_pid) and time.monotonic() < deadline:  # ...until the restart killed it
            time.sleep(0.05)
        assert not _alive(shell_pid)
        n2 = jenkins.number_of(q2, timeout=30)
        info2 = jenkins.wait(name, n2, timeout=30)
        assert info2["result"] == "SUCCESS" and "quick build" in jenkins.console(name, n2)
    finally:
        restarted.stop(signal.SIGTERM)


def _host_pid_of(cmdline: str) -> int:
    for proc in Path("/proc").iterdir():
        try:
            found = (proc / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            continue
        if proc.name.isdigit() and found == cmdline.encode():
            return int(proc.name)
    raise AssertionError(f"no process {cmdline!r}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left for init to reap is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
