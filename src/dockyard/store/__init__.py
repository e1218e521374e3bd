"""The metadata database: one SQLAlchemy engine, and ordered schema migrations per component."""

from dockyard.store.database import Database, Migration, utcnow
from dockyard.store.files import atomic_write_bytes, atomic_write_text

__all__ = ["Database", "Migration", "utcnow", "atomic_write_bytes", "atomic_write_text"]
