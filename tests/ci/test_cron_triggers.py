"""cron and pollSCM triggers run by a real `dockyard up`, through real minutes of its scheduler.

The server reads "now" from a file (DOCKYARD_CI_TEST_CLOCK, a setting for tests only): each test
moves that clock, and the server's own trigger loop ticks through the minutes in between, as it
does on the system clock. `GET /api/ci/jobs/NAME/triggers` says which minute the loop has checked
through, so a test knows when a minute's verdict (build or no build) is in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.ci.cron import parse_cron
from tests.ci.conftest import Jenkins, api_token, commit_files, git, job_xml, make_repo, unique
from tests.conftest import FIXTURES, DockyardServer, start_server
from tests.git.conftest import Git, client, create_repo, create_user, repo_url

START = datetime(2026, 12, 7, 23, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, when: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(when.isoformat())
        tmp.replace(self.path)


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[DockyardServer, Clock]]:
    clock = Clock(tmp_path / "clock")
    clock.set(START)
    srv = start_server(tmp_path / "data", None, env={"DOCKYARD_CI_TEST_CLOCK": str(clock.path)})
    yield srv, clock
    srv.stop()


def builds(jenkins: Jenkins, name: str) -> list[dict[str, object]]:
    return list(jenkins.http.get(f"/api/ci/jobs/{name}/builds").json())


def wait_build(jenkins: Jenkins, name: str, number: int, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = jenkins.http.get(f"/job/{name}/{number}/api/json")
        if r.status_code == 200:
            return jenkins.wait(name, number, timeout)
        time.sleep(0.05)
    raise AssertionError(f"{name} #{number} was never queued: {builds(jenkins, name)}")


def checked(jenkins: Jenkins, name: str, minute: datetime, timeout: float = 60) -> dict[str, object]:
    """The job's triggers once the loop has checked `minute`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = jenkins.http.get(f"/api/ci/jobs/{name}/triggers").json()
        through = body["checked_through"]
        if through and datetime.fromisoformat(through) >= minute.replace(second=0, microsecond=0):
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"the trigger loop never checked {minute}")


def next_match(spec: str, job: str, after: datetime) -> datetime:
    """The first minute after `after` that the spec schedules for `job` (Jenkins' H hashing)."""
    cron = parse_cron(spec, job)
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while not cron.matches(t):
        t += timedelta(minutes=1)
    return t


def cause(info: dict[str, object]) -> dict[str, object]:
    actions = info["actions"]
    assert isinstance(actions, list)
    return dict(actions[0]["causes"][0])


def with_cron(spec: str) -> str:
    stages = "stages { stage('s') { steps { echo 'x' } } }"
    return f"pipeline {{ agent any\n triggers {{ cron('{spec}') }}\n {stages} }}"


def register(jenkins: Jenkins, tmp_path: Path, source: str, prefix: str) -> tuple[str, Path, Path]:
    """A job whose first build (by the API) registers the Jenkinsfile's triggers."""
    bare, work, _ = make_repo(tmp_path, {"Jenkinsfile": source})
    name = unique(prefix)
    jenkins.create(name, job_xml(str(bare)))
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    return name, bare, work


def test_cron_builds_on_the_hashed_minute_and_survives_a_restart(
    clocked: tuple[DockyardServer, Clock], tmp_path: Path
) -> None:
    server, clock = clocked
    jenkins = Jenkins(server, api_token(server))
    source = with_cron("H * * * *")
    name, _, _ = register(jenkins, tmp_path, source, "hourly")
    assert checked(jenkins, name, START)["triggers"] == [{"kind": "cron", "spec": "H * * * *"}]
    assert cause(jenkins.http.get(f"/job/{name}/1/api/json").json())["_class"] != (
        "hudson.triggers.TimerTrigger$TimerTriggerCause"
    )

    due = next_match("H * * * *", name, START)  # H hashed from the job's name, as on Jenkins
    before = due - timedelta(minutes=1)
    if before > START.replace(second=0):
        clock.set(before + timedelta(seconds=5))
        checked(jenkins, name, before)
        assert len(builds(jenkins, name)) == 1  # the minute before: nothing

    clock.set(due + timedelta(seconds=1))
    info = wait_build(jenkins, name, 2)
    assert info["result"] == "SUCCESS"
    assert cause(info) == {
        "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
        "shortDescription": "Started by timer",
    }
    assert "Started by timer" in jenkins.console(name, 2)

    # a restart: the trigger is in the database, and the next hour's minute builds again
    server.stop()
    clock.set(due + timedelta(minutes=5))
    restarted = start_server(server.data_dir, int(server.host_port.rsplit(":", 1)[1]),
                             env={"DOCKYARD_CI_TEST_CLOCK": str(clock.path)})
    server.process = restarted.process  # the fixture stops the new process
    jenkins = Jenkins(restarted, api_token(restarted))
    again = next_match("H * * * *", name, due + timedelta(minutes=5))
    assert again == due + timedelta(hours=1)
    clock.set(again + timedelta(seconds=2))
    info = wait_build(jenkins, name, 3)
    assert cause(info)["_class"] == "hudson.triggers.TimerTrigger$TimerTriggerCause"
    assert len(builds(jenkins, name)) == 3


