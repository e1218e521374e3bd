"""The metadata database: one SQLAlchemy engine, and ordered schema migrations per component;
atomic files (re-exported from `dockyard.atomicfile`)."""

from dockyard.store.database import Database, Migration, utcnow
from dockyard.store.files import (
    AtomicFile,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    publish_file,
)

__all__ = ["Database", "Migration", "utcnow", "AtomicFile", "atomic_write_bytes",
           "atomic_write_text", "atomic_writer", "publish_file"]
