"""Acceptance 3: signed Gitea push payloads reach a real receiver; failures are retried and
logged; hook CRUD and `/tests` follow Gitea's API."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.conftest import DockyardServer, free_port, start_server
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url
from tests.git.receiver import Receiver

ZERO = "0" * 40
# the receivers listen on 127.0.0.1, which Gitea's default (`external`) refuses
LOOPBACK_ALLOWED = {"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    """This module's own server, allowed to deliver to loopback receivers."""
    srv = start_server(tmp_path_factory.mktemp("webhooks") / "data", env=LOOPBACK_ALLOWED)
    yield srv
    srv.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _add_hook(server: DockyardServer, owner: Account, full_name: str, url: str, **extra: object
              ) -> dict:
    body = {"type": "gitea", "config": {"url": url, "content_type": "json", "secret": "s3cret"},
            "events": ["push", "create", "delete"], "active": True, **extra}
    with client(server, owner) as c:
        response = c.post(f"/api/v1/repos/{full_name}/hooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _verify(secret: str, received_body: bytes, headers: dict[str, str]) -> None:
    expected = hmac.new(secret.encode(), received_body, hashlib.sha256).hexdigest()
    assert headers["X-Gitea-Signature"] == expected
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"


def test_push_delivers_a_signed_gitea_payload(server: DockyardServer, git: Git, work: Path,
                                              alice: Account, receiver: Receiver) -> None:
    repo = create_repo(server, alice)
    name = repo["full_name"]
    hook = _add_hook(server, alice, name, receiver.url)
    assert hook["active"] is True and hook["config"]["url"] == receiver.url
    assert "secret" not in hook["config"]
    checkout = work / "c"
    git.run("clone", "-q", repo_url(server, name), str(checkout))
    before = git.out("rev-parse", "HEAD", cwd=checkout)
    (checkout / "README.md").unlink()
    git.run("rm", "-q", "--cached", "README.md", cwd=checkout)
    first = git.commit_file(checkout, "app/main.py", "print(1)\n", "add main, drop readme")
    second = git.commit_file(checkout, "app/main.py", "print(2)\n", "change main\n\nbody text")
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "main",
            cwd=checkout)

    got = receiver.wait_for(1)[0]
    _verify("s3cret", got.body, got.headers)
    assert got.headers["X-Gitea-Event"] == "push"
    assert got.headers["Content-Type"] == "application/json"
    assert len(got.headers["X-Gitea-Delivery"]) == 36
    payload = json.loads(got.body)
    assert payload["ref"] == "refs/heads/main"
    assert payload["before"] == before and payload["after"] == second
    assert payload["compare_url"].endswith(f"/{name}/compare/{before}...{second}")
    assert payload["total_commits"] == 2
    assert [c["id"] for c in payload["commits"]] == [second, first]
    newest, oldest = payload["commits"]
    assert newest["message"] == "change main\n\nbody text\n"
    assert newest["modified"] == ["app/main.py"] and newest["added"] == []
    assert oldest["added"] == ["app/main.py"] and oldest["removed"] == ["README.md"]
    assert newest["author"] == {"name": "Test Author", "email": "author@example.com",
                                "username": ""}
    assert newest["committer"]["email"] == "committer@example.com"
    assert newest["url"].endswith(f"/{name}/commit/{second}") and newest["timestamp"]
    assert payload["head_commit"]["id"] == second
    assert payload["repository"]["full_name"] == name
    assert payload["repository"]["clone_url"] == f"{server.url}/{name}.git"
    assert payload["pusher"]["login"] == alice.username == payload["sender"]["login"]

    with client(server, alice) as c:
        log = c.get(f"/api/v1/repos/{name}/hooks/{hook['id']}/deliveries").json()
    assert log[0]["is_succeed"] is True and log[0]["status_code"] == 200
    assert log[0]["uuid"] == got.headers["X-Gitea-Delivery"]
    assert log[0]["response"]["body"] == "thanks" and log[0]["duration_ms"] > 0


