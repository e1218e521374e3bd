"""Push events on the in-process bus, observed from inside a real server: this test runs
`dockyard`'s app under uvicorn in a thread of the test process so it can subscribe to the bus."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from dockyard.config import Settings
from dockyard.events import PushEvent
from dockyard.server.app import build_app, open_services
from dockyard.services import Services
from tests.conftest import free_port
from tests.git.conftest import Git

ZERO = "0" * 40


@dataclass
class InProcess:
    url: str
    host_port: str
    services: Services
    events: list[PushEvent]


@pytest.fixture
def inprocess(tmp_path: Path) -> Iterator[InProcess]:
    port = free_port()
    services = open_services(Settings(data_dir=tmp_path / "data", port=port))
    services.auth.ensure_admin("admin", "bootcamp")
    events: list[PushEvent] = []
    for kind in ("git.push", "git.create", "git.delete"):
        services.events.subscribe(kind, events.append)
    server = uvicorn.Server(uvicorn.Config(build_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield InProcess(url, f"127.0.0.1:{port}", services, events)
    server.should_exit = True
    thread.join(timeout=15)


def test_one_event_per_updated_ref(inprocess: InProcess, git: Git, tmp_path: Path) -> None:
    with httpx.Client(base_url=inprocess.url, auth=("admin", "bootcamp")) as c:
        created = c.post("/api/v1/user/repos", json={"name": "app", "auto_init": True})
    assert created.status_code == 201, created.text
    repo = created.json()
    assert inprocess.events == []  # auto_init is not a push
    url = f"http://admin:bootcamp@{inprocess.host_port}/admin/app.git"
    checkout = tmp_path / "c"
    git.run("clone", "-q", url, str(checkout))
    old = git.out("rev-parse", "HEAD", cwd=checkout)
    new = git.commit_file(checkout, "a", "a\n", "a")
    git.run("tag", "v1", cwd=checkout)
    git.run("branch", "topic", cwd=checkout)
    git.run("push", "-q", url, "main", "topic", "v1", cwd=checkout)
    pushes = {e.ref: e for e in inprocess.events if e.kind == "git.push"}
    assert set(pushes) == {"refs/heads/main", "refs/heads/topic", "refs/tags/v1"}
    main = pushes["refs/heads/main"]
    assert main == PushEvent(
        repo_id=repo["id"], owner="admin", repo="app", full_name="admin/app",
        ref="refs/heads/main", before=old, after=new, pusher="admin", private=False,
        default_branch="main", clone_url=f"{inprocess.url}/admin/app.git",
        git_dir=str(inprocess.services.settings.git_dir / "admin" / "app.git"),
        source="push", pushed_at=main.pushed_at,
    )
    assert main.branch == "main" and main.tag is None and not main.created and not main.deleted
    assert pushes["refs/tags/v1"].tag == "v1" and pushes["refs/tags/v1"].branch is None
    assert pushes["refs/heads/topic"].created is True
    assert pushes["refs/heads/topic"].before == ZERO
    created = [e.ref for e in inprocess.events if e.kind == "git.create"]
    assert sorted(created) == ["refs/heads/topic", "refs/tags/v1"]

    inprocess.events.clear()
    git.run("push", "-q", url, ":topic", cwd=checkout)
    kinds = [(e.kind, e.ref, e.deleted) for e in inprocess.events]
    assert kinds == [("git.push", "refs/heads/topic", True),
                     ("git.delete", "refs/heads/topic", True)]

    # a rejected push publishes nothing
    inprocess.events.clear()
    git.run("reset", "-q", "--hard", old, cwd=checkout)
    git.commit_file(checkout, "b", "b\n", "diverged")
    assert git.run("push", url, "main", cwd=checkout, check=False).returncode != 0
    assert inprocess.events == []

    # a commit through the contents API is a push too (the GitOps step relies on it)
    with httpx.Client(base_url=inprocess.url, auth=("admin", "bootcamp")) as c:
        made = c.post("/api/v1/repos/admin/app/contents/deploy.yaml",
                      json={"content": base64.b64encode(b"image: x\n").decode()}).json()
    [event] = inprocess.events
    assert event.source == "api" and event.before == new
    assert event.after == made["commit"]["sha"]
