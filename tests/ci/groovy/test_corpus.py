"""The Jenkinsfile corpus against a real `dockyard up`: each file is pushed to a git repository,
built through the Jenkins API, and must end with the result Jenkins gives and the console lines
Jenkins shows (`// result:`, `// console:`, `// absent:`, `// regex:` headers of each file). The
refused corpus fails at parse time, before any stage runs; escape attempts are refused or
stopped by a limit while /healthz keeps answering."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import ADMIN_PASSWORD, ADMIN_USER, Jenkins, job_xml, make_repo, unique

FIXTURES = Path(__file__).parents[2] / "fixtures" / "jenkinsfiles"
OK = sorted((FIXTURES / "ok").glob("*.groovy"))


def _headers(source: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in source.splitlines():
        m = re.match(r"// (result|console|absent|regex|stages|api): (.*)", line)
        if not m:
            break
        out.setdefault(m.group(1), []).append(m.group(2))
    return out


def _run(jenkins: Jenkins, tmp_path: Path, source: str) -> tuple[dict[str, object], str]:
    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": source})
    name = unique("groovy")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name, timeout=120)
    return {**info, "job": name}, log


@pytest.mark.parametrize("path", OK, ids=[p.stem for p in OK])
def test_corpus_file_gives_jenkins_result_and_console(jenkins: Jenkins, tmp_path: Path, path: Path) -> None:
    source = path.read_text()
    want = _headers(source)
    info, log = _run(jenkins, tmp_path, source)
    assert info["result"] == want["result"][0], log
    for line in want.get("console", []):
        assert line in log, f"missing {line!r} in:\n{log}"
    for line in want.get("absent", []):
        assert line not in log, f"unexpected {line!r} in:\n{log}"
    for rx in want.get("regex", []):
        assert re.search(rx, log, re.M), f"no line matching {rx!r} in:\n{log}"
    if "api" in want:  # fields of /job/NAME/1/api/json: key=value, ...
        build = jenkins.http.get(f"/job/{info['job']}/1/api/json").json()
        for pair in want["api"][0].split(", "):
            key, _, value = pair.partition("=")
            assert str(build[key]) == value, (key, build[key])
    if "stages" in want:  # the stage view as the API shows it: name=status, ...
        stages = jenkins.http.get(f"/api/ci/jobs/{info['job']}/builds/1/stages").json()
        assert ",".join(f"{s['name']}={s['status']}" for s in stages) == want["stages"][0], log


def test_corpus_size() -> None:
    assert len(OK) >= 14


def test_refused_file_fails_before_any_stage(jenkins: Jenkins, tmp_path: Path) -> None:
    source = (FIXTURES / "refused" / "string_execute.groovy").read_text()
    info, log = _run(jenkins, tmp_path, source)
    assert info["result"] == "FAILURE"
    assert "ERROR: Jenkinsfile:5:50: execute() (running a host command)" in log, log
    assert "[Pipeline] {" not in log  # no partial run


ESCAPES = {
    "endless loop": ("while (true) { x = 1 }", "a loop ran more than 10000 iterations"),
    "huge string": ("def s = 'x' * 1000000000", "String * 1000000000 would have 1000000000 elements"),
    "huge float repeat": ("def s = 'x' * 1e9", "No signature of method: String.*(Double)"),
    "doubling": ("def s = 'x'\nfor (i in 0..<40) { s = s + s }", "a string would be longer than"),
    "deep recursion": ("def f\nf = { n -> f(n + 1) }\nf(0)", "closures call each other deeper than 32"),
    "nested loops": (
        "for (i in 0..<5000) { for (j in 0..<5000) { x = i } }",
        "more than 200000 statements",
    ),
}


@pytest.mark.parametrize("case", list(ESCAPES), ids=list(ESCAPES))
def test_escape_attempt_stopped_by_a_limit_server_stays_responsive(
    jenkins: Jenkins, tmp_path: Path, case: str
) -> None:
    code, message = ESCAPES[case]
    source = (
        "pipeline {\n  agent any\n  stages {\n    stage('evil') {\n      steps {\n"
        f"        script {{\n{code}\n        }}\n"
        "        echo 'after the script'\n      }\n    }\n  }\n}\n"
    )
    slowest = [0.0]
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=jenkins.server.url, timeout=10) as http:
            while not done.is_set():
                t0 = time.monotonic()
                assert http.get("/healthz").status_code == 200
                slowest[0] = max(slowest[0], time.monotonic() - t0)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        info, log = _run(jenkins, tmp_path, source)
    finally:
        done.set()
        prober.join()
    assert info["result"] == "FAILURE", log
    assert message in log, log
    assert "after the script" not in log
    print(f"{case}: slowest /healthz {slowest[0] * 1000:.0f} ms")  # reported, not asserted (bench/)


def test_junit_results_in_jenkins_shape_via_python_jenkins(jenkins: Jenkins, tmp_path: Path) -> None:
    import jenkins as python_jenkins  # python-jenkins, as a Jenkins user would read the report

    source = (FIXTURES / "ok" / "junit_reports.groovy").read_text()
    bare, _work, _ = make_repo(tmp_path, {"Jenkinsfile": source})
    name = unique("junit")
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "UNSTABLE", log
    client = python_jenkins.Jenkins(jenkins.server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    report = client.get_build_test_report(name, 1)
    assert report["_class"] == "hudson.tasks.junit.TestResult"
    assert (report["failCount"], report["skipCount"], report["passCount"]) == (1, 1, 2)
    cases = {(c["className"], c["name"]): c for s in report["suites"] for c in s["cases"]}
    failed = cases[("api.HealthTest", "returns_version")]
    assert failed["status"] == "FAILED" and failed["errorDetails"] == "expected 1.2 but was 1.1"
    assert cases[("web.PageTest", "slow_render")]["status"] == "SKIPPED"
    action = next(a for a in client.get_build_info(name, 1)["actions"] if a.get("urlName") == "testReport")
    assert (action["failCount"], action["skipCount"], action["totalCount"]) == (1, 1, 4)
    trace = jenkins.http.get(f"/api/ci/jobs/{name}/builds/1/trace").json()
    assert "junit" in str(trace)


def test_junit_refuses_entities(jenkins: Jenkins, tmp_path: Path) -> None:
    source = """pipeline {
  agent any
  stages {
    stage('t') {
      steps {
        sh '''printf '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><testsuite/>' > r.xml'''
        junit 'r.xml'
      }
    }
  }
}
"""
    info, log = _run(jenkins, tmp_path, source)
    assert info["result"] == "FAILURE", log
    assert "junit: r.xml has a DTD or entities" in log
    assert jenkins.http.get(f"/job/{info['job']}/1/testReport/api/json").status_code == 404


def test_refused_corpus_size() -> None:
    """Each refused file is checked by tests/ci/test_jenkinsfile.py (file:line:column, message)."""
    assert len(list((FIXTURES / "refused").glob("*.groovy"))) >= 18
