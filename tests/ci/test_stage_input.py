"""A stage's declarative `input { }` against a real `dockyard up`, driven as a Jenkins user would:
python-jenkins triggers the build, the stage's pending input shows at
`/job/N/B/wfapi/pendingInputActions` (its id the stage's name), the submitter proceeds it with
parameter values through Jenkins' input form, and the stage's steps, environment and `when` see
them (and the approver in `submitterParameter`); a writer who is not a submitter gets 403; an abort
ends the build ABORTED without running the stage. A matrix asks once per cell; `.dockyard.yml`'s
`input:` is answered through the native API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jenkins as python_jenkins
import pytest

from tests.ci.conftest import Jenkins, job_xml, make_repo, unique
from tests.ci.test_input import _admin_run, _finished, _open, _pending, _start, _wait, owned_job
from tests.ci.test_trigger_access import curl_post
from tests.conftest import DockyardServer

pytestmark = pytest.mark.slow

STAGED = """pipeline {
  agent any
  stages {
    stage('Build') { steps { echo 'built' } }
    stage('Deploy to prod') {
      when { branch 'main' }
      input {
        message 'Deploy to production?'
        ok 'Deploy'
        submitter 'ALICE'
        submitterParameter 'APPROVER'
        parameters {
          string(name: 'VERSION', defaultValue: '1.0', description: 'which version')
          choice(name: 'TARGET', choices: ['staging', 'prod'])
          booleanParam(name: 'DRY', defaultValue: true)
        }
      }
      environment { LABEL = "${TARGET}-${VERSION}" }
      steps { sh 'echo "deploying $VERSION to $TARGET dry=$DRY by $APPROVER label=$LABEL"' }
      post { always { echo 'deploy post ran' } }
    }
  }
  post { aborted { echo 'pipeline aborted' } }
}
"""


def _form(proceed: str, **values: Any) -> dict[str, str]:
    """Jenkins' input form: the proceed button and the parameters as json."""
    params = [{"name": k, "value": v} for k, v in values.items()]
    return {"proceed": proceed, "json": json.dumps({"parameter": params})}


def test_stage_input_proceed_with_parameters_submitter_and_abort(
    server: DockyardServer, tmp_path: Path
) -> None:
    name, alice, bob, stranger = owned_job(server, tmp_path, STAGED, "stagein")
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)

    # 1: the stage waits before its steps; bob (a writer, not the submitter) is refused
    n = _start(as_alice, name)
    [pending] = _pending(as_alice, name, n)
    assert pending["id"] == "Deploy-to-prod" and pending["proceedText"] == "Deploy"
    assert pending["message"] == "Deploy to production?" and pending["submitter"] == alice.username
    assert [(i["name"], i["type"]) for i in pending["inputs"]] == [
        ("VERSION", "StringParameterDefinition"),
        ("TARGET", "ChoiceParameterDefinition"),
        ("DRY", "BooleanParameterDefinition"),
    ]
    described = _open(as_alice, "GET", f"/job/{name}/{n}/wfapi/describe").json()
    assert described["status"] == "PAUSED_PENDING_INPUT", described
    console = as_alice.get_build_console_output(name, n)
    asked = "[Pipeline] { (Deploy to prod)\n[Pipeline] input\nInput requested\nDeploy to production?"
    assert asked in console
    assert "Deploy or Abort" in console and "deploying" not in console
    url = f"{server.url}/job/{name}/{n}/input/Deploy-to-prod"
    for action in ("proceedEmpty", "submit", "abort"):
        status, body = curl_post(bob, f"{url}/{action}", tmp_path / "bob")
        assert status == 403 and f"{bob.username} may not answer input 'Deploy-to-prod'" in body, body
        status, _ = curl_post(stranger, f"{url}/{action}", tmp_path / "s")
        assert status == 404
    submit = f"/job/{name}/{n}/input/Deploy-to-prod/submit"
    bad = _open(as_alice, "POST", submit, data=_form("Deploy", TARGET="moon"), allow_redirects=False)
    assert bad.status_code == 400 and "is one of staging, prod" in bad.text, bad.text
    r = _open(as_alice, "POST", submit, data=_form("Deploy", VERSION="2.5", TARGET="prod"),
              allow_redirects=False)
    assert r.status_code == 302, r.text
    info = _finished(as_alice, name, n)
    console = as_alice.get_build_console_output(name, n)
    assert info["result"] == "SUCCESS", console
    assert f"Approved by {alice.username}" in console
    assert f"deploying 2.5 to prod dry=true by {alice.username} label=prod-2.5" in console
    assert "deploy post ran" in console

    # 2: abort: the build ends ABORTED with Jenkins' lines, the stage's steps and post never run
    n = _start(as_alice, name)
    _pending(as_alice, name, n)
    assert _open(as_alice, "POST", f"/job/{name}/{n}/input/Deploy-to-prod/abort").status_code == 200
    info = _finished(as_alice, name, n)
    console = as_alice.get_build_console_output(name, n)
    assert info["result"] == "ABORTED", console
    assert f"Rejected by {alice.username}" in console and "pipeline aborted" in console
    assert "deploying" not in console and "deploy post ran" not in console
    assert console.rstrip().endswith("Finished: ABORTED")
    stages = {s["name"]: s["status"] for s in _open(as_alice, "GET", f"/job/{name}/{n}/wfapi/describe")
              .json()["stages"]}
    assert stages["Deploy to prod"] == "ABORTED", stages


