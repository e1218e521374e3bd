"""Pipeline semantics on a live server with real git repositories: environment, failures and post
blocks, when/parallel, timeouts, syntax errors in the repository, YAML pipelines, artifacts."""

from __future__ import annotations

import time
from pathlib import Path

from tests.ci.conftest import Jenkins, commit_files, git, inline_job_xml, job_xml, make_repo, unique
from tests.ui.helpers import sign_in

ENV_DUMP = """pipeline {
  agent any
  stages {
    stage('env') {
      steps {
        sh 'env | grep -E "^(BUILD_[A-Z]+|JOB_NAME|WORKSPACE|GIT_[A-Z]+|BRANCH_NAME)=" | sort'
        sh 'test "$(pwd)" = "$WORKSPACE" && test -f Jenkinsfile && git rev-parse HEAD'
      }
    }
  }
}
"""


def test_build_environment_and_fresh_workspace_at_commit(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, work, first = make_repo(tmp_path, {"Jenkinsfile": ENV_DUMP})
    name = unique("env")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    lines = dict(line.split("=", 1) for line in log.splitlines() if "=" in line and not line.startswith("+"))
    assert lines["BUILD_NUMBER"] == lines["BUILD_ID"] == "1"
    assert lines["JOB_NAME"] == name
    assert (
        lines["GIT_COMMIT"] == first
        and lines["GIT_BRANCH"] == "origin/main"
        and lines["BRANCH_NAME"] == "main"
    )
    assert lines["WORKSPACE"].endswith(f"/ci/{name}/1/workspace")
    assert lines["BUILD_URL"] == f"{jenkins.server.url}/job/{name}/1/"
    # a second build of a newer commit gets a fresh workspace with that commit
    second = commit_files(work, {"new.txt": "x"})
    git("push", "-q", "origin", "main", cwd=work)
    info, log = jenkins.run(name)
    assert f"\n{second}\n" in log and "BUILD_NUMBER=2" in log


FAILING = """pipeline {
  agent any
  stages {
    stage('Build') { steps { sh 'echo building; exit 3' } }
    stage('Deploy') { steps { echo 'must not run' } }
  }
  post {
    failure { echo 'post failure ran' }
    success { echo 'post success must not run' }
    always { echo 'post always ran' }
  }
}
"""


def test_failing_sh_fails_stage_skips_rest_and_runs_post_failure(jenkins: Jenkins) -> None:
    name = unique("fail")
    jenkins.create(name, inline_job_xml(FAILING))
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE"
    assert "ERROR: script returned exit code 3" in log
    assert 'Stage "Deploy" skipped due to earlier failure(s)' in log and "must not run" not in log
    assert "post failure ran" in log and "post always ran" in log and "post success" not in log
    stages = jenkins.http.get(f"/api/ci/jobs/{name}/builds/1/stages").json()
    assert [(s["name"], s["status"]) for s in stages] == [("Build", "failure")]


WHEN_PARALLEL = """pipeline {
  agent any
  environment {
    WHO = "build ${BUILD_NUMBER}"
    PATH = "/opt/extra/bin:${env.PATH}"
  }
  stages {
    stage('main only') {
      when { branch 'main' }
      steps {
        echo "main ran for ${WHO}"
        sh 'echo "path starts $PATH" | cut -c1-28; command -v git'
      }
    }
    stage('release only') {
      when { branch 'release-*' }
      steps { echo 'release ran' }
    }
    stage('checks') {
      parallel {
        stage('a') { steps { sh 'sleep 0.5; echo a done' } }
        stage('b') { steps { sh 'sleep 0.5; echo b done' } }
      }
    }
    stage('in dir') {
      steps {
        dir('sub/dir') { sh 'pwd > where.txt; echo made' }
        archiveArtifacts artifacts: 'sub/**/*.txt'
      }
    }
  }
}
"""


def test_when_branch_parallel_dir_and_artifacts(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": WHEN_PARALLEL})
    name = unique("when")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    assert "main ran for build 1" in log
    assert "path starts /opt/extra/bin:/" in log and "/git\n" in log
    assert 'Stage "release only" skipped due to when conditional' in log and "release ran" not in log
    assert "a done" in log and "b done" in log
    trace = jenkins.http.get(f"/api/ci/jobs/{name}/builds/1/trace").json()
    spans = {s["name"]: s for s in trace["spans"] if s["kind"] == "stage"}
    a, b = spans["a"], spans["b"]
    assert a["start"] < b["end"] and b["start"] < a["end"], "parallel stages must overlap"
    archived = jenkins.server.data_dir / "ci" / name / "1" / "archive" / "sub" / "dir" / "where.txt"
    assert archived.read_text().strip().endswith("/workspace/sub/dir")


def test_options_timeout_aborts_the_build(jenkins: Jenkins) -> None:
    name = unique("timeout")
    script = (
        "pipeline { agent any\n options { timeout(time: 1, unit: 'SECONDS') }\n"
        " stages { stage('slow') { steps { sh 'sleep 20' } } } }"
    )
    jenkins.create(name, inline_job_xml(script))
    info, log = jenkins.run(name, timeout=30)
    assert info["result"] == "ABORTED"
    assert "Timeout has been exceeded" in log
    assert info["duration"] < 15_000


def test_syntax_error_in_repository_fails_build_with_line_and_column(
    jenkins: Jenkins, tmp_path: Path
) -> None:
    broken = (
        "pipeline {\n  agent any\n  stages {\n    stage('x') {\n      steps { sh 'ok'; slackSend 'hi' }\n"
    )
    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": broken + "    }\n  }\n}\n"})
    name = unique("syntax")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE"
    assert "ERROR: Jenkinsfile:5:24: unsupported step 'slackSend'" in log


