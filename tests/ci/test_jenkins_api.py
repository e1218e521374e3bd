"""Jenkins' remote API against a live server: the tutorial's curl calls (crumb + cookie jar),
CSRF rules, job CRUD, builds, logs, stop, queue, and python-jenkins."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import TUTORIAL, Jenkins, inline_job_xml, job_xml, make_repo, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

SIMPLE = """pipeline {
  agent any
  stages {
    stage('Hello') {
      steps {
        sh 'echo "hello from $JOB_NAME #$BUILD_NUMBER at $GIT_COMMIT on $BRANCH_NAME"'
      }
    }
  }
}
"""


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True)


def test_tutorial_c2_curl_crumb_and_cookie_jar_create_job(server: DockyardServer, tmp_path: Path) -> None:
    """commands.sh C.2 verbatim except host:port and job name: crumb via xpath, then createItem."""
    require_tool("curl")
    cookie = str(tmp_path / "jenkins-cookie")
    base = server.url
    crumb = _curl(
        "-c",
        cookie,
        "-b",
        cookie,
        "-u",
        f"{ADMIN_USER}:{ADMIN_PASSWORD}",
        f"{base}/crumbIssuer/api/xml?xpath=concat(//crumbRequestField,%22:%22,//crumb)",
    ).stdout
    assert crumb.startswith("Jenkins-Crumb:") and len(crumb) > 20 and "\n" not in crumb
    name = unique("hello-kaniko")
    out = _curl(
        "-c",
        cookie,
        "-b",
        cookie,
        "-u",
        f"{ADMIN_USER}:{ADMIN_PASSWORD}",
        "-X",
        "POST",
        "-H",
        crumb,
        "-H",
        "Content-Type:application/xml",
        "--data-binary",
        f"@{TUTORIAL / 'job.xml'}",
        "-w",
        "%{http_code}",
        f"{base}/createItem?name={name}",
    )
    assert out.stdout == "200"
    job = httpx.get(f"{base}/job/{name}/api/json", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()
    assert job["name"] == name and job["nextBuildNumber"] == 1
    xml = httpx.get(f"{base}/job/{name}/config.xml", auth=(ADMIN_USER, ADMIN_PASSWORD)).text
    # as sent, except the clone URL's password, which never leaves (issue 10, reproduction 4)
    sent = (TUTORIAL / "job.xml").read_text()
    assert "bootcamp:bootcamp@" in sent
    assert xml == sent.replace("bootcamp:bootcamp@", "bootcamp:****@")


def test_password_post_without_crumb_is_refused_like_jenkins(server: DockyardServer, tmp_path: Path) -> None:
    """The tutorial's pitfall: POST with -u and no cookie jar -> 403 No valid crumb."""
    xml = (TUTORIAL / "job.xml").read_text()
    auth = (ADMIN_USER, ADMIN_PASSWORD)
    r = httpx.post(f"{server.url}/createItem", params={"name": unique("nocrumb")}, content=xml, auth=auth)
    assert r.status_code == 403 and "No valid crumb" in r.text
    # a crumb without its session cookie (a new curl session) is refused too
    with httpx.Client(base_url=server.url, auth=auth) as first:
        crumb = first.get("/crumbIssuer/api/json").json()
    r = httpx.post(
        f"{server.url}/createItem",
        params={"name": unique("nocookie")},
        content=xml,
        auth=auth,
        headers={crumb["crumbRequestField"]: crumb["crumb"]},
    )
    assert r.status_code == 403
    # the same session with the crumb works
    with httpx.Client(base_url=server.url, auth=auth) as session:
        crumb = session.get("/crumbIssuer/api/json").json()
        assert crumb["crumbRequestField"] == "Jenkins-Crumb"
        r = session.post(
            "/createItem",
            params={"name": unique("withcrumb")},
            content=xml,
            headers={"Jenkins-Crumb": crumb["crumb"]},
        )
        assert r.status_code == 200, r.text


