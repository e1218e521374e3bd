"""`build job:` against a real `dockyard up`: parameters reach the downstream build, the upstream
waits and gets its result (`result`, `number`, `getResult()`), FAILURE propagates unless
`propagate: false`, the downstream's API shows Jenkins' UpstreamCause (read with python-jenkins),
loops end with a clear error, and a job never starts a job that its user or owner could not."""

from __future__ import annotations

import time
from pathlib import Path

import jenkins as python_jenkins

from dockyard.ci.downstream import MAX_DEPTH
from tests.ci.conftest import ADMIN_PASSWORD, ADMIN_USER, Jenkins, job_xml, make_repo, unique
from tests.conftest import DockyardServer
from tests.git.conftest import Git, create_repo, create_user, repo_url

DOWNSTREAM = """pipeline {
  agent any
  parameters {
    string(name: 'TARGET', defaultValue: 'dev')
    booleanParam(name: 'DRY', defaultValue: false)
  }
  stages {
    stage('Deploy') {
      steps {
        echo "deploying to ${params.TARGET} dry=${params.DRY}"
        sh 'test "$TARGET" != broken'
      }
    }
  }
}
"""


def one_step(step: str) -> str:
    return f"pipeline {{ agent any\n stages {{ stage('s') {{ steps {{ {step} }} }} }} }}"


def create(jenkins: Jenkins, tmp_path: Path, source: str, prefix: str) -> str:
    bare, _, _ = make_repo(tmp_path, {"Jenkinsfile": source})
    name = unique(prefix)
    jenkins.create(name, job_xml(str(bare)))
    return name


def upstream_of(target: str, extra: str = "") -> str:
    return f"""pipeline {{
  agent any
  stages {{
    stage('Trigger') {{
      steps {{
        script {{
          def r = build job: '{target}',
                        parameters: [string(name: 'TARGET', value: "prod-${{env.BUILD_NUMBER}}"),
                                     booleanParam(name: 'DRY', value: true)]{extra}
          echo "downstream ${{r.projectName}} #${{r.number}} ended ${{r.result}} (getter: ${{r.getResult()}})"
          echo "better than unstable: ${{r.resultIsBetterOrEqualTo('UNSTABLE')}}"
        }}
      }}
    }}
  }}
}}
"""


