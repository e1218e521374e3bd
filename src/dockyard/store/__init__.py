"""The metadata database (SQLite, or PostgreSQL by URL): one SQLAlchemy engine, ordered schema
migrations per component, one insert and one partial-update helper (`store.sql`);
atomic files (re-exported from `dockyard.atomicfile`); the data directory's private modes.

The data-access style, the same in every component: queries are `text()` SQL with named
parameters in the subset SQLite and PostgreSQL share (upserts as `ON CONFLICT`, `RETURNING`,
`lower()` on both sides of a case-blind match, Python bools as parameters); an insert that needs
the new id is `insert_row`, a PATCH is `update_row`; writes go through `Database.transaction()`.
Migrations are written in SQLite's vocabulary and rendered for PostgreSQL by `store.dialect`.
tests/store/test_sql_style.py keeps SQLite-only SQL out of the components."""

from dockyard.store.database import Database, DatabaseUnavailable, Migration, utcnow
from dockyard.store.dialect import InvalidText
from dockyard.store.files import (
    AtomicFile,
    atomic_write_bytes,
    atomic_write_text,
    atomic_writer,
    publish_file,
)
from dockyard.store.permissions import PRIVATE_UMASK, check_data_dir
from dockyard.store.sql import insert_row, update_row

__all__ = ["Database", "DatabaseUnavailable", "InvalidText", "Migration", "utcnow", "AtomicFile",
           "atomic_write_bytes", "atomic_write_text", "atomic_writer", "publish_file", "PRIVATE_UMASK",
           "check_data_dir", "insert_row", "update_row"]
