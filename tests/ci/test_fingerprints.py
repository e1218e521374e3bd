"""`archiveArtifacts artifacts: '...', fingerprint: true` against a real `dockyard up` with the
Jenkinsfile pushed by git: the build's api/json (python-jenkins, depth=1) lists each file's MD5
as Jenkins' Fingerprint (original build, usage ranges), `/fingerprint/<md5>/api/json` names the
original and every job that archived the same bytes, filtered to what the caller may see (a
hidden original is not even hinted at: the first archiving the caller may see stands for it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jenkins as python_jenkins
import pytest

from tests.ci.test_input import _admin_run, _finished, _open, _start, owned_job
from tests.conftest import DockyardServer

pytestmark = pytest.mark.slow

BODY = "the same jar bytes\n"
SCRIPT = """pipeline { agent any
 stages { stage('Package') { steps {
  writeFile file: 'dist/app.jar', text: 'the same jar bytes\\n'
  writeFile file: 'notes.txt', text: 'not fingerprinted'
  archiveArtifacts artifacts: 'dist/*.jar', fingerprint: true
  archiveArtifacts artifacts: 'notes.txt'
 } } }
}
"""


def test_fingerprints_of_archived_files(server: DockyardServer, tmp_path: Path) -> None:
    md5 = hashlib.md5(BODY.encode()).hexdigest()
    name, alice, _, stranger = owned_job(server, tmp_path, SCRIPT, "fingerprint")
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    first = _start(as_alice, name)
    console = as_alice.get_build_console_output(name, first)
    assert _finished(as_alice, name, first)["result"] == "SUCCESS", console
    second = _start(as_alice, name)
    assert _finished(as_alice, name, second)["result"] == "SUCCESS"
    admin, other, n = _admin_run(server, SCRIPT, "fpconsumer")
    assert _finished(admin, other, n)["result"] == "SUCCESS"

    info = as_alice.get_build_info(name, second, depth=1)
    fingerprinter = "hudson.tasks.Fingerprinter$FingerprintAction"
    action = next(a for a in info["actions"] if a.get("_class") == fingerprinter)
    assert action["records"] == {"dist/app.jar": md5}  # notes.txt was archived without fingerprint
    [fp] = info["fingerprint"]
    assert fp["_class"] == "hudson.model.Fingerprint" and fp["hash"] == md5 and fp["fileName"] == "app.jar"
    assert fp["original"] == {"name": name, "number": first}
    usage = {u["name"]: u["ranges"]["ranges"] for u in fp["usage"]}
    assert usage == {name: [{"start": first, "end": second + 1}], other: [{"start": n, "end": n + 1}]}
    assert "fingerprint" not in as_alice.get_build_info(name, second)  # depth 0: the action only

    shown = _open(as_alice, "GET", f"/fingerprint/{md5}/api/json").json()
    assert shown == fp
    # a stranger may not see alice's private job: neither as original nor as a user
    as_stranger = python_jenkins.Jenkins(server.url, username=stranger.username, password=stranger.password)
    hidden = _open(as_stranger, "GET", f"/fingerprint/{md5}/api/json").json()
    assert [u["name"] for u in hidden["usage"]] == [other]
    # nor learn that a hidden job archived the bytes first, when, or as what: the first archiving
    # the stranger may see stands for the original
    assert hidden["original"] == {"name": other, "number": n}, hidden
    assert hidden["timestamp"] > shown["timestamp"] and hidden["fileName"] == "app.jar"
    assert _open(as_alice, "GET", f"/fingerprint/{'0' * 32}/api/json").status_code == 404
    assert _open(as_alice, "GET", "/fingerprint/not-an-md5/api/json").status_code == 404
    assert _open(as_alice, "GET", f"/fingerprint/{'A' * 5000}/api/json").status_code == 404
