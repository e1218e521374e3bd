"""Restart from stage against a real `dockyard up` with real git pushes: the owner's completed
build restarts at a top-level stage through the Jenkins form, `restartPipeline` and the native
API; earlier stages are skipped for the restart (console, wfapi NOT_EXECUTED), the same commit
(a newer one was pushed meanwhile) and parameters are used, the origin's stash is unstashed, and
preserveStashes keeps the stashes of the most recent completed build only. Hostile: a running
build (409), unknown and nested stages (400), a stranger (404), a reader (403), no crumb (403),
a 2 MB body (413), `options { disableRestartFromStage() }` (409). Also: a build waiting at `input`
is PAUSED_PENDING_INPUT in wfapi."""

from __future__ import annotations

from pathlib import Path

import jenkins as python_jenkins
import pytest
import requests

from tests.ci.conftest import inline_job_xml
from tests.ci.test_input import _finished, _open, _pending, _start, _wait, owned_job
from tests.ci.test_trigger_access import signed_in
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.git.conftest import Git, client, create_user, unique

pytestmark = pytest.mark.slow

SCRIPT = """pipeline { agent any
 options { preserveStashes(buildCount: 2) }
 parameters { string(name: 'WHO', defaultValue: 'nobody') }
 stages {
  stage('Build') { steps {
    sh 'echo "built $(cat /proc/sys/kernel/random/uuid)" > out.txt; cat out.txt'
    stash name: 'out', includes: 'out.txt' } }
  stage('Test') { stages { stage('Unit') { steps { sh 'test "$WHO" != fail' } } } }
  stage('Deploy') { steps {
    unstash 'out'
    sh 'echo "deploying $(cat out.txt) for $WHO at $GIT_COMMIT"' } }
 }
}
"""


def _queued_number(j: python_jenkins.Jenkins, location: str) -> int:
    queue_id = int(location.rstrip("/").rsplit("/", 1)[1])
    return int(_wait(lambda: j.get_queue_item(queue_id).get("executable"), "never started")["number"])


def _built_line(console: str) -> str:
    return next(line for line in console.splitlines() if line.startswith("built "))


