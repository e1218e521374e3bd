"""Protected branches: a refused push reaches the git client as git's own message."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, repo_url


def test_protected_branch_rules(server: DockyardServer, git: Git, work: Path, alice: Account,
                                bob: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    owner_url = repo_url(server, name, alice.username, alice.password)
    with client(server, alice) as c:
        rule = c.post(f"/api/v1/repos/{name}/branch_protections", json={
            "rule_name": "main", "enable_push": True, "enable_push_whitelist": True,
            "push_whitelist_usernames": [alice.username]})
        assert rule.status_code == 201, rule.text
        assert rule.json()["rule_name"] == "main" and rule.json()["enable_force_push"] is False
        assert c.put(f"/api/v1/repos/{name}/collaborators/{bob.username}",
                     json={"permission": "write"}).status_code == 204
        branches = c.get(f"/api/v1/repos/{name}/branches").json()
        assert branches[0]["protected"] is True and branches[0]["user_can_push"] is True
    checkout = work / "c"
    git.run("clone", "-q", owner_url, str(checkout))
    base = git.out("rev-parse", "HEAD", cwd=checkout)
    git.commit_file(checkout, "a", "a\n", "fast-forward by the owner")
    git.run("push", "-q", owner_url, "main", cwd=checkout)  # whitelisted, fast-forward: fine

    # force-push is refused by the pre-receive hook, with git's message and our reason
    git.run("reset", "-q", "--hard", base, cwd=checkout)
    git.commit_file(checkout, "b", "b\n", "rewritten history")
    forced = git.run("push", "--force", owner_url, "main", cwd=checkout, check=False)
    assert forced.returncode != 0
    assert "! [remote rejected] main -> main (pre-receive hook declined)" in forced.stderr
    assert "remote: error: branch main is protected: force-push is not allowed" in forced.stderr
    # deletion is refused
    deleted = git.run("push", owner_url, ":main", cwd=checkout, check=False)
    assert deleted.returncode != 0 and "cannot be deleted" in deleted.stderr
    # other branches stay free
    git.run("push", "-q", owner_url, "HEAD:refs/heads/scratch", cwd=checkout)
    git.run("push", "-q", "--force", owner_url, "HEAD~1:refs/heads/scratch", cwd=checkout)

    # a writer who is not whitelisted: refused by git and through the contents API
    with client(server, alice) as c:
        c.patch(f"/api/v1/repos/{name}/branch_protections/main",
                json={"push_whitelist_usernames": [alice.username, "nobody"]})
        assert c.post(f"/api/v1/repos/{name}/branch_protections",
                      json={"rule_name": "main"}).status_code == 422
    bob_url = repo_url(server, name, bob.username, bob.password)
    git.run("fetch", "-q", owner_url, cwd=checkout)
    git.run("reset", "-q", "--hard", "FETCH_HEAD", cwd=checkout)
    git.commit_file(checkout, "c", "c\n", "by bob")
    refused = git.run("push", bob_url, "main", cwd=checkout, check=False)
    assert refused.returncode != 0
    assert f"branch main is protected: {bob.username} is not allowed to push" in refused.stderr
    git.run("push", "-q", bob_url, "HEAD:refs/heads/bobs", cwd=checkout)  # a collaborator
    with client(server, bob) as c:
        api = c.post(f"/api/v1/repos/{name}/contents/x.txt",
                         json={"content": base64.b64encode(b"x").decode()})
        assert api.status_code == 403 and "protected" in api.json()["message"]
    with client(server, alice) as c:
        assert c.delete(f"/api/v1/repos/{name}/branch_protections/main").status_code == 204
        assert c.delete(f"/api/v1/repos/{name}/collaborators/{bob.username}").status_code == 204
    git.run("push", "-q", owner_url, "main", cwd=checkout)  # unprotected again
    gone = git.run("push", bob_url, "HEAD:refs/heads/bobs2", cwd=checkout, check=False)
    assert gone.returncode != 0 and "no write permission" in gone.stderr
