"""Encryption at rest: AES-256-GCM with a key file in DATA/secrets (0600), bound to each credential id.

The credential id and kind are authenticated as associated data, so a ciphertext copied onto
another row does not decrypt. A short key fingerprint is stored with each row so that a lost or
replaced key file is reported as such instead of as corrupt data.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dockyard.store import atomic_write_bytes

KEY_FILE = "credentials.key"
_NONCE = 12


class KeyMismatch(RuntimeError):
    """The stored secret was encrypted with another key (DATA/secrets/credentials.key changed)."""


def load_or_create_key(secrets_dir: Path) -> bytes:
    """The 32-byte key in `secrets_dir/credentials.key`, created 0600 on first use (dir 0700)."""
    path = secrets_dir / KEY_FILE
    if not path.exists():
        secrets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(secrets_dir, 0o700)
        tmp = secrets_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        atomic_write_bytes(tmp, secrets.token_bytes(32), mode=0o600)
        try:
            os.link(tmp, path)  # first writer wins; a concurrent process keeps the winner's key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise RuntimeError(f"{path} must hold exactly 32 bytes (found {len(key)}); restore it from backup")
    return key


class SecretBox:
    """Seal and open small payloads; `fingerprint` identifies the key without revealing it."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.fingerprint = hashlib.sha256(b"dockyard-credentials\0" + key).hexdigest()[:16]

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, context: str, fingerprint: str) -> bytes:
        if fingerprint != self.fingerprint:
            raise KeyMismatch(
                "credential was encrypted with a different key than DATA/secrets/credentials.key; "
                "restore the original key file or re-create the credential"
            )
        raw = base64.b64decode(token)
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except InvalidTag:
            raise KeyMismatch("credential ciphertext failed authentication (tampered or moved row)") from None