def test_missing_credential_names_the_id(jenkins: Jenkins) -> None:
    name = unique("nocred")
    script = (
        "pipeline { agent any\n environment { TOKEN = credentials('does-not-exist') }\n"
        " stages { stage('s') { steps { echo 'x' } } } }"
    )
    jenkins.create(name, inline_job_xml(script))
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE"
    assert "credentials('does-not-exist')" in log


def test_missing_jenkinsfile_and_unknown_variable(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, _ = make_repo(tmp_path, {"README": "no pipeline here"})
    name = unique("nofile")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE" and "Jenkinsfile not found in the repository" in log
    name = unique("novar")
    jenkins.create(
        name,
        inline_job_xml("pipeline { agent any\n stages { stage('s') { steps { echo \"x=${NOPE}\" } } } }"),
    )
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE" and "Jenkinsfile:2:40: no such property: NOPE" in log


YAML = """# the same concepts as a Jenkinsfile, in YAML
environment:
  GREETING: hello
stages:
  - name: build
    steps:
      - sh: echo "$GREETING from yaml on $BRANCH_NAME"
      - echo: plain echo
  - name: deploy
    when: {branch: release-*}
    steps:
      - error: never
post:
  always:
    - echo: yaml post always
"""


def test_yaml_pipeline_is_used_when_there_is_no_jenkinsfile(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, _ = make_repo(tmp_path, {".dockyard.yml": YAML})
    name = unique("yaml")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    assert "hello from yaml on main" in log and "plain echo" in log and "yaml post always" in log
    assert 'Stage "deploy" skipped due to when conditional' in log


def test_yaml_pipeline_error_has_line_and_column(jenkins: Jenkins, tmp_path: Path) -> None:
    bad = "stages:\n  - name: x\n    steps:\n      - shell: echo typo\n"
    bare, _work, _ = make_repo(tmp_path, {"ci.yml": bad})
    name = unique("yamlerr")
    jenkins.create(name, job_xml(str(bare), script_path="ci.yml"))
    info, log = jenkins.run(name)
    assert info["result"] == "FAILURE"
    assert "ERROR: ci.yml:4:9: unsupported step 'shell'" in log


TRACED = """pipeline {
  agent any
  stages {
    stage('Build and Push') {
      steps {
        sh '''
now=$(date +%s)
ev='{"kind": "push", "name": "registry/app:abc", "digest": "sha256:1"'
printf '%s, "start": %s, "end": %s}\\n' "$ev" $now $now >> "$DOCKYARD_TRACE_EVENTS"
echo 'not json' >> "$DOCKYARD_TRACE_EVENTS"
'''
      }
    }
  }
}
"""


def test_trace_records_phases_stages_steps_and_tool_events(jenkins: Jenkins, tmp_path: Path) -> None:
    import subprocess
    import sys

    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": TRACED})
    name = unique("traced")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    trace = jenkins.http.get(f"/api/ci/jobs/{name}/builds/1/trace").json()
    kinds = [(s["kind"], s["name"]) for s in trace["spans"]]
    for expected in [
        ("phase", "queued"),
        ("phase", "checkout"),
        ("phase", "agent ready"),
        ("stage", "Build and Push"),
        ("push", "registry/app:abc"),
    ]:
        assert expected in kinds, kinds
    assert any(k == "step" for k, _ in kinds)
    token = jenkins.http.headers["Authorization"].split()[1]
    out = subprocess.run(
        [sys.executable, "-m", "dockyard", "trace", name, "1", "--url", jenkins.server.url, "--token", token],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(f"{name} #1: SUCCESS")
    assert "| phase | time | note |" in out.stdout
    assert "| push: registry/app:abc |" in out.stdout and "| Build and Push |" in out.stdout
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "ci",
            "--url",
            jenkins.server.url,
            "--token",
            token,
            "build",
            name,
            "--wait",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "Finished: SUCCESS" in out.stdout, out.stderr


def test_build_discarder_and_artifact_download(jenkins: Jenkins) -> None:
    name = unique("discard")
    script = (
        "pipeline { agent any\n options { buildDiscarder(logRotator(numToKeepStr: '2')) }\n"
        " stages { stage('s') { steps { sh 'mkdir -p out; echo n=$BUILD_NUMBER > out/n.txt'\n"
        "   archiveArtifacts artifacts: 'out/*.txt' } } } }"
    )
    jenkins.create(name, inline_job_xml(script))
    for _ in range(3):
        info, log = jenkins.run(name)
        assert info["result"] == "SUCCESS", log
    assert jenkins.http.get(f"/job/{name}/1/api/json").status_code == 404
    # the record goes first, its directory right after (removed once the build is finished)
    deadline = time.monotonic() + 10
    while (jenkins.server.data_dir / "ci" / name / "1").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (jenkins.server.data_dir / "ci" / name / "1").exists()
    info = jenkins.http.get(f"/job/{name}/3/api/json").json()
    assert info["artifacts"] == [
        {"fileName": "n.txt", "relativePath": "out/n.txt", "displayPath": "out/n.txt"}
    ]
    assert jenkins.http.get(f"/job/{name}/3/artifact/out/n.txt").text == "n=3\n"
    escape = jenkins.http.get(f"/job/{name}/3/artifact/%2E%2E/log")  # ../log, not normalised away
    assert escape.status_code == 404 and "no artifact" in escape.text
    # a NUL byte, a name longer than the file system allows: 404 on the API and the page, not 500
    web = sign_in(jenkins.server)
    for hostile in ("out/n.txt%00", "x" * 5000 + "/n.txt", "%2E%2E/%2E%2E/%2E%2E/etc/passwd"):
        r = jenkins.http.get(f"/job/{name}/3/artifact/{hostile}")
        assert r.status_code == 404 and "no artifact" in r.text, (hostile[:20], r.status_code)
        r = web.get(f"/job/{name}/3/artifacts/{hostile}")
        assert r.status_code == 404 and "archived no file" in r.text, (hostile[:20], r.status_code)
