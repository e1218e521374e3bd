"""post { changed / fixed / regression / aborted / unsuccessful / unstable / cleanup } against a
real `dockyard up`: one job, a sequence of real git pushes that change the outcome, and each build's
console checked for exactly the post blocks Jenkins would run (in Jenkins' order)."""

from __future__ import annotations

from pathlib import Path

from dockyard.ci.post_conditions import post_conditions
from tests.ci.conftest import Jenkins, commit_files, git, job_xml, make_repo, unique

PIPELINE = """pipeline {
  agent any
  options { timeout(time: 3, unit: 'SECONDS') }
  stages {
    stage('Build') {
      steps {
        script {
          def outcome = readFile('outcome').trim()
          if (outcome == 'fail') { error('asked to fail') }
          if (outcome == 'unstable') { unstable('asked to be unstable') }
          if (outcome == 'abort') { sh 'sleep 30' }
        }
      }
    }
  }
  post {
    cleanup { echo 'post:cleanup' }
    regression { echo 'post:regression' }
    unsuccessful { echo 'post:unsuccessful' }
    always { echo 'post:always' }
    fixed { echo 'post:fixed' }
    aborted { echo 'post:aborted' }
    changed { echo 'post:changed' }
    unstable { echo 'post:unstable' }
    success { echo 'post:success' }
    failure { echo 'post:failure' }
  }
}
"""

# (outcome pushed, the build's result, the post blocks that run, in Jenkins' order)
SEQUENCE = [
    ("ok", "SUCCESS", ["always", "changed", "success", "cleanup"]),  # first build: changed
    ("ok", "SUCCESS", ["always", "success", "cleanup"]),
    ("fail", "FAILURE", ["always", "changed", "regression", "failure", "unsuccessful", "cleanup"]),
    ("fail", "FAILURE", ["always", "failure", "unsuccessful", "cleanup"]),
    ("unstable", "UNSTABLE", ["always", "changed", "unstable", "unsuccessful", "cleanup"]),
    ("ok", "SUCCESS", ["always", "changed", "fixed", "success", "cleanup"]),
    ("abort", "ABORTED", ["always", "changed", "regression", "aborted", "unsuccessful", "cleanup"]),
    ("ok", "SUCCESS", ["always", "changed", "success", "cleanup"]),  # ABORTED -> SUCCESS: not fixed
]


def test_post_conditions_follow_the_previous_completed_build(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, work, _ = make_repo(tmp_path, {"Jenkinsfile": PIPELINE, "outcome": "ok\n"})
    name = unique("post")
    jenkins.create(name, job_xml(str(bare)))
    for i, (outcome, result, blocks) in enumerate(SEQUENCE):
        if i:
            commit_files(work, {"outcome": f"{outcome}\n", "n": str(i)})
            git("push", "-q", "origin", "main", cwd=work)
        info, log = jenkins.run(name)
        assert info["result"] == result, (i, log)
        ran = [line.split(":", 1)[1] for line in log.splitlines() if line.startswith("post:")]
        assert ran == blocks, (i, outcome, log)


def test_semantics_table() -> None:
    """The cases the sequence above cannot reach in one job's history."""
    assert "changed" in post_conditions("FAILURE", None)  # a first build has changed, as in Jenkins
    assert "fixed" not in post_conditions("SUCCESS", None)
    assert "regression" not in post_conditions("FAILURE", None)
    assert "fixed" in post_conditions("SUCCESS", "UNSTABLE")
    assert "fixed" not in post_conditions("UNSTABLE", "FAILURE")  # better, but not SUCCESS
    assert "regression" not in post_conditions("FAILURE", "UNSTABLE")  # worse, but not from SUCCESS
    assert "regression" in post_conditions("UNSTABLE", "SUCCESS")