def test_token_auth_needs_no_crumb_and_anonymous_is_refused(server: DockyardServer, jenkins: Jenkins) -> None:
    jenkins.create(unique("tokenjob"), (TUTORIAL / "job.xml").read_text())
    assert httpx.get(f"{server.url}/api/json").status_code == 401
    assert httpx.post(f"{server.url}/createItem?name=x", content="<x/>").status_code == 401
    bad = httpx.get(f"{server.url}/api/json", auth=(ADMIN_USER, "wrong"))
    assert bad.status_code == 401


def test_create_item_rejects_bad_xml_and_duplicates(jenkins: Jenkins) -> None:
    name = unique("dup")
    r = jenkins.http.post("/createItem", params={"name": name}, content="<project><builders/></project>")
    assert r.status_code == 400 and "unsupported job type <project>" in r.headers["x-error"]
    r = jenkins.http.post("/createItem", params={"name": name}, content="<flow-definition><oops")
    assert r.status_code == 400 and "not well-formed" in r.text
    jenkins.create(name, (TUTORIAL / "job.xml").read_text())
    r = jenkins.http.post("/createItem", params={"name": name}, content=(TUTORIAL / "job.xml").read_text())
    assert r.status_code == 400 and "already exists" in r.text
    r = jenkins.http.post(
        "/createItem", params={"name": "../evil"}, content=(TUTORIAL / "job.xml").read_text()
    )
    assert r.status_code == 400


