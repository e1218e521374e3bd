"""Users' SSH public keys (Gitea's `public_key`): parsed and checked once when added, stored as
`<type> <base64>` with their SHA256 fingerprint, which is how the SSH server finds the key a
client offers (one key belongs to one user: a second add of the same key is refused).

The key text is parsed by asyncssh (OpenSSH and RFC 4716 formats, every key type the SSH server
can verify), imported on first use so that a server without SSH never loads it.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dockyard.git.repos import RepoError
from dockyard.store import Database, update_row, utcnow

MAX_KEY_TEXT = 16 * 1024  # an RSA-16384 key is ~2.8 KB of base64
MAX_TITLE = 255
# Gitea's [ssh.minimum_key_sizes] defaults; DSA is refused (OpenSSH dropped it).
MIN_RSA_BITS = 3071
REFUSED_TYPES = {"ssh-dss": "DSA keys are not accepted"}


class SSHKeyError(RepoError):
    """A key that cannot be added (422, Gitea's status); the API answers it as any RepoError."""


@dataclass(frozen=True)
class PublicKey:
    id: int
    user_id: int
    username: str
    title: str
    content: str  # "<type> <base64>", no comment
    fingerprint: str  # "SHA256:<base64 without padding>", as ssh-keygen -l prints it
    created_at: str
    last_used_at: str | None

    @classmethod
    def from_row(cls, row: Any) -> PublicKey:
        return cls(row.id, row.user_id, row.username, row.title, row.content, row.fingerprint,
                   row.created_at, row.last_used_at)


def asyncssh() -> ModuleType:
    """The asyncssh module, imported on first use (without its DSA deprecation warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import asyncssh as module
    return module


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a key's wire encoding."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(key_text: str) -> tuple[str, str]:
    """(content, fingerprint) of one public key in OpenSSH (`ssh-ed25519 AAAA... comment`) or
    RFC 4716 format; SSHKeyError (422) naming the problem otherwise."""
    key_text = key_text.strip()
    if not key_text:
        raise SSHKeyError("key is required: paste the contents of your ~/.ssh/id_ed25519.pub")
    if len(key_text) > MAX_KEY_TEXT:
        raise SSHKeyError(f"key is {len(key_text)} characters long; the limit is {MAX_KEY_TEXT}")
    if "PRIVATE KEY" in key_text:
        raise SSHKeyError("this is a private key: add the public key (the .pub file) instead")
    lib = asyncssh()
    try:
        key = lib.import_public_key(key_text)
    except (lib.KeyImportError, ValueError, TypeError) as exc:
        raise SSHKeyError(f"invalid key content: {exc}; expected one line such as "
                          "'ssh-ed25519 AAAA... you@host' (ssh-keygen -t ed25519)") from None
    algorithm = key.get_algorithm()
    if algorithm in REFUSED_TYPES:
        raise SSHKeyError(f"{REFUSED_TYPES[algorithm]}: use ssh-keygen -t ed25519")
    blob = bytes(key.public_data)
    if algorithm == "ssh-rsa":
        bits = key.pyca_key.key_size
        if bits < MIN_RSA_BITS:
            raise SSHKeyError(f"RSA key is {bits} bits; at least {MIN_RSA_BITS} are required "
                              "(as in Gitea): use ssh-keygen -t ed25519, or -t rsa -b 4096")
    return f"{algorithm} {base64.b64encode(blob).decode()}", fingerprint(blob)


_SELECT = ("SELECT k.*, u.username FROM git_public_keys k JOIN users u ON u.id = k.user_id")


class PublicKeyStore:
    """Add, list, find and delete users' keys; the API and the SSH server share it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_id: int, title: str, key_text: str) -> PublicKey:
        title = title.strip()
        if not title:
            raise SSHKeyError("title is required: a name for the key, such as the machine it is on")
        if len(title) > MAX_TITLE:
            raise SSHKeyError(f"title is {len(title)} characters long; the limit is {MAX_TITLE}")
        content, fp = parse_public_key(key_text)
        try:
            with self.db.transaction() as conn:
                if conn.execute(text("SELECT 1 FROM git_public_keys WHERE fingerprint = :f"),
                                {"f": fp}).first():
                    raise SSHKeyError("Key content has been used as non-deploy key: "
                                      f"a key with fingerprint {fp} is already added")
                if conn.execute(text("SELECT 1 FROM git_public_keys WHERE user_id = :u AND "
                                     "title = :t"), {"u": user_id, "t": title}).first():
                    raise SSHKeyError(f"Key title has been used: you already have a key named "
                                      f"{title!r}")
                conn.execute(text(
                    "INSERT INTO git_public_keys (user_id, title, content, fingerprint, created_at)"
                    " VALUES (:u, :t, :c, :f, :now)"),
                    {"u": user_id, "t": title, "c": content, "f": fp,
                     "now": utcnow().isoformat()})
        except IntegrityError:  # a concurrent add of the same key or title
            raise SSHKeyError("Key content or title has been used already") from None
        key = self.by_fingerprint(fp)
        assert key is not None
        return key

    def of_user(self, user_id: int, fingerprint: str = "") -> list[PublicKey]:
        query = _SELECT + " WHERE k.user_id = :u"
        if fingerprint:
            query += " AND k.fingerprint = :f"
        with self.db.read() as conn:
            rows = conn.execute(text(query + " ORDER BY k.id"),
                                {"u": user_id, "f": fingerprint}).all()
        return [PublicKey.from_row(r) for r in rows]

    def get(self, key_id: int) -> PublicKey | None:
        with self.db.read() as conn:
            row = conn.execute(text(_SELECT + " WHERE k.id = :i"), {"i": key_id}).first()
        return PublicKey.from_row(row) if row else None

    def by_fingerprint(self, fp: str) -> PublicKey | None:
        with self.db.read() as conn:
            row = conn.execute(text(_SELECT + " WHERE k.fingerprint = :f"), {"f": fp}).first()
        return PublicKey.from_row(row) if row else None

    def delete(self, user_id: int, key_id: int) -> bool:
        """Remove one of the user's keys; False when they have no key with that id."""
        with self.db.transaction() as conn:
            return bool(conn.execute(
                text("DELETE FROM git_public_keys WHERE id = :i AND user_id = :u"),
                {"i": key_id, "u": user_id}).rowcount)

    def touch(self, key_id: int) -> None:
        """Record that the key was just used (Gitea's `updated`/last used)."""
        with self.db.transaction() as conn:
            update_row(conn, "git_public_keys", {"id": key_id}, {"last_used_at": utcnow().isoformat()})
