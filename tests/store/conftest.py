"""Store tests run on a SQLite file and on a database of a real PostgreSQL server."""

from tests.pgserver import database_url

__all__ = ["database_url"]
