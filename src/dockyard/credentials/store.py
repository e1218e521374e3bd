"""The credential store: typed credentials by id in the shared database, sealed with `SecretBox`."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dockyard.credentials.crypto import SecretBox, load_or_create_key
from dockyard.credentials.models import Credential, check_id, from_payload
from dockyard.store import Database, utcnow


class CredentialNotFound(KeyError):
    """No credential with this id; the message names the id and how to create it."""

    def __init__(self, credential_id: str) -> None:
        super().__init__(credential_id)
        self.credential_id = credential_id

    def __str__(self) -> str:
        return (
            f"credential {self.credential_id!r} not found: create it with "
            f"`dockyard credentials add-... {self.credential_id}` or POST /api/ci/credentials"
        )


class CredentialExists(ValueError):
    def __init__(self, credential_id: str) -> None:
        super().__init__(
            f"credential {credential_id!r} already exists: delete it first or pass replace=True (--replace)"
        )
        self.credential_id = credential_id


@dataclass(frozen=True)
class CredentialInfo:
    """A credential's metadata, safe to list and log (never the secret)."""

    id: str
    kind: str
    description: str
    public: dict[str, Any]
    created_by: str
    created_at: str
    updated_at: str
    owner: str = ""  # '' for the system (administrators), else the user or org it belongs to
    granted_jobs: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """`system` (administrators' credentials) or `owner` (a user's or org's)."""
        return "owner" if self.owner else "system"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.public,
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "scope": self.scope,
            "owner": self.owner or None,
            "granted_jobs": list(self.granted_jobs),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class CredentialStore:
    """`put`, `get`, `info`, `list`, `delete`; the only code that sees plaintext secrets at rest."""

    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self._box = SecretBox(key)

    @classmethod
    def open(cls, db: Database, secrets_dir: Path) -> CredentialStore:
        """The store with the key from `secrets_dir` (created on first use)."""
        return cls(db, load_or_create_key(secrets_dir))

    def put(
        self, credential: Credential, *, created_by: str = "", replace: bool = False, owner: str = ""
    ) -> CredentialInfo:
        """Store a credential owned by `owner` ('' = the system); an existing id is an error
        unless `replace`. Callers check that whoever asks may manage that owner's credentials."""
        check_id(credential.id)
        context = _context(credential.id, credential.kind)
        sealed = self._box.seal(json.dumps(credential.payload()).encode(), context)
        public = {k: v for k, v in credential.public().items() if k not in ("id", "kind", "description")}
        now = utcnow().isoformat()
        row = {
            "id": credential.id,
            "kind": credential.kind,
            "description": credential.description,
            "public_json": json.dumps(public),
            "sealed": sealed,
            "fp": self._box.fingerprint,
            "by": created_by,
            "owner": owner,
            "now": now,
        }
        with self.db.transaction() as conn:
            exists = conn.execute(text("SELECT 1 FROM credentials WHERE id = :id"), row).first()
            if exists and not replace:
                raise CredentialExists(credential.id)
            if exists:
                conn.execute(
                    text(
                        "UPDATE credentials SET kind=:kind, description=:description,"
                        " public_json=:public_json, sealed=:sealed, key_fingerprint=:fp,"
                        " owner=:owner, updated_at=:now WHERE id=:id"
                    ),
                    row,
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO credentials (id, kind, description, public_json, sealed,"
                        " key_fingerprint, created_by, owner, created_at, updated_at)"
                        " VALUES (:id, :kind, :description, :public_json, :sealed, :fp, :by, :owner,"
                        " :now, :now)"
                    ),
                    row,
                )
        info = self.info(credential.id)
        assert info is not None
        return info

    def get(self, credential_id: str) -> Credential:
        """The typed credential (UsernamePassword, SecretText, DockerConfig or SecretFile)."""
        with self.db.read() as conn:
            row = conn.execute(text(_SEALED_SELECT + " WHERE id = :id"), {"id": credential_id}).first()
        if row is None:
            raise CredentialNotFound(credential_id)
        return self._open(row)

    def _open(self, row: Any) -> Credential:
        plain = self._box.open(row.sealed, _context(row.id, row.kind), row.key_fingerprint)
        return from_payload(row.kind, row.id, row.description, json.loads(plain))

    def info(self, credential_id: str) -> CredentialInfo | None:
        with self.db.read() as conn:
            row = conn.execute(text(_INFO_SELECT + " WHERE id = :id"), {"id": credential_id}).first()
            return _info(row, _grants(conn, [credential_id])) if row else None

    def list(self) -> list[CredentialInfo]:
        with self.db.read() as conn:
            rows = conn.execute(text(_INFO_SELECT + " ORDER BY id")).all()
            grants = _grants(conn, [row.id for row in rows])
        return [_info(row, grants) for row in rows]

    def grant(self, credential_id: str, job: str, *, granted_by: str = "") -> CredentialInfo:
        """Make the credential available to one more job (by name); granting twice is a no-op."""
        with self.db.transaction() as conn:
            found = conn.execute(text("SELECT 1 FROM credentials WHERE id = :id"), {"id": credential_id})
            if not found.first():
                raise CredentialNotFound(credential_id)
            conn.execute(
                text("DELETE FROM credential_grants WHERE credential_id = :id AND job = :job"),
                {"id": credential_id, "job": job},
            )
            conn.execute(
                text("INSERT INTO credential_grants (credential_id, job, granted_by, granted_at)"
                     " VALUES (:id, :job, :by, :now)"),
                {"id": credential_id, "job": job, "by": granted_by, "now": utcnow().isoformat()},
            )
        info = self.info(credential_id)
        assert info is not None
        return info

    def revoke(self, credential_id: str, job: str) -> bool:
        """Withdraw a grant; False when there was none."""
        with self.db.transaction() as conn:
            result = conn.execute(
                text("DELETE FROM credential_grants WHERE credential_id = :id AND job = :job"),
                {"id": credential_id, "job": job},
            )
        return bool(result.rowcount)

    def delete(self, credential_id: str) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(text("DELETE FROM credentials WHERE id = :id"), {"id": credential_id})
        return bool(result.rowcount)

    def mask_values(self) -> builtins.list[str]:
        """Every stored secret's mask values (for a log writer that must hide all of them)."""
        with self.db.read() as conn:  # one query (every build starts with this), not one per credential
            rows = conn.execute(text(_SEALED_SELECT + " ORDER BY id")).all()
        values: builtins.list[str] = []
        for row in rows:
            values.extend(self._open(row).mask_values())
        return values


_SEALED_SELECT = "SELECT id, kind, description, sealed, key_fingerprint FROM credentials"
_INFO_SELECT = (
    "SELECT id, kind, description, public_json, created_by, created_at, updated_at, owner"
    " FROM credentials"
)


def _grants(conn: Any, ids: builtins.list[str]) -> dict[str, tuple[str, ...]]:
    """credential id -> the jobs granted it, for the given ids."""
    out: dict[str, builtins.list[str]] = {}
    if ids:
        rows = conn.execute(text("SELECT credential_id, job FROM credential_grants ORDER BY job")).all()
        wanted = set(ids)
        for row in rows:
            if row.credential_id in wanted:
                out.setdefault(row.credential_id, []).append(row.job)
    return {k: tuple(v) for k, v in out.items()}


def _info(row: Any, grants: dict[str, tuple[str, ...]]) -> CredentialInfo:
    return CredentialInfo(
        row.id,
        row.kind,
        row.description,
        json.loads(row.public_json),
        row.created_by,
        row.created_at,
        row.updated_at,
        row.owner,
        grants.get(row.id, ()),
    )


def _context(credential_id: str, kind: str) -> str:
    return f"dockyard-credential\0{credential_id}\0{kind}"
