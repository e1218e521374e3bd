"""Declarative `matrix` (issue 14): cells, names and excludes as Jenkins makes them, refusals at
parse time, the `.dockyard.yml` equivalent, and matrix builds started by real pushes to a live
`dockyard up`, checked through the console, the Jenkins wfapi, the native stages API and the
test report. (The corpus in tests/fixtures/jenkinsfiles runs more matrix files.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dockyard.ci.errors import PipelineError
from dockyard.ci.jenkinsfile import parse_jenkinsfile
from dockyard.ci.yamlpipeline import parse_yaml_pipeline
from tests.ci.conftest import Jenkins, git, job_xml, make_repo, unique
from tests.git.conftest import create_repo, create_user, repo_url
from tests.ui.helpers import sign_in

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jenkinsfiles" / "ok"


def matrix(body: str, stage_extra: str = "", options: str = "") -> str:
    return (
        f"pipeline {{\n  agent any\n{options}  stages {{\n    stage('M') {{\n{stage_extra}"
        f"      matrix {{\n{body}\n        stages {{ stage('s') {{ steps {{ echo 'x' }} }} }}\n"
        "      }\n    }\n  }\n}\n"
    )


AXES = """        axes {
          axis { name 'PLATFORM'; values 'linux', 'windows', 'mac' }
          axis { name 'BROWSER'; values 'firefox', 'chrome' }
        }"""


def test_cells_are_named_and_ordered_as_jenkins_makes_them() -> None:
    cells = parse_jenkinsfile(matrix(AXES)).stages[0].parallel
    assert [c.name for c in cells] == [  # the first axis varies fastest (RuntimeASTTransformer)
        "Matrix - PLATFORM = 'linux', BROWSER = 'firefox'",
        "Matrix - PLATFORM = 'windows', BROWSER = 'firefox'",
        "Matrix - PLATFORM = 'mac', BROWSER = 'firefox'",
        "Matrix - PLATFORM = 'linux', BROWSER = 'chrome'",
        "Matrix - PLATFORM = 'windows', BROWSER = 'chrome'",
        "Matrix - PLATFORM = 'mac', BROWSER = 'chrome'",
    ]
    first = cells[0]
    assert [(e.name, e.value) for e in first.environment] == [("PLATFORM", "linux"), ("BROWSER", "firefox")]
    assert [s.name for s in first.stages] == ["s"] and not first.fail_fast


def test_an_exclude_removes_cells_matching_all_its_axes() -> None:
    excludes = """        excludes {
          exclude {
            axis { name 'PLATFORM'; notValues 'mac' }
            axis { name 'BROWSER'; values 'chrome' }
          }
          exclude {
            axis { name 'PLATFORM'; values 'windows', 'mac' }; axis { name 'BROWSER'; values 'firefox' }
          }
        }"""
    cells = parse_jenkinsfile(matrix(AXES + "\n" + excludes)).stages[0].parallel
    assert [c.name for c in cells] == [
        "Matrix - PLATFORM = 'linux', BROWSER = 'firefox'",
        "Matrix - PLATFORM = 'mac', BROWSER = 'chrome'",
    ]


def test_matrix_directives_reach_every_cell() -> None:
    body = (
        AXES
        + """
        agent { label "${PLATFORM}-${BROWSER}" }
        environment { TARGET = "${PLATFORM}/${BROWSER}" }
        when { branch 'main' }
        options { timeout(time: 3, unit: 'MINUTES') }
        post { always { echo 'cell done' } }"""
    )
    source = matrix(
        body, stage_extra="      failFast true\n", options="  options { parallelsAlwaysFailFast() }\n"
    )
    p = parse_jenkinsfile(source)
    stage = p.stages[0]
    assert stage.fail_fast and p.options.parallels_always_fail_fast
    cell = stage.parallel[4]
    assert cell.agent is not None and cell.agent.label == "windows-chrome"
    assert [e.name for e in cell.environment] == ["PLATFORM", "BROWSER", "TARGET"]
    assert cell.when[0].pattern == "main" and cell.options.timeout_seconds == 180
    assert set(cell.post.blocks) == {"always"}


REFUSED = {
    "no axes": (
        matrix("        excludes { exclude { axis { name 'A'; values 'x' } } }"),
        "5:7: matrix needs axes",
    ),
    "label names no axis": (
        matrix(AXES + '\n        agent { label "${OS}-runner" }'),
        "${OS} is not an axis of this matrix (axes: BROWSER, PLATFORM)",
    ),
    "duplicate value": (
        matrix("        axes { axis { name 'A'; values 'x', 'y', 'x' } }"),
        "matrix axis 'A': value 'x' is listed twice",
    ),
    "bare name value": (
        matrix("        axes { axis { name 'A'; values linux } }"),
        "values: expected quoted strings, found the bare name linux (write 'linux')",
    ),
    "interpolated value": (
        matrix("        axes { axis { name 'A'; values \"${BUILD_NUMBER}\" } }"),
        "matrix axis 'A': values are literal strings",
    ),
    "bad axis name": (
        matrix("        axes { axis { name 'os-name'; values 'x' } }"),
        "matrix axis name 'os-name' is not a valid environment variable name",
    ),
    "exclude value unknown": (
        matrix(AXES + "\n        excludes { exclude { axis { name 'BROWSER'; values 'safari' } } }"),
        "exclude axis 'BROWSER': 'safari' is not one of its values ('firefox', 'chrome')",
    ),
    "exclude everything": (
        matrix(AXES + "\n        excludes { exclude { axis { name 'BROWSER'; notValues 'opera' } } }"),
        "exclude axis 'BROWSER': 'opera' is not one of its values",
    ),
    "excludes all cells": (
        matrix(
            "        axes { axis { name 'A'; values 'x' } }\n"
            "        excludes { exclude { axis { name 'A'; values 'x' } } }"
        ),
        "the excludes leave no cell of the matrix to run",
    ),
    "agent on the stage": (
        matrix(AXES, stage_extra="      agent any\n"),
        "stage 'M' has a matrix: put its agent inside matrix { } (each cell gets it)",
    ),
    "failFast on steps": (
        "pipeline { agent any\n stages { stage('a') {\n failFast true\n steps { echo 'x' } } } }",
        "3:2: failFast applies to a stage with parallel or matrix, not to stage 'a'",
    ),
    "matrix in a matrix": (
        "pipeline { agent any\n stages { stage('a') { matrix {\n axes { axis { name 'A'; values 'x' } }\n"
        " stages { stage('inner') { matrix { axes { axis { name 'B'; values 'y' } }\n"
        " stages { stage('s') { steps { echo 'x' } } } } } } } } } }",
        "4:11: stage 'inner' is inside a matrix and cannot contain parallel or matrix",
    ),
    "parallel in a matrix": (
        "pipeline { agent any\n stages { stage('a') { matrix {\n axes { axis { name 'A'; values 'x' } }\n"
        " stages { stage('p') { parallel { stage('s') { steps { echo 'x' } } } } } } } } }",
        "stage 'p' is inside a matrix and cannot contain parallel or matrix",
    ),
    "product over the bound": (
        matrix(
            "        axes {\n"
            + "".join(
                f"          axis {{ name 'A{i}'; values {', '.join(repr(str(v)) for v in range(10))} }}\n"
                for i in range(4)
            )
            + "        }"
        ),
        "the matrix has 10000 combinations of axis values; at most 4096 are looked at (and 256 cells run)",
    ),
    "input without message": (
        matrix(AXES + "\n        input { ok 'go' }"),
        "input needs message '...'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_malformed_matrices_are_refused_at_parse_time(case: str) -> None:
    source, message = REFUSED[case]
    with pytest.raises(PipelineError) as info:
        parse_jenkinsfile(source)
    assert message in str(info.value), str(info.value)
    assert str(info.value).startswith("Jenkinsfile:")


YAML = """
options:
  parallelsAlwaysFailFast: true
