"""Triggers: `git.push` events from Dockyard's git server (in-process bus) and signed webhooks from
an external Gitea/GitHub (live server, real HMAC over the exact bytes)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path

import httpx

from dockyard.auth import MIGRATIONS as AUTH_MIGRATIONS
from dockyard.auth import AuthService
from dockyard.ci import MIGRATIONS as CI_MIGRATIONS
from dockyard.ci.scm import branch_matches, equivalent_keys, repo_key
from dockyard.ci.service import CIService
from dockyard.events import ZERO_SHA, Event, EventBus, PushEvent
from dockyard.store import Database
from tests.ci.conftest import Jenkins, commit_files, job_xml, make_repo, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer


def test_repo_key_normalises_scheme_credentials_port_and_dot_git() -> None:
    a = repo_key("http://bootcamp:bootcamp@10.0.24.28:30022/bootcamp/notes-app.git")
    assert (
        a == repo_key("https://10.0.24.28:30022/bootcamp/notes-app/") == "10.0.24.28:30022/bootcamp/notes-app"
    )
    assert (
        repo_key("http://Git.Example:80/o/r.git") == repo_key("https://git.example/o/r") == "git.example/o/r"
    )
    assert repo_key("git@git.example:o/r.git") == "git.example/o/r"
    assert repo_key("http://h:1/o/r") != repo_key("http://h:2/o/r")
    assert repo_key("http://localhost:8080/o/r") in equivalent_keys("http://127.0.0.1:8080/o/r.git")
    assert repo_key("http://localhost:8081/o/r") not in equivalent_keys("http://127.0.0.1:8080/o/r.git")
    assert equivalent_keys("http://git.example/o/r") == {"git.example/o/r"}


def test_branch_specs() -> None:
    assert branch_matches("*/main", "main") and not branch_matches("*/main", "main2")
    assert branch_matches("main", "main") and branch_matches("refs/heads/main", "main")
    assert branch_matches("origin/release-*", "release-1") and branch_matches("**", "any/thing")
    assert not branch_matches("*/release-*", "main")


def _ci(tmp_path: Path) -> tuple[CIService, EventBus]:
    db = Database(tmp_path / "db.sqlite")
    db.migrate([*AUTH_MIGRATIONS, *CI_MIGRATIONS])
    bus = EventBus()
    return CIService(db, AuthService(db), bus, tmp_path / "ci", lambda: "http://127.0.0.1:8080"), bus


def test_git_push_event_queues_matching_jobs_only(tmp_path: Path) -> None:
    ci, bus = _ci(tmp_path)
    url = "http://bootcamp:bootcamp@127.0.0.1:8080/bootcamp/notes-app.git"
    ci.store.create_job("main-job", job_xml(url))
    ci.store.create_job("dev-job", job_xml(url, branch="*/dev"))
    ci.store.create_job("other-repo", job_xml("http://127.0.0.1:8080/bootcamp/notes-deploy.git"))
    ci.store.create_job("via-localhost", job_xml("http://localhost:8080/bootcamp/notes-app"))
    pushed = PushEvent(
        ref="refs/heads/main",
        before="b" * 40,
        after="a" * 40,
        clone_url="http://127.0.0.1:8080/bootcamp/notes-app.git",
        pusher="bootcamp",
        git_dir=str(tmp_path / "git" / "bootcamp" / "notes-app.git"),
    )
    bus.publish(pushed)
    queued = ci.store.queued()
    assert [(b.job_name, b.number, b.git_commit, b.git_branch) for b in queued] == [
        ("main-job", 1, "a" * 40, "main"),
        ("via-localhost", 1, "a" * 40, "main"),
    ]
    assert queued[0].clone_from == pushed.git_dir and "push by bootcamp" in queued[0].cause
    bus.publish(replace(pushed, ref="refs/tags/v1"))  # a tag builds nothing
    bus.publish(replace(pushed, after=ZERO_SHA))  # nor a deleted branch
    assert len(ci.store.queued()) == 2


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhooks_check_signature_and_start_builds(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    secret = httpx.get(f"{server.url}/api/ci/hooks/secret", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()[
        "secret"
    ]
    assert httpx.get(f"{server.url}/api/ci/hooks/secret").status_code == 401
    bare, work, _ = make_repo(
        tmp_path,
        {
            "Jenkinsfile": "pipeline { agent any\n stages { stage('s') {"
            " steps { sh 'echo built $GIT_COMMIT' } } } }"
        },
    )
    second = commit_files(work, {"x": "1"})
    from tests.ci.conftest import git

    git("push", "-q", "origin", "main", cwd=work)
    name = unique("hooked")
    jenkins.create(name, job_xml(str(bare)))
    payload = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": second,
        "repository": {"clone_url": str(bare), "full_name": "ext/repo"},
        "pusher": {"login": "alice"},
    }
    body = json.dumps(payload, indent=2).encode()
    headers = {"Content-Type": "application/json", "X-Gitea-Event": "push"}

    bad = httpx.post(
        f"{server.url}/api/ci/hooks/gitea",
        content=body,
        headers={**headers, "X-Gitea-Signature": _sign("wrong", body)},
    )
    assert bad.status_code == 403
    missing = httpx.post(
        f"{server.url}/api/ci/hooks/github",
        content=body,
        headers={"X-GitHub-Event": "push", "Content-Type": "application/json"},
    )
    assert missing.status_code == 403
    tampered = httpx.post(
        f"{server.url}/api/ci/hooks/gitea",
        content=body + b" ",
        headers={**headers, "X-Gitea-Signature": _sign(secret, body)},
    )
    assert tampered.status_code == 403
    time.sleep(0.2)
    assert jenkins.http.get(f"/api/ci/jobs/{name}/builds").json() == []

    ok = httpx.post(
        f"{server.url}/api/ci/hooks/gitea",
        content=body,
        headers={**headers, "X-Gitea-Signature": _sign(secret, body)},
    )
    assert ok.status_code == 200, ok.text
    (queued,) = ok.json()["builds"]
    assert queued["job"] == name
    info = jenkins.wait(name, queued["number"])
    assert info["result"] == "SUCCESS"
    assert f"built {second}" in jenkins.console(name, queued["number"])

    gh = httpx.post(
        f"{server.url}/api/ci/hooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "push",
            "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + _sign(secret, body),
        },
    )
    assert gh.status_code == 200 and len(gh.json()["builds"]) == 1
    jenkins.wait(name, gh.json()["builds"][0]["number"])
    ping = httpx.post(
        f"{server.url}/api/ci/hooks/github",
        content=b"{}",
        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + _sign(secret, b"{}")},
    )
    assert ping.json() == {"message": "pong"}


def test_push_build_publishes_commit_status_events(tmp_path: Path) -> None:
    """A build started by a push reports pending, then success, for the pushed commit (Gitea's
    CreateStatusOption fields) on the bus, and ci.build.started/finished around it."""
    import asyncio

    from tests.ci.conftest import make_repo

    bare, _work, commit = make_repo(
        tmp_path, {"Jenkinsfile": "pipeline { agent any\n stages { stage('s') { steps { echo 'hi' } } } }"}
    )

    async def main() -> list[Event]:
        ci, bus = _ci(tmp_path)
        seen: list[Event] = []
        for kind in ("ci.status", "ci.build.started", "ci.build.finished"):
            bus.subscribe(kind, seen.append)
        url = "http://127.0.0.1:8080/bootcamp/notes-app.git"
        ci.store.create_job("status-job", job_xml(url))
        await ci.start()
        try:
            bus.publish(
                PushEvent(
                    ref="refs/heads/main",
                    before=ZERO_SHA,
                    after=commit,
                    clone_url=url,
                    pusher="bootcamp",
                    git_dir=str(bare),
                    full_name="bootcamp/notes-app",
                )
            )
            deadline = time.monotonic() + 30
            while not any(e.kind == "ci.build.finished" for e in seen):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await ci.stop()
        return seen

    seen = asyncio.run(main())
    statuses = [e.data for e in seen if e.kind == "ci.status"]
    assert [s["state"] for s in statuses] == ["pending", "success"]
    for s in statuses:
        assert s["sha"] == commit and s["full_name"] == "bootcamp/notes-app"
        assert s["context"] == "dockyard/status-job" and s["target_url"].endswith("/job/status-job/1/")
    finished = next(e.data for e in seen if e.kind == "ci.build.finished")
    assert finished["result"] == "SUCCESS" and finished["commit"] == commit
