"""The Gitea-compatible `/api/v1` subset: repos, orgs, users and tokens, contents, commits,
branches and commit statuses, checked field by field against Gitea's names."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, create_user, repo_url, unique


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_repo_json_and_lifecycle(server: DockyardServer, alice: Account) -> None:
    repo = create_repo(server, alice, description="notes service")
    name = repo["full_name"]
    assert repo["owner"]["login"] == alice.username and repo["name"] == name.split("/")[1]
    assert repo["clone_url"] == f"{server.url}/{name}.git"
    assert repo["html_url"] == f"{server.url}/{name}"
    assert repo["default_branch"] == "main" and repo["private"] is False
    assert repo["empty"] is False and repo["permissions"] == {"admin": True, "push": True,
                                                              "pull": True}
    with client(server, alice) as c:
        assert c.post("/api/v1/user/repos", json={"name": repo["name"]}).status_code == 409
        empty = c.post("/api/v1/user/repos", json={"name": unique("empty")}).json()
        assert empty["empty"] is True
        mine = {r["full_name"] for r in c.get("/api/v1/user/repos").json()}
        assert {name, empty["full_name"]} <= mine
        found = c.get("/api/v1/repos/search", params={"q": "notes service"}).json()
        assert found["ok"] is True and name in {r["full_name"] for r in found["data"]}
        edited = c.patch(f"/api/v1/repos/{name}", json={"description": "new", "private": True})
        assert edited.json()["description"] == "new" and edited.json()["private"] is True
        renamed = c.patch(f"/api/v1/repos/{name}", json={"name": repo["name"] + "-2"}).json()
        assert renamed["full_name"] == name + "-2"
        directory = server.data_dir / "git" / alice.username.lower() / f"{repo['name']}-2.git"
        assert directory.is_dir()
        assert c.delete(f"/api/v1/repos/{name}-2").status_code == 204
        assert not directory.exists()
        assert c.get(f"/api/v1/repos/{name}-2").status_code == 404


def test_users_and_tokens(server: DockyardServer, alice: Account, bob: Account) -> None:
    assert client(server, None).get("/api/v1/version").json()["version"].startswith("1.21.0+")
    with client(server, alice) as c:
        me = c.get("/api/v1/user").json()
        assert me["login"] == alice.username and me["is_admin"] is False
        created = c.post(f"/api/v1/users/{alice.username}/tokens",
                         json={"name": "deploy", "scopes": ["write:repository", "write:user"]})
        assert created.status_code == 201
        token = created.json()
        assert len(token["sha1"]) == 40 and token["token_last_eight"] == token["sha1"][-8:]
        listed = c.get(f"/api/v1/users/{alice.username}/tokens").json()
        assert [t["name"] for t in listed] == ["deploy"] and listed[0]["sha1"] == ""
        assert c.post(f"/api/v1/users/{bob.username}/tokens",
                      json={"name": "x"}).status_code == 403
        assert c.post("/api/v1/admin/users", json={"username": "x", "password": "y"}
                      ).status_code == 403
    with server.client(user=None) as anonymous:
        headers = {"Authorization": f"token {token['sha1']}"}
        assert anonymous.get("/api/v1/user", headers=headers).json()["login"] == alice.username
        assert anonymous.get("/api/v1/user", params={"token": token["sha1"]}).status_code == 200
        # Gitea: creating a token needs the password, not a token
        again = anonymous.post(f"/api/v1/users/{alice.username}/tokens", json={"name": "y"},
                               headers=headers)
        assert again.status_code == 401
        assert anonymous.get("/api/v1/user").status_code == 401
        gone = anonymous.delete(f"/api/v1/users/{alice.username}/tokens/{token['id']}",
                                headers=headers)
        assert gone.status_code == 204
        assert anonymous.get("/api/v1/user", headers=headers).status_code == 401


def test_org_repos_and_member_roles(server: DockyardServer, git: Git, work: Path,
                                    alice: Account, bob: Account) -> None:
    org_name = unique("team")
    carol = create_user(server, "carol")
    with client(server, alice) as c:
        org = c.post("/api/v1/orgs", json={"username": org_name, "full_name": "The Team"})
        assert org.status_code == 201 and org.json()["username"] == org_name
        assert c.get(f"/api/v1/orgs/{org_name}").json()["full_name"] == "The Team"
        repo = c.post(f"/api/v1/orgs/{org_name}/repos",
                      json={"name": "svc", "auto_init": True, "private": True}).json()
        assert repo["owner"]["login"] == org_name
        assert c.put(f"/api/v1/orgs/{org_name}/members/{bob.username}",
                     json={"role": "write"}).status_code == 204
        assert c.put(f"/api/v1/orgs/{org_name}/members/{carol.username}",
                     json={"role": "read"}).status_code == 204
    full_name = f"{org_name}/svc"
    checkout = work / "svc"
    git.run("clone", "-q", repo_url(server, full_name, carol.username, carol.password),
            str(checkout))
    git.commit_file(checkout, "x", "x\n", "member change")
    denied = git.run("push", repo_url(server, full_name, carol.username, carol.password), "main",
                     cwd=checkout, check=False)
    assert denied.returncode != 0 and "no write permission" in denied.stderr
    git.run("push", "-q", repo_url(server, full_name, bob.username, bob.password), "main",
            cwd=checkout)
    with client(server, bob) as c:
        assert c.post("/api/v1/orgs", json={"username": alice.username}).status_code == 422
        assert c.delete(f"/api/v1/repos/{full_name}").status_code == 403


def test_contents_create_update_and_conflicts(server: DockyardServer, git: Git, work: Path,
                                              alice: Account, bob: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    api = f"/api/v1/repos/{name}/contents"
    with client(server, alice) as c:
        readme = c.get(f"{api}/README.md").json()
        assert readme["type"] == "file" and readme["encoding"] == "base64"
        assert base64.b64decode(readme["content"]).decode().startswith("# ")
        created = c.post(f"{api}/deploy/app.yaml", json={
            "content": _b64("image: notes:1\n"), "message": "add manifest",
            "author": {"name": "CI", "email": "ci@example.com"}})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["content"]["path"] == "deploy/app.yaml"
        assert body["commit"]["message"] == "add manifest\n"
        assert body["commit"]["author"]["email"] == "ci@example.com"
        blob_sha = body["content"]["sha"]
        again = c.post(f"{api}/deploy/app.yaml", json={"content": _b64("x")})
        assert again.status_code == 422
        missing_sha = c.put(f"{api}/deploy/app.yaml", json={"content": _b64("x")})
        assert missing_sha.status_code == 422 and "sha" in missing_sha.json()["message"]
        updated = c.put(f"{api}/deploy/app.yaml", json={
            "content": _b64("image: notes:2\n"), "sha": blob_sha, "message": "bump tag"})
        assert updated.status_code == 200, updated.text
        stale = c.put(f"{api}/deploy/app.yaml", json={"content": _b64("image: notes:3\n"),
                                                      "sha": blob_sha})
        assert stale.status_code == 409  # the GitOps step's optimistic concurrency
        listing = c.get(f"{api}/deploy").json()
        assert [e["name"] for e in listing] == ["app.yaml"] and listing[0]["content"] is None
        at_old = c.get(f"{api}/deploy/app.yaml", params={"ref": body["commit"]["sha"]}).json()
        assert base64.b64decode(at_old["content"]) == b"image: notes:1\n"
        branch = c.post(f"{api}/other.txt", json={"content": _b64("o"), "new_branch": "feat"})
        assert branch.status_code == 201
        assert {b["name"] for b in c.get(f"/api/v1/repos/{name}/branches").json()} == \
            {"main", "feat"}
        assert c.post(f"{api}/../escape", json={"content": _b64("x")}).status_code in (404, 422)
        assert c.post(f"{api}/.git/config", json={"content": _b64("x")}).status_code == 422
        assert c.post(f"{api}/bad.txt", json={"content": "%%%"}).status_code == 422
    with client(server, bob) as c:
        assert c.post(f"{api}/b.txt", json={"content": _b64("b")}).status_code == 403
    checkout = work / "c"
    git.run("clone", "-q", repo_url(server, name), str(checkout))
    assert (checkout / "deploy" / "app.yaml").read_text() == "image: notes:2\n"
    assert git.out("log", "-1", "--format=%s", cwd=checkout) == "bump tag"


def test_commits_branches_and_statuses(server: DockyardServer, git: Git, work: Path,
                                       alice: Account, bob: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    checkout = work / "c"
    git.run("clone", "-q", repo_url(server, name), str(checkout))
    shas = [git.commit_file(checkout, f"f{i}", f"{i}\n", f"commit {i}") for i in range(3)]
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "main",
            cwd=checkout)
    with client(server, alice) as c:
        page = c.get(f"/api/v1/repos/{name}/commits", params={"limit": 2})
        assert page.headers["X-Total-Count"] == "4" and page.headers["X-HasMore"] == "true"
        commits = page.json()
        assert [x["sha"] for x in commits] == [shas[2], shas[1]]
        assert commits[0]["commit"]["message"] == "commit 2\n"
        assert commits[0]["commit"]["author"]["email"] == "author@example.com"
        assert commits[0]["parents"][0]["sha"] == shas[1]
        assert commits[0]["files"] == [{"filename": "f2", "status": "added"}]
        branches = c.get(f"/api/v1/repos/{name}/branches").json()
        assert branches[0]["name"] == "main" and branches[0]["commit"]["id"] == shas[2]
        status = c.post(f"/api/v1/repos/{name}/statuses/{shas[2]}", json={
            "state": "pending", "context": "ci/dockyard", "target_url": "http://ci/1",
            "description": "building"})
        assert status.status_code == 201
        assert status.json()["status"] == "pending" and status.json()["context"] == "ci/dockyard"
        c.post(f"/api/v1/repos/{name}/statuses/{shas[2]}",
               json={"state": "success", "context": "ci/dockyard"})
        listed = c.get(f"/api/v1/repos/{name}/statuses/{shas[2]}").json()
        assert [s["status"] for s in listed] == ["success", "pending"]
        combined = c.get(f"/api/v1/repos/{name}/commits/main/status").json()
        assert combined["state"] == "success" and combined["total_count"] == 1
        assert c.post(f"/api/v1/repos/{name}/statuses/{shas[2]}",
                      json={"state": "great"}).status_code == 422
        assert c.post(f"/api/v1/repos/{name}/statuses/{'0' * 40}",
                      json={"state": "success"}).status_code == 404
    with client(server, bob) as c:
        assert c.post(f"/api/v1/repos/{name}/statuses/{shas[2]}",
                      json={"state": "failure"}).status_code == 403
        assert len(c.get(f"/api/v1/repos/{name}/statuses/{shas[2]}").json()) == 2


def test_delete_file_raw_and_branch_deletion(server: DockyardServer, alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    api = f"/api/v1/repos/{name}"
    with client(server, alice) as c:
        made = c.post(f"{api}/contents/tmp.txt", json={"content": _b64("t\n"),
                                                       "new_branch": "scratch"}).json()
        raw = c.get(f"{api}/raw/tmp.txt", params={"ref": "scratch"})
        assert raw.status_code == 200 and raw.content == b"t\n"
        wrong = c.request("DELETE", f"{api}/contents/tmp.txt",
                          json={"sha": "0" * 40, "branch": "scratch"})
        assert wrong.status_code == 409
        gone = c.request("DELETE", f"{api}/contents/tmp.txt",
                         json={"sha": made["content"]["sha"], "branch": "scratch",
                               "message": "remove tmp"})
        assert gone.status_code == 200 and gone.json()["content"] is None
        assert c.get(f"{api}/contents/tmp.txt", params={"ref": "scratch"}).status_code == 404
        assert c.delete(f"{api}/branches/main").status_code == 403  # the default branch
        assert c.delete(f"{api}/branches/scratch").status_code == 204
        assert c.get(f"{api}/branches/scratch").status_code == 404
        assert c.get(f"{api}/commits", params={"sha": "nope"}).status_code == 404


def test_remaining_read_endpoints(server: DockyardServer, git: Git, work: Path, alice: Account,
                                  bob: Account) -> None:
    org = unique("org")
    with client(server, alice) as c:
        assert c.post("/api/v1/orgs", json={"username": org}).status_code == 201
        c.put(f"/api/v1/orgs/{org}/members/{bob.username}", json={"role": "read"})
        members = {u["login"] for u in c.get(f"/api/v1/orgs/{org}/members").json()}
        assert members == {alice.username, bob.username}
        repo = c.post(f"/api/v1/orgs/{org}/repos", json={"name": "r", "auto_init": True}).json()
        full = repo["full_name"]
        assert [r["full_name"] for r in c.get(f"/api/v1/orgs/{org}/repos").json()] == [full]
        assert c.get(f"/api/v1/users/{alice.username}/repos").json() == []
        head = c.get(f"/api/v1/repos/{full}/branches/main").json()["commit"]["id"]
        commit = c.get(f"/api/v1/repos/{full}/git/commits/{head}").json()
        assert commit["sha"] == head and commit["commit"]["message"] == "Initial commit\n"
        c.post(f"/api/v1/repos/{full}/statuses/{head}", json={"state": "failure",
                                                              "context": "ci"})
        assert c.get(f"/api/v1/repos/{full}/commits/main/statuses").json()[0]["status"] == \
            "failure"
        c.put(f"/api/v1/repos/{full}/collaborators/{bob.username}", json={"permission": "write"})
        assert [u["login"] for u in c.get(f"/api/v1/repos/{full}/collaborators").json()] == \
            [bob.username]
        c.post(f"/api/v1/repos/{full}/contents/x", json={"content": _b64("x"),
                                                         "new_branch": "dev"})
        switched = c.patch(f"/api/v1/repos/{full}", json={"default_branch": "dev"})
        assert switched.json()["default_branch"] == "dev"
        assert c.patch(f"/api/v1/repos/{full}", json={"default_branch": "nope"}).status_code == 422
        assert c.delete(f"/api/v1/orgs/{org}/members/{bob.username}").status_code == 204
    dest = work / "r"
    git.run("clone", "-q", repo_url(server, full), str(dest))
    assert git.out("symbolic-ref", "--short", "HEAD", cwd=dest) == "dev"
    with server.client() as admin:
        made = admin.post(f"/api/v1/admin/users/{bob.username}/repos", json={"name": "given"})
        assert made.status_code == 201 and made.json()["owner"]["login"] == bob.username
        page = admin.get("/api/v1/repos/search", params={"q": "given", "limit": 1})
        assert page.json()["ok"] and int(page.headers["X-Total-Count"]) >= 1


def test_user_email_and_admin_flag_only_to_themself_and_admins(
    server: DockyardServer, alice: Account, bob: Account
) -> None:
    """Gitea's rule (issue 10, reproduction 12): others see the placeholder address, is_admin false."""
    placeholder = f"{alice.username}@noreply.dockyard.local"
    with client(server, None) as anonymous:
        shown = anonymous.get(f"/api/v1/users/{alice.username}").json()
        assert shown["email"] == placeholder and shown["login"] == alice.username
        assert anonymous.get("/api/v1/users/admin").json()["is_admin"] is False
    with client(server, bob) as c:
        assert c.get(f"/api/v1/users/{alice.username}").json()["email"] == placeholder
    with client(server, alice) as c:
        assert c.get(f"/api/v1/users/{alice.username}").json()["email"] == f"{alice.username}@example.com"
    with server.client() as admin:
        assert admin.get(f"/api/v1/users/{alice.username}").json()["email"] == f"{alice.username}@example.com"
        assert admin.get("/api/v1/users/admin").json()["is_admin"] is True
