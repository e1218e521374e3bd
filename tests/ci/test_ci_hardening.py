"""Issue 10's CI API reproductions against a real `dockyard up`, with curl and python-jenkins:
undeclared and shell-interpreted parameters (1), secrets in job configs and build APIs (4, 7),
a non-Latin-1 job name (11)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from tests.ci.conftest import Jenkins, inline_job_xml, job_xml, make_repo, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool
from tests.git.conftest import Account, Git, create_repo, create_user, repo_url

ECHO = "pipeline { agent any\n stages { stage('s') { steps { echo 'ran' } } } }"


def _param_xml(script: str, params: str) -> str:
    """An inline pipeline job whose config.xml declares `params` (Jenkins' XML elements)."""
    return inline_job_xml(script).replace(
        "<definition",
        "<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>"
        f"{params}</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>"
        "<definition",
        1,
    )


def _string_param(name: str, default: str = "") -> str:
    return (
        f"<hudson.model.StringParameterDefinition><name>{name}</name>"
        f"<defaultValue>{default}</defaultValue></hudson.model.StringParameterDefinition>"
    )


def _password_param(name: str, default: str) -> str:
    return (
        f"<hudson.model.PasswordParameterDefinition><name>{name}</name>"
        f"<defaultValue>{escape(default)}</defaultValue></hudson.model.PasswordParameterDefinition>"
    )


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    require_tool("curl")
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True)


def _curl_post_as(account: Account, base: str, path: str, cookie: Path, *data: str) -> tuple[int, str]:
    """POST with password auth, crumb and cookie jar, as a signed-in user's own curl session would."""
    session = ["-c", str(cookie), "-b", str(cookie), "-u", f"{account.username}:{account.password}"]
    xpath = "concat(//crumbRequestField,%22:%22,//crumb)"
    crumb = _curl(*session, f"{base}/crumbIssuer/api/xml?xpath={xpath}").stdout
    assert crumb.startswith("Jenkins-Crumb:"), crumb
    out = _curl(
        *session,
        *("-X", "POST", "-H", crumb, "-o", "/dev/stderr", "-w", "%{http_code}"),
        *[a for d in data for a in ("--data-urlencode", d)],
        f"{base}{path}",
    )
    return int(out.stdout), out.stderr


def _db_bytes(server: DockyardServer) -> bytes:
    """Everything the database holds on disk (main file and write-ahead log)."""
    return b"".join(p.read_bytes() for p in server.data_dir.glob("dockyard.db*") if p.is_file())