stages:
  - name: Test
    failFast: true
    matrix:
      axes:
        OS: [linux, mac]
        PY: ["3.11", "3.12"]
      exclude:
        - {OS: mac, PY: "3.11"}
        - {OS: {notValues: [mac]}, PY: "3.12"}
      agent: {label: "${OS}-runner"}
      environment: {TOX_ENV: "py${PY}"}
      timeout: 2m
      post:
        always: ["echo cell done"]
      stages:
        - name: Unit
          steps: ["echo $OS $PY"]
"""


def test_yaml_matrix_makes_the_same_cells() -> None:
    p = parse_yaml_pipeline(YAML)
    stage = p.stages[0]
    assert stage.fail_fast and p.options.parallels_always_fail_fast
    assert [c.name for c in stage.parallel] == [
        "Matrix - OS = 'linux', PY = '3.11'",
        "Matrix - OS = 'mac', PY = '3.12'",
    ]
    cell = stage.parallel[1]
    assert cell.agent is not None and cell.agent.label == "mac-runner"
    assert [e.name for e in cell.environment] == ["OS", "PY", "TOX_ENV"]
    assert cell.options.timeout_seconds == 120 and set(cell.post.blocks) == {"always"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('PY: ["3.11", "3.12"]', "PY: [3.11, 3.10]"),
            ".dockyard.yml:10:9: matrix axis 'PY': values must be strings",
        ),
        (("OS: [linux, mac]", "OS: []"), "matrix axis 'OS' needs values"),
        (
            ('- {OS: mac, PY: "3.11"}', "- {OSS: mac}"),
            "exclude names axis 'OSS', which the matrix does not have",
        ),
        (("${OS}-runner", "${ARCH}-runner"), "${ARCH} is not an axis of this matrix"),
    ],
)
def test_yaml_matrix_refusals(change: tuple[str, str], message: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_yaml_pipeline(YAML.replace(*change))
    assert message in str(info.value), str(info.value)


# -- live: real pushes to Dockyard's git server start the builds --------------------------------


def _push_repo(jenkins: Jenkins, tmp_path: Path) -> tuple[str, Path]:
    """(job, work tree): a user's repository on Dockyard's git server, cloned, and a job building
    its main branch; nothing pushed yet."""
    server = jenkins.server
    owner = create_user(server, "matrixdev")
    url = repo_url(server, create_repo(server, owner)["full_name"], owner.username, owner.password)
    work = tmp_path / "work"
    git("clone", "-q", url, str(work), cwd=tmp_path)
    name = unique("matrix")
    jenkins.create(name, job_xml(url))
    return name, work


def _push(work: Path, jenkinsfile: str, message: str) -> None:
    (work / "Jenkinsfile").write_text(jenkinsfile)
    git("add", "Jenkinsfile", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "main", cwd=work)


def _wait_pushed_build(jenkins: Jenkins, name: str, number: int) -> tuple[dict[str, object], str]:
    deadline = time.monotonic() + 60
    while jenkins.http.get(f"/job/{name}/{number}/api/json").status_code == 404:
        assert time.monotonic() < deadline, f"the push did not start {name} #{number}"
        time.sleep(0.1)
    info = jenkins.wait(name, number, timeout=180)
    return info, jenkins.console(name, number)


def _statuses(jenkins: Jenkins, name: str, number: int) -> tuple[dict[str, str], dict[str, str]]:
    """Stage name -> status as the wfapi and the native API show them (cells have unique names;
    the stages inside cells repeat, so those are left out here)."""
    wf = jenkins.http.get(f"/job/{name}/{number}/wfapi/describe").json()
    native = jenkins.http.get(f"/api/ci/jobs/{name}/builds/{number}/stages").json()
    jenkins_names = {"FAILED": "FAILURE"}  # wfapi speaks StatusExt: FAILED for a failed stage
    return (
        {s["name"]: jenkins_names.get(s["status"], s["status"]) for s in wf["stages"]},
        {s["name"]: s["status"].upper() for s in native},
    )


def test_pushed_matrix_builds_show_cells_and_results_as_jenkins(jenkins: Jenkins, tmp_path: Path) -> None:
    name, work = _push_repo(jenkins, tmp_path)

    # 1: stash + junit + post across cells; one cell's tests fail: that cell, the matrix stage
    # and the build are UNSTABLE, the other cells SUCCESS
    _push(work, (FIXTURES / "matrix_stash_junit_post.groovy").read_text(), "matrix tests")
    info, log = _wait_pushed_build(jenkins, name, 1)
    assert info["result"] == "UNSTABLE", log
    assert "push by" in log or "Started by" in log
    wf, native = _statuses(jenkins, name, 1)
    cells = {
        "Matrix - NODE = '18', DB = 'postgres'": "SUCCESS",
        "Matrix - NODE = '20', DB = 'postgres'": "SUCCESS",
        "Matrix - NODE = '20', DB = 'sqlite'": "UNSTABLE",
    }
    for view in (wf, native):
        assert {k: view[k] for k in cells} == cells, view
        assert (view["Build"], view["Test"], view["Report"]) == ("SUCCESS", "UNSTABLE", "SUCCESS"), view
        assert "Matrix - NODE = '18', DB = 'sqlite'" not in view  # excluded
    browser = sign_in(jenkins.server)  # the build page's stage table names the cells
    page = browser.get(f"/job/{name}/1/")
    browser.close()
    assert page.status_code == 200 and "Matrix - NODE = &#39;20&#39;, DB = &#39;sqlite&#39;" in page.text
    report = jenkins.http.get(f"/job/{name}/1/testReport/api/json").json()
    assert (report["failCount"], report["passCount"]) == (1, 5), report  # every cell's junit kept
    failed = [c for s in report["suites"] for c in s["cases"] if c["status"] == "FAILED"]
    assert [(c["className"], c["name"]) for c in failed] == [("db.sqlite", "migrates")]

    # 2: the next push: failFast stops the other cell (ABORTED), the build fails
    _push(work, (FIXTURES / "matrix_fail_fast.groovy").read_text(), "fail fast")
    info, log = _wait_pushed_build(jenkins, name, 2)
    assert info["result"] == "FAILURE", log
    assert info["duration"] < 50_000, "the other cell's 60 s step was not stopped"  # type: ignore[operator]
    wf, native = _statuses(jenkins, name, 2)
    for view in (wf, native):
        assert view["Tests"] == "FAILURE"
        assert view["Matrix - JDK = '17', SUITE = 'smoke'"] == "FAILURE"
        assert view["Matrix - JDK = '21', SUITE = 'smoke'"] == "ABORTED"
    assert "Failed in branch Matrix - JDK = '17', SUITE = 'smoke'" in log

    # 3: a malformed matrix pushed: refused at parse time with file:line:column, no stage runs
    broken = (FIXTURES.parent / "refused" / "matrix_duplicate_axis.groovy").read_text()
    _push(work, broken, "duplicate axis")
    info, log = _wait_pushed_build(jenkins, name, 3)
    assert info["result"] == "FAILURE", log
    assert "ERROR: Jenkinsfile:15:13: matrix axis 'OS' is declared twice" in log, log
    assert "[Pipeline] {" not in log


LIVE_YAML = """
stages:
  - name: test
    matrix:
      axes:
        OS: [linux, alpine]
        PY: ["3.11", "3.12"]
      exclude:
        - {OS: alpine, PY: "3.11"}
      agent: {label: "${OS}-runner"}
      environment: {SUITE: smoke}
      post:
        unstable: [{echo: "cell unstable $OS"}]
      stages:
        - name: unit
          steps:
            - 'echo "unit $SUITE on $OS with python $PY"'
            - 'if [ "$OS" = alpine ]; then exit 4; fi'
  - name: publish
    steps: [{echo: published}]