def test_branch_create_and_delete_events(server: DockyardServer, git: Git, work: Path,
                                         alice: Account, receiver: Receiver) -> None:
    name = create_repo(server, alice)["full_name"]
    _add_hook(server, alice, name, receiver.url)
    url = repo_url(server, name, alice.username, alice.password)
    checkout = work / "c"
    git.run("clone", "-q", url, str(checkout))
    git.run("checkout", "-q", "-b", "topic", cwd=checkout)
    sha = git.commit_file(checkout, "t", "t\n", "topic")
    git.run("push", "-q", url, "topic", cwd=checkout)
    events = receiver.wait_for(2)
    by_event = {r.headers["X-Gitea-Event"]: json.loads(r.body) for r in events}
    assert by_event["create"] == {**by_event["create"], "ref": "topic", "ref_type": "branch",
                                  "sha": sha}
    assert by_event["push"]["before"] == ZERO and by_event["push"]["after"] == sha
    assert [c["id"] for c in by_event["push"]["commits"]] == [sha]  # not main's history
    git.run("push", "-q", url, ":topic", cwd=checkout)
    events = receiver.wait_for(3)
    deleted = json.loads(events[2].body)
    assert events[2].headers["X-Gitea-Event"] == "delete"
    assert deleted["ref"] == "topic" and deleted["ref_type"] == "branch"


def test_thousand_commits_give_one_bounded_payload(server: DockyardServer, git: Git, work: Path,
                                                   alice: Account, receiver: Receiver) -> None:
    name = create_repo(server, alice)["full_name"]
    hook = _add_hook(server, alice, name, receiver.url, events=["push"])
    url = repo_url(server, name, alice.username, alice.password)
    checkout = work / "c"
    git.run("clone", "-q", url, str(checkout))
    parent = git.out("rev-parse", "HEAD", cwd=checkout)
    stream = []
    for i in range(1000):
        msg = f"commit {i}"
        stream.append(f"commit refs/heads/main\ncommitter T <t@e> {1700000000 + i} +0000\n"
                      f"data {len(msg)}\n{msg}\n")
        stream.append(f"from {parent}\n" if i == 0 else "")
        stream.append(f"M 644 inline n.txt\ndata {len(str(i))}\n{i}\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], input="".join(stream), text=True,
                   cwd=checkout, env=git.env, check=True)
    git.run("reset", "-q", "--hard", "main", cwd=checkout)
    git.run("push", "-q", url, "main", cwd=checkout)
    got = receiver.wait_for(1)
    assert len(got) == 1
    payload = json.loads(got[0].body)
    assert payload["total_commits"] == 1000
    assert len(payload["commits"]) == 5 and payload["commits"][0]["message"] == "commit 999"
    assert payload["head_commit"]["message"] == "commit 999"
    with client(server, alice) as c:
        assert len(c.get(f"/api/v1/repos/{name}/hooks/{hook['id']}/deliveries").json()) == 1


def test_hook_crud_and_test_delivery(server: DockyardServer, alice: Account, bob: Account,
                                     receiver: Receiver) -> None:
    name = create_repo(server, alice)["full_name"]
    with client(server, alice) as c:
        bad = c.post(f"/api/v1/repos/{name}/hooks",
                     json={"type": "slack", "config": {"url": receiver.url}})
        assert bad.status_code == 422 and "type must be one of" in bad.json()["message"]
        bad = c.post(f"/api/v1/repos/{name}/hooks",
                     json={"type": "gitea", "config": {"url": "ftp://x", "content_type": "json"}})
        assert bad.status_code == 422 and "config.url" in bad.json()["message"]
        # Gitea's default: a hook created without "active" is inactive
        hook = c.post(f"/api/v1/repos/{name}/hooks", json={
            "type": "gitea", "config": {"url": receiver.url, "content_type": "json"}}).json()
        assert hook["active"] is False and hook["events"] == ["push"]
        edited = c.patch(f"/api/v1/repos/{name}/hooks/{hook['id']}",
                         json={"active": True, "config": {"secret": "k"},
                               "branch_filter": "{main,release/*}"}).json()
        assert edited["active"] is True and edited["branch_filter"] == "{main,release/*}"
        assert [h["id"] for h in c.get(f"/api/v1/repos/{name}/hooks").json()] == [hook["id"]]
        assert c.post(f"/api/v1/repos/{name}/hooks/{hook['id']}/tests").status_code == 204
        got = receiver.wait_for(1)[0]
        _verify("k", got.body, got.headers)
        assert json.loads(got.body)["ref"] == "refs/heads/main"
        assert c.delete(f"/api/v1/repos/{name}/hooks/{hook['id']}").status_code == 204
        assert c.get(f"/api/v1/repos/{name}/hooks/{hook['id']}").status_code == 404
    with client(server, bob) as c:
        assert c.get(f"/api/v1/repos/{name}/hooks").status_code == 403


