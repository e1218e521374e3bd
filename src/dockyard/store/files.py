"""Atomic file writes for the server side: the one helper lives in `dockyard.atomicfile` (the
builder and `oci` use it too and never import `store`); this module re-exports it."""

from __future__ import annotations

from dockyard.atomicfile import (
    AtomicFile,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    publish_file,
)

__all__ = ["AtomicFile", "atomic_write_bytes", "atomic_write_text", "atomic_writer", "publish_file"]
