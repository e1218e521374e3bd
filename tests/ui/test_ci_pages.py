"""CI pages at Jenkins' paths against a real `dockyard up`: job list, history with pages,
Build now / with parameters through forms, the stage table, artifacts, stop, and the live
console over server-sent events (resumed exactly by Last-Event-ID)."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.ci.conftest import Jenkins, inline_job_xml, jenkins, unique  # noqa: F401 - fixture
from tests.conftest import DockyardServer
from tests.ui.helpers import browser, insert_builds, post_form, sign_in

SCRIPT = """pipeline { agent any
 parameters {
  string(name: 'WHO', defaultValue: 'world')
  password(name: 'PW', defaultValue: 'ui-pw-default-5531')
 }
 stages {
  stage('Greet') { steps { sh 'for i in 1 2 3 4 5; do echo "line $i hello $WHO"; sleep 0.3; done' } }
  stage('Archive') { steps { sh 'echo artifact-body > out.txt'
                             archiveArtifacts artifacts: 'out.txt' } } } }"""


def _wait_done(client: httpx.Client, name: str, number: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Finished: " in client.get(f"/job/{name}/{number}/").text:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} #{number} did not finish")


def _events(client: httpx.Client, path: str, headers: dict[str, str] | None = None,
            stop_after: int | None = None) -> list[tuple[str, str, str]]:
    """(event, id, data) of an SSE stream, read until it ends or `stop_after` log events."""
    out: list[tuple[str, str, str]] = []
    event, ident, data = "message", "", []
    with client.stream("GET", path, headers=headers or {}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line == "":
                if data:
                    out.append((event, ident, "\n".join(data)))
                    if event == "end" or (stop_after and sum(e == "log" for e, _, _ in out) >= stop_after):
                        return out
                event, data = "message", []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
    return out


@pytest.fixture(scope="module")
def job(jenkins: Jenkins) -> str:  # noqa: F811 - the fixture imported above
    name = unique("ui-job")
    jenkins.create(name, inline_job_xml(SCRIPT))
    return name


def test_job_pages_need_sign_in_and_hide_unknown_jobs(server: DockyardServer, job: str) -> None:
    anon = browser(server)
    r = anon.get(f"/job/{job}/")
    assert r.status_code == 303 and r.headers["location"] == f"/user/login?redirect_to=%2Fjob%2F{job}%2F"
    c = sign_in(server)
    assert c.get("/job/no-such-job-ui/").status_code == 404
    assert job in c.get("/view/all/").text


def test_build_with_parameters_stream_and_stage_table(server: DockyardServer, job: str,
                                                      jenkins: Jenkins) -> None:  # noqa: F811
    c = sign_in(server)
    page = c.get(f"/job/{job}/")
    assert page.status_code == 200 and "Build with parameters" in page.text
    assert 'name="param.WHO"' in page.text and "ui-pw-default-5531" not in page.text
    form = c.get(f"/job/{job}/build")  # Jenkins' "Build with Parameters" page
    assert form.status_code == 200 and 'name="param.PW"' in form.text
    assert "ui-pw-default-5531" not in form.text
    r = post_form(c, f"/job/{job}/", f"/job/{job}/-/build",
                  {"param.WHO": "dockyard", "param.PW": "ui-typed-secret-8812"})
    assert r.status_code == 303, r.text
    number = int(r.headers["location"].rsplit("=", 1)[1])
    deadline = time.monotonic() + 60
    while "line 1" not in c.get(f"/job/{job}/{number}/console/raw").text:
        assert time.monotonic() < deadline, "build never started"
        time.sleep(0.1)

    # live: the first events arrive while the build runs; a reconnect resumes at the offset
    first = _events(c, f"/job/{job}/{number}/console/events", stop_after=1)
    (kind, offset, data), = [e for e in first if e[0] == "log"]
    text_so_far = json.loads(data)
    rest = _events(c, f"/job/{job}/{number}/console/events", headers={"Last-Event-ID": offset})
    assert rest[-1][0] == "end" and json.loads(rest[-1][2])["result"] == "SUCCESS"
    streamed = text_so_far + "".join(json.loads(d) for e, _, d in rest if e == "log")
    api_text = jenkins.console(job, number)
    assert streamed == api_text  # byte for byte the API's log: nothing twice, nothing lost
    assert "line 5 hello dockyard" in streamed and "ui-typed-secret-8812" not in streamed
    assert int(rest[-1][1]) == len(api_text.encode())
    # ?start= works for a fresh EventSource, and a finished build's stream just ends
    again = _events(c, f"/job/{job}/{number}/console/events?start={len(api_text.encode())}")
    assert [e for e, _, _ in again] == ["end"]

    build = c.get(f"/job/{job}/{number}/")
    assert build.status_code == 200 and "SUCCESS" in build.text
    for phase in ("queued", "agent ready", "Greet", "Archive"):
        assert phase in build.text, phase
    assert "ui-typed-secret-8812" not in build.text and "****" in build.text
    art = c.get(f"/job/{job}/{number}/artifacts/out.txt")
    assert art.status_code == 200 and art.text.strip() == "artifact-body"
    assert "sandbox" in art.headers["content-security-policy"]
    assert c.get(f"/job/{job}/{number}/artifacts/..%2F..%2F..%2F..%2Fetc%2Fpasswd").status_code == 404
    console = c.get(f"/job/{job}/{number}/console")
    assert console.status_code == 200 and "line 3 hello dockyard" in console.text
    assert c.get(f"/job/{job}/{number}/console/raw").text == api_text
    # Jenkins' permalinks open the numbered pages
    r = c.get(f"/job/{job}/lastSuccessfulBuild/")
    assert r.status_code == 303 and r.headers["location"] == f"/job/{job}/{number}/"
    assert c.get(f"/job/{job}/lastBuild/console").headers["location"] == f"/job/{job}/{number}/console"
    assert c.get(f"/job/{job}/lastFailedBuild/").status_code == 404
    assert c.get(f"/job/{job}/nonsense/").status_code == 404
    # the Jenkins API keeps its paths
    assert jenkins.http.get(f"/job/{job}/{number}/api/json").json()["result"] == "SUCCESS"
    assert jenkins.http.get(f"/job/{job}/api/json").json()["name"] == job


def test_build_now_stop_and_history_pages(server: DockyardServer, jenkins: Jenkins) -> None:  # noqa: F811
    name = unique("ui-stop")
    jenkins.create(name, inline_job_xml(
        "pipeline { agent any\n stages { stage('Wait') { steps { sh 'echo started; sleep 60' } } } }"))
    c = sign_in(server)
    page = c.get(f"/job/{name}/")
    assert "Build now" in page.text
    r = post_form(c, f"/job/{name}/", f"/job/{name}/-/build")
    assert r.status_code == 303
    number = int(r.headers["location"].rsplit("=", 1)[1])
    deadline = time.monotonic() + 60
    while "started" not in c.get(f"/job/{name}/{number}/console/raw").text:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert post_form(c, f"/job/{name}/{number}/", f"/job/{name}/{number}/-/stop").status_code == 303
    _wait_done(c, name, number)
    assert "ABORTED" in c.get(f"/job/{name}/{number}/").text
    # a form post without the token changes nothing
    assert c.post(f"/job/{name}/-/build", data={}).status_code == 403
    # history pages: 25 per page
    for _ in range(26):
        jenkins.http.post(f"/job/{name}/build")
    history = c.get(f"/job/{name}/")
    assert "Older" in history.text
    second = c.get(f"/job/{name}/?page=2")
    assert second.status_code == 200 and "Newer" in second.text
    assert c.get(f"/job/{name}/?page=99").status_code == 404
    for n in range(number + 1, number + 27):  # do not leave 26 queued builds to other tests
        c2 = c.get(f"/job/{name}/")
        token = c2.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        c.post(f"/job/{name}/{n}/-/stop", data={"csrf_token": token})


def test_history_of_a_thousand_builds_pages_through(server: DockyardServer, jenkins: Jenkins) -> None:  # noqa: F811
    """1,000 finished builds (rows written straight into the server's CI tables, as 1,000 runs
    would leave them): the history walks 40 pages of 25 by its Older links, each build once and
    newest first, and Jenkins' job JSON still answers."""
    name = unique("ui-thousand")
    script = "pipeline { agent any\n stages { stage('A') { steps { sh 'true' } } } }"
    jenkins.create(name, inline_job_xml(script))
    insert_builds(server, name, 1000)
    c = sign_in(server)
    seen: list[int] = []
    path: str | None = f"/job/{name}/"
    pages = 0
    while path is not None:
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        pages += 1
        numbers = [int(n) for n in re.findall(rf'href="/job/{name}/(\d+)/"', r.text)]
        seen += list(dict.fromkeys(numbers))
        older = re.search(r'<a href="(\?page=\d+)">Older', r.text)
        path = f"/job/{name}/{older.group(1)}" if older else None
    assert pages == 40
    assert seen == list(range(1000, 0, -1))
    assert c.get(f"/job/{name}/?page=41").status_code == 404
    assert c.get(f"/job/{name}/lastFailedBuild/").headers["location"].endswith(f"/job/{name}/994/")
    api = jenkins.http.get(f"/job/{name}/api/json")
    assert api.status_code == 200
    body = api.json()
    assert body["lastBuild"]["number"] == 1000 and body["nextBuildNumber"] == 1001
    assert body["builds"][0]["number"] == 1000
