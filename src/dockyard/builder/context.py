"""The build context: a directory, filtered by .dockerignore, that COPY/ADD read from.

Names given by the Dockerfile are cleaned and kept inside the context root (as BuildKit,
`COPY ../x` means `x`); symlinks inside the context are copied as symlinks, never
followed out of it.
"""

from __future__ import annotations

import glob
import os
import posixpath
from pathlib import Path

from dockyard.builder.dockerignore import IgnoreMatcher, load_ignore


class BuildContext:
    def __init__(self, root: Path, dockerfile: Path | None = None) -> None:
        self.root = root.resolve()
        self.ignore: IgnoreMatcher = load_ignore(self.root, dockerfile)

    def excluded(self, rel: str) -> bool:
        return bool(rel) and rel != "." and self.ignore.matches(rel)

    def must_walk(self, rel: str) -> bool:
        """An excluded directory that a `!` pattern may re-include something under."""
        return self.ignore.must_walk(rel)

    def clean(self, source: str) -> str:
        """A source as a relative slash path inside the context ('' is the root)."""
        cleaned = posixpath.normpath("/" + source).lstrip("/")
        return "" if cleaned == "." else cleaned

    def expand(self, source: str) -> list[str]:
        """Relative paths a COPY source names (globs expanded, ignored files dropped)."""
        return expand_in_root(self.root, self.clean(source), self.excluded)


def has_magic(pattern: str) -> bool:
    return glob.has_magic(pattern)


def expand_in_root(root: Path, rel: str, excluded: object = None) -> list[str]:
    """Matches of `rel` (may hold glob characters) under `root`, sorted, as relative paths."""
    is_excluded = excluded if callable(excluded) else (lambda _rel: False)
    if not has_magic(rel):
        path = root / rel if rel else root
        if not os.path.lexists(path) or is_excluded(rel):
            return []
        return [rel]
    matches = glob.glob(rel, root_dir=root, recursive=False, include_hidden=True)
    return sorted(m for m in matches if not is_excluded(m))
