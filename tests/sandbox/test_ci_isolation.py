"""Issue 10, acceptance 2 and 3, against a real `dockyard up`, a real `git push` and real
Jenkinsfiles: what a step of a user who can only push to a repository can reach, and what a
fork bomb or a memory hog in one build does to the server and to other builds.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import Jenkins, api_token, git, inline_job_xml, job_xml, unique
from tests.conftest import DockyardServer, start_server

pytestmark = pytest.mark.slow
SERVER_SECRET = "env-s3cret-7d1f0a"  # in the server's environment only


@pytest.fixture(scope="module")
def isolated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    from dockyard.sandbox import support

    found = support()
    if not found.isolated:
        pytest.skip(found.problem)
    base = tmp_path_factory.mktemp("isolation")
    os.environ["DOCKYARD_TEST_SERVER_SECRET"] = SERVER_SECRET
    try:
        server = start_server(base / "data")
    finally:
        del os.environ["DOCKYARD_TEST_SERVER_SECRET"]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(isolated_server: DockyardServer) -> Jenkins:
    return Jenkins(isolated_server, api_token(isolated_server))


def _results(log: str) -> dict[str, str]:
    return dict(re.findall(r"^RESULT (\S+)=(\S+)$", log, re.MULTILINE))


PROBE = r"""
set +e
probe() {
  name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "RESULT $name=reached"; else echo "RESULT $name=denied"; fi
}
listed() { ls -A "$1" | grep -q .; }
readable() { [ "$(head -c 64 "$1" | wc -c)" -gt 0 ]; }
probe data-key readable @data@/secrets/credentials.key
probe data-db readable @data@/dockyard.db
echo "RESULT data-listing=$(ls -A @data@ | tr '\n' ,)"
echo "RESULT ci-listing=$(ls -A @data@/ci | tr '\n' ,)"
probe other-workspace readable @other_ws@/other-secret.txt
probe other-build-dir listed @other_build@
probe server-environ readable /proc/@server_pid@/environ
probe server-proc test -e /proc/@server_pid@
probe server-in-ps sh -c 'ps -e -o args | grep -q "[d]ockyard up"'
echo "RESULT root-listing=$(ls -A /root | tr '\n' ,)"
probe home listed /home
probe var-lib listed /var/lib
probe shadow readable /etc/shadow
probe write-data touch @data@/step-was-here
probe write-etc touch /etc/step-was-here
probe write-usr touch /usr/step-was-here
touch /tmp/@marker@  # the step's own /tmp: the host's must not have it afterwards
probe write-workspace touch "$WORKSPACE/step-was-here"
probe own-tmp sh -c 'echo x > /tmp/own && test -s /tmp/own'
env  # printed whole: the server's own variables must not be there
probe server-env sh -c 'env | grep -q DOCKYARD_TEST_SERVER_SECRET'
echo "RESULT uid=$(id -u)"
echo "RESULT pids=$(ls /proc | grep -c '^[0-9]')"
"""


def test_a_pushers_step_reaches_nothing_of_the_server_or_other_jobs(
    isolated_server: DockyardServer, admin: Jenkins, tmp_path: Path
) -> None:
    server, data = isolated_server, isolated_server.data_dir
    hp = server.host_port

    # another job with a file in its workspace (and a credential binding) that must stay its own
    other = unique("other")
    admin.create(other, inline_job_xml(
        "pipeline { agent any\n stages { stage('s') { steps {"
        " sh 'echo other-job-secret > other-secret.txt' } } } }"))
    info, log = admin.run(other, timeout=120)
    assert info["result"] == "SUCCESS", log
    other_build = data / "ci" / other / "1"
    other_ws = other_build / "workspace"
    assert (other_ws / "other-secret.txt").exists()

    # a user who can only push to their own repository; the admin's job watches it
    server.add_user("pusher", "pusher-pass")
    r = httpx.post(f"{server.url}/api/v1/user/repos", auth=("pusher", "pusher-pass"),
                   json={"name": "probe", "auto_init": True, "default_branch": "main"})
    assert r.status_code == 201, r.text
    job = unique("probe")
    admin.create(job, job_xml(f"http://{hp}/pusher/probe.git"))
    marker = unique("host-tmp-marker")
    script = PROBE
    for key, value in {"data": data, "other_ws": other_ws, "other_build": other_build, "marker": marker,
                       "server_pid": server.process.pid}.items():
        script = script.replace(f"@{key}@", str(value))
    jenkinsfile = "pipeline { agent any\n stages { stage('probe') { steps { sh '''" + script + "''' } } } }\n"
    work = tmp_path / "probe"
    git("clone", "-q", f"http://pusher:pusher-pass@{hp}/pusher/probe.git", str(work), cwd=tmp_path)
    (work / "Jenkinsfile").write_text(jenkinsfile)
    git("add", "Jenkinsfile", cwd=work)
    git("commit", "-q", "-m", "probe", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)

    deadline = time.monotonic() + 120
    while admin.http.get(f"/job/{job}/1/api/json").status_code != 200:
        assert time.monotonic() < deadline, "the push did not start the job"
        time.sleep(0.1)
    info = admin.wait(job, 1, timeout=120)
    log = admin.console(job, 1)
    assert info["result"] == "SUCCESS", log
    results = _results(log)
    denied = ["data-key", "data-db", "other-workspace", "other-build-dir",
              "server-environ", "server-proc", "server-in-ps", "home", "var-lib", "shadow",
              "write-data", "write-etc", "write-usr", "server-env"]
    assert {name: results.get(name) for name in denied} == dict.fromkeys(denied, "denied"), log
    assert results["write-workspace"] == "reached" and results["own-tmp"] == "reached", log
    # of the data directory only the path down to the step's own workspace exists
    assert results["data-listing"] == "ci," and results["ci-listing"] == f"{job},", log
    # of /root only the interpreter Dockyard runs with (read-only), when it lives there
    interpreter = {Path(p).parts[2] for p in (sys.prefix, sys.base_prefix, *sys.path)
                   if p.startswith("/root/")}
    assert set(filter(None, results["root-listing"].split(","))) <= interpreter, log
    assert results["uid"] == "0"  # root inside, an unprivileged uid on the host
    assert int(results["pids"]) < 10, log  # only the step's own processes
    assert SERVER_SECRET not in log
    assert not (data / "step-was-here").exists() and not Path("/tmp", marker).exists()
    # what the step wrote in its workspace belongs to the host's root, as before (id-mapped)
    ws_file = data / "ci" / job / "1" / "workspace" / "step-was-here"
    assert ws_file.exists() and ws_file.stat().st_uid == os.geteuid()


def _pod(limits: str, steps: str) -> str:
    return f"""pipeline {{
  agent {{
    kubernetes {{
      yaml '''
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: jnlp
    image: jenkins/inbound-agent:latest
    resources:
      limits: {{{limits}}}
'''
    }}
  }}
  stages {{ stage('s') {{ steps {{ sh '''{steps}''' }} }} }}
}}"""


class HealthProbe:
    """Asks /healthz every 50 ms from a thread; keeps every latency and status."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies, self.statuses = url, [], []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.statuses.append(client.get(self.url + "/healthz").status_code)
                except httpx.HTTPError as e:
                    self.statuses.append(str(e))
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_fork_bomb_and_memory_hog_end_their_build_only(
    isolated_server: DockyardServer, admin: Jenkins
) -> None:
    bomb, hog, calm = unique("forkbomb"), unique("memhog"), unique("calm")
    admin.create(bomb, inline_job_xml(_pod('memory: "256Mi"', "bomb() { bomb | bomb & }; bomb; sleep 60")))
    admin.create(hog, inline_job_xml(_pod(
        'memory: "256Mi", cpu: "1"', "python3 -c 'x = bytearray(4 << 30); print(len(x))'; sleep 60")))
    admin.create(calm, inline_job_xml(
        "pipeline { agent any\n stages { stage('s') { steps { sh 'sleep 2; echo calm-build-done' } } } }"))
    with HealthProbe(isolated_server.url) as health:
        numbers = {name: admin.number_of(admin.build(name), 60) for name in (bomb, hog, calm)}
        infos = {name: admin.wait(name, n, timeout=120) for name, n in numbers.items()}
    logs = {name: admin.console(name, n) for name, n in numbers.items()}
    assert infos[bomb]["result"] == "FAILURE", logs[bomb]
    assert "killed: process limit 1024 reached" in logs[bomb]
    assert infos[hog]["result"] == "FAILURE", logs[hog]
    assert "killed: memory limit 256Mi exceeded" in logs[hog]
    assert infos[calm]["result"] == "SUCCESS", logs[calm]
    assert "calm-build-done" in logs[calm]
    assert health.statuses and all(s == 200 for s in health.statuses), health.statuses
    ms = sorted(1000 * x for x in health.latencies)
    print(f"\n/healthz during fork bomb + memory hog: n={len(ms)} p50={statistics.median(ms):.1f} ms"
          f" p95={ms[int(len(ms) * 0.95) - 1]:.1f} ms max={ms[-1]:.1f} ms")
