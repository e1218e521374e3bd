"""`POST /job/NAME/build?delay=0sec` and `buildWithParameters?delay=Nsec` against a real
`dockyard up`: the delay replaces the job's `options { quietPeriod(N) }` for that build (0 starts
it at once although the job's quiet period is 10 minutes), a queued item shows Jenkins' waiting
state for its own delay, and a malformed or too long delay is a 400 that queues nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci.build_delay import DelayError, parse_delay
from tests.ci.conftest import Jenkins, job_xml, make_repo, unique

QUIET = """pipeline {
  agent any
  options { quietPeriod(600) }
  parameters { string(name: 'WHO', defaultValue: 'nobody') }
  stages { stage('s') { steps { echo "hello ${WHO}" } } }
}
"""


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("0sec", 0), ("30sec", 30), (" 30 secs ", 30), ("1500", 1), ("0", 0), ("86400sec", 86400), (None, None)],
)
def test_delay_reads_as_jenkins_timeduration(raw: str | None, seconds: int | None) -> None:
    assert parse_delay(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "-5sec", "86401sec", "1e3", "5min", "", "9" * 40])
def test_malformed_or_long_delay_is_refused(raw: str) -> None:
    with pytest.raises(DelayError):
        parse_delay(raw)


def test_delay_overrides_the_quiet_period(jenkins: Jenkins, tmp_path: Path) -> None:
    bare, _, _ = make_repo(tmp_path, {"Jenkinsfile": QUIET})
    name = unique("delay")
    jenkins.create(name, job_xml(str(bare)))
    info, _ = jenkins.run(name, timeout=120)  # the first run records quietPeriod(600) and WHO
    assert info["result"] == "SUCCESS"

    # delay=0sec: starts at once, not after the job's 10 minutes
    r = jenkins.http.post(f"/job/{name}/build", params={"delay": "0sec"})
    assert r.status_code == 201, r.text
    queue_id = int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])
    assert jenkins.wait(name, jenkins.number_of(queue_id, timeout=120), timeout=120)["result"] == "SUCCESS"

    # buildWithParameters?delay=2sec: waits its own 2 s (Jenkins' waiting item), then runs
    queue_id = jenkins.build(name, WHO="alice", delay="2sec")
    item = jenkins.http.get(f"/queue/item/{queue_id}/api/json").json()
    assert item["_class"] == "hudson.model.Queue$WaitingItem", item
    assert item["why"].startswith("In the quiet period. Expires in "), item
    assert float(item["why"].split("Expires in ")[1].split()[0]) <= 2.0, item
    number = jenkins.number_of(queue_id, timeout=120)
    assert jenkins.wait(name, number, timeout=120)["result"] == "SUCCESS"
    assert "hello alice" in jenkins.console(name, number)
    build = jenkins.http.get(f"/api/ci/jobs/{name}/builds/{number}").json()
    assert build["started_at"] - build["queued_at"] >= 2.0, build
    actions = jenkins.http.get(f"/job/{name}/{number}/api/json").json()["actions"]
    [given] = [a["parameters"] for a in actions if a.get("_class") == "hudson.model.ParametersAction"]
    assert [p["name"] for p in given] == ["WHO"]  # delay is no parameter

    # malformed or longer than a day: 400 naming the problem, nothing queued
    before = len(jenkins.http.get("/queue/api/json").json()["items"])
    for path, delay, why in (
        ("build", "soon", "is not a duration"),
        ("buildWithParameters", "90000sec", "at most 86400 seconds"),
        ("build", "-1sec", "is not a duration"),
    ):
        r = jenkins.http.post(f"/job/{name}/{path}", params={"delay": delay})
        assert r.status_code == 400 and why in r.text, (path, delay, r.status_code, r.text)
    assert len(jenkins.http.get("/queue/api/json").json()["items"]) == before