MATRIX = """pipeline {
  agent any
  stages {
    stage('Ship') {
      matrix {
        axes {
          axis {
            name 'ARCH'
            values 'amd64', 'arm64'
          }
        }
        input {
          message "Ship ${ARCH}?"
          id 'Ship'
          submitterParameter 'WHO'
          parameters { string(name: 'TAG', defaultValue: 'latest') }
        }
        stages {
          stage('Push') { steps { echo "pushing ${ARCH}:${TAG} for ${WHO}" } }
        }
      }
    }
  }
}
"""


def test_matrix_input_asks_in_each_cell(server: DockyardServer) -> None:
    admin, name, n = _admin_run(server, MATRIX, "shipcells")
    ids = _wait(lambda: len(p := _pending(admin, name, n)) == 2 and sorted(x["id"] for x in p), "cells")
    assert ids == ["Ship-amd64", "Ship-arm64"]
    for arch, tag in (("amd64", "v1"), ("arm64", "v2")):
        r = _open(admin, "POST", f"/job/{name}/{n}/input/Ship-{arch}/submit", data=_form("Proceed", TAG=tag),
                  allow_redirects=False)
        assert r.status_code == 302, r.text
    info = _finished(admin, name, n)
    console = admin.get_build_console_output(name, n)
    assert info["result"] == "SUCCESS", console
    assert "Ship amd64?" in console and "Ship arm64?" in console
    assert "pushing amd64:v1 for admin" in console and "pushing arm64:v2 for admin" in console


YAML = """stages:
  - name: Release
    input:
      message: Release it?
      submitterParameter: RELEASED_BY
      parameters: [{name: CHANNEL, type: choice, choices: [beta, stable]}]
    steps:
      - echo "releasing to $CHANNEL by $RELEASED_BY"
"""


def test_dockyard_yml_stage_input_through_the_native_api(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, _ = make_repo(tmp_path, {".dockyard.yml": YAML})
    name = unique("yamlin")
    jenkins.create(name, job_xml(str(bare)))
    number = jenkins.number_of(jenkins.build(name), timeout=120)
    native = f"/api/ci/jobs/{name}/builds/{number}/input"
    [pending] = _wait(lambda: jenkins.http.get(native).json(), "never asked")
    assert pending["id"] == "Release" and pending["message"] == "Release it?"
    r = jenkins.http.post(f"{native}/Release/proceed", json={"parameters": {"CHANNEL": "stable"}})
    assert r.status_code == 202, r.text
    info = jenkins.wait(name, number, timeout=120)
    log = jenkins.console(name, number)
    assert info["result"] == "SUCCESS", log
    assert "releasing to stable by admin" in log