"""


def test_yaml_matrix_runs_like_the_jenkinsfile_one(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _work, _ = make_repo(tmp_path, {".dockyard.yml": LIVE_YAML})
    name = unique("yamlmatrix")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "FAILURE", log
    for line in (
        "unit smoke on linux with python 3.11",
        "unit smoke on linux with python 3.12",
        "unit smoke on alpine with python 3.12",
        "[dockyard] Matrix - OS = 'alpine', PY = '3.12': agent label 'alpine-runner'",
        "Failed in branch Matrix - OS = 'alpine', PY = '3.12'",
        'Stage "publish" skipped due to earlier failure(s)',
    ):
        assert line in log, f"missing {line!r} in:\n{log}"
    assert "Matrix - OS = 'alpine', PY = '3.11'" not in log
    wf, native = _statuses(jenkins, name, 1)
    for view in (wf, native):
        assert view["test"] == "FAILURE"
        assert view["Matrix - OS = 'linux', PY = '3.11'"] == "SUCCESS"
        assert view["Matrix - OS = 'alpine', PY = '3.12'"] == "FAILURE"


POD = """apiVersion: v1
kind: Pod
metadata:
  annotations: {dockyard.io/network.node: none}
spec:
  tolerations: [{operator: Exists}]
  containers:
  - name: node
    image: node:${NODE}
    volumeMounts: [{name: cache, mountPath: /cache}]
  - {name: tools, image: busybox}
  volumes: [{name: cache, emptyDir: {}}]
