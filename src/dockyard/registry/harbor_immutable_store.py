"""Harbor's immutable tag rules: stored per project, matched with Harbor's doublestar patterns.

A rule names repositories (`scope_selectors.repository`: repoMatches / repoExcludes, on the
name without the project) and tags (`tag_selectors`: matches / excludes). A tag a rule covers
can be pushed once: pushing it again, deleting it or deleting its artifact is refused with
Harbor's 412 PRECONDITION, by the registry and the Harbor API alike (`ImmutableRules.refuse`).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from dockyard.registry.errors import RegistryError
from dockyard.registry.metadata import RegistryMetadata
from dockyard.store import insert_row, update_row, utcnow


@dataclass(frozen=True)
class Selector:
    decoration: str  # matches / excludes (tags), repoMatches / repoExcludes (repositories)
    pattern: str

    def json(self) -> dict[str, str]:
        return {"kind": "doublestar", "decoration": self.decoration, "pattern": self.pattern}


@dataclass(frozen=True)
class Rule:
    id: int
    project_id: int
    priority: int
    disabled: bool
    tags: tuple[Selector, ...]
    repositories: tuple[Selector, ...]

    def covers(self, repository: str, tag: str) -> bool:
        """`repository` is the name without its project, as Harbor matches it."""
        return not self.disabled and selected(self.repositories, repository) and selected(self.tags, tag)


def selected(selectors: tuple[Selector, ...], value: str) -> bool:
    for selector in selectors:
        matched = doublestar(selector.pattern).fullmatch(value) is not None
        if matched != (selector.decoration in ("matches", "repoMatches")):
            return False
    return True


@functools.lru_cache(maxsize=512)
def doublestar(pattern: str) -> re.Pattern[str]:
    """Harbor's (bmatcuk/doublestar) pattern: `**` any path, `*` and `?` within a component,
    `{a,b}` alternatives, `[...]` classes."""
    out, i, depth = [], 0, 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        elif c == "," and depth:
            out.append("|")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                negate = body.startswith(("!", "^"))
                body = re.escape(body[1:] if negate else body).replace("\\-", "-")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    out.append(")" * depth)
    return re.compile("".join(out))


class ImmutableRules:
    def __init__(self, metadata: RegistryMetadata) -> None:
        self.metadata = metadata
        self.db = metadata.db

    def of_project(self, project_id: int) -> list[Rule]:
        rows = self.db.rows("SELECT * FROM registry_immutable_rules WHERE project_id = :p"
                            " ORDER BY priority, id", p=project_id)
        return [_rule(r) for r in rows]

    def get(self, project_id: int, rule_id: int) -> Rule | None:
        return next((r for r in self.of_project(project_id) if r.id == rule_id), None)

    def create(self, project_id: int, priority: int, disabled: bool, tags: list[Selector],
               repositories: list[Selector]) -> int:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            return int(insert_row(conn, "registry_immutable_rules", {
                "project_id": project_id, "priority": priority, "disabled": disabled,
                "tag_selectors": _dump(tags), "scope_selectors": _dump(repositories),
                "created_at": now, "updated_at": now}))

    def update(self, rule_id: int, **values: Any) -> None:
        stored = {k: _dump(v) if k.endswith("_selectors") else v for k, v in values.items() if v is not None}
        stored["updated_at"] = utcnow().isoformat()
        with self.db.transaction() as conn:
            update_row(conn, "registry_immutable_rules", {"id": rule_id}, stored)

    def delete(self, rule_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("DELETE FROM registry_immutable_rules WHERE id = :i"), {"i": rule_id})

    def immutable(self, repository: str, tag: str) -> bool:
        """Whether `tag` of `repository` (the full name) is covered by one of its project's rules."""
        project_name, _, short = repository.partition("/")
        project = self.metadata.get_project(project_name)
        return project is not None and any(r.covers(short, tag) for r in self.of_project(project.id))

    def refuse(self, repository: str, tags: list[str]) -> None:
        """Harbor's 412 PRECONDITION when one of `tags` is immutable in `repository`."""
        for tag in tags:
            if self.immutable(repository, tag):
                raise RegistryError(
                    "PRECONDITION", f"Failed to process request due to '{repository}:{tag}' configured as"
                    " immutable: an immutable tag rule of the project covers it (change or disable the"
                    " rule under the project's immutabletagrules to replace or delete it)", status=412)


def _dump(selectors: list[Selector]) -> str:
    return json.dumps([[s.decoration, s.pattern] for s in selectors])


def _load(raw: str) -> tuple[Selector, ...]:
    return tuple(Selector(str(d), str(p)) for d, p in json.loads(raw or "[]"))


def _rule(row: Any) -> Rule:
    return Rule(row.id, row.project_id, int(row.priority), bool(row.disabled),
                _load(row.tag_selectors), _load(row.scope_selectors))