@pytest.mark.slow
def test_receiver_down_is_retried_and_logged(tmp_path: Path, git: Git,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WEBHOOK_RETRY_DELAYS", "0.3,0.6,1.2,2.4")
    server = start_server(tmp_path / "data", env=LOOPBACK_ALLOWED)
    try:
        owner = create_user(server, "carol")
        name = create_repo(server, owner)["full_name"]
        port = free_port()
        # credentials in the hook URL must never reach the server's log
        hook = _add_hook(server, owner, name, f"http://hookuser:hookpass-7f3a@127.0.0.1:{port}/hook")
        checkout = tmp_path / "c"
        url = repo_url(server, name, owner.username, owner.password)
        git.run("clone", "-q", url, str(checkout))
        git.commit_file(checkout, "x", "x\n", "x")
        git.run("push", "-q", url, "main", cwd=checkout)
        deliveries_url = f"/api/v1/repos/{name}/hooks/{hook['id']}/deliveries"
        with client(server, owner) as c:
            deadline = time.monotonic() + 10
            while len(c.get(deliveries_url).json()) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            failures = c.get(deliveries_url).json()
            assert len(failures) >= 2
            assert all(not d["is_succeed"] and "Connect" in d["error"] for d in failures)
            receiver = Receiver(port=port).start()  # the receiver comes back
            try:
                got = receiver.wait_for(1, timeout=10)[0]
                _verify("s3cret", got.body, got.headers)
                deadline = time.monotonic() + 5
                while not c.get(deliveries_url).json()[0]["is_succeed"] and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                log = c.get(deliveries_url).json()
            finally:
                receiver.stop()
        assert log[0]["is_succeed"] and log[0]["attempt"] == len(log)
        assert len({d["uuid"] for d in log}) == 1  # one delivery, several attempts
    finally:
        server.stop()
    assert "hookpass-7f3a" not in server.log()


def test_branch_filter_and_form_encoding(server: DockyardServer, git: Git, work: Path,
                                         alice: Account, receiver: Receiver) -> None:
    name = create_repo(server, alice)["full_name"]
    _add_hook(server, alice, name, receiver.url, branch_filter="{main,release/*}",
              events=["push"])
    form = Receiver().start()
    try:
        with client(server, alice) as c:
            c.post(f"/api/v1/repos/{name}/hooks", json={
                "type": "gitea", "active": True, "branch_filter": "feature*",
                "config": {"url": form.url, "content_type": "form", "secret": "f"}})
        url = repo_url(server, name, alice.username, alice.password)
        checkout = work / "c"
        git.run("clone", "-q", url, str(checkout))
        git.commit_file(checkout, "x", "x\n", "x")
        git.run("push", "-q", url, "main:feature-1", "main:release/1.0", "main:other", cwd=checkout)
        got = receiver.wait_for(1)
        time.sleep(0.5)  # nothing else may arrive: "other" and "feature-1" are filtered out
        assert [json.loads(r.body)["ref"] for r in got] == ["refs/heads/release/1.0"]
        [posted] = form.wait_for(1)
        _verify("f", posted.body, posted.headers)
        assert posted.headers["Content-Type"] == "application/x-www-form-urlencoded"
        payload = json.loads(parse_qs(posted.body.decode())["payload"][0])
        assert payload["ref"] == "refs/heads/feature-1"
    finally:
        form.stop()


@pytest.mark.slow
def test_pending_delivery_survives_a_restart(tmp_path: Path, git: Git,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_WEBHOOK_RETRY_DELAYS", "1,1,1,1,1,1,1,1")
    data = tmp_path / "data"
    server = start_server(data, env=LOOPBACK_ALLOWED)
    port = free_port()
    try:
        owner = create_user(server, "dave")
        name = create_repo(server, owner)["full_name"]
        hook = _add_hook(server, owner, name, f"http://127.0.0.1:{port}/hook")
        url = repo_url(server, name, owner.username, owner.password)
        checkout = tmp_path / "c"
        git.run("clone", "-q", url, str(checkout))
        git.commit_file(checkout, "x", "x\n", "x")
        git.run("push", "-q", url, "main", cwd=checkout)
        deliveries_url = f"/api/v1/repos/{name}/hooks/{hook['id']}/deliveries"
        with client(server, owner) as c:
            deadline = time.monotonic() + 10
            while not c.get(deliveries_url).json() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not c.get(deliveries_url).json()[0]["is_succeed"]
    finally:
        assert server.stop() == 0
    receiver = Receiver(port=port).start()
    server = start_server(data, env=LOOPBACK_ALLOWED)  # the retry schedule is resumed from the db
    try:
        got = receiver.wait_for(1, timeout=15)[0]
        _verify("s3cret", got.body, got.headers)
        assert json.loads(got.body)["ref"] == "refs/heads/main"
    finally:
        receiver.stop()
        server.stop()


def _test_delivery(server: DockyardServer, owner: Account, url: str) -> dict:
    """Create an active hook to `url`, fire `/tests`, return its first logged attempt."""
    name = create_repo(server, owner)["full_name"]
    hook = _add_hook(server, owner, name, url)
    deliveries_url = f"/api/v1/repos/{name}/hooks/{hook['id']}/deliveries"
    with client(server, owner) as c:
        assert c.post(f"/api/v1/repos/{name}/hooks/{hook['id']}/tests").status_code == 204
        deadline = time.monotonic() + 10
        while not c.get(deliveries_url).json() and time.monotonic() < deadline:
            time.sleep(0.05)
        return c.get(deliveries_url).json()[-1]


def test_delivery_log_keeps_one_kib_of_the_answer(server: DockyardServer, alice: Account) -> None:
    """Issue 10 #9: the log is no read-back channel into the receiver's answer."""
    big = Receiver(reply=b"x" * 1024 + b"SECRET-AFTER-1KiB" + b"y" * 50_000,
                   reply_headers={"X-Receiver": "yes"}).start()
    try:
        logged = _test_delivery(server, alice, big.url)
    finally:
        big.stop()
    assert logged["is_succeed"] is True and logged["status_code"] == 200
    assert logged["response"]["headers"]["x-receiver"] == "yes"
    assert len(logged["response"]["body"]) == 1024
    assert "SECRET" not in logged["response"]["body"]


def test_redirect_is_not_followed_and_its_body_not_kept(server: DockyardServer,
                                                        alice: Account) -> None:
    final = Receiver().start()
    bouncer = Receiver(status=302, reply=b"internal page behind the redirect",
                       reply_headers={"Location": final.url}).start()
    try:
        logged = _test_delivery(server, alice, bouncer.url)
        time.sleep(0.3)
        assert final.requests == []  # never followed
    finally:
        bouncer.stop()
        final.stop()
    assert logged["is_succeed"] is False and logged["status_code"] == 302
    assert "redirects are not followed" in logged["error"]
    assert logged["response"]["body"] == ""
    assert logged["response"]["headers"]["location"] == final.url


def test_a_name_is_resolved_once_and_keeps_its_host_header(server: DockyardServer,
                                                           alice: Account,
                                                           receiver: Receiver) -> None:
    """With `loopback` allowed, `localhost` is delivered: to the checked address, with the
    URL's own Host header."""
    logged = _test_delivery(server, alice, f"http://localhost:{receiver.port}/hook")
    assert logged["is_succeed"] is True, logged["error"]
    [got] = receiver.wait_for(1)
    assert got.headers["Host"] == f"localhost:{receiver.port}"