def test_build_console_progressive_text_and_api(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, commit = make_repo(tmp_path, {"Jenkinsfile": SIMPLE})
    name = unique("hello")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS" and info["number"] == 1 and info["building"] is False
    assert info["duration"] > 0 and info["timestamp"] > 1_600_000_000_000
    assert info["url"].endswith(f"/job/{name}/1/")
    assert f"hello from {name} #1 at {commit} on main" in log
    assert log.rstrip().endswith("Finished: SUCCESS")
    r = jenkins.http.get(f"/job/{name}/1/logText/progressiveText", params={"start": 0})
    assert r.text == log and int(r.headers["x-text-size"]) == len(log.encode())
    assert "x-more-data" not in r.headers
    tail = jenkins.http.get(f"/job/{name}/1/logText/progressiveText", params={"start": 10})
    assert tail.text == log[10:]
    last = jenkins.http.get(f"/job/{name}/lastBuild/api/json").json()
    assert last["number"] == 1
    job = jenkins.http.get(f"/job/{name}/api/json").json()
    assert job["lastSuccessfulBuild"]["number"] == 1 and job["color"] == "blue"
    root = jenkins.http.get("/api/json").json()
    assert any(j["name"] == name for j in root["jobs"])


def test_stop_running_build_and_live_progressive_text(jenkins: Jenkins) -> None:
    name = unique("stopme")
    script = (
        "pipeline { agent any\n stages { stage('s') { steps { sh 'echo started; sleep 30' } } }\n"
        " post { aborted { echo 'post aborted ran' } } }"
    )
    jenkins.create(name, inline_job_xml(script))
    number = jenkins.number_of(jenkins.build(name))
    deadline = time.monotonic() + 20
    while "started" not in jenkins.console(name, number) and time.monotonic() < deadline:
        time.sleep(0.05)
    r = jenkins.http.get(f"/job/{name}/{number}/logText/progressiveText", params={"start": 0})
    assert r.headers["x-more-data"] == "true"
    assert jenkins.http.get(f"/job/{name}/{number}/api/json").json()["building"] is True
    r = jenkins.http.post(f"/job/{name}/{number}/stop")
    assert r.status_code == 302
    info = jenkins.wait(name, number, timeout=20)
    assert info["result"] == "ABORTED"
    log = jenkins.console(name, number)
    assert "Aborted by admin" in log and "post aborted ran" in log


def test_one_build_per_job_at_a_time_and_queue_api(jenkins: Jenkins) -> None:
    name = unique("serial")
    jenkins.create(
        name, inline_job_xml("pipeline { agent any\n stages { stage('s') { steps { sh 'sleep 1' } } } }")
    )
    q1, q2 = jenkins.build(name), jenkins.build(name)
    time.sleep(0.3)
    item = jenkins.http.get(f"/queue/item/{q2}/api/json").json()
    assert item["executable"] is None and "another build" in item["why"]
    queue = jenkins.http.get("/queue/api/json").json()
    assert any(i["id"] == q2 for i in queue["items"])
    n1, n2 = jenkins.number_of(q1), jenkins.number_of(q2)
    b1, b2 = jenkins.wait(name, n1), jenkins.wait(name, n2)
    assert b1["result"] == b2["result"] == "SUCCESS"
    assert b2["timestamp"] >= b1["timestamp"] + b1["duration"]  # not overlapping


def test_parameters_config_xml_update_and_delete(jenkins: Jenkins) -> None:
    name = unique("params")
    script = (
        "pipeline { agent any\n parameters { string(name: 'WHO', defaultValue: 'world') }\n"
        " stages { stage('s') { steps { sh 'echo hello $WHO' } } } }"
    )
    jenkins.create(name, inline_job_xml(script))
    _, log = jenkins.run(name)
    assert "hello world" in log
    _, log = jenkins.run(name, WHO="dockyard")
    assert "hello dockyard" in log
    new = inline_job_xml(script.replace("hello", "bye"))
    assert jenkins.http.post(f"/job/{name}/config.xml", content=new).status_code == 200
    assert jenkins.http.get(f"/job/{name}/config.xml").text == new
    _, log = jenkins.run(name)
    assert "bye world" in log
    assert jenkins.http.post(f"/job/{name}/doDelete").status_code == 302
    assert jenkins.http.get(f"/job/{name}/api/json").status_code == 404


def test_python_jenkins_create_trigger_wait_console(server: DockyardServer, tmp_path: Path) -> None:
    """The python-jenkins client from PyPI, with password auth (it fetches the crumb itself)."""
    jenkins_mod = pytest.importorskip("jenkins")
    bare, _work, commit = make_repo(tmp_path, {"Jenkinsfile": SIMPLE})
    client = jenkins_mod.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    name = unique("pyjenkins")
    client.create_job(name, job_xml(str(bare)))
    assert client.job_exists(name)
    queue_id = client.build_job(name)
    deadline = time.monotonic() + 60
    number = None
    while number is None and time.monotonic() < deadline:
        item = client.get_queue_item(queue_id)
        number = (item.get("executable") or {}).get("number")
        time.sleep(0.05)
    assert number == 1
    while (
        client.get_build_info(name, number)["building"]
        or client.get_build_info(name, number)["result"] is None
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get_build_info(name, number)["result"] == "SUCCESS"
    console = client.get_build_console_output(name, number)
    assert f"at {commit} on main" in console
    assert client.get_job_info(name)["lastBuild"]["number"] == 1
    assert name in [j["name"] for j in client.get_jobs()]
    client.delete_job(name)
    assert not client.job_exists(name)


def test_only_administrators_define_jobs(server: DockyardServer, jenkins: Jenkins) -> None:
    """Job steps run on the Dockyard host, so creating or changing a job needs an administrator;
    any user may read jobs; starting builds of a job with no repository of this server is theirs too."""
    user = unique("dev")
    server.add_user(user, "devpass")
    xml = (TUTORIAL / "job.xml").read_text()
    name = unique("adminonly")
    jenkins.create(
        name, inline_job_xml("pipeline { agent any\n stages { stage('s') { steps { echo 'x' } } } }")
    )
    with httpx.Client(base_url=server.url, auth=(user, "devpass")) as dev:
        crumb = dev.get("/crumbIssuer/api/json").json()
        headers = {"Jenkins-Crumb": crumb["crumb"]}
        r = dev.post("/createItem", params={"name": unique("bydev")}, content=xml, headers=headers)
        assert r.status_code == 403 and "administrator" in r.text
        assert dev.post(f"/job/{name}/config.xml", content=xml, headers=headers).status_code == 403
        assert dev.post(f"/job/{name}/doDelete", headers=headers).status_code == 403
        assert dev.get(f"/job/{name}/api/json").status_code == 200
        refused = dev.post(f"/job/{name}/build", headers=headers)
        assert refused.status_code == 403 and "Dockyard administrator" in refused.text
