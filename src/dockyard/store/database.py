"""SQLite by default, PostgreSQL by URL, with versioned migrations that each component contributes.

A migration is identified by a stable id such as ``"registry.0001"``; the ids that ran are kept
in ``schema_migrations`` so that upgrading Dockyard applies only what is new, in order. What
differs between the two databases lives in `dockyard.store.dialect`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, OperationalError

from dockyard.store.dialect import (
    engine_url,
    postgres_ddl,
    psycopg_bools_as_integers,
    refuse_nul_text,
    sqlite_pragmas,
)


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; every timestamp Dockyard stores is UTC."""
    return dt.datetime.now(dt.UTC)


class DatabaseUnavailable(Exception):
    """The database URL cannot be used: no driver, or the server cannot be reached."""


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
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(url)
            event.listen(self.engine, "connect", sqlite_pragmas)
        else:
            # uploads and CI run writers on many threads at once: room for them, and a dropped
            # connection (a database restart) is noticed before a request uses it
            try:
                self.engine = create_engine(engine_url(url), pool_size=10, max_overflow=20,
                                            pool_pre_ping=True)
            except ImportError as exc:
                raise DatabaseUnavailable(
                    f"{self.safe_url}: its driver is not installed ({exc.name}); for PostgreSQL:"
                    " pip install 'dockyard[postgresql]'") from None
            except ArgumentError as exc:
                raise DatabaseUnavailable(
                    f"{self.safe_url} is not a database URL Dockyard can open ({exc}); use"
                    " postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, or none for SQLite") from None
            if self.engine.dialect.name == "postgresql":
                event.listen(self.engine, "connect", psycopg_bools_as_integers)
                event.listen(self.engine, "before_cursor_execute", refuse_nul_text)
        self._write_lock = threading.Lock()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:  # unparsable: show no more than its scheme (the rest may hold a password)
            return self.url.split("://", 1)[0] + "://..."

    def _writer(self) -> AbstractContextManager[object]:
        """SQLite has one writer at a time: serialising ours avoids busy errors. PostgreSQL
        locks rows, so its writers run side by side (and replicas share nothing in-process)."""
        return self._write_lock if self.is_sqlite else nullcontext()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside BEGIN/COMMIT."""
        with self._writer(), self.engine.begin() as conn:
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
        try:
            self.engine.connect().close()
        except OperationalError as exc:
            raise DatabaseUnavailable(f"cannot open {self.safe_url}: {exc.orig}") from None
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
                    conn.execute(text(self.render(statement)))
                if migration.apply is not None:
                    migration.apply(conn)
                conn.execute(
                    text("INSERT INTO schema_migrations (id, applied_at) VALUES (:id, :at)"),
                    {"id": migration.id, "at": utcnow().isoformat()},
                )
                applied.append(migration.id)
        return applied

    def render(self, statement: str) -> str:
        """A migration's statement as this database runs it (SQLite: as written)."""
        return statement if self.is_sqlite else postgres_ddl(statement)

    def close(self) -> None:
        self.engine.dispose()