def test_undeclared_and_interpreted_parameters_never_reach_a_build(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    """Reproduction 1: a signed-in user with a crumb from their own session sends PS4=+$(id).
    One who may not run the job (here: no repository, so administrators only) is refused
    outright; one who may has every undeclared or interpreted parameter refused."""
    name = unique("params")
    jenkins.create(name, _param_xml(ECHO, _string_param("WHO", "world")))
    dev = create_user(server, "dev")
    status, body = _curl_post_as(
        dev, server.url, f"/job/{name}/buildWithParameters", tmp_path / "dev-jar", "PS4=+$(id >&2)"
    )
    assert status == 403 and "may not start or stop builds" in body, body
    admin = Account(ADMIN_USER, ADMIN_PASSWORD)
    for hostile in ("PS4=+$(id >&2)", "LD_PRELOAD=/tmp/x.so", "BASH_ENV=/tmp/x", "GIT_CONFIG_COUNT=1"):
        status, body = _curl_post_as(
            admin, server.url, f"/job/{name}/buildWithParameters", tmp_path / "jar", hostile
        )
        assert status == 400, body
        assert hostile.split("=")[0] in body and "not allowed" in body
    status, body = _curl_post_as(
        admin, server.url, f"/job/{name}/buildWithParameters", tmp_path / "jar", "WHO=x", "EXTRA=1"
    )
    assert status == 400 and "EXTRA" in body and "does not declare" in body and "WHO" in body
    assert jenkins.http.get(f"/job/{name}/api/json").json()["nextBuildNumber"] == 1  # nothing queued
    # the declared one works, through python-jenkins as well
    jenkins_mod = pytest.importorskip("jenkins")
    client = jenkins_mod.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    requests = pytest.importorskip("requests")
    with pytest.raises(requests.HTTPError, match="400 Client Error"):
        client.build_job(name, {"PATH": "/tmp"})
    info, _ = jenkins.run(name, WHO="dockyard")
    assert info["result"] == "SUCCESS"
    assert {"_class": "hudson.model.StringParameterValue", "name": "WHO", "value": "dockyard"} in [
        p for a in info["actions"] if "parameters" in a for p in a["parameters"]
    ]


def test_interpreted_parameter_names_are_refused_in_job_configs(jenkins: Jenkins) -> None:
    """Even a job an administrator declares may not name PATH, PS4, LD_* ... as a parameter."""
    r = jenkins.http.post(
        "/createItem", params={"name": unique("badxml")}, content=_param_xml(ECHO, _string_param("PATH"))
    )
    assert r.status_code == 400 and "'PATH' is not allowed" in r.text
    inline = ECHO.replace("agent any\n", "agent any\n parameters { string(name: 'LD_PRELOAD') }\n")
    r = jenkins.http.post("/createItem", params={"name": unique("badscript")}, content=inline_job_xml(inline))
    assert r.status_code == 400 and "LD_PRELOAD" in r.text and "Jenkinsfile:2:" in r.text
    name = unique("goodjob")
    jenkins.create(name, inline_job_xml(ECHO))
    r = jenkins.http.post(f"/job/{name}/config.xml", content=_param_xml(ECHO, _string_param("IFS")))
    assert r.status_code == 400 and "IFS" in r.text


def test_password_parameters_are_masked_in_both_build_apis(server: DockyardServer, jenkins: Jenkins) -> None:
    """Reproduction 7 (APIs): a password parameter's value is in no JSON, config.xml or database."""
    name = unique("pw")
    default, given = "default-pw-" + unique("d"), "given-pw-" + unique("g")
    jenkins.create(name, _param_xml(ECHO, _password_param("DEPLOY_PW", default) + _string_param("WHO")))
    xml = jenkins.http.get(f"/job/{name}/config.xml").text
    assert default not in xml and "<defaultValue>****</defaultValue>" in xml
    job = jenkins.http.get(f"/job/{name}/api/json").json()
    assert default not in json.dumps(job)
    info, _ = jenkins.run(name, DEPLOY_PW=given, WHO="me")
    params = [p for a in info["actions"] if "parameters" in a for p in a["parameters"]]
    assert {"_class": "hudson.model.PasswordParameterValue", "name": "DEPLOY_PW"} in params
    native = jenkins.http.get(f"/api/ci/jobs/{name}/builds/{info['number']}").json()
    assert native["params"] == {"DEPLOY_PW": None, "WHO": "me"} and native["password_params"] == ["DEPLOY_PW"]
    listing = jenkins.http.get(f"/api/ci/jobs/{name}/builds").text
    queue_item = jenkins.http.get(f"/queue/item/{info['queueId']}/api/json").text
    for text in (json.dumps(info), json.dumps(native), listing, queue_item):
        assert given not in text and default not in text
    assert given.encode() not in _db_bytes(server) and default.encode() not in _db_bytes(server)


def test_config_xml_never_returns_the_clone_password_and_round_trips(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    """Reproduction 4: the clone URL's password leaves as ****, is stored sealed, and a config.xml
    read and posted back (python-jenkins reconfig_job) still clones a private repository."""
    owner = create_user(server, "owner")
    full = create_repo(server, owner, private=True)["full_name"]
    with server.client(owner.username, owner.password) as c:
        r = c.post(
            f"/api/v1/repos/{full}/contents/Jenkinsfile",
            json={"content": base64.b64encode(ECHO.encode()).decode(), "message": "pipeline"},
        )
        assert r.status_code == 201, r.text
    url = repo_url(server, full, owner.username, owner.password)
    name = unique("private-clone")
    jenkins.create(name, job_xml(url))
    masked = f"http://{owner.username}:****@{server.host_port}/{full}.git"
    jenkins_mod = pytest.importorskip("jenkins")
    client = jenkins_mod.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    config = client.get_job_config(name)
    assert owner.password not in config and masked in config
    client.reconfig_job(name, config.replace("*/main", "main"))
    for path in (f"/job/{name}/api/json", "/api/json", "/api/ci/jobs", f"/job/{name}/config.xml"):
        assert owner.password not in jenkins.http.get(path).text, path
    assert owner.password.encode() not in _db_bytes(server)
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    assert "ran" in log and owner.password not in log
    # a masked password Dockyard never had is an error, not a clone with '****'
    other = f"http://someone-else:****@{server.host_port}/{full}.git"
    r = jenkins.http.post(f"/job/{name}/config.xml", content=job_xml(other))
    assert r.status_code == 400 and "masked password" in r.text


@pytest.mark.parametrize(
    "path", ["/job/%E2%98%83/api/json", "/job/%E2%98%83/config.xml", "/job/%E2%98%83/1/consoleText"]
)
def test_non_latin1_job_name_is_404_not_500(server: DockyardServer, path: str) -> None:
    """Reproduction 11: a snowman in the job name is a Jenkins-style 404 with an X-Error header."""
    out = _curl("-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "-D", "-", "-o", "/dev/null", server.url + path)
    status_line = out.stdout.splitlines()[0]
    assert " 404" in status_line, out.stdout
    assert "x-error: no " in out.stdout.lower() and "\\u2603" in out.stdout
    native = httpx.get(server.url + "/api/ci/jobs/%E2%98%83/builds", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert native.status_code == 404
    r = httpx.post(server.url + "/job/%E2%98%83/build", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert r.status_code in (403, 404)  # password POST without a crumb, or no such job: never 500


def test_jobs_stored_in_clear_by_an_older_dockyard_are_sealed_at_start(tmp_path: Path) -> None:
    """Migration ci.0002: a job row and a password parameter written before it (config_xml in
    clear, params_json with the password) are sealed when the server starts, and keep working."""
    from sqlalchemy import text

    from dockyard.server.app import all_migrations
    from dockyard.store import Database
    from tests import pgserver
    from tests.conftest import start_server

    if pgserver.wanted():
        pytest.skip("upgrades the SQLite file of an older Dockyard; PostgreSQL has no such file")
    secret, pw_value = "old-clone-secret-" + unique("s"), "old-pw-value-" + unique("p")
    xml = (
        _param_xml(ECHO, _password_param("PW", "x"))
        .replace("<description>", "<description>")
        .replace(
            "</flow-definition>",
            f"<description>http://u:{secret}@example.com/r.git</description></flow-definition>",
        )
    )
    data = tmp_path / "data"
    db = Database(data / "dockyard.db")
    db.migrate([m for m in all_migrations() if m.id != "ci.0002"])
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO ci_jobs (name, config_xml, scm_url, created_at) VALUES"
                " ('old-job', :x, :u, '2026-01-01T00:00:00')"
            ),
            {"x": xml, "u": f"http://u:{secret}@example.com/r.git"},
        )
        conn.execute(
            text(
                "INSERT INTO ci_builds (job_id, number, state, result, params_json, queued_at)"
                " VALUES (1, 1, 'DONE', 'SUCCESS', :p, 0)"
            ),
            {"p": json.dumps({"PW": pw_value})},
        )
    db.close()
    server = start_server(data)
    try:
        auth = (ADMIN_USER, ADMIN_PASSWORD)
        config = httpx.get(f"{server.url}/job/old-job/config.xml", auth=auth)
        assert config.status_code == 200 and secret not in config.text and "u:****@" in config.text
        build = httpx.get(f"{server.url}/job/old-job/1/api/json", auth=auth).json()
        assert {"_class": "hudson.model.PasswordParameterValue", "name": "PW"} in build["actions"][1][
            "parameters"
        ]
        with Database(data / "dockyard.db").read() as conn:
            row = conn.execute(text("SELECT * FROM ci_jobs WHERE name = 'old-job'")).one()
            assert row.config_xml == "" and row.key_fingerprint and secret not in row.scm_url
        server.stop()  # checkpoints the write-ahead log: the old plaintext pages are gone
        assert secret.encode() not in _db_bytes(server) and pw_value.encode() not in _db_bytes(server)
    finally:
        server.stop()


def _token(server: DockyardServer, account: Account, *scopes: str) -> str:
    with server.client(account.username, account.password) as c:
        r = c.post(
            f"/api/v1/users/{account.username}/tokens", json={"name": unique("t"), "scopes": list(scopes)}
        )
    assert r.status_code == 201, r.text
    return str(r.json()["sha1"])


def test_ci_reads_follow_the_repository(server: DockyardServer, jenkins: Jenkins) -> None:
    """Reproduction 7 (reads): builds, consoleText, artifacts, traces and listings of a private
    repository's job answer 404 to users who cannot read the repository and to the owner's
    public-only token, exactly as the git side hides the repository; making it public shows them."""
    owner, stranger = create_user(server, "owner"), create_user(server, "stranger")
    repo = create_repo(server, owner, private=True)
    full = repo["full_name"]
    script = (
        "pipeline { agent any\n stages { stage('s') { steps {\n"
        " sh 'echo private-build-output > out.txt'\n archiveArtifacts artifacts: 'out.txt' } } } }"
    )
    with server.client(owner.username, owner.password) as c:
        r = c.post(
            f"/api/v1/repos/{full}/contents/Jenkinsfile",
            json={"content": base64.b64encode(script.encode()).decode(), "message": "pipeline"},
        )
        assert r.status_code == 201, r.text
    name = unique("private-job")
    jenkins.create(name, job_xml(repo_url(server, full, owner.username, owner.password)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS" and "private-build-output" in log, log
    queue_id = info["queueId"]
    reads = [
        f"/job/{name}/api/json",
        f"/job/{name}/config.xml",
        f"/job/{name}/1/api/json",
        f"/job/{name}/lastBuild/api/json",
        f"/job/{name}/1/consoleText",
        f"/job/{name}/1/logText/progressiveText?start=0",
        f"/job/{name}/1/wfapi/describe",
        f"/job/{name}/1/artifact/out.txt",
        f"/queue/item/{queue_id}/api/json",
        f"/api/ci/jobs/{name}/builds",
        f"/api/ci/jobs/{name}/builds/1",
        f"/api/ci/jobs/{name}/builds/1/trace",
        f"/api/ci/jobs/{name}/builds/1/stages",
    ]
    public_only = {"Authorization": f"token {_token(server, owner, 'public-only', 'read:repository')}"}
    as_owner = httpx.Client(base_url=server.url, auth=(owner.username, owner.password))
    as_stranger = httpx.Client(base_url=server.url, auth=(stranger.username, stranger.password))
    as_public_only = httpx.Client(base_url=server.url, headers=public_only)
    with as_owner, as_stranger, as_public_only:
        for path in reads:
            assert as_owner.get(path).status_code == 200, path
            for other in (as_stranger, as_public_only):
                r = other.get(path)
                assert r.status_code == 404 and "private-build-output" not in r.text, (path, r.status_code)
        # the git side says the same: the repository itself is hidden from both
        assert as_stranger.get(f"/api/v1/repos/{full}").status_code == 404
        for other in (as_stranger, as_public_only):
            assert name not in other.get("/api/json").text and name not in other.get("/api/ci/jobs").text
        assert name in as_owner.get("/api/json").text and name in as_owner.get("/api/ci/jobs").text
        crumb = as_stranger.get("/crumbIssuer/api/json").json()["crumb"]
        r = as_stranger.post(f"/job/{name}/build", headers={"Jenkins-Crumb": crumb})
        assert r.status_code == 404
        r = as_stranger.post(f"/queue/cancelItem?id={queue_id}", headers={"Jenkins-Crumb": crumb})
        assert r.status_code == 404
        # public now: any signed-in user reads it, as git lets them clone it
        with server.client(owner.username, owner.password) as c:
            assert c.patch(f"/api/v1/repos/{full}", json={"private": False}).status_code == 200
        for path in reads:
            assert as_stranger.get(path).status_code == 200, path
            assert as_public_only.get(path).status_code == 200, path


def test_job_for_a_missing_repository_of_this_server_is_for_administrators(
    server: DockyardServer, jenkins: Jenkins
) -> None:
    """A job naming a repository of this server that does not exist (yet) shows nothing to
    others: a private repository of that name may appear later."""
    stranger = create_user(server, "stranger")
    name = unique("future-repo")
    jenkins.create(name, job_xml(f"{server.url}/{stranger.username}-later/not-yet.git"))
    assert jenkins.http.get(f"/job/{name}/api/json").status_code == 200
    with httpx.Client(base_url=server.url, auth=(stranger.username, stranger.password)) as c:
        assert c.get(f"/job/{name}/api/json").status_code == 404


def _alias_bomb(levels: int = 17) -> str:
    """A .dockyard.yml whose stage is 2**levels parallel branches written with nested aliases."""

    def stage(k: int) -> str:
        if k == 0:
            return "&s0 {name: b, steps: [{echo: hi}]}"
        return f"&s{k} {{name: n{k}, parallel: [{stage(k - 1)}, *s{k - 1}]}}"

    return f"stages: [{stage(levels)}]\n"


def test_hostile_pipelines_fail_clearly_while_the_server_keeps_answering(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    """Reproduction 6: a pushed 1 MB Jenkinsfile of `{`, a 2 MB one and a YAML alias bomb each
    fail their build with file:line, and /healthz answers throughout (latency printed)."""
    require_tool("git")
    (tmp_path / "home").mkdir()
    git = Git(tmp_path / "home")
    owner = create_user(server, "owner")
    full = create_repo(server, owner)["full_name"]
    url = repo_url(server, full, owner.username, owner.password)
    names = {script: unique("hostile") for script in ("Jenkinsfile", "Big.groovy", ".dockyard.yml")}
    for script, name in names.items():
        jenkins.create(name, job_xml(url, script_path=script))
    work = tmp_path / "w"
    git.run("clone", "-q", url, str(work))
    bomb = _alias_bomb()
    (work / "Jenkinsfile").write_text("{" * 1_000_000)
    (work / "Big.groovy").write_text("pipeline {}\n" + " " * (2 << 20))
    (work / ".dockyard.yml").write_text(bomb)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "hostile pipelines", cwd=work)
    latencies: list[float] = []
    with httpx.Client(base_url=server.url, timeout=30) as probe:

        def healthz() -> None:
            started = time.monotonic()
            assert probe.get("/healthz").status_code == 200
            latencies.append(time.monotonic() - started)

        pusher = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=work, env=git.env)
        while pusher.poll() is None:
            healthz()
        assert pusher.returncode == 0
        deadline = time.monotonic() + 90
        results: dict[str, dict[str, Any]] = {}
        while len(results) < len(names) and time.monotonic() < deadline:
            healthz()
            for script, name in names.items():
                r = jenkins.http.get(f"/job/{name}/1/api/json")
                if r.status_code == 200 and r.json()["result"]:
                    results[script] = r.json()
            time.sleep(0.02)
    assert set(results) == set(names), results
    logs = {script: jenkins.console(names[script], 1) for script in names}
    assert all(info["result"] == "FAILURE" for info in results.values()), logs
    assert "Jenkinsfile:1:1: expected a name, found '{'" in logs["Jenkinsfile"]
    assert "Big.groovy:1:1: the pipeline file is" in logs["Big.groovy"] and "1 MiB" in logs["Big.groovy"]
    assert ".dockyard.yml:1:" in logs[".dockyard.yml"] and "alias *s0 is not allowed" in logs[".dockyard.yml"]
    print(
        f"\n/healthz during the hostile push and builds ({len(bomb)}-byte alias bomb, 1 MB Jenkinsfile):"
        f" {len(latencies)} requests, max {max(latencies) * 1000:.1f} ms,"
        f" median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms"
    )
    assert max(latencies) < 5.0


def test_pipeline_declared_parameters_are_accepted_after_a_run_as_in_jenkins(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    """A Jenkinsfile's parameters { } become the job's declared parameters once a build has read
    them (Jenkins records them on the job the same way); a password default is not kept."""
    script = (
        "pipeline { agent any\n parameters { string(name: 'WHO', defaultValue: 'world')\n"
        "  password(name: 'TOKEN', defaultValue: 'jenkinsfile-default-secret') }\n"
        " stages { stage('s') { steps { sh 'echo hello $WHO' } } } }"
    )
    bare, _work, _commit = make_repo(tmp_path, {"Jenkinsfile": script})
    name = unique("scm-params")
    jenkins.create(name, job_xml(str(bare)))
    r = jenkins.http.post(f"/job/{name}/buildWithParameters", params={"WHO": "early"})
    assert r.status_code == 400 and "WHO" in r.text  # not declared until a build has read the file
    _, log = jenkins.run(name)
    assert "hello world" in log
    job = jenkins.http.get(f"/job/{name}/api/json").json()
    definitions = {p["name"]: p for p in job["property"][0]["parameterDefinitions"]}
    assert definitions["TOKEN"]["defaultParameterValue"] == {
        "_class": "hudson.model.PasswordParameterValue",
        "name": "TOKEN",
    }
    info, log = jenkins.run(name, WHO="dockyard", TOKEN="given-token-value")
    assert "hello dockyard" in log
    params = [p for a in info["actions"] if "parameters" in a for p in a["parameters"]]
    assert {"_class": "hudson.model.PasswordParameterValue", "name": "TOKEN"} in params
    assert b"jenkinsfile-default-secret" not in _db_bytes(server)
    assert b"given-token-value" not in _db_bytes(server)
    r = jenkins.http.post(f"/job/{name}/buildWithParameters", params={"WHO": "x", "OTHER": "y"})
    assert r.status_code == 400 and "OTHER" in r.text
