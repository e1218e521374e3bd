"""Issue 10's reproductions where the suite had no end-to-end test of the exact attack, and the
variations a hostile reviewer tries next, against a real `dockyard up` with real curl, git,
skopeo and python-jenkins. The other reproductions live next to their component's tests (the
table is in the verify10 report): this file fills the gaps only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.ci.conftest import Jenkins, api_token, inline_job_xml, job_xml, unique
from tests.ci.conftest import jenkins as jenkins  # noqa: PLC0414 - the session fixture, re-exported
from tests.ci.test_ci_hardening import _curl_post_as, _param_xml, _password_param, _string_param
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool, start_server
from tests.git.conftest import Account, client, create_repo, create_user, repo_url
from tests.git.receiver import Receiver
from tests.images import make_layout
from tests.registry.conftest import push, skopeo

ADMIN = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
ECHO = "pipeline { agent any\n stages { stage('s') { steps { sh 'set -x; echo step ran' } } } }"


def curl(*args: str) -> tuple[int, str]:
    """(status, body) of one real curl request (no -f: a 4xx is an answer)."""
    require_tool("curl")
    proc = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "120", *args],
                          capture_output=True, check=False)
    body, _, status = proc.stdout.decode(errors="replace").rpartition("\n")
    return int(status or 0), body


def _commit_file(server: DockyardServer, owner: Account, full: str, path: str, content: str) -> None:
    with client(server, owner) as c:
        r = c.post(f"/api/v1/repos/{full}/contents/{path}",
                   json={"content": base64.b64encode(content.encode()).decode(), "message": path})
    assert r.status_code == 201, r.text


# -- reproduction 1: every name the issue lists, and the next ones ------------------------------

# the six (GIT_CONFIG_* in its three spellings) and the variations: bash's imported
# functions, shell options, prompt hooks, glibc's charset modules, npm's lower-case settings
INTERPRETED = [
    "PS4", "LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0",
    "GIT_CONFIG_PARAMETERS", "BASH_ENV", "ENV",
    "SHELLOPTS", "PROMPT_COMMAND", "GCONV_PATH", "IFS", "GIT_SSH_COMMAND", "npm_config_script_shell",
    "NPM_CONFIG_SCRIPT_SHELL", "http_proxy", "LUA_INIT", "BASH_XTRACEFD",
]


def test_repro1_interpreted_names_never_reach_a_step(server: DockyardServer, jenkins: Jenkins,
                                                     tmp_path: Path) -> None:
    """The issue's actor, any signed-in user with a crumb from their own curl session, may not
    start the job at all (403); the repository's owner, who may, has each name refused with 400
    naming it. Nothing is queued and the PS4 payload never runs. `BASH_FUNC_x%%` is not even a
    variable name."""
    marker = tmp_path / "ps4-ran"
    owner, stranger = create_user(server, "owner"), create_user(server, "dev")
    full = create_repo(server, owner)["full_name"]
    declares_who = ("<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>"
                    f"{_string_param('WHO', 'world')}</parameterDefinitions>"
                    "</hudson.model.ParametersDefinitionProperty></properties>")
    name = unique("repro1")
    jenkins.create(name, job_xml(repo_url(server, full), extra=declares_who))
    trigger = f"/job/{name}/buildWithParameters"
    status, body = _curl_post_as(stranger, server.url, trigger, tmp_path / "jar-dev", "PS4=+$(id >&2)")
    assert status == 403 and "may not start or stop builds" in body, body
    jar = tmp_path / "jar-owner"
    payloads = {n: "x" for n in INTERPRETED}
    payloads["PS4"] = f"+$(touch {marker} >&2)"
    for env_name, value in payloads.items():
        status, body = _curl_post_as(owner, server.url, trigger, jar, f"{env_name}={value}")
        assert status == 400 and f"'{env_name}' is not allowed" in body, (env_name, status, body)
    status, body = _curl_post_as(owner, server.url, trigger, jar, "BASH_FUNC_x%%=() { id; }")
    assert status == 400 and "not a valid environment variable name" in body, body
    # a lower-case spelling the shell does not read is simply undeclared
    status, body = _curl_post_as(owner, server.url, trigger, jar, "ps4=x")
    assert status == 400 and "does not declare the parameter(s) ps4" in body, body
    assert jenkins.http.get(f"/job/{name}/api/json").json()["nextBuildNumber"] == 1
    assert not marker.exists()


@pytest.mark.parametrize("env_name", ["ENV", "BASH_ENV", "GIT_CONFIG_KEY_0", "SHELLOPTS",
                                      "npm_config_script_shell", "LUA_INIT"])
def test_repro1_no_job_may_declare_an_interpreted_name(jenkins: Jenkins, env_name: str) -> None:
    """Whatever the job declares: config.xml and a pipeline's parameters { } block are refused."""
    r = jenkins.http.post("/createItem", params={"name": unique("declares")},
                          content=_param_xml(ECHO, _string_param(env_name)))
    assert r.status_code == 400 and f"'{env_name}' is not allowed" in r.text, r.text
    script = ECHO.replace("agent any\n", f"agent any\n parameters {{ string(name: '{env_name}') }}\n")
    r = jenkins.http.post("/createItem", params={"name": unique("declares")}, content=inline_job_xml(script))
    assert r.status_code == 400 and env_name in r.text and "Jenkinsfile:2:" in r.text, r.text


