"""The one way components insert and partially update rows: SQLAlchemy Core statements built
from a table name and a dict of columns, so the SQL is the same on SQLite and PostgreSQL
(`RETURNING` instead of SQLite's `lastrowid`, identifiers quoted by the dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, column, insert, table, update


def insert_row(conn: Connection, table_name: str, values: Mapping[str, Any], *,
               returning: str = "id") -> Any:
    """INSERT one row; the new row's `returning` column (its generated id)."""
    t = table(table_name, *(column(k) for k in values), column(returning))
    return conn.execute(insert(t).values(dict(values)).returning(t.c[returning])).scalar_one()


def update_row(conn: Connection, table_name: str, key: Mapping[str, Any],
               values: Mapping[str, Any]) -> int:
    """UPDATE only the columns in `values` of the rows matching every `key` column (a PATCH);
    the number of rows changed. Nothing to change touches nothing."""
    if not values:
        return 0
    t = table(table_name, *(column(k) for k in {**key, **values}))
    stmt = update(t).where(*(t.c[k] == v for k, v in key.items())).values(dict(values))
    return int(conn.execute(stmt).rowcount)
