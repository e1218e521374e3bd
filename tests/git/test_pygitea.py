"""py-gitea (PyPI), unchanged, against a real `dockyard up`: the everyday flow of a Gitea script.

py-gitea parses timestamps with `strptime("%Y-%m-%dT%H:%M:%S%z")` after cutting the offset's
colon, so any fractional second or other shape stops it at the first repository it reads.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, start_server
from tests.git.conftest import unique
from tests.git.receiver import Receiver

gitea = pytest.importorskip("gitea", reason="py-gitea is in the dev extra (pip install -e .[dev])")

# Gitea's (Go's time.RFC3339) form: to the second, `Z` or `+hh:mm`
GITEA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
    """This module's own server, allowed to deliver webhooks to a loopback receiver."""
    srv = start_server(tmp_path_factory.mktemp("pygitea") / "data",
                       env={"DOCKYARD_WEBHOOK_ALLOWED_HOSTS": "loopback"})
    yield srv
    srv.stop()


def test_everyday_flow(server: DockyardServer) -> None:
    admin = gitea.Gitea(server.url, auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert admin.get_version().startswith("1.")
    assert admin.get_user().username == ADMIN_USER

    # an administrator creates a user and an organisation owned by them
    password = uuid.uuid4().hex
    user = admin.create_user(unique("dev"), f"{uuid.uuid4().hex[:8]}@example.com", password,
                             change_pw=False, send_notify=False)
    org = admin.create_org(user, unique("team"), "the team")
    assert org.description == "the team"
    assert {user.username, ADMIN_USER} <= {u.username for u in admin.get_users()}
    assert admin.get_user_by_name(user.username).id == user.id
    assert org.name in {o.name for o in admin.get_orgs()}
    assert [o.name for o in user.get_orgs()] == [org.name]
    assert [m.username for m in org.get_members()] == [user.username]

    # repositories for the user and for the organisation, read back by the user's own client
    user_repo = admin.create_repo(user, "app", "the app", default_branch="main")
    org_repo = admin.create_repo(org, "lib", default_branch="main")
    # (py-gitea reads Gitea's `...:10Z` as `...:00` naive, as it does against Gitea itself)
    assert isinstance(user_repo.updated_at, datetime)
    assert user_repo.ssh_url == ""  # no SSH server: Gitea with SSH disabled says so
    me = gitea.Gitea(server.url, auth=(user.username, password))
    assert {r.name for r in me.get_user().get_repositories()} == {"app"}
    assert {r.name for r in org.get_repositories()} == {"lib"}
    assert {r.full_name for r in me.get_user().get_accessible_repos()} >= {
        user_repo.full_name, org_repo.full_name}
    repo = gitea.Repository.request(me, user.username, "app")
    raw = me.requests_get(f"/repos/{repo.full_name}")
    for key in ("created_at", "updated_at", "archived_at"):
        assert GITEA_TIME.match(raw[key]), raw[key]
    assert GITEA_TIME.match(raw["owner"]["created"])

    # files, branches, commits
    repo.create_file("hello.txt", base64.b64encode(b"hi there\n").decode(),
                     {"message": "add hello", "branch": "main"})
    branches = repo.get_branches()
    assert [b.name for b in branches] == ["main"]
    assert repo.add_branch(branches[0], "feature").name == "feature"
    assert [b.name for b in repo.get_branches()] == ["feature", "main"]
    commits = repo.get_commits()
    assert commits[0].commit["message"].strip() == "add hello"
    assert GITEA_TIME.match(commits[0].commit["author"]["date"])
    files = {c.name: c for c in repo.get_git_content()}
    assert base64.b64decode(repo.get_file_content(files["hello.txt"])) == b"hi there\n"

    # a collaborator. Gitea's check answers 204 or 404; py-gitea 0.2's `is_collaborator` takes
    # only 200/201 as success, so it says False against Gitea itself: the status is read raw.
    other = admin.create_user(unique("peer"), f"{uuid.uuid4().hex[:8]}@example.com",
                              uuid.uuid4().hex, change_pw=False, send_notify=False)
    check = f"{server.url}/api/v1/repos/{repo.full_name}/collaborators/{other.username}"
    assert me.requests.get(check).status_code == 404
    assert repo.get_user_permission(other).permission == "read"  # a public repository
    me.requests_put(f"/repos/{repo.full_name}/collaborators/{other.username}",
                    {"permission": "write"})
    assert me.requests.get(check).status_code == 204
    assert repo.get_user_permission(other).permission == "write"
    assert other.username in {u.username for u in repo.get_users_with_access()}
    repo.remove_collaborator(other.username)
    assert me.requests.get(check).status_code == 404

    # a webhook, delivered on the next change
    receiver = Receiver().start()
    try:
        hook = repo.create_gitea_hook(receiver.url, ["push"])
        assert GITEA_TIME.match(hook["created_at"]), hook
        assert [h["id"] for h in repo.list_hooks()] == [hook["id"]]
        repo.create_file("two.txt", base64.b64encode(b"2\n").decode(), {"message": "two"})
        delivered = receiver.wait_for(1, timeout=30)[0]
        assert b'"ref": "refs/heads/main"' in delivered.body or \
            b'"ref":"refs/heads/main"' in delivered.body
        repo.delete_hook(hook["id"])
    finally:
        receiver.stop()

    # a commit status, as CI scripts set it through py-gitea's raw requests
    head = repo.get_commits()[0].sha
    status = me.requests_post(f"/repos/{repo.full_name}/statuses/{head}", {
        "state": "success", "context": "ci/build", "target_url": "http://ci.example/1",
        "description": "built"})
    assert status["status"] == "success"
    assert GITEA_TIME.match(status["created_at"]), status
    combined = me.requests_get(f"/repos/{repo.full_name}/commits/{head}/status")
    assert combined["state"] == "success"


def test_branch_creation_answers_as_gitea(server: DockyardServer) -> None:
    """POST .../branches: 201 from a ref, 409 when the branch exists, 404 for an unknown start,
    403 for a reader; the listings of users and organisations are administrators' only."""
    admin = gitea.Gitea(server.url, auth=(ADMIN_USER, ADMIN_PASSWORD))
    owner = admin.create_user(unique("br"), f"{uuid.uuid4().hex[:8]}@example.com", "pw-br-1",
                              change_pw=False, send_notify=False)
    repo = admin.create_repo(owner, "b", default_branch="main")
    path = f"/api/v1/repos/{repo.full_name}/branches"
    with server.client(owner.username, "pw-br-1") as c:
        made = c.post(path, json={"new_branch_name": "rel", "old_ref_name": "main"})
        assert made.status_code == 201 and made.json()["name"] == "rel"
        assert c.post(path, json={"new_branch_name": "rel"}).status_code == 409
        assert c.post(path, json={"new_branch_name": "x", "old_ref_name": "nope"}
                      ).status_code == 404
        assert c.post(path, json={"new_branch_name": "bad..name"}).status_code == 422
        assert c.get("/api/v1/admin/users").status_code == 403
        assert c.get("/api/v1/admin/orgs").status_code == 403
    reader = admin.create_user(unique("rd"), f"{uuid.uuid4().hex[:8]}@example.com", "pw-rd-1",
                               change_pw=False, send_notify=False)
    with server.client(reader.username, "pw-rd-1") as c:
        assert c.post(path, json={"new_branch_name": "mine"}).status_code == 403


def test_collaborator_check_answers_as_gitea(server: DockyardServer) -> None:
    """204 for a collaborator, 404 for a user who is not one, 422 for no such user, 401 without
    credentials; adding or removing needs admin on the repository."""
    admin = gitea.Gitea(server.url, auth=(ADMIN_USER, ADMIN_PASSWORD))
    owner = admin.create_user(unique("own"), f"{uuid.uuid4().hex[:8]}@example.com", "pw-own-1",
                              change_pw=False, send_notify=False)
    peer = admin.create_user(unique("peer"), f"{uuid.uuid4().hex[:8]}@example.com", "pw-peer-1",
                             change_pw=False, send_notify=False)
    repo = admin.create_repo(owner, "svc", default_branch="main")
    path = f"/api/v1/repos/{repo.full_name}/collaborators"
    with server.client() as c:
        assert c.get(f"{path}/{peer.username}").status_code == 404
        assert c.get(f"{path}/no-such-user-{uuid.uuid4().hex[:6]}").status_code == 422
    with server.client(peer.username, "pw-peer-1") as c:
        assert c.put(f"{path}/{peer.username}", json={"permission": "admin"}).status_code == 403
        own = c.get(f"{path}/{peer.username}/permission").json()
        assert own["permission"] == "read"  # a public repository
        assert c.get(f"{path}/{owner.username}/permission").status_code == 403
    with server.client(owner.username, "pw-own-1") as c:
        assert c.put(f"{path}/{peer.username}", json={"permission": "read"}).status_code == 204
        assert c.get(f"{path}/{peer.username}").status_code == 204
        assert c.get(f"{path}/{owner.username}/permission").json()["permission"] == "admin"
    with server.client(user=None) as c:
        assert c.get(f"{path}/{peer.username}").status_code == 401


def test_gitea_time_is_gos_rfc3339(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one formatter: to the second, the server's zone for stored times (`Z` at UTC), a
    commit's own offset kept, Go's zero time for none."""
    import time

    from dockyard.git.apitime import EPOCH, gitea_time

    stored = "2026-12-07T15:45:10.727900+00:00"
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert gitea_time(stored) == "2026-12-07T15:45:10Z"
    assert gitea_time(EPOCH) == "1970-01-01T00:00:00Z"
    monkeypatch.setenv("TZ", "CET-1")  # POSIX form: no tz database needed
    time.tzset()
    try:
        assert gitea_time(stored) == "2026-12-07T16:45:10+01:00"
        assert gitea_time("2026-12-07T15:45:10+05:30", own_offset=True) == \
            "2026-12-07T15:45:10+05:30"
        assert gitea_time("2026-12-07T15:45:10+00:00", own_offset=True) == "2026-12-07T15:45:10Z"
        assert gitea_time("") == "0001-01-01T00:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()