# -- reproduction 2: the Kaniko stand-in is sandboxed like a top-level step ----------------------

KANIKO_PROBE = """pipeline {
  agent { kubernetes { yaml '''
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kaniko
    image: gcr.io/kaniko-project/executor:debug
    command: [/busybox/cat]
    tty: true
''' } }
  stages { stage('s') { steps {
    container('kaniko') { sh '''
set +e
probe() {
  name=$1; shift
  if "$@" > /dev/null 2>&1; then echo "RESULT $name=reached"; else echo "RESULT $name=denied"; fi
}
probe kaniko-key cat @key@
probe kaniko-environ cat /proc/@pid@/environ
probe kaniko-write touch @data@/kaniko-was-here
test -x /kaniko/executor && echo "RESULT kaniko-executor=present"
''' }
    sh '''
if cat @key@ > /dev/null 2>&1; then echo "RESULT top-key=reached"; else echo "RESULT top-key=denied"; fi
'''
  } } }
}
"""


def test_repro2_kaniko_container_cannot_read_the_credentials_key(server: DockyardServer,
                                                                  jenkins: Jenkins) -> None:
    """`cat DATA/secrets/credentials.key` inside `container('kaniko')` (the built-in Kaniko
    stand-in) and at top level: denied in both, the server's environment too."""
    from dockyard.sandbox import support

    found = support()
    if not found.isolated:
        pytest.skip(found.problem)
    key = server.data_dir / "secrets" / "credentials.key"
    assert key.is_file()
    script = (KANIKO_PROBE.replace("@key@", str(key)).replace("@data@", str(server.data_dir))
              .replace("@pid@", str(server.process.pid)))
    name = unique("kaniko-probe")
    jenkins.create(name, inline_job_xml(script))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    results = dict(re.findall(r"^RESULT (\S+)=(\S+)$", log, re.MULTILINE))
    assert results == {"kaniko-key": "denied", "kaniko-environ": "denied", "kaniko-write": "denied",
                       "kaniko-executor": "present", "top-key": "denied"}, log
    assert not (server.data_dir / "kaniko-was-here").exists()
    assert base64.b64encode(key.read_bytes()[:24]).decode()[:16] not in log


# -- reproduction 3: `library` and names differing only by case --------------------------------

