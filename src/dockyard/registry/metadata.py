"""Registry metadata in the shared database: what each repository holds and who owns it.

Blob bytes live in the BlobStorage; this module only records which repository may see which
digest (distribution's "links"), the manifests with their references, and tags.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from dockyard.store import Database, utcnow


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public: bool
    owner_id: int | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Repository:
    id: int
    project_id: int
    name: str
    description: str
    pull_count: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Manifest:
    id: int
    repository_id: int
    digest: str
    media_type: str
    size: int
    artifact_type: str
    subject: str | None
    annotations: dict[str, str]
    total_size: int
    pushed_at: str
    pulled_at: str | None


@dataclass(frozen=True)
class Tag:
    id: int
    name: str
    manifest_id: int
    pushed_at: str
    pulled_at: str | None


def _project(row: Any) -> Project:
    return Project(row.id, row.name, bool(row.public), row.owner_id, row.created_at, row.updated_at)


def _repository(row: Any) -> Repository:
    return Repository(
        row.id,
        row.project_id,
        row.name,
        row.description,
        row.pull_count,
        row.created_at,
        row.updated_at,
    )


def _manifest(row: Any) -> Manifest:
    return Manifest(
        row.id,
        row.repository_id,
        row.digest,
        row.media_type,
        row.size,
        row.artifact_type,
        row.subject,
        json.loads(row.annotations or "{}"),
        row.total_size,
        row.pushed_at,
        row.pulled_at,
    )


def _tag(row: Any) -> Tag:
    return Tag(row.id, row.name, row.manifest_id, row.pushed_at, row.pulled_at)


class RegistryMetadata:
    def __init__(self, db: Database) -> None:
        self.db = db

    # projects ----------------------------------------------------------------------------
    def get_project(self, name: str) -> Project | None:
        row = self.db.row("SELECT * FROM registry_projects WHERE name = :n", n=name)
        return _project(row) if row else None

    def create_project(self, name: str, *, public: bool, owner_id: int | None) -> Project:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "INSERT INTO registry_projects (name, public, owner_id, created_at, updated_at)"
                    " VALUES (:n, :p, :o, :c, :c) ON CONFLICT (name) DO NOTHING"
                ),
                {"n": name, "p": public, "o": owner_id, "c": now},
            )
        project = self.get_project(name)
        assert project is not None
        return project

    def update_project(self, name: str, *, public: bool) -> None:
        self.db.write(
            "UPDATE registry_projects SET public = :p, updated_at = :u WHERE name = :n",
            p=public,
            u=utcnow().isoformat(),
            n=name,
        )

    def list_projects(self) -> list[Project]:
        rows = self.db.rows("SELECT * FROM registry_projects ORDER BY name")
        return [_project(r) for r in rows]

    def delete_project(self, name: str) -> None:
        self.db.write("DELETE FROM registry_projects WHERE name = :n", n=name)

    def project_repo_count(self, project_id: int) -> int:
        row = self.db.row(
            "SELECT count(*) AS n FROM registry_repositories WHERE project_id = :p", p=project_id
        )
        return int(row.n) if row else 0

    # repositories ------------------------------------------------------------------------
    def get_repository(self, name: str) -> Repository | None:
        row = self.db.row("SELECT * FROM registry_repositories WHERE name = :n", n=name)
        return _repository(row) if row else None

    def ensure_repository(self, name: str, project: Project) -> Repository:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "INSERT INTO registry_repositories (project_id, name, created_at, updated_at)"
                    " VALUES (:p, :n, :c, :c) ON CONFLICT (name) DO NOTHING"
                ),
                {"p": project.id, "n": name, "c": now},
            )
        repository = self.get_repository(name)
        assert repository is not None
        return repository

    def list_repositories(self, project_id: int | None = None) -> list[Repository]:
        query = "SELECT * FROM registry_repositories"
        params: dict[str, Any] = {}
        if project_id is not None:
            query += " WHERE project_id = :p"
            params["p"] = project_id
        rows = self.db.rows(query + " ORDER BY name", **params)
        return [_repository(r) for r in rows]

    def delete_repository(self, repository_id: int) -> None:
        self.db.write("DELETE FROM registry_repositories WHERE id = :i", i=repository_id)

    def touch_repository(self, conn: Connection, repository_id: int) -> None:
        conn.execute(
            text("UPDATE registry_repositories SET updated_at = :u WHERE id = :i"),
            {"u": utcnow().isoformat(), "i": repository_id},
        )

    # blob links --------------------------------------------------------------------------
    def link_blob(self, repository_id: int, digest: str, size: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "INSERT INTO registry_repo_blobs (repository_id, digest, size, created_at)"
                    " VALUES (:r, :d, :s, :c) ON CONFLICT DO NOTHING"
                ),
                {"r": repository_id, "d": digest, "s": size, "c": utcnow().isoformat()},
            )

    def linked_blob_size(self, repository_id: int, digest: str) -> int | None:
        row = self.db.row(
            "SELECT size FROM registry_repo_blobs WHERE repository_id = :r AND digest = :d",
            r=repository_id,
            d=digest,
        )
        return int(row.size) if row else None

    def unlink_blob(self, repository_id: int, digest: str) -> bool:
        deleted = self.db.write(
            "DELETE FROM registry_repo_blobs WHERE repository_id = :r AND digest = :d",
            r=repository_id,
            d=digest,
        )
        return bool(deleted)

    def missing_blobs(self, repository_id: int, digests: Iterable[str]) -> list[str]:
        """Those of `digests` this repository has no link to (so a manifest may not name them)."""
        wanted = sorted(set(digests))
        if not wanted:
            return []
        query = text(
            "SELECT digest FROM registry_repo_blobs WHERE repository_id = :r AND digest IN :ds"
        ).bindparams(bindparam("ds", expanding=True))
        with self.db.read() as conn:
            present = {row.digest for row in conn.execute(query, {"r": repository_id, "ds": wanted})}
        return [d for d in wanted if d not in present]

    # manifests and tags --------------------------------------------------------------------
    def put_manifest(
        self,
        repository_id: int,
        *,
        digest: str,
        media_type: str,
        size: int,
        artifact_type: str,
        subject: str | None,
        annotations: dict[str, str],
        total_size: int,
        references: Sequence[tuple[str, str]],
        tag: str | None,
    ) -> Manifest:
        """Record a manifest (idempotent) and optionally point `tag` at it, in one transaction."""
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "INSERT INTO registry_manifests (repository_id, digest, media_type, size,"
                    " artifact_type, subject, annotations, total_size, pushed_at)"
                    " VALUES (:r, :d, :m, :s, :a, :sub, :ann, :t, :p)"
                    " ON CONFLICT (repository_id, digest) DO NOTHING"
                ),
                {
                    "r": repository_id,
                    "d": digest,
                    "m": media_type,
                    "s": size,
                    "a": artifact_type,
                    "sub": subject,
                    "ann": json.dumps(annotations),
                    "t": total_size,
                    "p": now,
                },
            )
            row = conn.execute(
                text("SELECT * FROM registry_manifests WHERE repository_id = :r AND digest = :d"),
                {"r": repository_id, "d": digest},
            ).one()
            for ref_digest, kind in references:
                conn.execute(
                    text(
                        "INSERT INTO registry_manifest_refs (manifest_id, digest, kind)"
                        " VALUES (:m, :d, :k) ON CONFLICT DO NOTHING"
                    ),
                    {"m": row.id, "d": ref_digest, "k": kind},
                )
            # The manifest itself is a blob of this repository too (GET /blobs/<manifest>).
            conn.execute(
                text(
                    "INSERT INTO registry_repo_blobs (repository_id, digest, size, created_at)"
                    " VALUES (:r, :d, :s, :c) ON CONFLICT DO NOTHING"
                ),
                {"r": repository_id, "d": digest, "s": size, "c": now},
            )
            if tag is not None:
                conn.execute(
                    text(
                        "INSERT INTO registry_tags (repository_id, name, manifest_id, pushed_at)"
                        " VALUES (:r, :n, :m, :p) ON CONFLICT (repository_id, name)"
                        " DO UPDATE SET manifest_id = excluded.manifest_id,"
                        " pushed_at = excluded.pushed_at"
                    ),
                    {"r": repository_id, "n": tag, "m": row.id, "p": now},
                )
            self.touch_repository(conn, repository_id)
        return _manifest(row)

    def get_manifest(self, repository_id: int, digest: str) -> Manifest | None:
        row = self.db.row(
            "SELECT * FROM registry_manifests WHERE repository_id = :r AND digest = :d",
            r=repository_id,
            d=digest,
        )
        return _manifest(row) if row else None

    def get_manifest_by_id(self, manifest_id: int) -> Manifest | None:
        row = self.db.row("SELECT * FROM registry_manifests WHERE id = :i", i=manifest_id)
        return _manifest(row) if row else None

    def resolve_tag(self, repository_id: int, tag: str) -> Manifest | None:
        row = self.db.row(
            "SELECT m.* FROM registry_tags t JOIN registry_manifests m"
            " ON m.id = t.manifest_id WHERE t.repository_id = :r AND t.name = :n",
            r=repository_id,
            n=tag,
        )
        return _manifest(row) if row else None

    def list_tags(self, repository_id: int) -> list[str]:
        rows = self.db.rows("SELECT name FROM registry_tags WHERE repository_id = :r", r=repository_id)
        return sorted(r.name for r in rows)

    def tags_of(self, manifest_id: int) -> list[Tag]:
        rows = self.db.rows("SELECT * FROM registry_tags WHERE manifest_id = :m ORDER BY name", m=manifest_id)
        return [_tag(r) for r in rows]

    def add_tag(self, repository_id: int, manifest_id: int, name: str) -> bool:
        """False when the tag already exists (Harbor answers 409 then)."""
        with self.db.transaction() as conn:
            result = conn.execute(
                text(
                    "INSERT INTO registry_tags (repository_id, name, manifest_id, pushed_at)"
                    " VALUES (:r, :n, :m, :p) ON CONFLICT DO NOTHING"
                ),
                {"r": repository_id, "n": name, "m": manifest_id, "p": utcnow().isoformat()},
            )
        return bool(result.rowcount)

    def delete_tag(self, repository_id: int, name: str) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(
                text("DELETE FROM registry_tags WHERE repository_id = :r AND name = :n"),
                {"r": repository_id, "n": name},
            )
            self.touch_repository(conn, repository_id)
        return bool(result.rowcount)

    def delete_manifest(self, repository_id: int, digest: str) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(
                text("DELETE FROM registry_manifests WHERE repository_id = :r AND digest = :d"),
                {"r": repository_id, "d": digest},
            )
            conn.execute(
                text("DELETE FROM registry_repo_blobs WHERE repository_id = :r AND digest = :d"),
                {"r": repository_id, "d": digest},
            )
            self.touch_repository(conn, repository_id)
        return bool(result.rowcount)

    def list_manifests(self, repository_id: int) -> list[Manifest]:
        rows = self.db.rows(
            "SELECT * FROM registry_manifests WHERE repository_id = :r ORDER BY pushed_at DESC, id DESC",
            r=repository_id,
        )
        return [_manifest(r) for r in rows]

    def child_manifest_digests(self, repository_id: int) -> set[str]:
        """Digests that an index in this repository lists: not top-level artifacts."""
        rows = self.db.rows(
            "SELECT r.digest FROM registry_manifest_refs r JOIN registry_manifests m"
            " ON m.id = r.manifest_id WHERE m.repository_id = :r AND r.kind = 'manifest'",
            r=repository_id,
        )
        return {r.digest for r in rows}

    def references_of(self, manifest_id: int) -> list[tuple[str, str]]:
        rows = self.db.rows(
            "SELECT digest, kind FROM registry_manifest_refs WHERE manifest_id = :m", m=manifest_id
        )
        return [(r.digest, r.kind) for r in rows]

    def referrers(self, repository_id: int, subject: str) -> list[Manifest]:
        rows = self.db.rows(
            "SELECT * FROM registry_manifests WHERE repository_id = :r AND subject = :s ORDER BY id",
            r=repository_id,
            s=subject,
        )
        return [_manifest(r) for r in rows]

    def record_pull(self, repository_id: int, manifest_id: int, tag: str | None) -> None:
        now = utcnow().isoformat()
        with self.db.transaction() as conn:
            conn.execute(
                text("UPDATE registry_manifests SET pulled_at = :t WHERE id = :m"),
                {"t": now, "m": manifest_id},
            )
            conn.execute(
                text("UPDATE registry_repositories SET pull_count = pull_count + 1 WHERE id = :r"),
                {"r": repository_id},
            )
            if tag is not None:
                conn.execute(
                    text("UPDATE registry_tags SET pulled_at = :t WHERE repository_id = :r AND name = :n"),
                    {"t": now, "r": repository_id, "n": tag},
                )

    # garbage collection -----------------------------------------------------------------------
    def untagged_manifests(self) -> list[Manifest]:
        """Manifests with no tag, no parent index and no subject (what `gc --untagged` drops)."""
        rows = self.db.rows(
            "SELECT m.* FROM registry_manifests m WHERE m.subject IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM registry_tags t WHERE t.manifest_id = m.id)"
            " AND NOT EXISTS (SELECT 1 FROM registry_manifest_refs r JOIN"
            " registry_manifests p ON p.id = r.manifest_id"
            " WHERE r.digest = m.digest AND r.kind = 'manifest'"
            " AND p.repository_id = m.repository_id)"
        )
        return [_manifest(r) for r in rows]

    def referenced_digests(self, excluding: Iterable[int] = ()) -> set[str]:
        """Every digest a manifest needs: manifests themselves and what they reference
        (as if the manifests with the ids in `excluding` were gone: a dry run)."""
        skip = set(excluding)
        manifests = {r.digest for r in self.db.rows("SELECT id, digest FROM registry_manifests")
                     if r.id not in skip}
        refs = {r.digest for r in self.db.rows(
            "SELECT manifest_id, digest FROM registry_manifest_refs") if r.manifest_id not in skip}
        return manifests | refs

    def recently_linked(self, since_epoch: float) -> set[str]:
        """Digests linked to some repository after `since_epoch` (pushes that may be in flight)."""
        since = dt.datetime.fromtimestamp(since_epoch, dt.UTC).isoformat()
        rows = self.db.rows("SELECT digest FROM registry_repo_blobs WHERE created_at > :s", s=since)
        return {r.digest for r in rows}

    def drop_links(self, digests: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            for digest in digests:
                conn.execute(text("DELETE FROM registry_repo_blobs WHERE digest = :d"), {"d": digest})
