"""SQLite (or any SQLAlchemy URL) with versioned migrations that each component contributes.

A migration is identified by a stable id such as ``"registry.0001"``; the ids that ran are kept
in ``schema_migrations`` so that upgrading Dockyard applies only what is new, in order.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, create_engine, event, text


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; every timestamp Dockyard stores is UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Migration:
    """One schema step: DDL statements, or a callable for data changes."""

    id: str
    statements: Sequence[str] = ()
    apply: Callable[[Connection], None] | None = None


class Database:
    """Owns the engine; `transaction()` is the only way components write."""

    def __init__(self, url_or_path: str | Path) -> None:
        url = str(url_or_path)
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{url}"
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        self._write_lock = threading.Lock()
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside BEGIN/COMMIT; SQLite writers are serialised to avoid busy errors."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def rows(self, sql: str, **params: Any) -> list[Row[Any]]:
        """All rows of one read-only query."""
        with self.read() as conn:
            return list(conn.execute(text(sql), params).all())

    def row(self, sql: str, **params: Any) -> Row[Any] | None:
        """The first row of one read-only query, or None."""
        with self.read() as conn:
            return conn.execute(text(sql), params).first()

    def write(self, sql: str, **params: Any) -> int:
        """Run one statement in its own transaction; returns the number of rows it touched."""
        with self.transaction() as conn:
            return int(conn.execute(text(sql), params).rowcount)

    def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply the migrations not yet recorded, in the given order; returns the ids applied."""
        applied: list[str] = []
        with self.transaction() as conn:
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " id VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"
                )
            )
            done = {row[0] for row in conn.execute(text("SELECT id FROM schema_migrations"))}
            for migration in migrations:
                if migration.id in done:
                    continue
                for statement in migration.statements:
                    conn.execute(text(statement))
                if migration.apply is not None:
                    migration.apply(conn)
                conn.execute(
                    text("INSERT INTO schema_migrations (id, applied_at) VALUES (:id, :at)"),
                    {"id": migration.id, "at": utcnow().isoformat()},
                )
                applied.append(migration.id)
        return applied

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