def test_repro3_nobody_takes_library_or_a_name_by_case(server: DockyardServer, tmp_path: Path) -> None:
    """An org named `library` would administer the public project everyone pulls from once an
    administrator pushes to it: refused for users and orgs, in any case; and another user's
    name in capitals is theirs too."""
    mallory = create_user(server, "mallory")
    as_mallory = ("-u", f"{mallory.username}:{mallory.password}", "-H", "Content-Type: application/json")
    for spelling in ("library", "Library", "LIBRARY"):
        status, body = curl(*as_mallory, "-d", json.dumps({"username": spelling}),
                            f"{server.url}/api/v1/orgs")
        assert status == 422 and "reserved for the public registry project 'library'" in body, body
    status, body = curl("-u", ADMIN, "-H", "Content-Type: application/json",
                        "-d", json.dumps({"username": "Library", "password": "pw-12345678"}),
                        f"{server.url}/api/v1/admin/users")
    assert status == 422 and "reserved" in body, body
    victim = create_user(server, "victim")
    status, body = curl(*as_mallory, "-d", json.dumps({"username": victim.username.upper()}),
                        f"{server.url}/api/v1/orgs")
    assert status == 422 and "already taken by a user" in body, body
    status, body = curl(*as_mallory, "-d", json.dumps({"project_name": victim.username.upper()}),
                        f"{server.url}/api/v2.0/projects")
    assert status == 400 and "lowercase" in body, body
    # library stays the administrators': public to pull, closed to mallory's push
    layout = make_layout(tmp_path / "img", layers=[{"base.txt": b"the administrators' base\n"}])
    push(layout.ref, server, "library/repro3-base:v1")
    evil = make_layout(tmp_path / "evil", layers=[{"base.txt": b"mallory's\n"}])
    pushed = skopeo("copy", "--dest-tls-verify=false",
                    "--dest-creds", f"{mallory.username}:{mallory.password}", evil.ref,
                    f"docker://{server.host_port}/library/repro3-base:v1", check=False)
    assert pushed.returncode != 0
    status, _ = curl("-u", f"{mallory.username}:{mallory.password}", "-X", "DELETE",
                     f"{server.url}/api/v2.0/projects/library/repositories/repro3-base")
    assert status in (403, 404)


# -- reproduction 4: config.xml as a signed-in non-administrator reads it ------------------------

def test_repro4_a_signed_in_user_gets_no_clone_password(server: DockyardServer, jenkins: Jenkins) -> None:
    """The issue's reader is 'any signed-in user': a stranger reads a public repository's job
    through python-jenkins with their own password and sees the password only as ****."""
    jenkins_mod = pytest.importorskip("jenkins")
    owner, stranger = create_user(server, "owner"), create_user(server, "stranger")
    full = create_repo(server, owner)["full_name"]
    name = unique("repro4")
    jenkins.create(name, job_xml(repo_url(server, full, owner.username, owner.password)))
    as_stranger = jenkins_mod.Jenkins(server.url, username=stranger.username, password=stranger.password)
    config = as_stranger.get_job_config(name)
    assert f"http://{owner.username}:****@{server.host_port}/{full}.git" in config
    assert owner.password not in config
    assert owner.password not in json.dumps(as_stranger.get_job_info(name))
    for path in ("/api/json?depth=2", "/api/ci/jobs", f"/job/{name}/api/json"):
        status, body = curl("-u", f"{stranger.username}:{stranger.password}", server.url + path)
        assert status == 200 and owner.password not in body, path


def test_repro4_tokens_in_the_user_name_or_query_never_leave(server: DockyardServer,
                                                             jenkins: Jenkins) -> None:
    """A token as the URL's user name (`https://TOKEN@host/...`) or in its query
    (`?access_token=`): masked in config.xml for a stranger, absent from every job listing and
    from the database, and a config.xml read and posted back keeps both (python-jenkins)."""
    jenkins_mod = pytest.importorskip("jenkins")
    owner, stranger = create_user(server, "owner"), create_user(server, "stranger")
    full = create_repo(server, owner)["full_name"]
    user_token = "usertok" + unique("u").replace("-", "")
    query_token = "querytok" + unique("q").replace("-", "")
    url = f"http://{user_token}@{server.host_port}/{full}.git?access_token={query_token}&amp;ref=x"
    name = unique("repro4-tokens")
    jenkins.create(name, job_xml(url))
    as_stranger = jenkins_mod.Jenkins(server.url, username=stranger.username, password=stranger.password)
    config = as_stranger.get_job_config(name)
    assert f"http://****@{server.host_port}/{full}.git?access_token=****&amp;ref=x" in config, config
    for path in ("/api/json?depth=2", "/api/ci/jobs", f"/job/{name}/api/json", f"/job/{name}/config.xml"):
        status, body = curl("-u", f"{stranger.username}:{stranger.password}", server.url + path)
        assert status == 200 and user_token not in body and query_token not in body, path
    database = b"".join(p.read_bytes() for p in server.data_dir.glob("dockyard.db*") if p.is_file())
    assert user_token.encode() not in database and query_token.encode() not in database
    admin = jenkins_mod.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    admin.reconfig_job(name, admin.get_job_config(name).replace("*/main", "main"))
    assert jenkins.http.get(f"/job/{name}/config.xml").text == config.replace("*/main", "main")
    r = jenkins.http.post(f"/job/{name}/config.xml", content=config.replace("ref=x", "ref=y"))
    assert r.status_code == 400 and "masked password or token" in r.text, r.text


