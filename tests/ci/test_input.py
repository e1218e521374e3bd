"""The `input` step against a real `dockyard up`: python-jenkins triggers the build, the pending
input shows at `/job/N/B/wfapi/pendingInputActions`, and python-jenkins' own authenticated session
(with its crumb) proceeds or aborts it over HTTP (python-jenkins has no input helper). A writer
who is not a listed submitter gets 403 (curl with password, crumb and cookie jar); a stranger 404.
Also: a surrounding timeout, stopping the build while it waits, wrong ids and huge bodies."""

from __future__ import annotations

import json
import signal
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import jenkins as python_jenkins
import pytest
import requests

from tests.ci.conftest import inline_job_xml, job_xml
from tests.ci.test_trigger_access import curl_post
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url, unique

pytestmark = pytest.mark.slow

GATED = """pipeline {
  agent any
  stages {
    stage('Build') { steps { echo 'built' } }
    stage('Deploy') {
      steps {
        input message: 'Deploy?', ok: 'Yes', submitter: 'SUBMITTER', id: 'Deploy'
        echo 'deploying now'
      }
    }
  }
  post { aborted { echo 'post aborted ran' } }
}
"""


def _open(
    j: python_jenkins.Jenkins, method: str, path: str, allow_redirects: bool = True, **kw: Any
) -> requests.Response:
    """A request through python-jenkins' session: its auth and (for POSTs) its crumb."""
    req = requests.Request(method, j.server.rstrip("/") + path, **kw)
    j.maybe_add_crumb(req)
    prepared = j._session.prepare_request(req)
    return j._session.send(prepared, timeout=30, allow_redirects=allow_redirects)


