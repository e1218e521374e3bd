"""Starting and stopping builds follows the job's repository, as `git push` does (issue 10).

Alice's private repository gets its Jenkinsfile by a real `git push`; an administrator creates the
job with python-jenkins. Alice (owner) and a write collaborator run, stop and cancel builds with
python-jenkins and the native API; a read collaborator sees the job but every trigger, stop and
cancel (curl with crumb and cookie jar, native API, the web UI's forms) is 403; a stranger gets
404 for all of them, as for a job that does not exist.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import jenkins as python_jenkins
import pytest

from tests.ci.conftest import job_xml
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url, unique
from tests.ui.helpers import post_form, sign_in

pytestmark = pytest.mark.slow

SLOW = """pipeline {
  agent any
  stages { stage('s') { steps { sh 'echo "hello $WHO"; sleep 120' } } }
}
"""


def curl_post(account: Account, url: str, jar: Path) -> tuple[int, str]:
    """A POST from the account's own curl session: password, crumb and cookie jar (tutorial C.2)."""
    session = ["-sS", "-c", str(jar), "-b", str(jar), "-u", f"{account.username}:{account.password}"]
    base = url.split("/job/")[0].split("/queue/")[0].split("/api/")[0]
    xpath = "concat(//crumbRequestField,%22:%22,//crumb)"
    crumb = subprocess.run(["curl", *session, f"{base}/crumbIssuer/api/xml?xpath={xpath}"],
                           capture_output=True, text=True, check=True).stdout
    assert crumb.startswith("Jenkins-Crumb:"), crumb
    out = subprocess.run(["curl", *session, "-X", "POST", "-H", crumb, "-w", "\n%{http_code}", url],
                         capture_output=True, text=True, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


@contextmanager
def signed_in(server: DockyardServer, account: Account) -> Iterator[httpx.Client]:
    """An httpx session with the account's password: its cookie and crumb, as a browser has."""
    with httpx.Client(base_url=server.url, auth=(account.username, account.password), timeout=30) as http:
        crumb = http.get("/crumbIssuer/api/json").json()
        http.headers[crumb["crumbRequestField"]] = crumb["crumb"]
        yield http


def wait_for(predicate, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_triggering_and_stopping_need_write_access_to_the_repository(
    server: DockyardServer, tmp_path: Path
) -> None:
    alice, writer, reader, stranger = (create_user(server, p) for p in ("alice", "writer", "reader", "other"))
    repo = create_repo(server, alice, private=True)
    full = repo["full_name"]
    with client(server, alice) as c:
        for who, permission in ((writer, "write"), (reader, "read")):
            r = c.put(f"/api/v1/repos/{full}/collaborators/{who.username}", json={"permission": permission})
            assert r.status_code == 204, r.text
    (home := tmp_path / "home").mkdir()
    git = Git(home)
    work = tmp_path / "work"
    git.run("clone", "-q", repo_url(server, full, alice.username, alice.password), str(work))
    (work / "Jenkinsfile").write_text(SLOW)
    git.run("add", "Jenkinsfile", cwd=work)
    git.run("commit", "-q", "-m", "pipeline", cwd=work)
    git.run("push", "-q", "origin", "main", cwd=work)
    # the reader may not push either: the same rule
    git.run("commit", "-q", "--allow-empty", "-m", "no", cwd=work)
    refused_push = git.run("push", "-q", repo_url(server, full, reader.username, reader.password), "main",
                           cwd=work, check=False)
    assert refused_push.returncode != 0 and "no write permission" in refused_push.stderr

    name = unique("guarded")
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    who = ("<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>"
           "<hudson.model.StringParameterDefinition><name>WHO</name><defaultValue>world</defaultValue>"
           "</hudson.model.StringParameterDefinition></parameterDefinitions>"
           "</hudson.model.ParametersDefinitionProperty></properties>")
    admin.create_job(name, job_xml(repo_url(server, full, alice.username, alice.password), extra=who))

    # alice (owner) triggers #1 with python-jenkins; it runs (sleeps), so #2 (the writer's) queues
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    as_writer = python_jenkins.Jenkins(server.url, username=writer.username, password=writer.password)
    first_queue = as_alice.build_job(name, {"WHO": "alice"})
    wait_for(lambda: as_alice.get_queue_item(first_queue).get("executable"), "build #1 never started")
    second_queue = as_writer.build_job(name, {"WHO": "writer"})
    assert as_writer.get_queue_item(second_queue).get("executable") is None  # waits for #1

    jar = tmp_path / "reader-jar"
    writes = [
        f"/job/{name}/build",
        f"/job/{name}/buildWithParameters?WHO=reader",
        f"/job/{name}/1/stop",
        f"/queue/cancelItem?id={second_queue}",
    ]
    for path in writes:
        status, body = curl_post(reader, server.url + path, jar)
        assert status == 403, (path, status, body)
        assert f"{reader.username} may not start or stop builds of job {name!r}" in body
        assert f"write access to repository {full!r}" in body
        status, body = curl_post(stranger, server.url + path, tmp_path / "stranger-jar")
        assert status == 404, (path, status, body)
    with signed_in(server, reader) as r_http, signed_in(server, stranger) as s_http:
        assert r_http.get(f"/job/{name}/1/consoleText").status_code == 200  # the reader reads
        native = [(f"/api/ci/jobs/{name}/builds", {"params": {"WHO": "r"}}),
                  (f"/api/ci/jobs/{name}/builds/1/abort", None)]
        for path, body in native:
            refused = r_http.post(path, json=body)
            assert refused.status_code == 403 and "may not start or stop" in refused.text, path
            assert s_http.post(path, json=body).status_code == 404, path
    with closing(sign_in(server, reader.username, reader.password)) as ui:  # the web UI's buttons too
        for action in (f"/job/{name}/-/build", f"/job/{name}/1/-/stop", f"/job/{name}/1/-/rebuild"):
            refused = post_form(ui, f"/job/{name}/", action)
            assert refused.status_code == 403 and "may not start or stop" in refused.text, action
    status = as_alice.get_build_info(name, 1)
    assert status["building"] and status["result"] is None  # the reader's stop did nothing

    # the writer stops #1 with python-jenkins; #2 then starts (the reader's cancel did nothing)
    as_writer.stop_build(name, 1)
    wait_for(lambda: as_alice.get_build_info(name, 1)["result"] == "ABORTED", "#1 was not aborted")
    assert f"Aborted by {writer.username}" in as_alice.get_build_console_output(name, 1)
    wait_for(lambda: as_writer.get_queue_item(second_queue).get("executable"), "#2 never started")
    # alice queues #3 behind #2; the writer cancels it (curl) and stops #2
    third_queue = as_alice.build_job(name)
    status, body = curl_post(writer, f"{server.url}/queue/cancelItem?id={third_queue}", tmp_path / "w-jar")
    assert status == 204, (status, body)
    as_writer.stop_build(name, 2)
    wait_for(lambda: as_alice.get_build_info(name, 2)["result"] == "ABORTED", "#2 was not aborted")
    with signed_in(server, alice) as a_http:
        third = a_http.get(f"/api/ci/jobs/{name}/builds/3").json()
    assert (third["result"], third["reason"], third["started_at"]) == ("ABORTED", "cancelled while queued",
                                                                       third["finished_at"]), third

    # the native API: alice queues a build with a parameter and aborts it
    with signed_in(server, alice) as a_http:
        queued = a_http.post(f"/api/ci/jobs/{name}/builds", json={"params": {"WHO": "native"}})
        assert queued.status_code == 201, queued.text
        number = queued.json()["number"]
        assert queued.json()["cause"] == f"user {alice.username}"
        bad = a_http.post(f"/api/ci/jobs/{name}/builds", json={"params": {"EXTRA": "1"}})
        assert bad.status_code == 400 and "does not declare" in bad.text
        aborted = a_http.post(f"/api/ci/jobs/{name}/builds/{number}/abort")
        assert aborted.status_code == 202, aborted.text
        wait_for(lambda: a_http.get(f"/api/ci/jobs/{name}/builds/{number}").json()["result"] == "ABORTED",
                 "the native abort did not abort")
