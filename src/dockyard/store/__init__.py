"""The metadata database (SQLite, or PostgreSQL by URL): one SQLAlchemy engine, ordered schema
migrations per component, one insert and one partial-update helper (`store.sql`);
atomic files (re-exported from `dockyard.atomicfile`); the data directory's private modes."""

from dockyard.store.database import Database, DatabaseUnavailable, Migration, utcnow
from dockyard.store.files import (
    AtomicFile,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    publish_file,
)
from dockyard.store.permissions import PRIVATE_UMASK, check_data_dir
from dockyard.store.sql import insert_row, update_row

__all__ = ["Database", "DatabaseUnavailable", "Migration", "utcnow", "AtomicFile", "atomic_write_bytes",
           "atomic_write_text", "atomic_writer", "publish_file", "PRIVATE_UMASK", "check_data_dir",
           "insert_row", "update_row"]