def test_poll_scm_builds_only_when_the_branch_moved(
    clocked: tuple[DockyardServer, Clock], tmp_path: Path
) -> None:
    server, clock = clocked
    jenkins = Jenkins(server, api_token(server))
    source = (FIXTURES / "jenkinsfiles" / "ok" / "cron_and_poll_triggers.groovy").read_text()
    name, _bare, work = register(jenkins, tmp_path, source, "polled")

    # a scheduled poll with nothing new builds nothing
    first = next_match("H/5 * * * *", name, START)
    clock.set(first + timedelta(seconds=3))
    checked(jenkins, name, first)
    assert len(builds(jenkins, name)) == 1

    # a real git push to the repository (no event reaches Dockyard: only polling can see it)
    pushed = commit_files(work, {"README": "new\n"}, "docs")
    git("push", "-q", "origin", "main", cwd=work)
    second = next_match("H/5 * * * *", name, first)
    assert second == first + timedelta(minutes=5)
    clock.set(second + timedelta(seconds=3))
    info = wait_build(jenkins, name, 2)
    assert info["result"] == "SUCCESS"
    assert cause(info) == {
        "_class": "hudson.triggers.SCMTrigger$SCMTriggerCause",
        "shortDescription": "Started by an SCM change",
    }
    assert f"nightly build of {pushed[:7]}" in jenkins.console(name, 2)

    # polled again without a new commit: still two builds
    third = next_match("H/5 * * * *", name, second)
    clock.set(third + timedelta(seconds=3))
    checked(jenkins, name, third)
    assert [b["number"] for b in builds(jenkins, name)] == [2, 1]


def test_a_pipeline_without_triggers_removes_them(
    clocked: tuple[DockyardServer, Clock], tmp_path: Path
) -> None:
    jenkins = Jenkins(clocked[0], api_token(clocked[0]))
    clock = clocked[1]
    source = with_cron("* * * * *")
    name, _, work = register(jenkins, tmp_path, source, "removed")
    commit_files(work, {"Jenkinsfile": source.replace("triggers { cron('* * * * *') }", "")})
    git("push", "-q", "origin", "main", cwd=work)
    info, log = jenkins.run(name, timeout=120)  # reads the Jenkinsfile without triggers
    assert info["result"] == "SUCCESS", log
    assert checked(jenkins, name, START)["triggers"] == []
    clock.set(START + timedelta(minutes=3))
    checked(jenkins, name, START + timedelta(minutes=3))
    assert len(builds(jenkins, name)) == 2  # no timer build


def test_quiet_period_holds_queued_builds(jenkins: Jenkins, tmp_path: Path) -> None:
    source = (
        "pipeline { agent any\n options { quietPeriod(5) }\n"
        " stages { stage('s') { steps { echo 'quiet' } } } }"
    )
    bare, _, _ = make_repo(tmp_path, {"Jenkinsfile": source})
    name = unique("quiet")
    jenkins.create(name, job_xml(str(bare)))
    info, _ = jenkins.run(name, timeout=120)  # the first run records the job's quiet period
    assert info["result"] == "SUCCESS"
    queue_id = jenkins.build(name)
    item = jenkins.http.get(f"/queue/item/{queue_id}/api/json").json()  # as python-jenkins reads it
    assert item["_class"] == "hudson.model.Queue$WaitingItem", item
    assert item["why"].startswith("In the quiet period. Expires in "), item
    jenkins.wait(name, jenkins.number_of(queue_id), timeout=120)
    build = jenkins.http.get(f"/api/ci/jobs/{name}/builds/2").json()
    assert build["started_at"] - build["queued_at"] >= 5.0, build


def test_a_collaborators_timer_build_borrows_none_of_the_owners_rights(
    clocked: tuple[DockyardServer, Clock], tmp_path: Path
) -> None:
    """Hostile: bob may push to alice's repository but may not see her private job 'secret'. His
    pushed Jenkinsfile's `build job: 'secret'` is refused on his push; a timer build of the same
    Jenkinsfile (no user starts it) is checked as bob too, not as alice alone."""
    server, clock = clocked
    jenkins = Jenkins(server, api_token(server))
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    shared = create_repo(server, alice, private=True)["full_name"]
    hidden = create_repo(server, alice, private=True)["full_name"]
    with client(server, alice) as c:
        r = c.put(f"/api/v1/repos/{shared}/collaborators/{bob.username}", json={"permission": "write"})
        assert r.status_code == 204, r.text
    secret, ci = unique("secret"), unique("shared-ci")
    jenkins.create(secret, job_xml(repo_url(server, hidden, alice.username, alice.password)))
    jenkins.create(ci, job_xml(repo_url(server, shared, alice.username, alice.password)))
    spec = "* * * * *"
    source = (f"pipeline {{ agent any\n triggers {{ cron('{spec}') }}\n stages {{ stage('s') {{ steps {{\n"
              f"  build job: '{secret}', wait: false\n}} }} }} }}")
    (home := tmp_path / "home").mkdir()
    gitc, work = Git(home), tmp_path / "work"
    gitc.run("clone", "-q", repo_url(server, shared, bob.username, bob.password), str(work))
    gitc.commit_file(work, "Jenkinsfile", source, "bob's pipeline")
    gitc.run("push", "-q", "origin", "HEAD:main", cwd=work)
    pushed = wait_build(jenkins, ci, 1, timeout=120)
    assert pushed["result"] == "FAILURE" and f"No item named {secret} found" in jenkins.console(ci, 1)

    due = next_match(spec, ci, START)
    clock.set(due + timedelta(seconds=1))
    timer = wait_build(jenkins, ci, 2, timeout=120)
    assert cause(timer)["_class"] == "hudson.triggers.TimerTrigger$TimerTriggerCause"
    log = jenkins.console(ci, 2)
    assert timer["result"] == "FAILURE" and f"No item named {secret} found" in log, log
    assert builds(jenkins, secret) == []
