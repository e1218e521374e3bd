"""The build page's Replay and Restart-from-stage in a real browser (Playwright on Debian's
chromium) against a real `dockyard up`, with the Jenkinsfile pushed by git: the repository's owner
restarts a build from a picked stage (earlier stages NOT_EXECUTED on the new build's page) and
replays it with an edited Jenkinsfile from the textarea; a writer sees Restart but not Replay and
gets 403 on the replay page; a reader sees neither and is refused (403); forms without their
token are refused, 2 MB bodies 413. Screenshots go to screenshots/ (gitignored)."""

from __future__ import annotations

from pathlib import Path

import jenkins as python_jenkins
import pytest

from tests.ci.test_input import _finished, _start, _wait, owned_job
from tests.conftest import REPO_ROOT, DockyardServer
from tests.git.conftest import Account, client, create_user
from tests.ui.helpers import form_token, post_form, sign_in
from tests.ui.test_browser import chromium  # noqa: F401 - fixture

pytestmark = pytest.mark.slow
SHOTS = REPO_ROOT / "screenshots"

SCRIPT = """pipeline { agent any
 options { preserveStashes() }
 stages {
  stage('Build') { steps { sh 'echo "artifact of build $BUILD_NUMBER" > out.txt'
                           stash name: 'out', includes: 'out.txt' } }
  stage('Test') { steps { echo 'testing' } }
  stage('Deploy') { steps { unstash 'out'
                            sh 'echo "deploying: $(cat out.txt)"' } }
 }
}
"""


def _sign_in(page: object, user: Account) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto("/user/login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", user.password)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text(f"Welcome, {user.username}")


def _newest(j: python_jenkins.Jenkins, name: str, after: int) -> int:
    return int(_wait(lambda: (n := (j.get_job_info(name).get("lastBuild") or {}).get("number", 0)) > after
                     and n, "no new build"))


def test_restart_and_replay_from_the_build_page(chromium: object, server: DockyardServer,  # noqa: F811
                                                tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    SHOTS.mkdir(exist_ok=True)
    name, alice, bob, _ = owned_job(server, tmp_path, SCRIPT, "uiactions")
    as_alice = python_jenkins.Jenkins(server.url, username=alice.username, password=alice.password)
    origin = _start(as_alice, name)
    assert _finished(as_alice, name, origin)["result"] == "SUCCESS"

    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    _sign_in(page, alice)
    page.goto(f"/job/{name}/{origin}/")
    picker = page.locator("#restart-form select[name=stageName]")
    expect(picker).to_be_visible()
    assert picker.locator("option").all_inner_texts() == ["Build", "Test", "Deploy"]
    expect(page.locator("#replay-link")).to_be_visible()
    page.screenshot(path=str(SHOTS / "build-actions-owner.png"), full_page=True)

    # restart from Deploy: the new build skips Build and Test and unstashes the origin's file
    picker.select_option("Deploy")
    page.click("#restart-form button[type=submit]")
    page.wait_for_url(f"**/job/{name}/?queued=*")
    restarted = _newest(as_alice, name, origin)
    assert _finished(as_alice, name, restarted)["result"] == "SUCCESS"
    console = as_alice.get_build_console_output(name, restarted)
    assert f"deploying: artifact of build {origin}" in console, console
    page.goto(f"/job/{name}/{restarted}/")
    rows = page.locator("table.stages tr.k-stage")
    expect(rows.filter(has_text="Build").locator(".status")).to_have_text("NOT_EXECUTED")
    expect(rows.filter(has_text="Test").locator(".status")).to_have_text("NOT_EXECUTED")
    expect(rows.filter(has_text="Deploy").locator(".status")).to_have_text("SUCCESS")
    expect(page.locator("dl.facts")).to_contain_text(f"restarted from #{origin}, stage Deploy")
    page.screenshot(path=str(SHOTS / "build-restarted.png"), full_page=True)

    # replay: the textarea holds the pipeline the build ran; run it edited
    page.goto(f"/job/{name}/{origin}/")
    page.click("#replay-link")
    page.wait_for_url(f"**/job/{name}/{origin}/replay/")
    area = page.locator("textarea[name=mainScript]")
    assert area.input_value() == SCRIPT
    area.fill(SCRIPT.replace("echo 'testing'", "echo 'testing the replayed script'"))
    page.screenshot(path=str(SHOTS / "build-replay.png"), full_page=True)
    page.click("#replay-form button[type=submit]")
    page.wait_for_url(f"**/job/{name}/?queued=*")
    replayed = _newest(as_alice, name, restarted)
    assert _finished(as_alice, name, replayed)["result"] == "SUCCESS"
    console = as_alice.get_build_console_output(name, replayed)
    assert "testing the replayed script" in console and "Replayed: an edited Jenkinsfile" in console
    # a script that does not parse is refused with its line and column
    page.goto(f"/job/{name}/{origin}/replay/")
    broken = "pipeline { agent any\n  stages { oops }\n}"
    page.locator("textarea[name=mainScript]").fill(broken)
    page.click("#replay-form button[type=submit]")
    expect(page.locator("p.alert")).to_contain_text("Jenkinsfile:2:")
    assert page.locator("textarea[name=mainScript]").input_value() == broken  # the edit is kept

    # bob may run the job but does not own it: Restart yes, Replay no
    bob_page = chromium.new_context(base_url=server.url).new_page()
    _sign_in(bob_page, bob)
    bob_page.goto(f"/job/{name}/{origin}/")
    expect(bob_page.locator("#restart-form")).to_be_visible()
    expect(bob_page.locator("#replay-link")).to_have_count(0)
    response = bob_page.goto(f"/job/{name}/{origin}/replay/")
    assert response is not None and response.status == 403
    expect(bob_page.locator("section.error")).to_contain_text("may not replay")
    context.close()

    # a reader sees neither and is refused; forms need their token; bodies are bounded
    reader = create_user(server, "reader")
    with client(server, alice) as c:
        full = c.get("/api/v1/user/repos").json()[0]["full_name"]
        r = c.put(f"/api/v1/repos/{full}/collaborators/{reader.username}", json={"permission": "read"})
        assert r.status_code == 204, r.text
    as_reader = sign_in(server, reader.username, reader.password)
    html = as_reader.get(f"/job/{name}/{origin}/").text
    assert "restart-form" not in html and "replay-link" not in html
    token = form_token(html)
    refused = as_reader.post(f"/job/{name}/{origin}/-/restart",
                             data={"csrf_token": token, "stageName": "Test"})
    assert refused.status_code == 403, refused.text
    assert as_reader.get(f"/job/{name}/{origin}/restart/").status_code == 403
    owner = sign_in(server, alice.username, alice.password)
    no_token = owner.post(f"/job/{name}/{origin}/-/restart", data={"stageName": "Test"})
    assert no_token.status_code == 403 and "security token" in no_token.text
    huge = owner.post(f"/job/{name}/{origin}/-/replay",
                      data={"csrf_token": token, "mainScript": "x" * (2 << 20)})
    assert huge.status_code == 413, huge.status_code
    page_url = f"/job/{name}/{origin}/restart/"
    unknown = post_form(owner, page_url, f"/job/{name}/{origin}/-/restart", {"stageName": "Nope"})
    assert unknown.status_code == 400 and "not present in the top-level stages" in unknown.text