def _wait(predicate: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


def _start(j: python_jenkins.Jenkins, name: str) -> int:
    queue_id = j.build_job(name)
    return int(_wait(lambda: j.get_queue_item(queue_id).get("executable"), "never started")["number"])


def _pending(j: python_jenkins.Jenkins, name: str, number: int) -> list[dict[str, Any]]:
    def ask() -> list[dict[str, Any]]:
        r = _open(j, "GET", f"/job/{name}/{number}/wfapi/pendingInputActions")
        assert r.status_code == 200, r.text
        if not r.json():  # a build that ended instead of asking: its console says why
            assert not j.get_build_info(name, number)["result"], j.get_build_console_output(name, number)
        return list(r.json())

    return list(_wait(ask, f"#{number} never asked for input"))


def _finished(j: python_jenkins.Jenkins, name: str, number: int) -> dict[str, Any]:
    return dict(_wait(lambda: (i := j.get_build_info(name, number))["result"] and i, f"#{number} runs on"))


def _admin_run(server: DockyardServer, script: str, prefix: str) -> tuple[python_jenkins.Jenkins, str, int]:
    """(the admin's python-jenkins client, job, build number): an inline job with `script`, started."""
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique(prefix)
    admin.create_job(name, inline_job_xml(script))
    return admin, name, _start(admin, name)


def owned_job(
    server: DockyardServer, tmp_path: Path, script: str, prefix: str
) -> tuple[str, Account, Account, Account]:
    """(job, alice, bob, stranger): alice's private repository with `script` (ALICE: her name)
    pushed as its Jenkinsfile, bob a write collaborator (he may run the job), the job created by the admin."""
    alice, bob, stranger = (create_user(server, p) for p in ("alice", "bob", "other"))
    full = create_repo(server, alice, private=True)["full_name"]
    with client(server, alice) as c:
        r = c.put(f"/api/v1/repos/{full}/collaborators/{bob.username}", json={"permission": "write"})
        assert r.status_code == 204, r.text
    (home := tmp_path / "home").mkdir()
    git, work = Git(home), tmp_path / "work"
    git.run("clone", "-q", repo_url(server, full, alice.username, alice.password), str(work))
    (work / "Jenkinsfile").write_text(script.replace("ALICE", alice.username))
    git.run("add", "Jenkinsfile", cwd=work)
    git.run("commit", "-q", "-m", "pipeline", cwd=work)
    git.run("push", "-q", "origin", "main", cwd=work)
    name = unique(prefix)
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    admin.create_job(name, job_xml(repo_url(server, full, alice.username, alice.password)))
    return name, alice, bob, stranger


def test_input_proceed_abort_and_submitter(server: DockyardServer, tmp_path: Path) -> None:
    # bob may run the job, but is not a submitter
    gated = GATED.replace("SUBMITTER", "ALICE,admins")
    name, alice, bob, stranger = owned_job(server, tmp_path, gated, "gated")
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)

    # 1: alice proceeds; bob (a writer, not a submitter) is refused; a stranger sees nothing
    n = _start(as_alice, name)
    [pending] = _pending(as_alice, name, n)
    assert pending["id"] == "Deploy" and pending["message"] == "Deploy?" and pending["proceedText"] == "Yes"
    assert pending["proceedUrl"] == f"/job/{name}/{n}/input/Deploy/proceedEmpty"
    console = as_alice.get_build_console_output(name, n)
    assert "Input requested\nDeploy?\nYes or Abort" in console and "deploying now" not in console
    for action in ("proceedEmpty", "abort", "submit"):
        url = f"{server.url}/job/{name}/{n}/input/Deploy/{action}"
        status, body = curl_post(bob, url, tmp_path / "bob")
        assert status == 403 and f"{bob.username} may not answer input 'Deploy'" in body, (action, body)
        status, body = curl_post(stranger, url, tmp_path / "s")
        assert status == 404, (action, body)
    assert _open(as_alice, "POST", f"/job/{name}/{n}/input/Nope/proceedEmpty").status_code == 404
    huge = _open(as_alice, "POST", f"/job/{name}/{n}/input/Deploy/submit",
                 data={"json": "x" * (8 << 20)})
    assert huge.status_code in (400, 413), huge.status_code
    assert _open(as_alice, "POST", f"/job/{name}/{n}/input/Deploy/proceedEmpty").status_code == 200
    info = _finished(as_alice, name, n)
    console = as_alice.get_build_console_output(name, n)
    assert info["result"] == "SUCCESS", console
    assert f"Approved by {alice.username}" in console and "deploying now" in console
    assert _open(as_alice, "POST", f"/job/{name}/{n}/input/Deploy/proceedEmpty").status_code == 404

    # 2: abort -> ABORTED, post { aborted } runs, the later step does not
    n = _start(as_alice, name)
    _pending(as_alice, name, n)
    assert _open(as_alice, "POST", f"/job/{name}/{n}/input/Deploy/abort").status_code == 200
    info = _finished(as_alice, name, n)
    console = as_alice.get_build_console_output(name, n)
    assert info["result"] == "ABORTED", console
    assert f"Rejected by {alice.username}" in console and "post aborted ran" in console
    assert "deploying now" not in console

    # 3: the input page's form (submit with proceed=) from the admin, who may answer any input
    n = _start(admin, name)
    _pending(admin, name, n)
    r = _open(admin, "POST", f"/job/{name}/{n}/input/Deploy/submit", data={"proceed": "Yes", "json": "{}"})
    assert r.status_code == 200, r.text  # requests followed the 302 to the build page
    assert _finished(admin, name, n)["result"] == "SUCCESS"

    # 4: stopping the build while it waits ends it ABORTED (no hang)
    n = _start(as_alice, name)
    _pending(as_alice, name, n)
    as_alice.stop_build(name, n)
    assert _finished(as_alice, name, n)["result"] == "ABORTED"
    assert _open(as_alice, "GET", f"/job/{name}/{n}/wfapi/pendingInputActions").json() == []


TIMED = """pipeline {
  agent any
  stages {
    stage('Gate') {
      steps {
        timeout(time: 1, unit: 'SECONDS') { input message: 'Release?' }
        echo 'released'
      }
    }
  }
}
"""


def test_input_inside_timeout_aborts_the_build(server: DockyardServer) -> None:
    admin, name, n = _admin_run(server, TIMED, "timed")
    info = _finished(admin, name, n)
    console = admin.get_build_console_output(name, n)
    assert info["result"] == "ABORTED", console
    assert "Input requested\nRelease?\nProceed or Abort" in console
    assert "Timeout has been exceeded" in console and "released" not in console


