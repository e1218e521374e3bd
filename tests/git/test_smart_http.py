"""Smart HTTP with the real git client: clone, fetch, push, protocol v2, shallow and partial
clones, gzip bodies, permissions and concurrent pushes."""

from __future__ import annotations

import gzip
import re
import subprocess
import threading
from pathlib import Path

import httpx

from tests.conftest import DockyardServer
from tests.git.conftest import Account, Git, client, create_repo, repo_url, unique


def _clone(git: Git, server: DockyardServer, full_name: str, dest: Path, *extra: str) -> Path:
    git.run("clone", "-q", *extra, repo_url(server, full_name), str(dest))
    return dest


def test_clone_fetch_push_round_trip(server: DockyardServer, git: Git, work: Path,
                                     alice: Account) -> None:
    repo = create_repo(server, alice)
    name = repo["full_name"]
    one = _clone(git, server, name, work / "one")
    two = _clone(git, server, name, work / "two")
    pushed = git.commit_file(one, "src/app.py", "print('hi')\n", "add app")
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "main", cwd=one)
    git.run("fetch", "-q", "origin", cwd=two)
    assert git.out("rev-parse", "origin/main", cwd=two) == pushed
    # a new branch and a tag
    git.run("checkout", "-q", "-b", "feature", cwd=one)
    git.commit_file(one, "f.txt", "f\n", "feature work")
    git.run("tag", "v1.0", cwd=one)
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "feature",
            "v1.0", cwd=one)
    refs = git.out("ls-remote", repo_url(server, name))
    assert "refs/heads/feature" in refs and "refs/tags/v1.0" in refs


