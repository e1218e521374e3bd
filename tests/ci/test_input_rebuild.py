"""Rebuild through the Jenkins API (`POST /job/N/B/rebuild`) and the native API: a new build with
the same parameters; bad build refs are 404 and a user who may not run the job cannot."""

from __future__ import annotations

import jenkins as python_jenkins
import pytest

from tests.ci.conftest import inline_job_xml
from tests.ci.test_input import _finished, _open, _wait
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.git.conftest import create_user, unique

pytestmark = pytest.mark.slow

HELLO = """pipeline {
  agent any
  parameters { string(name: 'WHO', defaultValue: 'nobody') }
  stages { stage('s') { steps { echo "hello ${params.WHO}" } } }
}
"""


def test_rebuild_keeps_the_parameters(server: DockyardServer) -> None:
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique("rebuild")
    admin.create_job(name, inline_job_xml(HELLO))
    admin.build_job(name)  # the first build declares the parameters
    _finished(admin, name, _wait(lambda: admin.get_job_info(name)["lastCompletedBuild"], "#1")["number"])
    queue_id = admin.build_job(name, {"WHO": "world"})
    n = int(_wait(lambda: admin.get_queue_item(queue_id).get("executable"), "never started")["number"])
    _finished(admin, name, n)
    assert "hello world" in admin.get_build_console_output(name, n)

    r = _open(admin, "POST", f"/job/{name}/{n}/rebuild", allow_redirects=False)
    assert r.status_code == 201, r.text
    again = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    m = int(_wait(lambda: admin.get_queue_item(again).get("executable"), "rebuild never started")["number"])
    info = _finished(admin, name, m)
    console = admin.get_build_console_output(name, m)
    assert info["result"] == "SUCCESS" and "hello world" in console, console
    assert f"rebuild of #{n}" in console

    native = _open(admin, "POST", f"/api/ci/jobs/{name}/builds/{n}/rebuild")
    assert native.status_code == 201 and native.json()["params"] == {"WHO": "world"}, native.text

    for bad in ("999999", "99999999999999999999999", "nope"):
        assert _open(admin, "POST", f"/job/{name}/{bad}/rebuild").status_code == 404, bad
    stranger = create_user(server, "rb")
    as_stranger = python_jenkins.Jenkins(server.url, username=stranger.username, password=stranger.password)
    refused = _open(as_stranger, "POST", f"/job/{name}/{n}/rebuild")
    assert refused.status_code in (403, 404), refused.text
    assert _open(as_stranger, "POST", f"/api/ci/jobs/{name}/builds/{n}/rebuild").status_code in (403, 404)
