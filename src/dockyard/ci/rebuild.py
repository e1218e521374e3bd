"""Rebuild: a new build of the same job with a finished (or running) build's parameters, shared by
the Jenkins API (`POST /job/N/B/rebuild`), the native API and the web UI's button."""

from __future__ import annotations

from typing import Any

from dockyard.ci.store import Build

__all__ = ["rebuild_cause", "rebuild_params"]


def rebuild_params(build: Build) -> dict[str, Any]:
    """The build's parameters, password values left out: builds others can read do not hand their
    secrets on, so those take their defaults again."""
    return {k: v for k, v in build.params.items() if k not in build.secret_names}


def rebuild_cause(username: str, build: Build) -> str:
    return f"user {username} (rebuild of #{build.number})"