def test_token_header_and_token_as_password(server: DockyardServer, git: Git, work: Path,
                                            alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    with client(server, alice) as c:
        token = c.post(f"/api/v1/users/{alice.username}/tokens",
                       json={"name": unique("t")}).json()["sha1"]
    checkout = _clone(git, server, name, work / "c")
    sha = git.commit_file(checkout, "x", "x\n", "via token header")
    git.run("-c", f"http.extraHeader=Authorization: token {token}", "push", "-q",
            repo_url(server, name), "main", cwd=checkout)
    assert git.out("ls-remote", repo_url(server, name), "main").split()[0] == sha
    bad = git.run("-c", "http.extraHeader=Authorization: token 0000", "push",
                  repo_url(server, name), "main", cwd=checkout, check=False)
    assert bad.returncode != 0


def test_protocol_v2_is_spoken(server: DockyardServer, git: Git, work: Path,
                               alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    result = git.run("-c", "protocol.version=2", "ls-remote", repo_url(server, name),
                     env={"GIT_TRACE_PACKET": "1"})
    assert "git< version 2" in result.stderr
    dest = work / "v2"
    git.run("-c", "protocol.version=2", "clone", "-q", repo_url(server, name), str(dest),
            env={"GIT_TRACE_PACKET": "1"})
    assert (dest / "README.md").exists()
    # and v0 still works
    result = git.run("-c", "protocol.version=0", "ls-remote", repo_url(server, name),
                     env={"GIT_TRACE_PACKET": "1"})
    assert "git< version 2" not in result.stderr and "refs/heads/main" in result.stdout


def test_shallow_and_partial_clones(server: DockyardServer, git: Git, work: Path,
                                    alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    full = _clone(git, server, name, work / "full")
    for i in range(3):
        git.commit_file(full, f"f{i}.txt", f"{i}\n" * 100, f"commit {i}")
    git.run("push", "-q", repo_url(server, name, alice.username, alice.password), "main",
            cwd=full)
    shallow = _clone(git, server, name, work / "shallow", "--depth", "1")
    assert git.out("rev-list", "--count", "HEAD", cwd=shallow) == "1"
    assert (shallow / ".git" / "shallow").exists()
    git.run("fetch", "-q", "--deepen", "2", cwd=shallow)
    assert git.out("rev-list", "--count", "HEAD", cwd=shallow) == "3"
    partial = _clone(git, server, name, work / "partial", "--filter=blob:none", "--no-checkout")
    assert git.out("config", "remote.origin.promisor", cwd=partial) == "true"
    missing = git.out("rev-list", "--objects", "--missing=print", "HEAD", cwd=partial)
    assert any(line.startswith("?") for line in missing.splitlines())
    git.run("checkout", "-q", "main", cwd=partial)  # fetches the blobs on demand
    assert (partial / "f2.txt").read_text() == "2\n" * 100


def test_gzip_request_body(server: DockyardServer, alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    refs = httpx.get(f"{server.url}/{name}.git/info/refs?service=git-upload-pack").content
    match = re.search(rb"([0-9a-f]{40}) refs/heads/main\n", refs)
    assert match, refs
    head = match.group(1)
    want = b"want " + head + b"\n"
    request = f"{len(want) + 4:04x}".encode() + want + b"0000" + b"0009done\n"
    response = httpx.post(
        f"{server.url}/{name}.git/git-upload-pack", content=gzip.compress(request),
        headers={"Content-Type": "application/x-git-upload-pack-request",
                 "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-git-upload-pack-result"
    assert b"PACK" in response.content


def test_anonymous_push_is_refused_with_a_challenge(server: DockyardServer, git: Git,
                                                     work: Path, alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    checkout = _clone(git, server, name, work / "c")
    git.commit_file(checkout, "x", "x\n", "anonymous")
    result = git.run("push", repo_url(server, name), "main", cwd=checkout, check=False)
    assert result.returncode != 0
    assert "could not read Username" in result.stderr  # git was asked for credentials
    response = httpx.get(f"{server.url}/{name}.git/info/refs?service=git-receive-pack")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_push_without_write_permission_shows_why(server: DockyardServer, git: Git, work: Path,
                                                 alice: Account, bob: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    checkout = _clone(git, server, name, work / "c")
    git.commit_file(checkout, "x", "x\n", "bob's attempt")
    result = git.run("push", repo_url(server, name, bob.username, bob.password), "main",
                     cwd=checkout, check=False)
    assert result.returncode != 0
    assert f"remote: User {bob.username} has no write permission on {name}" in result.stderr
    wrong = git.run("push", repo_url(server, name, alice.username, "wrong-password"), "main",
                    cwd=checkout, check=False)
    assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr


def test_private_repo_is_hidden(server: DockyardServer, git: Git, work: Path, alice: Account,
                                bob: Account) -> None:
    name = create_repo(server, alice, private=True)["full_name"]
    missing = f"{alice.username}/{unique('nothing')}"
    anonymous = git.run("ls-remote", repo_url(server, name), check=False)
    nonexistent = git.run("ls-remote", repo_url(server, missing), check=False)
    assert anonymous.returncode != 0 and nonexistent.returncode != 0
    assert anonymous.stderr.replace(name, "X") == nonexistent.stderr.replace(missing, "X")
    as_bob = git.run("ls-remote", repo_url(server, name, bob.username, bob.password), check=False)
    assert as_bob.returncode != 0 and "not found" in as_bob.stderr
    assert httpx.get(f"{server.url}/api/v1/repos/{name}").status_code == 404
    with client(server, bob) as c:
        assert c.get(f"/api/v1/repos/{name}").status_code == 404
        assert name not in str(c.get("/api/v1/repos/search").json())
    # the owner clones it (git retries with credentials after the 401)
    dest = work / "mine"
    git.run("clone", "-q", repo_url(server, name, alice.username, alice.password), str(dest))
    assert (dest / "README.md").exists()


def test_non_fast_forward_is_rejected_by_git(server: DockyardServer, git: Git, work: Path,
                                             alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    url = repo_url(server, name, alice.username, alice.password)
    one = _clone(git, server, name, work / "one")
    two = _clone(git, server, name, work / "two")
    git.commit_file(one, "a", "a\n", "first")
    git.run("push", "-q", url, "main", cwd=one)
    git.commit_file(two, "b", "b\n", "diverged")
    result = git.run("push", url, "main", cwd=two, check=False)
    assert result.returncode != 0
    assert "[rejected]" in result.stderr and "main -> main" in result.stderr


def test_two_concurrent_pushes_one_wins(server: DockyardServer, git: Git, work: Path,
                                        alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    url = repo_url(server, name, alice.username, alice.password)
    clones = [_clone(git, server, name, work / f"c{i}") for i in range(2)]
    for i, checkout in enumerate(clones):
        git.commit_file(checkout, f"file{i}", f"{i}\n" * 1000, f"racer {i}")
    results: list[subprocess.CompletedProcess[str]] = []
    barrier = threading.Barrier(2)

    def push(checkout: Path) -> None:
        barrier.wait()
        results.append(git.run("push", url, "main", cwd=checkout, check=False))

    threads = [threading.Thread(target=push, args=(c,)) for c in clones]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.returncode for r in results)
    assert codes[0] == 0 and codes[1] != 0, [r.stderr for r in results]
    loser = next(r for r in results if r.returncode != 0)
    assert "rejected" in loser.stderr or "failed to update ref" in loser.stderr, loser.stderr
    winner_head = git.out("ls-remote", url, "refs/heads/main").split()[0]
    assert winner_head in {git.out("rev-parse", "HEAD", cwd=c) for c in clones}
