"""Server-side secrets kept in DATA/secrets with 0600 permissions."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dockyard.store import atomic_write_bytes


def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """A random key that survives restarts (so issued tokens stay valid across them)."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_bytes(nbytes)
    atomic_write_bytes(path, key, mode=0o600)
    return key
