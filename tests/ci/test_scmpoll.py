"""pollSCM's look at a repository (dockyard.ci.scmpoll) with the real git: a repository of this
Dockyard is read from DATA/git, another by `git ls-remote`, only the branches the job's spec
matches count, and a failure's message carries no password."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci.scmpoll import PollError, remote_heads
from dockyard.ci.store import Job
from tests.ci.conftest import commit_files, git, job_xml, make_repo

BASE = "http://127.0.0.1:8080"


def job(url: str, branch: str = "*/main") -> Job:
    return Job(1, "polled", job_xml(url, branch=branch), url, branch, "Jenkinsfile", "", False, False, 1, "")


def test_a_repository_of_this_dockyard_is_read_from_its_directory(tmp_path: Path) -> None:
    bare, work, first = make_repo(tmp_path, {"a": "1"})
    git_root = tmp_path / "git"
    (git_root / "alice").mkdir(parents=True)
    bare.rename(git_root / "alice" / "app.git")
    # the URL names this server (under another loopback name, with a password nobody needs)
    heads = remote_heads(job("http://alice:pw@localhost:8080/alice/app.git"), BASE, git_root, None)
    assert heads == {"main": first}


def test_branch_spec_filters_and_other_repositories_are_asked_with_git(tmp_path: Path) -> None:
    bare, work, first = make_repo(tmp_path, {"a": "1"})
    git("checkout", "-q", "-b", "release-1", cwd=work)
    second = commit_files(work, {"b": "2"})
    git("push", "-q", "origin", "release-1", cwd=work)
    assert remote_heads(job(str(bare)), BASE, tmp_path / "git", None) == {"main": first}
    assert remote_heads(job(str(bare), "*/release-*"), BASE, tmp_path / "git", None) == {"release-1": second}
    assert set(remote_heads(job(str(bare), "**"), BASE, tmp_path / "git", None)) == {"main", "release-1"}


def test_a_failure_names_the_problem_without_the_password(tmp_path: Path) -> None:
    url = "http://bob:s3cret-pass@127.0.0.1:9/bob/app.git"  # nothing listens on port 9
    with pytest.raises(PollError) as info:
        remote_heads(job(url), BASE, tmp_path / "git", None)
    assert "git ls-remote failed" in str(info.value)
    assert "s3cret-pass" not in str(info.value)
