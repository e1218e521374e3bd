"""The metadata database: one SQLAlchemy engine, and ordered schema migrations per component;
atomic files (re-exported from `dockyard.atomicfile`); the data directory's private modes."""

from dockyard.store.database import Database, Migration, utcnow
from dockyard.store.files import (
    AtomicFile,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    publish_file,
)
from dockyard.store.permissions import PRIVATE_UMASK, check_data_dir

__all__ = ["Database", "Migration", "utcnow", "AtomicFile", "atomic_write_bytes",
           "atomic_write_text", "atomic_writer", "publish_file", "PRIVATE_UMASK", "check_data_dir"]