def test_restart_from_stage(server: DockyardServer, tmp_path: Path) -> None:
    name, alice, bob, stranger = owned_job(server, tmp_path, SCRIPT, "restart")
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    as_bob = python_jenkins.Jenkins(server.url, username=bob.username, password=bob.password)
    as_stranger = python_jenkins.Jenkins(server.url, username=stranger.username, password=stranger.password)
    first = _start(as_alice, name)  # records the pipeline's parameters
    assert _finished(as_alice, name, first)["result"] == "SUCCESS"
    queue_id = as_alice.build_job(name, {"WHO": "param-7"})
    origin = _queued_number(as_alice, f"/queue/item/{queue_id}/")
    info = _finished(as_alice, name, origin)
    assert info["result"] == "SUCCESS"
    origin_console = as_alice.get_build_console_output(name, origin)
    built = _built_line(origin_console)
    commit = next(a for a in info["actions"] if "lastBuiltRevision" in a)["lastBuiltRevision"]["SHA1"]
    ci = server.data_dir / "ci" / name
    assert (ci / str(first) / "stashes" / "out.tar").is_file()

    # a newer commit on main (its push builds it): the restart still runs the origin's
    git, work = Git(tmp_path / "home"), tmp_path / "work"
    (work / "README").write_text("newer\n")
    git.run("add", "README", cwd=work)
    git.run("commit", "-q", "-m", "newer", cwd=work)
    git.run("push", "-q", "origin", "main", cwd=work)
    newer = git.run("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert newer != commit
    pushed = origin + 1
    _wait(lambda: (as_alice.get_job_info(name).get("lastCompletedBuild") or {}).get("number") == pushed,
          "the push did not build")
    # preserveStashes(buildCount: 2): the two most recent completed builds keep their stashes
    assert (ci / str(origin) / "stashes" / "out.tar").is_file()
    assert (ci / str(pushed) / "stashes" / "out.tar").is_file()
    assert not (ci / str(first) / "stashes").exists()

    action = _open(as_alice, "GET", f"/job/{name}/{origin}/restart/api/json").json()
    assert action["restartEnabled"] is True
    assert action["restartableStages"] == ["Build", "Test", "Deploy"]

    # hostile requests first
    url = f"/job/{name}/{origin}/restart/restart"
    assert _open(as_stranger, "POST", url, data={"stageName": "Deploy"}).status_code == 404
    unknown = _open(as_alice, "POST", url, data={"stageName": "Nope"})
    assert unknown.status_code == 400 and "Stage Nope is not present in the top-level stages" in unknown.text
    nested = _open(as_alice, "POST", url, data={"stageName": "Unit"})
    assert nested.status_code == 400 and "nested or parallel stage" in nested.text, nested.text
    assert _open(as_alice, "POST", url, data={"stageName": ""}).status_code == 400
    for bad in ('{"stageName": {"name": "Deploy"}}', '["Deploy"]', '{"stageName": ', "[" * 100_000):
        wrong = _open(as_alice, "POST", url, data={"json": bad})  # a stage name is a string
        assert wrong.status_code == 400 and "json is not valid" in wrong.text, (bad[:40], wrong.text)
    huge = _open(as_alice, "POST", url, data={"stageName": "x" * (2 << 20)})
    assert huge.status_code == 413, huge.status_code
    no_crumb = requests.post(server.url + url, data={"stageName": "Deploy"},
                             auth=(alice.username, alice.password), timeout=30)
    assert no_crumb.status_code == 403 and "crumb" in no_crumb.text
    reader = create_user(server, "reader")
    with client(server, alice) as c:
        full = c.get("/api/v1/user/repos").json()[0]["full_name"]
        r = c.put(f"/api/v1/repos/{full}/collaborators/{reader.username}", json={"permission": "read"})
        assert r.status_code == 204, r.text
    as_reader = python_jenkins.Jenkins(server.url, username=reader.username, password=reader.password)
    refused = _open(as_reader, "POST", url, data={"stageName": "Deploy"})
    assert refused.status_code == 403, refused.text
    reader_view = _open(as_reader, "GET", f"/job/{name}/{origin}/restart/api/json").json()
    assert reader_view["restartEnabled"] is False

    # Jenkins' form: 302 to the job; bob may run the job, so he may restart it
    r = _open(as_bob, "POST", url, data={"json": '{"stageName": "Deploy"}'}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/job/{name}/"), r.text
    restarted = _queued_number(as_bob, r.headers["X-Queue-Item"])
    info = _finished(as_bob, name, restarted)
    console = as_bob.get_build_console_output(name, restarted)
    assert info["result"] == "SUCCESS", console
    assert f"Restarted from build #{origin}, stage Deploy" in console
    assert f"1 stash(es) of #{origin} copied in" in console
    assert 'Stage "Build" skipped due to this build restarting at stage "Deploy"' in console
    assert 'Stage "Test" skipped due to this build restarting at stage "Deploy"' in console
    assert "built " not in console.replace(f"deploying {built}", "")  # Build did not run again
    assert f"deploying {built} for param-7 at {commit}" in console, console
    causes = info["actions"][0]["causes"]
    assert causes[-1] == {
        "_class": "org.jenkinsci.plugins.pipeline.modeldefinition.causes.RestartDeclarativePipelineCause",
        "shortDescription": f"Restarted from build #{origin}, stage Deploy",
    }
    params = next(a for a in info["actions"] if a.get("_class") == "hudson.model.ParametersAction")
    assert params["parameters"][0]["value"] == "param-7"
    described = _open(as_bob, "GET", f"/job/{name}/{restarted}/wfapi/describe").json()
    assert [(s["name"], s["status"]) for s in described["stages"]] == [
        ("Build", "NOT_EXECUTED"), ("Test", "NOT_EXECUTED"), ("Deploy", "SUCCESS")]
    assert described["status"] == "SUCCESS"
    # the restart copied the stash; the origin is now the third most recent completed build
    assert (ci / str(restarted) / "stashes" / "out.tar").is_file()
    assert not (ci / str(origin) / "stashes").exists()

    # a restart of a restart, through restartPipeline's JSON answer
    r = _open(as_alice, "POST", f"/job/{name}/{restarted}/restart/restartPipeline?stageName=Test")
    assert r.status_code == 201 and r.json()["success"] == "true", r.text
    again = _queued_number(as_alice, r.headers["Location"])
    assert _finished(as_alice, name, again)["result"] == "SUCCESS"
    console = as_alice.get_build_console_output(name, again)
    assert 'Stage "Build" skipped' in console and f"deploying {built} for param-7 at {commit}" in console

    # the native API; and a failed build cannot restart from a stage skipped for that failure
    queue_id = as_alice.build_job(name, {"WHO": "fail"})
    failed = _queued_number(as_alice, f"/queue/item/{queue_id}/")
    assert _finished(as_alice, name, failed)["result"] == "FAILURE"
    with signed_in(server, alice) as c:
        stages = c.get(f"/api/ci/jobs/{name}/builds/{failed}/restart").json()
        assert stages == {"restartable": True, "stages": ["Build", "Test"]}
        r = c.post(f"/api/ci/jobs/{name}/builds/{failed}/restart", json={"stage": "Deploy"})
        assert r.status_code == 400 and "restartable stages: Build, Test" in r.text, r.text
        r = c.post(f"/api/ci/jobs/{name}/builds/{failed}/restart", json={"stage": "Build"})
        assert r.status_code == 201, r.text
        assert r.json()["cause"] == f"user {alice.username} (restarted from #{failed}, stage Build)"
        assert r.json()["commit"] == newer  # the failed build ran the newer commit: so does its restart


def test_restart_of_a_running_build_and_paused_input(server: DockyardServer) -> None:
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique("paused")
    admin.create_job(name, inline_job_xml(
        "pipeline { agent any\n options { disableRestartFromStage() }\n stages {\n"
        " stage('Build') { steps { stash name: 'none', allowEmpty: true } }\n"
        " stage('Approve') { steps { input message: 'Ship?', id: 'Ship' } } } }"))
    n = _start(admin, name)
    _pending(admin, name, n)
    described = _open(admin, "GET", f"/job/{name}/{n}/wfapi/describe").json()
    assert described["status"] == "PAUSED_PENDING_INPUT", described
    assert [(s["name"], s["status"]) for s in described["stages"]] == [
        ("Build", "SUCCESS"), ("Approve", "PAUSED_PENDING_INPUT")]
    assert described["_links"]["pendingInputActions"]["href"] == f"/job/{name}/{n}/wfapi/pendingInputActions"
    running = _open(admin, "POST", f"/job/{name}/{n}/restart/restart", data={"stageName": "Approve"})
    assert running.status_code == 409 and "is not complete, so cannot be restarted" in running.text
    assert _open(admin, "GET", f"/job/{name}/{n}/restart/api/json").json()["restartEnabled"] is False
    assert _open(admin, "POST", f"/job/{name}/{n}/input/Ship/abort").status_code == 200
    assert _finished(admin, name, n)["result"] == "ABORTED"
    assert _open(admin, "GET", f"/job/{name}/{n}/wfapi/describe").json()["status"] == "ABORTED"
    disabled = _open(admin, "POST", f"/job/{name}/{n}/restart/restart", data={"stageName": "Approve"})
    assert disabled.status_code == 409 and "disableRestartFromStage" in disabled.text, disabled.text
    assert _open(admin, "GET", f"/job/{name}/{n}/restart/api/json").json() == {
        "_class": "org.jenkinsci.plugins.pipeline.modeldefinition.actions.RestartDeclarativePipelineAction",
        "restartEnabled": False, "restartableStages": []}
    # no preserveStashes: the build's stashes went with its end
    assert not (server.data_dir / "ci" / name / str(n) / "stashes").exists()
