"""Pure functions of the git server: name rules, branch filters, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from dockyard.git.names import InvalidName, strip_git_suffix, validate_owner, validate_repo
from dockyard.git.webhooks import Hook, branch_matches, encode_payload, signed_headers


@pytest.mark.parametrize("name", ["alice", "Team-1", "a.b", "x_y", "a" * 39])
def test_valid_owner_names(name: str) -> None:
    assert validate_owner(name) == name


@pytest.mark.parametrize("name", ["", "..", "a..b", "a/b", "-a", ".a", "a.", "a b", "a" * 40,
                                  "API", "v2", "createItem", "crumbIssuer", "healthz"])
def test_invalid_owner_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_owner(name)


@pytest.mark.parametrize("name", ["notes-app", "notes.app", "_x", "A1"])
def test_valid_repo_names(name: str) -> None:
    assert validate_repo(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a..b", ".git", "x.git", "x.wiki", "a/b",
                                  "a\\b", "a\0b", "objects", "a" * 101, "-"])
def test_invalid_repo_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_repo(name)


def test_git_suffix() -> None:
    assert strip_git_suffix("notes-app.git") == "notes-app" == strip_git_suffix("notes-app")


@pytest.mark.parametrize(("pattern", "branch", "expected"), [
    ("", "anything", True), ("*", "feature/x", True), ("main", "main", True),
    ("main", "mainline", False), ("{main,release/*}", "release/1.0", True),
    ("{main,release/*}", "dev", False), ("feature-*", "feature-1", True),
])
def test_branch_filter(pattern: str, branch: str, expected: bool) -> None:
    assert branch_matches(pattern, branch) is expected


def test_signature_is_over_the_exact_bytes() -> None:
    hook = Hook(1, 1, "gitea", "http://x/", "POST", "json", "secret", ["push"], "", "", True,
                "", "")
    body = encode_payload(hook, {"ref": "refs/heads/main", "b": "ü"})
    assert body.decode() == json.dumps({"ref": "refs/heads/main", "b": "ü"}, indent=2,
                                       ensure_ascii=False)
    headers = signed_headers(hook, "push", "id-1", body)
    digest = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Gitea-Signature"] == digest
    assert headers["X-Hub-Signature-256"] == "sha256=" + digest
    assert headers["X-Gitea-Event"] == "push" and headers["X-Gitea-Delivery"] == "id-1"
