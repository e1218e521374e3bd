"""A content-addressed blob directory (`ROOT/sha256/<hex>`), safe to share between builds.

A blob becomes visible only complete and verified: bytes go to a temp file in the same
directory, the digest is checked, then the file is renamed into place (atomic). Two builds
fetching the same blob at once both succeed; the last rename wins with identical content.
The layout is the `blobs/` directory of an OCI image layout, so a layout can use it directly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from dockyard.atomicfile import atomic_writer
from dockyard.oci.digest import (
    DigestMismatch,
    HashingWriter,
    digest_file,
    digest_hex,
    sha256_digest,
    validate_digest,
)
from dockyard.oci.models import Descriptor


class BlobCache:
    """`mode` is each blob file's: private (0o600) in caches, 0o644 in an OCI layout that
    other tools and users read. A `BlobSource` (`oci.image`) of the blobs it holds."""

    def __init__(self, root: Path, mode: int = 0o600) -> None:
        self.root = Path(root)
        self.mode = mode

    def path(self, digest: str) -> Path:
        """Where `digest` lives (whether or not it is there yet)."""
        return self.root / "sha256" / digest_hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise KeyError(f"blob {digest} is not in {self.root}") from None

    # -- as a BlobSource ---------------------------------------------------------------------
    def local_path(self, descriptor: Descriptor) -> Path | None:
        path = self.path(descriptor.digest)
        return path if path.is_file() else None

    def fetch(self, descriptor: Descriptor) -> Path:
        if not self.has(descriptor.digest):
            raise FileNotFoundError(f"blob {descriptor.digest} is not in {self.root}")
        return self.path(descriptor.digest)

    def stream(self, descriptor: Descriptor) -> BinaryIO:
        return open(self.fetch(descriptor), "rb")

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def ingest(self, chunks: Iterable[bytes], expected: str, size: int | None = None) -> Path:
        """Store `chunks` as blob `expected`; on DigestMismatch nothing is stored."""
        validate_digest(expected)
        target = self.path(expected)
        with atomic_writer(target, self.mode, ".ingest-") as f:
            hasher = HashingWriter(f)
            for chunk in chunks:
                hasher.write(chunk)
            if hasher.digest != expected:
                raise DigestMismatch(expected, hasher.digest, "blob")
            if size is not None and hasher.size != size:
                raise DigestMismatch(
                    expected, f"{hasher.digest} ({hasher.size} bytes, expected {size})"
                )
        return target

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_digest(data)
        if not self.has(digest):
            self.ingest([data], digest)
        return digest

    def add_file(self, source: Path, digest: str | None = None, *, move: bool = False) -> str:
        """Add an existing file. Without `digest` it is computed; with it, it is trusted as the
        digest the caller computed while writing the file (LayerWriter does)."""
        if digest is None:
            digest, _ = digest_file(source)
        target = self.path(validate_digest(digest))
        if target.is_file():
            if move:
                Path(source).unlink()
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            os.replace(source, target)
            return digest
        with open(source, "rb") as src, atomic_writer(target, self.mode, ".copy-") as f:
            shutil.copyfileobj(src, f, 1 << 20)
        return digest

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob (for `fsck`-style checks)."""
        return self.has(digest) and digest_file(self.path(digest))[0] == digest