def test_build_job_passes_parameters_waits_and_returns_the_result(jenkins: Jenkins, tmp_path: Path) -> None:
    down = create(jenkins, tmp_path, DOWNSTREAM, "deploy")
    info, log = jenkins.run(down, timeout=120)  # the first run records the declared parameters
    assert info["result"] == "SUCCESS", log
    up = create(jenkins, tmp_path, upstream_of(down), "ci")
    info, log = jenkins.run(up, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert f"Scheduling project: {down}" in log
    assert f"Starting building: {down} #2" in log
    assert f"downstream {down} #2 ended SUCCESS (getter: SUCCESS)" in log
    assert "better than unstable: true" in log
    assert "deploying to prod-1 dry=true" in jenkins.console(down, 2)

    client = python_jenkins.Jenkins(jenkins.server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    build = client.get_build_info(down, 2)
    causes = next(a["causes"] for a in build["actions"] if a.get("_class") == "hudson.model.CauseAction")
    assert causes[0] == {
        "_class": "hudson.model.Cause$UpstreamCause",
        "shortDescription": f'Started by upstream project "{up}" build number 1',
        "upstreamBuild": 1,
        "upstreamProject": up,
        "upstreamUrl": f"job/{up}/",
    }
    params = next(
        a["parameters"] for a in build["actions"] if a.get("_class") == "hudson.model.ParametersAction"
    )
    assert {p["name"]: p["value"] for p in params} == {"TARGET": "prod-1", "DRY": True}


def test_failure_propagates_unless_propagate_false(jenkins: Jenkins, tmp_path: Path) -> None:
    down = create(jenkins, tmp_path, DOWNSTREAM, "deploy")
    jenkins.run(down, timeout=120)
    failing = upstream_of(down).replace('"prod-${env.BUILD_NUMBER}"', "'broken'")
    up = create(jenkins, tmp_path, failing, "ci")
    info, log = jenkins.run(up, timeout=120)
    assert info["result"] == "FAILURE", log
    assert f"{down} #2 completed with status FAILURE (propagate: false to ignore)" in log
    assert "downstream" not in log.split("Starting building")[1].split("\n", 1)[1]  # the script stopped

    tolerant = create(
        jenkins,
        tmp_path,
        failing.replace(
            "booleanParam(name: 'DRY', value: true)]",
            "booleanParam(name: 'DRY', value: true)], propagate: false",
        ),
        "ci",
    )
    info, log = jenkins.run(tolerant, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert f"downstream {down} #3 ended FAILURE (getter: FAILURE)" in log
    assert "better than unstable: false" in log


def test_wait_false_returns_at_once(jenkins: Jenkins, tmp_path: Path) -> None:
    down = create(jenkins, tmp_path, DOWNSTREAM, "deploy")
    jenkins.run(down, timeout=120)
    source = f"""pipeline {{ agent any
  stages {{ stage('t') {{ steps {{
    build job: '{down}', wait: false
    echo 'did not wait'
  }} }} }} }}"""
    up = create(jenkins, tmp_path, source, "ci")
    info, log = jenkins.run(up, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "did not wait" in log and f"Starting building: {down} #2" in log
    assert jenkins.wait(down, 2, timeout=120)["result"] == "SUCCESS"


def ping_pong(jenkins: Jenkins, tmp_path: Path, options: str) -> tuple[str, str]:
    """Two jobs whose Jenkinsfiles each build the other."""
    a, b = unique("ping"), unique("pong")
    for name, other in ((a, b), (b, a)):
        bare, _, _ = make_repo(tmp_path, {"Jenkinsfile": one_step(f"build job: '{other}'{options}")})
        jenkins.create(name, job_xml(str(bare)))
    return a, b


def test_jobs_building_each_other_stop_at_the_depth_limit(jenkins: Jenkins, tmp_path: Path) -> None:
    a, b = ping_pong(jenkins, tmp_path, ", wait: false")
    info, log = jenkins.run(a, timeout=120)
    assert info["result"] == "SUCCESS", log
    last = b, MAX_DEPTH // 2  # a #1, b #1, a #2, ... the tenth build may not start an eleventh
    info = _wait_for_build(jenkins, *last)
    log = jenkins.console(*last)
    assert info["result"] == "FAILURE", log
    assert f"build job: '{a}' refused: {b} #{MAX_DEPTH // 2} <- {a} #{MAX_DEPTH // 2}" in log
    assert (
        f"is already {MAX_DEPTH} builds deep (at most {MAX_DEPTH}): jobs that start each other in a loop?"
        in log
    )
    assert jenkins.http.get(f"/job/{a}/{MAX_DEPTH // 2 + 1}/api/json").status_code == 404


def test_waiting_for_a_job_that_waits_for_you_is_refused(jenkins: Jenkins, tmp_path: Path) -> None:
    a, b = ping_pong(jenkins, tmp_path, "")
    info, log = jenkins.run(a, timeout=120)
    assert info["result"] == "FAILURE", log
    assert f"{b} #1 completed with status FAILURE" in log
    inner = jenkins.console(b, 1)
    assert f"build job: '{a}' refused: {b} #1 <- {a} #1 is waiting on it already" in inner


def test_a_job_cannot_start_a_job_its_owner_cannot(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    bobs_public = create_repo(server, bob)["full_name"]
    bobs_private = create_repo(server, bob, private=True)["full_name"]
    alices = create_repo(server, alice, private=True)["full_name"]
    public_job, private_job, own_job, ci_job = (
        unique(p) for p in ("bob-deploy", "bob-secret", "alice-deploy", "alice-ci")
    )
    jenkins.create(public_job, job_xml(repo_url(server, bobs_public)))
    jenkins.create(private_job, job_xml(repo_url(server, bobs_private, bob.username, bob.password)))
    alice_url = repo_url(server, alices, alice.username, alice.password)
    jenkins.create(own_job, job_xml(alice_url, branch="*/deploy"))
    jenkins.create(ci_job, job_xml(alice_url))

    (home := tmp_path / "home").mkdir()
    git = Git(home)
    work = tmp_path / "work"
    git.run("clone", "-q", alice_url, str(work))
    git.commit_file(
        work,
        "Jenkinsfile",
        "pipeline { agent any\n stages { stage('d') { steps { echo 'alice deploys' } } } }",
        "deploy",
    )
    git.run("push", "-q", "origin", "HEAD:deploy", cwd=work)
    steps = "\n".join(
        f"catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') {{ build job: '{j}' }}"
        for j in (own_job, public_job, private_job, f"../{private_job}", f"/{private_job}/", "x" * 300)
    )
    git.commit_file(
        work,
        "Jenkinsfile",
        f"pipeline {{ agent any\n stages {{ stage('s') {{ steps {{\n{steps}\n}} }} }} }}",
        "ci",
    )
    git.run("push", "-q", "origin", "HEAD:main", cwd=work)  # a real push by alice starts the job

    info = _wait_for_build(jenkins, ci_job, 1)
    log = jenkins.console(ci_job, 1)
    assert info["result"] == "FAILURE", log
    assert f"Starting building: {own_job} #" in log  # her own job: allowed
    assert (
        f"build job: '{public_job}' refused: {alice.username} may not start or stop builds of job"
        f" {public_job!r}: that needs write access to repository {bobs_public!r}"
    ) in log
    assert f"No item named {private_job} found" in log  # a job she cannot see stays unseen
    for other_spelling in (f"../{private_job}", f"{private_job}/", "x" * 300):  # nor through its path
        assert f"No item named {other_spelling} found" in log, other_spelling
    assert jenkins.http.get(f"/api/ci/jobs/{public_job}/builds").json() == []
    assert jenkins.http.get(f"/api/ci/jobs/{private_job}/builds").json() == []

    # an administrator starting alice's job lends it no rights: alice's Jenkinsfile is still checked as alice
    info, log = jenkins.run(ci_job, timeout=120)
    assert info["result"] == "FAILURE", log
    assert f"build job: '{public_job}' refused: {alice.username} may not start" in log
    assert jenkins.http.get(f"/api/ci/jobs/{public_job}/builds").json() == []


def _wait_for_build(jenkins: Jenkins, name: str, number: int, timeout: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while jenkins.http.get(f"/job/{name}/{number}/api/json").status_code != 200:
        assert time.monotonic() < deadline, f"{name} #{number} never appeared"
        time.sleep(0.1)
    return jenkins.wait(name, number, timeout)


def test_upstream_trigger_starts_the_job_after_a_good_enough_result(jenkins: Jenkins, tmp_path: Path) -> None:
    lib_source = """pipeline { agent any
  parameters { string(name: 'BROKEN', defaultValue: 'no') }
  stages { stage('s') { steps { sh 'test "$BROKEN" = no' } } } }"""
    lib = create(jenkins, tmp_path, lib_source, "lib")
    app_source = f"""pipeline {{
  agent any
  triggers {{ upstream(upstreamProjects: '{lib}', threshold: hudson.model.Result.SUCCESS) }}
  stages {{ stage('s') {{ steps {{ echo 'app after lib' }} }} }}
}}"""
    app = create(jenkins, tmp_path, app_source, "app")
    info, log = jenkins.run(app, timeout=120)  # the first run registers the trigger
    assert info["result"] == "SUCCESS", log
    assert jenkins.http.get(f"/api/ci/jobs/{app}/triggers").json()["triggers"] == [
        {"kind": "upstream", "spec": {"projects": [lib], "threshold": "SUCCESS"}}
    ]
    info, log = jenkins.run(lib, timeout=120)  # also records lib's BROKEN parameter
    assert info["result"] == "SUCCESS", log
    started = _wait_for_build(jenkins, app, 2)
    assert started["result"] == "SUCCESS"
    causes = next(a["causes"] for a in started["actions"] if a.get("_class") == "hudson.model.CauseAction")
    assert causes[0]["_class"] == "hudson.model.Cause$UpstreamCause"
    assert causes[0]["upstreamProject"] == lib and causes[0]["upstreamBuild"] == 1
    assert f'Started by upstream project "{lib}" build number 1' in jenkins.console(app, 2)

    # a FAILURE is below the threshold: the next app build is the one lib's following success starts
    info, log = jenkins.run(lib, timeout=120, BROKEN="yes")
    assert info["result"] == "FAILURE", log
    info, log = jenkins.run(lib, timeout=120)
    assert info["result"] == "SUCCESS", log
    third = _wait_for_build(jenkins, app, 3)
    causes = next(a["causes"] for a in third["actions"] if a.get("_class") == "hudson.model.CauseAction")
    assert causes[0]["upstreamBuild"] == 3, causes


def test_stopping_the_waiting_build_aborts_the_downstream_one(jenkins: Jenkins, tmp_path: Path) -> None:
    down = create(jenkins, tmp_path, one_step("sh 'echo started; sleep 120'"), "slow")
    up = create(jenkins, tmp_path, one_step(f"build job: '{down}'"), "ci")
    number = jenkins.number_of(jenkins.build(up))
    deadline = time.monotonic() + 120
    while "started" not in (jenkins.http.get(f"/job/{down}/1/consoleText").text or ""):
        assert time.monotonic() < deadline, "the downstream build never started"
        time.sleep(0.1)
    assert jenkins.http.post(f"/job/{up}/{number}/stop").status_code in (200, 302)
    assert jenkins.wait(up, number, timeout=60)["result"] == "ABORTED"
    assert jenkins.wait(down, 1, timeout=60)["result"] == "ABORTED"
    assert "the upstream build was aborted" in jenkins.console(down, 1)


def test_jobs_triggering_each_other_upstream_stop_at_the_depth_limit(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    a, b = unique("tick"), unique("tock")
    for name, other in ((a, b), (b, a)):
        source = f"""pipeline {{ agent any
  triggers {{ upstream(upstreamProjects: '{other}', threshold: hudson.model.Result.SUCCESS) }}
  stages {{ stage('s') {{ steps {{ echo 'ok' }} }} }} }}"""
        bare, _, _ = make_repo(tmp_path, {"Jenkinsfile": source})
        jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(a, timeout=120)  # registers a's trigger (b has none yet: nothing follows)
    assert info["result"] == "SUCCESS", log
    info, log = jenkins.run(b, timeout=120)  # the chain's root: b #1, a #2, b #2, ... ten builds
    assert info["result"] == "SUCCESS", log
    last = a, MAX_DEPTH // 2 + 1
    assert _wait_for_build(jenkins, *last)["result"] == "SUCCESS"
    refusal = f"not started after {a} #{MAX_DEPTH // 2 + 1}, a chain of {MAX_DEPTH} builds already"
    deadline = time.monotonic() + 60
    while refusal not in server.log():
        assert time.monotonic() < deadline, "the loop was not stopped"
        time.sleep(0.1)
    assert jenkins.http.get(f"/job/{b}/{MAX_DEPTH // 2 + 1}/api/json").status_code == 404
