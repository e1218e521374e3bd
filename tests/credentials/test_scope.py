"""Credentials have an owner and a scope (issue 10, reproduction 2's withCredentials part).

The rule (dockyard.credentials.scope) is checked directly against a real database, then end to
end: users store credentials of their own namespace with the `dockyard credentials` CLI, an
administrator creates jobs with python-jenkins, real `git push`es provide the Jenkinsfiles, and a
job binds only its repository owner's credentials and granted ones: an administrator's system
credential, or another user's, needs a grant (reproduction 2's `withCredentials` of any id).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jenkins as python_jenkins
import pytest

from dockyard.auth import AuthService
from dockyard.credentials import (
    CredentialNotAvailable,
    CredentialNotFound,
    CredentialStore,
    SecretText,
    resolve_for_job,
)
from dockyard.server.app import all_migrations
from dockyard.store import Database
from tests.ci.conftest import Jenkins, api_token, job_xml
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, REPO_ROOT, DockyardServer
from tests.git.conftest import Git, client, create_repo, create_user, repo_url, unique


def test_resolve_for_job_rules(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite")
    db.migrate(all_migrations())
    auth = AuthService(db)
    auth.create_user("root", "pw", is_admin=True)
    auth.create_user("alice", "pw")
    store = CredentialStore.open(db, tmp_path / "secrets")
    store.put(SecretText("sys", text="s1"), created_by="root")
    store.put(SecretText("alice-t", text="s2"), created_by="alice", owner="alice")

    def resolve(cid: str, job: str = "j", owner: str | None = "alice") -> str:
        credential = resolve_for_job(store, cid, job=job, repo_owner=owner)
        assert isinstance(credential, SecretText)
        return credential.text

    assert resolve("alice-t") == "s2"  # its repository's owner's
    assert resolve("alice-t", owner="ALICE") == "s2"  # names compare case-insensitively
    with pytest.raises(CredentialNotAvailable) as refused:
        resolve("alice-t", job="bobs-job", owner="bob")
    message = str(refused.value)
    assert "credential 'alice-t' is not available to job 'bobs-job'" in message
    assert "it belongs to 'alice'" in message
    assert "dockyard credentials grant alice-t --job bobs-job" in message
    assert "dockyard credentials add-secret-text alice-t --owner bob" in message
    with pytest.raises(CredentialNotAvailable, match="is a system credential") as refused:
        resolve("sys")  # an administrator's credential: whoever pushes the Jenkinsfile writes the steps
    assert "dockyard credentials grant sys --job j" in str(refused.value)
    with pytest.raises(CredentialNotAvailable):
        resolve("sys", owner=None)  # a repository on another server
    with pytest.raises(CredentialNotAvailable):
        resolve("alice-t", owner=None)
    store.grant("sys", "j", granted_by="root")
    assert resolve("sys") == "s1" and resolve("sys", owner=None) == "s1"
    with pytest.raises(CredentialNotAvailable):
        resolve("sys", job="other-job")  # a grant names one job
    store.grant("alice-t", "bobs-job", granted_by="root")
    assert resolve("alice-t", job="bobs-job", owner="bob") == "s2"
    assert store.info("alice-t").granted_jobs == ("bobs-job",)  # type: ignore[union-attr]
    assert store.revoke("alice-t", "bobs-job") and not store.revoke("alice-t", "bobs-job")
    with pytest.raises(CredentialNotAvailable):
        resolve("alice-t", job="bobs-job", owner="bob")
    with pytest.raises(CredentialNotFound):
        resolve("nope")
    store.delete("alice-t")  # grants go with the credential
    assert [i.id for i in store.list()] == ["sys"]


def dockyard_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=clean, input=stdin, check=False)


def as_user(server: DockyardServer, user: str, password: str) -> tuple[str, ...]:
    return ("credentials", "--url", server.url, "--user", user, "--password", password)


def test_owner_credentials_api_and_cli(server: DockyardServer) -> None:
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    org = unique("org")
    with client(server, alice) as c:
        assert c.post("/api/v1/orgs", json={"username": org}).status_code == 201
    cli_alice = as_user(server, alice.username, alice.password)
    added = dockyard_cli(*cli_alice, "add-secret-text", "a-" + org, "--owner", org, "--stdin", stdin="x1\n")
    assert added.returncode == 0, added.stderr
    own = dockyard_cli(*cli_alice, "add-secret-text", "a-own-" + org, "--owner", alice.username,
                       "--text", "x2")
    assert own.returncode == 0, own.stderr
    # another user's namespace, the system, or a name that is no user or org: refused, with why
    theirs = dockyard_cli(*cli_alice, "add-secret-text", "a-bob-" + org, "--owner", bob.username,
                          "--text", "x3")
    assert theirs.returncode == 1 and f"does not administer {bob.username!r}" in theirs.stderr
    system = dockyard_cli(*cli_alice, "add-secret-text", "a-sys-" + org, "--text", "x4")
    assert system.returncode == 1 and "system credentials are admin-only" in system.stderr
    ghost = dockyard_cli(*cli_alice, "add-secret-text", "a-gh-" + org, "--owner", "no-such-" + org,
                         "--text", "x5")
    assert ghost.returncode == 1 and "is not a user or organization" in ghost.stderr
    listing = dockyard_cli(*cli_alice, "list").stdout
    assert f"a-{org}\tsecret_text\t-\t\towner:{org}" in listing
    assert f"a-own-{org}\tsecret_text\t-\t\towner:{alice.username}" in listing
    assert "x1" not in listing and "x2" not in listing
    with client(server, bob) as c:  # bob sees none of them, not even that they exist
        assert all(i["owner"] == bob.username for i in c.get("/api/ci/credentials").json()["credentials"])
        assert c.get(f"/api/ci/credentials/a-{org}").status_code == 404
        assert c.delete(f"/api/ci/credentials/a-{org}").status_code == 404
        assert c.post(f"/api/ci/credentials/a-{org}/grants", json={"job": "x"}).status_code == 404
    with server.client() as admin:  # administrators see every credential with owner and scope
        item = admin.get(f"/api/ci/credentials/a-{org}").json()
        assert (item["scope"], item["owner"], item["granted_jobs"]) == ("owner", org, [])
        assert "x1" not in admin.get("/api/ci/credentials").text
        only = admin.get("/api/ci/credentials", params={"owner": org}).json()["credentials"]
        assert [i["id"] for i in only] == [f"a-{org}"]
    granted = dockyard_cli(*cli_alice, "grant", f"a-{org}", "--job", "some-job")
    assert granted.returncode == 0 and "job some-job may bind credential" in granted.stdout
    assert f"owner:{org} (granted to some-job)" in dockyard_cli(*cli_alice, "list").stdout
    assert dockyard_cli(*cli_alice, "revoke", f"a-{org}", "--job", "some-job").returncode == 0
    again = dockyard_cli(*cli_alice, "revoke", f"a-{org}", "--job", "some-job")
    assert again.returncode == 1 and "has no grant" in again.stderr


BIND = """pipeline {
  agent any
  stages {
    stage('bind') {
      steps {
        withCredentials([string(credentialsId: '%s', variable: 'TOKEN')]) {
          sh 'test -n "$TOKEN" && echo "bound $TOKEN"'
        }
      }
    }
  }
}
"""


@pytest.mark.slow
def test_job_binds_only_its_owners_or_granted_credentials(
    server: DockyardServer, tmp_path: Path
) -> None:
    (home := tmp_path / "home").mkdir()
    git = Git(home)
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    suffix = unique("s")
    ids = {"own": f"alice-{suffix}", "other": f"bob-{suffix}", "system": f"sys-{suffix}"}
    for key, (user, password) in {"own": (alice.username, alice.password),
                                  "other": (bob.username, bob.password),
                                  "system": (ADMIN_USER, ADMIN_PASSWORD)}.items():
        owner = () if key == "system" else ("--owner", user)
        proc = dockyard_cli(*as_user(server, user, password), "add-secret-text", ids[key], *owner,
                            "--text", f"secret-{key}-{suffix}")
        assert proc.returncode == 0, proc.stderr
    # alice's repository gets one Jenkinsfile per credential, by a real git push
    repo = create_repo(server, alice)
    work = tmp_path / "work"
    git.run("clone", "-q", repo_url(server, repo["full_name"], alice.username, alice.password), str(work))
    for key, cid in ids.items():
        (work / f"Jenkinsfile.{key}").write_text(BIND % cid)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "pipelines", cwd=work)
    git.run("push", "-q", "origin", "main", cwd=work)
    # an administrator creates the jobs (python-jenkins), one per Jenkinsfile
    admin = python_jenkins.Jenkins(server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)
    names = {key: unique(f"scope-{key}") for key in ids}
    for key, name in names.items():
        admin.create_job(name, job_xml(repo_url(server, repo["full_name"]), script_path=f"Jenkinsfile.{key}"))
    runner = Jenkins(server, api_token(server))
    info, log = runner.run(names["own"])  # the repository owner's
    assert info["result"] == "SUCCESS", log
    assert "bound ****" in log and f"secret-own-{suffix}" not in log
    # an administrator's system credential, and bob's, in alice's repository's jobs: refused at the step
    refusals = {"system": "it is a system credential", "other": f"it belongs to {bob.username!r}"}
    for key, belongs in refusals.items():
        info, log = runner.run(names[key])
        assert info["result"] == "FAILURE", log
        assert f"credential '{ids[key]}' is not available to job '{names[key]}': {belongs}" in log
        assert f"dockyard credentials grant {ids[key]} --job {names[key]}" in log
        assert f"--owner {alice.username}" in log
        assert f"secret-{key}-{suffix}" not in log and "bound" not in log
    # the fix the message names: the administrator grants the system one, bob (the owner) his own
    for key, (user, password) in (("system", (ADMIN_USER, ADMIN_PASSWORD)),
                                  ("other", (bob.username, bob.password))):
        granted = dockyard_cli(*as_user(server, user, password), "grant", ids[key], "--job", names[key])
        assert granted.returncode == 0, granted.stderr
        info, log = runner.run(names[key])
        assert info["result"] == "SUCCESS" and "bound ****" in log, log
        assert f"secret-{key}-{suffix}" not in log
    # alice cannot grant herself the administrator's credential (she cannot even see it)
    refused = dockyard_cli(*as_user(server, alice.username, alice.password), "grant", ids["system"],
                           "--job", names["own"])
    assert refused.returncode == 1, refused.stdout


def test_token_scopes_limit_credential_management(server: DockyardServer) -> None:
    """An API token manages credentials only within its scopes: `admin` for system credentials,
    `user` for the token owner's own (Gitea's categories)."""
    def token(*scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        cmd = server.command("user", "token", ADMIN_USER, "--name", unique("scoped"), *args)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout
        return out.split()[-1]

    narrow = {"Authorization": f"token {token('read:repository')}"}
    with server.client(user=None) as c:
        body = {"id": unique("scoped"), "kind": "secret_text", "text": "t"}
        refused = c.post("/api/ci/credentials", json=body, headers=narrow)
        assert refused.status_code == 403 and "[write:admin]" in refused.json()["error"]
        assert c.get("/api/ci/credentials", headers=narrow).json() == {"credentials": []}
        wide = {"Authorization": f"token {token('write:admin')}"}
        assert c.post("/api/ci/credentials", json=body, headers=wide).status_code == 201
        listed = c.get("/api/ci/credentials", headers=wide).json()["credentials"]
        assert body["id"] in [i["id"] for i in listed]