ASK = """pipeline {
  agent any
  stages {
    stage('Ask') {
      steps {
        script {
          def answer = input(message: 'Release which?', id: 'Release', parameters: [
            string(name: 'VERSION', defaultValue: '1.0', description: 'the version'),
            booleanParam(name: 'DRY', defaultValue: true),
            choice(name: 'TARGET', choices: ['staging', 'prod'])
          ])
          echo "version=${answer.VERSION} dry=${answer.DRY} target=${answer.TARGET}"
          def tag = input(message: 'Tag?', id: 'Tag',
                          parameters: [string(name: 'TAG', defaultValue: 'latest')])
          echo "tag=${tag}"
        }
      }
    }
  }
}
"""


def test_input_parameters_reach_the_script(server: DockyardServer) -> None:
    """Jenkins' input form (submit with json=) and the native API pass values to `def x = input(...)`:
    a map for several parameters, the value itself for one; values that do not fit are 400."""
    admin, name, n = _admin_run(server, ASK, "ask")
    [pending] = _pending(admin, name, n)
    inputs = pending["inputs"]
    defaults = [(i["type"], i["name"], i["definition"]["defaultParameterValue"]["value"]) for i in inputs]
    assert defaults == [
        ("StringParameterDefinition", "VERSION", "1.0"),
        ("BooleanParameterDefinition", "DRY", True),
        ("ChoiceParameterDefinition", "TARGET", "staging"),
    ]
    submit = f"/job/{name}/{n}/input/Release/submit"

    def form(*params: tuple[str, Any]) -> dict[str, str]:
        values = [{"name": k, "value": v} for k, v in params]
        return {"proceed": "Release", "json": json.dumps({"parameter": values})}

    for bad, why in (
        (form(("TARGET", "moon")), "is one of staging, prod"),
        (form(("NOPE", "x")), "has no parameter 'NOPE'"),
        (form(("DRY", "maybe")), "is a boolean"),
        ({"json": "{not json"}, "json parameter is not valid"),
    ):
        r = _open(admin, "POST", submit, data=bad, allow_redirects=False)
        assert r.status_code == 400 and why in r.text, (bad, r.status_code, r.text)
    r = _open(admin, "POST", submit, data=form(("VERSION", "2.1"), ("DRY", False), ("TARGET", "prod")),
              allow_redirects=False)
    assert r.status_code == 302, r.text
    # the second input, through the native API
    native = f"/api/ci/jobs/{name}/builds/{n}/input"
    [tag] = _wait(lambda: _open(admin, "GET", native).json(), "never asked for the tag")
    assert tag["id"] == "Tag"
    assert _open(admin, "POST", f"{native}/Tag/launch", json={}).status_code == 404
    assert _open(admin, "POST", f"{native}/Tag/proceed", json={"parameters": []}).status_code == 400
    proceeded = _open(admin, "POST", f"{native}/Tag/proceed", json={"parameters": {"TAG": "v2"}})
    assert proceeded.status_code == 202, proceeded.text
    info = _finished(admin, name, n)
    console = admin.get_build_console_output(name, n)
    assert info["result"] == "SUCCESS", console
    assert "version=2.1 dry=false target=prod" in console and "tag=v2" in console