def test_repro4_masked_url_secrets_come_back_from_the_stored_config() -> None:
    """What the round trip above cannot show from outside (the stored config is sealed): each
    **** is the stored value again, per URL user and host or per query name, and a mask whose
    URL changed around it is refused rather than stored as '****'."""
    from dockyard.ci.jobxml import JobConfigError, redact_job_xml, restore_job_secrets

    stored = ("<url>http://u:pw-1@h:1/r.git</url>"
              "<d>https://TOKEN-2@github.com/o/r.git?token=QUERY-3&amp;a=1&amp;private_token=QUERY-4</d>")
    public = redact_job_xml(stored)
    assert public == ("<url>http://u:****@h:1/r.git</url>"
                      "<d>https://****@github.com/o/r.git?token=****&amp;a=1&amp;private_token=****</d>")
    assert restore_job_secrets(public, stored) == stored
    moved = restore_job_secrets(public.replace("h:1/r.git", "h:1/other.git"), stored)
    assert "http://u:pw-1@h:1/other.git" in moved  # the password follows its user and host
    assert "token=NEW" in restore_job_secrets(public.replace("?token=****", "?token=NEW"), stored)
    with pytest.raises(JobConfigError, match="masked password or token"):
        restore_job_secrets(public.replace("a=1", "a=2"), stored)


# -- reproduction 6's second half: parallel branches limited through `dockyard up` -------------

@pytest.mark.slow
def test_repro6_parallel_branches_follow_the_servers_limit(tmp_path: Path) -> None:
    """The runner's limit as `dockyard up` reads it (DOCKYARD_CI_MAX_PARALLEL=3): 7 branches,
    never more than 3 run at once, every one runs. (tests/ci/test_build_limits.py
    drives the scheduler in-process for the default 16.)"""
    from tests.ci.conftest import api_token
    from tests.ci.test_build_limits import parallel_script
    from tests.conftest import start_server

    server = start_server(tmp_path / "data", env={"DOCKYARD_CI_MAX_PARALLEL": "3"})
    try:
        runner = Jenkins(server, api_token(server))
        name = unique("repro6")
        runner.create(name, inline_job_xml(parallel_script(7, 3)))
        info, log = runner.run(name, timeout=180)
        assert info["result"] == "SUCCESS", log
        counts_file = server.data_dir / "ci" / name / "1" / "workspace" / "par" / "counts"
        seen = [int(x) for x in counts_file.read_text().split()]
        assert len(seen) == 14 and max(seen) == 3, seen
    finally:
        server.stop()


# -- reproduction 7: named builds and artifact paths ------------------------------------------

