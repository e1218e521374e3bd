"""API token scopes, with Gitea's names and meaning: `read:<category>` / `write:<category>`
(write includes read), `all`, and `public-only` (public repositories and projects only).

A token carries the scopes it was created with; a password or an `all` token carries none
(unrestricted). Every place that grants access asks `allows(scopes, category, write)`:
git over HTTP and the repository API (`repository`), issues (`issue`), the registry and
its Harbor API (`package`), users, organisations and admin endpoints.
"""

from __future__ import annotations

CATEGORIES = ("activitypub", "admin", "issue", "misc", "notification", "organization",
              "package", "repository", "user")
ALL = "all"
PUBLIC_ONLY = "public-only"


class ScopeError(ValueError):
    """An unknown scope name; the message lists the valid ones."""


def normalize(requested: list[str]) -> str:
    """The stored form of a token's scopes (comma separated); refuses unknown names."""
    known = {ALL, PUBLIC_ONLY} | {f"{mode}:{c}" for c in CATEGORIES for mode in ("read", "write")}
    cleaned = sorted({s.strip().lower() for s in requested if s.strip()}) or [ALL]
    unknown = [s for s in cleaned if s not in known]
    if unknown:
        raise ScopeError(f"invalid access token scope(s) {', '.join(unknown)}: use all, "
                         "public-only, or read:/write: with one of " + ", ".join(CATEGORIES))
    return ",".join(cleaned)


def parse(stored: str) -> frozenset[str] | None:
    """None (unrestricted) for `all`; else the set of scopes."""
    scopes = frozenset(s for s in stored.split(",") if s)
    return None if not scopes or ALL in scopes else scopes


def allows(scopes: frozenset[str] | None, category: str, write: bool) -> bool:
    if scopes is None:
        return True
    if f"write:{category}" in scopes:
        return True
    return not write and f"read:{category}" in scopes


def public_only(scopes: frozenset[str] | None) -> bool:
    return scopes is not None and PUBLIC_ONLY in scopes


def is_write(method: str) -> bool:
    """GET, HEAD and OPTIONS read; every other method writes (as Gitea decides)."""
    return method.upper() not in ("GET", "HEAD", "OPTIONS")


def missing(category: str, write: bool) -> str:
    """Gitea's message for a token without the scope an endpoint needs."""
    return f"token does not have at least one of required scope(s): " \
           f"[{'write' if write else 'read'}:{category}]"