def test_server_stop_while_waiting_aborts_the_build(fresh_server: DockyardServer) -> None:
    """Stopping Dockyard (SIGTERM) while a build waits for input ends the wait and the build
    ABORTED with the reason; the process exits, and after a restart the API says so."""
    from tests.conftest import start_server

    admin = python_jenkins.Jenkins(fresh_server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique("restart")
    admin.create_job(name, inline_job_xml(TIMED.replace("timeout(time: 1, unit: 'SECONDS')", "dir('.')")))
    n = _start(admin, name)
    _pending(admin, name, n)
    assert fresh_server.stop(signal.SIGTERM) != -signal.SIGKILL  # it exited by itself: no hang
    restarted = start_server(fresh_server.data_dir, None)
    fresh_server.process = restarted.process  # the fixture stops the new process at the end
    admin = python_jenkins.Jenkins(restarted.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    info = admin.get_build_info(name, n)
    console = admin.get_build_console_output(name, n)
    assert info["result"] == "ABORTED", console
    assert "Dockyard is shutting down" in console and "released" not in console


UI_ASK = """pipeline {
  agent any
  stages {
    stage('Ask') {
      steps {
        script {
          def a = input(message: 'Ship it?', id: 'Ship', ok: 'Ship', parameters: [
            booleanParam(name: 'LOUD', defaultValue: true), choice(name: 'WHERE', choices: ['eu', 'us'])])
          echo "loud=${a.LOUD} where=${a.WHERE}"
        }
      }
    }
  }
}
"""


def test_build_page_form_proceeds_and_aborts(server: DockyardServer) -> None:
    from tests.ui.helpers import post_form, sign_in

    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique("uiask")
    admin.create_job(name, inline_job_xml(UI_ASK))
    with closing(sign_in(server)) as ui:
        for action in ("proceed", "abort"):
            n = _start(admin, name)
            _pending(admin, name, n)
            page = f"/job/{name}/{n}/"
            html = ui.get(page).text
            assert "Input requested" in html and "Ship it?" in html and f"{page}-/input/Ship" in html
            # without the page's form token: refused
            assert ui.post(f"{page}-/input/Ship", data={action: "1"}).status_code == 403
            r = post_form(ui, page, f"{page}-/input/Ship", {action: "1", "WHERE": "us"})  # LOUD unchecked
            assert r.status_code in (302, 303), r.text
            info = _finished(admin, name, n)
            console = admin.get_build_console_output(name, n)
            if action == "proceed":
                assert info["result"] == "SUCCESS" and "loud=false where=us" in console, console
            else:
                assert info["result"] == "ABORTED" and "Rejected by admin" in console, console
        assert post_form(ui, page, f"{page}-/input/Ship", {"proceed": "1"}).status_code == 404


def test_submitter_organisation_members_may_answer(server: DockyardServer, tmp_path: Path) -> None:
    """`submitter` names an organisation: its members may answer (Jenkins' groups), others not."""
    team = unique("team")
    name, alice, bob, stranger = owned_job(server, tmp_path, GATED.replace("SUBMITTER", team), "team")
    with client(server, alice) as c:
        assert c.post("/api/v1/orgs", json={"username": team}).status_code == 201
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    as_bob = python_jenkins.Jenkins(server.url, username=bob.username, password=bob.password)
    n = _start(as_alice, name)
    _pending(as_alice, name, n)
    refused = _open(as_bob, "POST", f"/job/{name}/{n}/input/Deploy/proceedEmpty")
    assert refused.status_code == 403 and "members of those organisations" in refused.text, refused.text
    with client(server, alice) as c:
        r = c.put(f"/api/v1/orgs/{team}/members/{bob.username}", json={"role": "read"})
        assert r.status_code == 204, r.text
    assert _open(as_bob, "POST", f"/job/{name}/{n}/input/Deploy/proceedEmpty").status_code == 200
    info = _finished(as_bob, name, n)
    console = as_bob.get_build_console_output(name, n)
    assert info["result"] == "SUCCESS" and f"Approved by {bob.username}" in console, console


DECLARATIVE = """pipeline {
  agent any
  environment { FALLBACK = 'v9' }
  stages {
    stage('Gate') {
      steps {
        input message: "Go with ${env.FALLBACK}?", id: 'Go',
              parameters: [string(name: 'V', defaultValue: "${env.FALLBACK}")]
        echo 'went'
      }
    }
  }
}
"""


def test_declarative_input_with_parameters(server: DockyardServer) -> None:
    """`input` straight in `steps` (not in a script): GString message and defaults are interpolated."""
    admin, name, n = _admin_run(server, DECLARATIVE, "decl")
    [pending] = _pending(admin, name, n)
    assert pending["message"] == "Go with v9?", pending
    assert pending["inputs"][0]["definition"]["defaultParameterValue"]["value"] == "v9", pending
    assert _open(admin, "POST", f"/job/{name}/{n}/input/Go/proceedEmpty").status_code == 200
    assert _finished(admin, name, n)["result"] == "SUCCESS"
    assert "went" in admin.get_build_console_output(name, n)
