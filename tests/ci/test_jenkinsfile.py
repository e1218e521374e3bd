"""The Jenkinsfile parser: the tutorial's file unchanged, Groovy quoting, and a corpus of broken
files each failing with the exact file:line:column and message."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci.jenkinsfile import JenkinsfileError, parse_jenkinsfile
from dockyard.ci.model import GString, Interp

HERE = Path(__file__).parent
# the declarative front end's own, and the Groovy subset's refusals (tests/fixtures/jenkinsfiles/refused)
CORPUS = sorted((HERE / "jenkinsfiles").glob("*.groovy")) + sorted(
    (HERE.parent / "fixtures" / "jenkinsfiles" / "refused").glob("*.groovy")
)


def test_tutorial_jenkinsfile_parses_unchanged() -> None:
    p = parse_jenkinsfile((HERE.parent / "fixtures" / "tutorial" / "Jenkinsfile").read_text())
    assert p.agent.kind == "kubernetes"
    assert "image: gcr.io/kaniko-project/executor:debug" in p.agent.pod_yaml
    assert "items: [{key: .dockerconfigjson, path: config.json}]" in p.agent.pod_yaml
    (stage,) = p.stages
    assert stage.name == "Build and Push"
    (container,) = stage.steps
    assert container.name == "container" and container.args == {"name": "kaniko"}
    assert container.body is not None
    script = container.body[0].args["script"]
    # ''' keeps ${GIT_SHA} for the shell and turns \\<newline> into a shell line continuation
    assert script.startswith("\nGIT_SHA=$(git rev-parse --short HEAD 2>/dev/null || echo dev)\n")
    assert "/kaniko/executor \\\n--dockerfile=Dockerfile --context=$(pwd) \\\n" in script
    assert "hello-kaniko:${GIT_SHA} \\\n" in script


def test_groovy_quoting() -> None:
    src = (HERE / "jenkinsfiles_ok" / "quoting.groovy").read_text()
    steps = parse_jenkinsfile(src).stages[0].steps
    assert steps[0].args["script"] == "it's \\ single"
    dbl = steps[1].args["script"]
    assert isinstance(dbl, GString)
    names = [p.expr for p in dbl.parts if isinstance(p, Interp)]
    assert names == ["BUILD_NUMBER", "JOB_NAME.x"]
    assert dbl.parts[-1] == " and $HOME"
    multi = steps[2].args["script"]
    assert isinstance(multi, GString) and multi.parts[0] == "multi "
    assert multi.parts[2] == "\nline \\\nnext"
    assert steps[3].args["script"] == "a b"  # backslash-newline joins lines in '''
    assert steps[4].args["message"] == "tab\there"


def test_full_subset_parses() -> None:
    src = """
pipeline {
  agent { label 'linux' }
  environment {
    REGISTRY = 'localhost:5000'
    TOKEN = credentials('registry-token')
  }
  options {
    timeout(time: 10, unit: 'MINUTES')
    disableConcurrentBuilds()
    buildDiscarder(logRotator(numToKeepStr: '5'))
  }
  parameters {
    string(name: 'TARGET', defaultValue: 'prod', description: 'where')
    booleanParam(name: 'DRY', defaultValue: true)
    choice(name: 'SIZE', choices: ['s', 'm'])
  }
  triggers { pollSCM('H/5 * * * *') }
  stages {
    stage('build') {
      when { branch 'main' }
      steps {
        dir('sub') { sh 'make' }
        withCredentials([usernamePassword(credentialsId: 'git',
                                          usernameVariable: 'U', passwordVariable: 'P')]) {
          sh 'echo $U'
        }
        archiveArtifacts artifacts: 'out/*.tar', allowEmptyArchive: true
      }
    }
    stage('tests') {
      parallel {
        stage('unit') { steps { sh 'true' } }
        stage('lint') { when { not { branch 'release-*' } } steps { error 'x' } }
      }
    }
  }
  post {
    always { echo 'done' }
    success { echo 'ok' }
    failure { echo 'bad' }
    unstable { echo 'meh' }
    cleanup { echo 'bye' }
  }
}
"""
    p = parse_jenkinsfile(src)
    assert p.agent.kind == "label" and p.agent.label == "linux"
    assert p.environment[1].credential_id == "registry-token"
    assert p.options.timeout_seconds == 600 and p.options.disable_concurrent and p.options.keep_builds == 5
    assert [x.name for x in p.parameters] == ["TARGET", "DRY", "SIZE"]
    assert p.parameters[2].choices == ("s", "m")
    assert p.stages[0].when[0].pattern == "main"
    assert [s.name for s in p.stages[1].parallel] == ["unit", "lint"]
    assert set(p.post.blocks) == {"always", "success", "failure", "unstable", "cleanup"}


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_jenkinsfile_reports_line_and_column(path: Path) -> None:
    source = path.read_text()
    expected = source.splitlines()[0].removeprefix("// expect: ")
    with pytest.raises(JenkinsfileError) as info:
        parse_jenkinsfile(source)
    assert str(info.value).startswith(expected), str(info.value)


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 30
