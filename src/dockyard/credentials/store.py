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

    def to_json(self) -> dict[str, Any]:
        return {
            **self.public,
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
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

    def put(self, credential: Credential, *, created_by: str = "", replace: bool = False) -> CredentialInfo:
        """Store a credential; an existing id is an error unless `replace`."""
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
                        " updated_at=:now WHERE id=:id"
                    ),
                    row,
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO credentials (id, kind, description, public_json, sealed,"
                        " key_fingerprint, created_by, created_at, updated_at)"
                        " VALUES (:id, :kind, :description, :public_json, :sealed, :fp, :by, :now, :now)"
                    ),
                    row,
                )
        info = self.info(credential.id)
        assert info is not None
        return info

    def get(self, credential_id: str) -> Credential:
        """The typed credential (UsernamePassword, SecretText, DockerConfig or SecretFile)."""
        with self.db.read() as conn:
            row = conn.execute(
                text("SELECT id, kind, description, sealed, key_fingerprint FROM credentials WHERE id = :id"),
                {"id": credential_id},
            ).first()
        if row is None:
            raise CredentialNotFound(credential_id)
        plain = self._box.open(row.sealed, _context(row.id, row.kind), row.key_fingerprint)
        return from_payload(row.kind, row.id, row.description, json.loads(plain))

    def info(self, credential_id: str) -> CredentialInfo | None:
        with self.db.read() as conn:
            row = conn.execute(text(_INFO_SELECT + " WHERE id = :id"), {"id": credential_id}).first()
        return _info(row) if row else None

    def list(self) -> list[CredentialInfo]:
        with self.db.read() as conn:
            rows = conn.execute(text(_INFO_SELECT + " ORDER BY id")).all()
        return [_info(row) for row in rows]

    def delete(self, credential_id: str) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(text("DELETE FROM credentials WHERE id = :id"), {"id": credential_id})
        return bool(result.rowcount)

    def mask_values(self) -> builtins.list[str]:
        """Every stored secret's mask values (for a log writer that must hide all of them)."""
        values: builtins.list[str] = []
        for info in self.list():
            values.extend(self.get(info.id).mask_values())
        return values


_INFO_SELECT = (
    "SELECT id, kind, description, public_json, created_by, created_at, updated_at FROM credentials"
)


def _info(row: Any) -> CredentialInfo:
    return CredentialInfo(
        row.id,
        row.kind,
        row.description,
        json.loads(row.public_json),
        row.created_by,
        row.created_at,
        row.updated_at,
    )


def _context(credential_id: str, kind: str) -> str:
    return f"dockyard-credential\0{credential_id}\0{kind}"
