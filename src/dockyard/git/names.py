"""Owner and repository names: validated before any of them becomes part of a path or a URL."""

from __future__ import annotations

import re

# Owner names share the URL space with every other component (docs/architecture.md "One port, one URL space").
RESERVED_OWNERS = frozenset(
    name.lower()
    for name in (
        # Dockyard's own paths (registry, Gitea and Jenkins APIs, health, metrics)
        "api", "v2", "service", "healthz", "version", "metrics", "job", "createItem",
        "crumbIssuer", "queue", "view", "computer", "jnlpJars", "ci",
        # reserved for a web UI and well-known files
        "assets", "static", "login", "logout", "explore", "repo", "user", "users", "org", "orgs",
        "harbor",
        "favicon.ico", "robots.txt", ".well-known", "swagger", "docs", "openapi.json",
    )
)
# Registry projects every user pulls from, which Harbor creates itself: an org or user of that
# name would administer them (push, delete) once an administrator pushes the first image.
RESERVED_PROJECTS = frozenset({"library"})
RESERVED_REPOS = frozenset({".", "..", "-", "_", "info", "objects", "hooks", "refs"})

_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_BAD_SUFFIXES = (".git", ".wiki", ".rss", ".atom", ".lock")


class InvalidName(ValueError):
    """A name that cannot be used; the message names the rule that was broken."""


def validate_owner(name: str) -> str:
    """The name unchanged when it may own repositories (a user or an organisation)."""
    if not _OWNER_RE.match(name) or ".." in name or name.endswith("."):
        raise InvalidName(
            f"invalid owner name {name!r}: use 1-39 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..'"
        )
    if name.lower() in RESERVED_OWNERS:
        raise InvalidName(f"owner name {name!r} is reserved (it collides with a Dockyard URL)")
    if name.lower() in RESERVED_PROJECTS:
        raise InvalidName(
            f"owner name {name!r} is reserved for the public registry project {name.lower()!r},"
            " which administrators manage; choose another name"
        )
    return name


def validate_repo(name: str) -> str:
    """The name unchanged when it can name a repository directory `<name>.git`."""
    if not _REPO_RE.match(name) or ".." in name or name.startswith("."):
        raise InvalidName(
            f"invalid repository name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "not starting with '.' and without '..'"
        )
    lowered = name.lower()
    if lowered in RESERVED_REPOS or lowered.endswith(_BAD_SUFFIXES):
        raise InvalidName(f"repository name {name!r} is reserved")
    return name


def strip_git_suffix(name: str) -> str:
    """`notes-app.git` and `notes-app` address the same repository in URLs."""
    return name[:-4] if name.endswith(".git") else name