"""


def _cell_pods(pod: str, default: str = "node", top: str = "agent any") -> str:
    return (
        f"pipeline {{\n  {top}\n  stages {{\n    stage('M') {{\n      matrix {{\n"
        "        axes { axis { name 'NODE'; values '18', '20' } }\n"
        f'        agent {{ kubernetes {{ yaml """{pod}"""; defaultContainer \'{default}\' }} }}\n'
        "        stages { stage('t') { steps { sh 'npm test'; container('tools') { sh 'ls' } } } }\n"
        "      }\n    }\n  }\n}\n"
    )


def test_cell_pod_templates_join_the_builds_pod_with_their_own_container_names() -> None:
    import json

    from dockyard.ci.parsing import parse_pipeline

    p = parse_pipeline(_cell_pods(POD), "Jenkinsfile")
    assert p.agent.kind == "kubernetes"
    pod = json.loads(p.agent.pod_yaml)
    images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
    assert images == {"node-1": "node:18", "tools-1": "busybox", "node-2": "node:20", "tools-2": "busybox"}
    mounts = {c["name"]: c.get("volumeMounts") for c in pod["spec"]["containers"]}
    assert mounts["node-2"] == [{"name": "cache-2", "mountPath": "/cache"}]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["cache-1", "cache-2"]
    assert pod["metadata"]["annotations"] == {
        "dockyard.io/network.node-1": "none",
        "dockyard.io/network.node-2": "none",
    }
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    cell = p.stages[0].parallel[1]
    assert cell.agent is None  # its containers are the build's now
    (outer,) = cell.stages[0].steps  # the cell's defaultContainer wraps its steps
    assert (outer.name, outer.args["name"]) == ("container", "node-2")
    assert outer.body is not None and outer.body[1].args["name"] == "tools-2"


def test_cell_pod_templates_merge_into_a_pipeline_pod_and_conflicts_are_refused() -> None:
    import json

    from dockyard.ci.parsing import parse_pipeline

    top = "agent { kubernetes { yaml '''\nspec:\n  containers:\n  - {name: node-1, image: alpine}\n''' } }"
    pod = json.loads(parse_pipeline(_cell_pods(POD, top=top), "Jenkinsfile").agent.pod_yaml)
    assert [c["name"] for c in pod["spec"]["containers"]] == [
        "node-1",
        "node-1-2",
        "tools-1",
        "node-2",
        "tools-2",
    ]
    with pytest.raises(PipelineError, match="defaultContainer 'web' is not a container of the pod template"):
        parse_pipeline(_cell_pods(POD, default="web"), "Jenkinsfile")
    clash = POD.replace("spec:\n", "spec:\n  nodeSelector: {arch: '${NODE}'}\n")
    with pytest.raises(PipelineError, match="sets spec.nodeSelector differently"):
        parse_pipeline(_cell_pods(clash), "Jenkinsfile")


def test_when_before_agent_is_accepted_and_an_empty_when_refused() -> None:
    body = AXES + "\n        when { beforeAgent true\n expression { env.PLATFORM != 'mac' } }"
    cell = parse_jenkinsfile(matrix(body)).stages[0].parallel[0]
    assert [c.kind for c in cell.when] == ["expression"]
    with pytest.raises(PipelineError, match="beforeAgent takes true or false"):
        parse_jenkinsfile(matrix(AXES + "\n        when { beforeAgent 'yes'\n branch 'main' }"))
    with pytest.raises(PipelineError, match="when needs at least one condition"):
        parse_jenkinsfile(
            "pipeline { agent any\n stages { stage('a') {\n when { beforeAgent true }\n"
            " steps { echo 'x' } } } }"
        )