def test_repro7_named_builds_and_artifact_paths_stay_private(server: DockyardServer,
                                                             jenkins: Jenkins) -> None:
    """`lastBuild/consoleText` and `lastSuccessfulBuild/artifact/...` of a private repository's job
    are 404 to a stranger; `..` in an artifact path (raw, %2e%2e, %2F) reaches nothing outside
    the build's archive even for the owner."""
    owner, stranger = create_user(server, "owner"), create_user(server, "stranger")
    full = create_repo(server, owner, private=True)["full_name"]
    _commit_file(server, owner, full, "Jenkinsfile",
                 "pipeline { agent any\n stages { stage('s') { steps {\n"
                 " sh 'echo repro7-private-output > out.txt'\n archiveArtifacts artifacts: 'out.txt' } } } }")
    name = unique("repro7")
    jenkins.create(name, job_xml(repo_url(server, full, owner.username, owner.password)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    as_owner = ("-u", f"{owner.username}:{owner.password}")
    as_stranger = ("-u", f"{stranger.username}:{stranger.password}")
    for path in ("lastBuild/consoleText", "lastCompletedBuild/consoleText",
                 "lastSuccessfulBuild/artifact/out.txt", "lastBuild/logText/progressiveText?start=0",
                 "lastBuild/wfapi/describe"):
        url = f"{server.url}/job/{name}/{path}"
        status, body = curl(*as_owner, url)
        assert status == 200, (path, body)
        status, body = curl(*as_stranger, url)
        assert status == 404 and "repro7-private-output" not in body, (path, status)
    secret = (server.data_dir / "secrets" / "credentials.key").read_bytes()
    for path in ("../../../../secrets/credentials.key", "..%2F..%2F..%2F..%2Fsecrets%2Fcredentials.key",
                 "%2e%2e/%2e%2e/%2e%2e/%2e%2e/secrets/credentials.key", "../log", "../workspace/out.txt",
                 "%2Fetc%2Fpasswd"):
        status, body = curl("--path-as-is", *as_owner, f"{server.url}/job/{name}/1/artifact/{path}")
        assert status == 404, (path, status, body[:200])
        assert body.encode() != secret and "root:" not in body


# -- reproduction 11: build, page and project numbers no int() or SQLite takes ------------------

def test_repro11_numbers_in_paths_are_404_not_500(server: DockyardServer, jenkins: Jenkins) -> None:
    """'²' passes str.isdigit() but not int(); 25 digits overflow SQLite; 5000 digits pass
    Python's int-string limit: each was a 500."""
    name = unique("repro11")
    jenkins.create(name, inline_job_xml(ECHO))
    huge = "9" * 5000
    for path in (f"/job/{name}/%C2%B2/api/json", f"/job/{name}/9999999999999999999999999/api/json",
                 f"/job/{name}/{huge}/consoleText", f"/job/{name}/%C2%B2/artifact/x",
                 "/api/v2.0/projects/%C2%B2", f"/api/v2.0/projects/{huge}",
                 "/api/v2.0/projects/%C2%B2/repositories"):
        status, body = curl("-u", ADMIN, server.url + path)
        assert status == 404, (path[:60], status, body[:200])
    for queue_id in ("99999999999999999999", "%C2%B2", huge):
        r = jenkins.http.post(f"/queue/cancelItem?id={queue_id}")
        assert r.status_code == 400 and "queue id" in r.text, (queue_id[:30], r.status_code)
    for form in ('{"parameter": [{"name": 1, "value": "x"}]}', '{"parameter": [{"name": null}]}'):
        r = jenkins.http.post(f"/job/{name}/build", data={"json": form})  # Jenkins' HTML form post
        assert r.status_code == 400 and "json parameter is not valid" in r.text, (form, r.status_code)
    for n in ("%C2%B2", huge, "99999999999999999999999"):
        status, body = curl("-u", ADMIN, f"{server.url}/v2/_catalog?n={n}")
        assert status == 200 and "repositories" in json.loads(body), body[:200]
    assert server.process.poll() is None



def test_repro11_token_ids_pages_and_offsets_no_int_takes(server: DockyardServer, jenkins: Jenkins) -> None:
    """The same numbers where an API reads them as text: a token id-or-name, Gitea's page and
    limit, the progressive log's start. Each was a 500 (ValueError, OverflowError)."""
    user = create_user(server, "tok11")
    with client(server, user) as c:
        made = c.post(f"/api/v1/users/{user.username}/tokens", json={"name": "keep", "scopes": ["all"]})
        assert made.status_code == 201, made.text
        for ref in ("%C2%B2", "99999999999999999999", "9" * 5000):
            r = c.delete(f"/api/v1/users/{user.username}/tokens/{ref}")
            assert r.status_code == 404, (ref[:30], r.status_code, r.text[:200])
        assert [t["name"] for t in c.get(f"/api/v1/users/{user.username}/tokens").json()] == ["keep"]
        assert c.delete(f"/api/v1/users/{user.username}/tokens/{made.json()['id']}").status_code == 204
        full = create_repo(server, user)["full_name"]
        for query in ("page=%C2%B2", "page=99999999999999999999", "limit=99999999999999999999",
                      f"page={'9' * 5000}"):
            for path in (f"/api/v1/repos/{full}/commits", "/api/v1/repos/search", "/api/v1/user/repos"):
                r = c.get(f"{path}?{query}")
                assert r.status_code == 422 and "at most 18 digits" in r.text, (path, query[:30])
        assert c.get(f"/api/v1/repos/{full}/commits?page=-3&limit=-1").status_code == 200
    name = unique("start11")
    jenkins.create(name, inline_job_xml(ECHO))
    jenkins.run(name)
    for start in ("99999999999999999999", "%C2%B2"):
        r = jenkins.http.get(f"/job/{name}/1/logText/progressiveText?start={start}")
        assert r.status_code == 400 and "byte offset" in r.text, (start, r.status_code, r.text[:200])
    assert server.process.poll() is None


def test_control_characters_in_parameter_values_are_refused_at_trigger(jenkins: Jenkins) -> None:
    """A NUL in a value was accepted (201) and the build then failed with "exit code 125" and no
    reason (execve refuses it): both APIs refuse it, and the other controls, naming the parameter."""
    name = unique("ctl")
    jenkins.create(name, _param_xml("pipeline { agent any\n stages { stage('s') { steps {"
                                    " sh 'printf %s \"$WHO\" | od -c' } } } }", _string_param("WHO", "x")))
    for value in ("a%00b", "%1B%5B2J", "a%7Fb", "%08"):
        r = jenkins.http.post(f"/job/{name}/buildWithParameters", content=f"WHO={value}",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and "parameter 'WHO'" in r.text and "control character" in r.text, \
            (value, r.status_code, r.text[:200])
    r = jenkins.http.post(f"/api/ci/jobs/{name}/builds", json={"params": {"WHO": "a\u0000b"}})
    assert r.status_code == 400 and "U+0000" in r.text and "'WHO'" in r.text, (r.status_code, r.text[:200])
    assert jenkins.http.get(f"/job/{name}/api/json").json().get("builds") == []
    info, console = jenkins.run(name, WHO="tab\there\r\nline two")  # tab, CR and newline still pass
    assert info["result"] == "SUCCESS" and "\\t   h   e   r   e  \\r  \\n" in console, console[-800:]


# -- masking: a secret printed reversed, spaced out or hex-dumped -------------------------------

DUMPS = """pipeline { agent any
 stages { stage('s') { steps {
  withCredentials([string(credentialsId: '%s', variable: 'TOKEN')]) {
   sh '''for v in "$TOKEN" "$DEPLOY_PW"; do
     printf %%s "$v" | rev; echo
     echo "$v" | sed 's/./& /g'
     printf %%s "$v" | od -tx1
     printf %%s "$v" | od -An -tx1
     printf %%s "$v" | od -c
     printf %%s "$v" | hexdump -C
     printf %%s "$v" | xxd -p
     printf %%s "$v" | od -An -tx1 | tr -d '[:space:]'; echo
     printf %%s "$v" | od -An -tx1 | tr -d '[:space:]' | tr a-f A-F; echo
   done'''
  } } } } }"""


def test_bound_secrets_printed_reversed_spaced_or_hex_dumped_are_masked(
        server: DockyardServer, jenkins: Jenkins) -> None:
    """`rev`, `sed 's/./& /g'`, od, hexdump and xxd of a bound string credential and of a password
    parameter showed them in clear; the console now shows **** for each (28 bytes: two od lines)."""
    for tool in ("rev", "od", "hexdump", "xxd", "sed"):
        require_tool(tool)
    name, cid = unique("dumps"), unique("dumped")
    token, password = "Tk-" + unique("t")[-25:].rjust(25, "x"), "Pw-" + unique("p")[-25:].rjust(25, "y")
    assert len(token) == len(password) == 28
    with server.client() as admin:
        made = admin.post("/api/ci/credentials", json={"id": cid, "kind": "secret_text", "text": token})
        assert made.status_code == 201, made.text
        jenkins.create(name, _param_xml(DUMPS % cid, _password_param("DEPLOY_PW", "unused-default")))
        assert admin.post(f"/api/ci/credentials/{cid}/grants", json={"job": name}).status_code in (200, 201)
    info, console = jenkins.run(name, DEPLOY_PW=password)
    assert info["result"] == "SUCCESS", console[-2000:]
    for secret in (token, password):
        raw = secret.encode()
        clear = [secret, secret[::-1], " ".join(secret), raw.hex(), raw.hex().upper(), raw[:15].hex()]
        clear += [raw[i:i + 16].hex(" ") for i in (0, 16)]
        clear += ["   ".join(secret[:16]), "   ".join(secret[16:])]
        for form in clear:
            assert form not in console, (form, console[-3000:])
    assert console.count("****") >= 2 * 12, console[-3000:]


# -- gitopsSetImage runs in the server: its deploy repository follows the webhook allow-list ----

GITOPS = """pipeline { agent any
 stages { stage('deploy') { steps {
  gitopsSetImage repo: '%s', path: 'k8s', image: 'reg.example/app=reg.example/app:v2'%s
 } } } }"""
MANIFEST = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: reg.example/app:v1\n"


def test_gitops_deploy_repository_is_this_dockyard_or_an_allowed_host(
        server: DockyardServer, jenkins: Jenkins, tmp_path: Path) -> None:
    """`gitopsSetImage repo: 'http://127.0.0.1:PORT/...'` made the server send requests to any
    address (blind SSRF). Another host is reached only when DOCKYARD_WEBHOOK_ALLOWED_HOSTS accepts
    its resolved address; the refusal fails the step naming the setting, nothing connects."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for repo in (f"http://127.0.0.1:{port}/o/deploy.git", f"http://localhost:{port}/o/deploy.git",
                     f"http://2130706433:{port}/o/deploy.git", f"https://u:p@[::ffff:127.0.0.1]:{port}/d.git",
                     "http://169.254.169.254/latest/deploy.git"):
            name = unique("ssrf")
            jenkins.create(name, inline_job_xml(GITOPS % (repo, "")))
            info, console = jenkins.run(name)
            assert info["result"] == "FAILURE", console[-1500:]
            assert "deploy repository host" in console and "DOCKYARD_WEBHOOK_ALLOWED_HOSTS" in console, \
                console[-1500:]
            assert "u:p@" not in console
        with pytest.raises(BlockingIOError):
            listener.accept()  # no step connected
    finally:
        listener.close()
    # a deploy repository on another Dockyard (here: `server`), from a Dockyard allowed to reach
    # loopback: a real clone, commit and push, authenticated by a granted secret-text credential
    owner = create_user(server, "deployer")
    full = create_repo(server, owner)["full_name"]
    _commit_file(server, owner, full, "k8s/pod.yaml", MANIFEST)
    with client(server, owner) as c:
        token = c.post(f"/api/v1/users/{owner.username}/tokens", json={"name": "ci", "scopes": ["all"]})
        assert token.status_code == 201, token.text
    other = start_server(tmp_path / "data", env={"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"})
    try:
        cid, name = unique("deploy-token"), unique("allowed")
        remote = Jenkins(other, api_token(other))
        made = remote.http.post("/api/ci/credentials", json={"id": cid, "kind": "secret_text",
                                                              "text": token.json()["sha1"]})
        assert made.status_code == 201, made.text
        script = GITOPS % (f"{server.url}/{full}.git", f", credentialsId: '{cid}'")
        remote.create(name, inline_job_xml(script))
        granted = remote.http.post(f"/api/ci/credentials/{cid}/grants", json={"job": name})
        assert granted.status_code == 200, granted.text
        info, console = remote.run(name, timeout=120)
        assert info["result"] == "SUCCESS", console[-2000:]
    finally:
        other.stop()
    with client(server, owner) as c:
        pod = c.get(f"/api/v1/repos/{full}/raw/k8s/pod.yaml")
    assert pod.status_code == 200 and "reg.example/app:v2" in pod.text, pod.text

# -- reproduction 5's next steps: huge heads, chunked bodies on every bounded route -------------

def _raw_request(server: DockyardServer, head: bytes) -> bytes:
    """What the server answers to `head` sent on a plain socket (curl refuses to send a request
    head over 1 MiB itself; an attacker's client does not)."""
    host, port = server.host_port.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        with contextlib.suppress(OSError):  # the server stopped reading: its answer is there
            s.sendall(head)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                answer += chunk
    return answer


def test_repro5_a_huge_request_head_is_431_before_any_handler(server: DockyardServer) -> None:
    """httptools gathers headers without a limit: a 64 MiB header made the server hold 150 MB.
    Now a head over 1 MiB is 431 and the connection closes, one huge header or many small."""
    huge = b"GET /api/v1/user HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 << 20) + b"\r\n\r\n"
    answer = _raw_request(server, huge)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"larger than 1048576 bytes" in answer, answer[:200]
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(20_000))
    answer = _raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    status, _ = curl("-H", "X-Fine: " + "c" * (64 << 10), f"{server.url}/healthz")  # 64 KiB: as usual
    assert status == 200


@pytest.mark.parametrize("path", [
    "/createItem?name=chunked", "/job/chunked/config.xml", "/job/chunked/buildWithParameters",
    "/api/v1/user/repos", "/api/v2.0/projects", "/api/ci/credentials", "/user/login",
    "/api/v1/orgs", "/v2/chunked/app/manifests/v1",
])
def test_repro5_chunked_bodies_are_cut_at_the_limit(server: DockyardServer, tmp_path: Path,
                                                    path: str) -> None:
    """No Content-Length announced: the body is read up to the route's limit and refused, with
    credentials that would fail as well as anonymously."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(8 << 20)
    for user in (None, "admin:wrong-password"):
        auth = ("-u", user) if user else ()
        status, body = curl(*auth, "-X", "POST" if "manifests" not in path else "PUT",
                            "-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked",
                            "-T", str(big), server.url + path)
        assert status == 413, (path, user, status, body[:200])


# -- reproduction 9's next steps: spellings that resolve to loopback ---------------------------

@pytest.mark.parametrize("host", ["0x7f000001", "[0:0:0:0:0:0:0:1]", "[::1]", "127.1", "[::]", "0"])
def test_repro9_more_loopback_spellings_are_refused_at_creation(server: DockyardServer, host: str) -> None:
    owner = create_user(server, "hooks")
    full = create_repo(server, owner)["full_name"]
    hook = {"type": "gitea", "active": True,
            "config": {"url": f"http://{host}:8080/h", "content_type": "json"}}
    status, body = curl("-u", f"{owner.username}:{owner.password}", "-H", "Content-Type: application/json",
                        "-d", json.dumps(hook), f"{server.url}/api/v1/repos/{full}/hooks")
    assert status == 422 and "DOCKYARD_WEBHOOK_ALLOWED_HOSTS" in body, body


def test_repro9_names_that_normalise_to_loopback_are_refused_at_delivery(server: DockyardServer) -> None:
    """`LOCALHOST` and the IDNA spellings `①②⑦.0.0.1`, `127。0。0。1` pass creation as names;
    each delivery resolves them and refuses loopback: the receiver gets nothing."""
    receiver = Receiver().start()
    try:
        owner = create_user(server, "hooks")
        full = create_repo(server, owner)["full_name"]
        with client(server, owner) as c:
            ids = []
            for host in ("LOCALHOST", "①②⑦.0.0.1", "127。0。0。1"):
                hook = c.post(f"/api/v1/repos/{full}/hooks", json={
                    "type": "gitea", "active": True,
                    "config": {"url": f"http://{host}:{receiver.port}/hook", "content_type": "json"}})
                assert hook.status_code == 201, hook.text
                ids.append(hook.json()["id"])
                assert c.post(f"/api/v1/repos/{full}/hooks/{ids[-1]}/tests").status_code == 204
            logs: dict[int, list[dict]] = {}
            deadline = time.monotonic() + 20
            while len(logs) < len(ids) and time.monotonic() < deadline:
                for hook_id in ids:
                    got = c.get(f"/api/v1/repos/{full}/hooks/{hook_id}/deliveries").json()
                    if got:
                        logs[hook_id] = got
                time.sleep(0.05)
        assert len(logs) == len(ids), logs
        for log in logs.values():
            assert log[0]["error"].startswith("refused:") and "loopback" in log[0]["error"], log
            assert log[0]["response"]["body"] == ""
        assert receiver.requests == []
    finally:
        receiver.stop()
