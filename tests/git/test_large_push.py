"""A 100 MB push and clone stream through the server without holding the pack in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import DockyardServer
from tests.git.conftest import Account, Git, create_repo, repo_url


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.slow
def test_100mb_push_and_clone(server: DockyardServer, git: Git, work: Path,
                              alice: Account) -> None:
    name = create_repo(server, alice)["full_name"]
    url = repo_url(server, name, alice.username, alice.password)
    checkout = work / "big"
    git.run("clone", "-q", url, str(checkout))
    for i in range(4):  # incompressible, so the pack really is ~100 MB
        (checkout / f"blob{i}.bin").write_bytes(os.urandom(25 * 1024 * 1024))
    git.run("add", ".", cwd=checkout)
    git.run("commit", "-q", "-m", "100 MB of data", cwd=checkout)
    head = git.out("rev-parse", "HEAD", cwd=checkout)
    before = _peak_rss_mb(server.process.pid)
    git.run("push", "-q", url, "main", cwd=checkout, timeout=600)
    assert git.out("ls-remote", url, "refs/heads/main").split()[0] == head
    copy = work / "copy"
    git.run("clone", "-q", url, str(copy), timeout=600)
    assert (copy / "blob3.bin").read_bytes() == (checkout / "blob3.bin").read_bytes()
    grown = _peak_rss_mb(server.process.pid) - before
    assert grown < 40, f"server peak memory grew by {grown:.0f} MB for a 100 MB pack"
