"""Replay (`POST /job/N/B/replay` with the edited script) against a real `dockyard up`: the
repository's owner replays, the new build runs the edited script and its console says so; a writer
who may run the job but does not own it gets 403, a stranger 404; bad scripts are 400 with
line:column, huge bodies 413, unknown builds 404."""

from __future__ import annotations

from pathlib import Path

import jenkins as python_jenkins
import pytest

from tests.ci.test_input import _finished, _open, _start, _wait, owned_job
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

pytestmark = pytest.mark.slow

ORIGINAL = "pipeline { agent any\n stages { stage('s') { steps { echo 'the original script' } } } }\n"
EDITED = "pipeline { agent any\n stages { stage('s') { steps { echo 'the edited script' } } } }\n"


def test_replay_runs_the_edited_script_for_owners_only(server: DockyardServer, tmp_path: Path) -> None:
    name, alice, bob, stranger = owned_job(server, tmp_path, ORIGINAL, "replay")
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    as_bob = python_jenkins.Jenkins(server.url, username=bob.username, password=bob.password)
    as_stranger = python_jenkins.Jenkins(server.url, username=stranger.username, password=stranger.password)
    n = _start(as_alice, name)
    assert _finished(as_alice, name, n)["result"] == "SUCCESS"

    url = f"/job/{name}/{n}/replay"
    refused = _open(as_bob, "POST", url, data={"mainScript": EDITED})
    assert refused.status_code == 403 and "may not replay" in refused.text, refused.text
    assert _open(as_stranger, "POST", url, data={"mainScript": EDITED}).status_code == 404
    assert _open(as_alice, "POST", f"/job/{name}/999/replay", data={"mainScript": EDITED}).status_code == 404
    bad = _open(as_alice, "POST", url, data={"mainScript": "pipeline { agent any\n stages { oops } }"})
    assert bad.status_code == 400 and "Jenkinsfile:2:" in bad.text, bad.text
    assert _open(as_alice, "POST", url, data={}).status_code == 400
    huge = _open(as_alice, "POST", url, data="x" * (2 << 20), headers={"Content-Type": "text/plain"})
    assert huge.status_code == 413, huge.status_code

    r = _open(as_alice, "POST", url, data={"mainScript": EDITED}, allow_redirects=False)
    assert r.status_code == 201, r.text
    queue_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    m = int(_wait(lambda: as_alice.get_queue_item(queue_id).get("executable"), "never started")["number"])
    info = _finished(as_alice, name, m)
    console = as_alice.get_build_console_output(name, m)
    assert info["result"] == "SUCCESS", console
    assert "Replayed: an edited Jenkinsfile" in console and f"replay of #{n}" in console
    assert "the edited script" in console and "the original script" not in console
    # the admin may replay too (text/plain body)
    plain = {"Content-Type": "text/plain"}
    script = EDITED.replace("edited", "admin")
    r = _open(admin, "POST", url, data=script, headers=plain, allow_redirects=False)
    assert r.status_code == 201, r.text
    queue_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    k = int(_wait(lambda: admin.get_queue_item(queue_id).get("executable"), "never started")["number"])
    _finished(admin, name, k)
    assert "the admin script" in admin.get_build_console_output(name, k)
    assert not list((server.data_dir / "ci" / name / "replays").glob("*"))  # read once, then deleted
