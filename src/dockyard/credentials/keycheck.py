"""Start-up check of the credentials key file against what the database holds sealed with it.

Every sealed row stores the fingerprint of the key that sealed it. A lost key file would
otherwise be replaced by a new one on the next start (and a replaced one used as is), and each
request touching an old row would fail later, one by one, as a 500. Instead `dockyard up`
refuses to start naming the file, what depends on it and what to do; nothing is written first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import text

from dockyard.credentials.crypto import KEY_FILE, SecretBox, load_or_create_key
from dockyard.store import Database


class KeyFileError(RuntimeError):
    """The key file is missing or is not the key the database's secrets were sealed with."""


# table -> (its sealed column, what a row is, for the message); the server passes its components'
SealedTables = Mapping[str, tuple[str, str]]


def check_key_file(db: Database, secrets_dir: Path, tables: SealedTables) -> None:
    """Raise KeyFileError when rows of `tables` were sealed with a key other than the one in
    `secrets_dir/credentials.key`, or when that file is missing while such rows exist."""
    sealed = _sealed_rows(db, tables)
    if not sealed:
        return  # nothing sealed yet: the key file may be created now
    path = secrets_dir / KEY_FILE
    restore = (f"restore {path} from a backup of the data directory (32 bytes, mode 0600) and start "
               "again; if it cannot be recovered, neither can those secrets: re-create them on a "
               "new data directory")
    if not path.exists():
        raise KeyFileError(f"the credentials key file {path} is missing, but the database holds "
                           f"{_summary(sealed)} sealed with it: {restore}")
    fingerprint = SecretBox(load_or_create_key(secrets_dir)).fingerprint
    other = {fp: rows for fp, rows in sealed.items() if fp != fingerprint}
    if other:
        raise KeyFileError(f"the credentials key file {path} is not the key that sealed "
                           f"{_summary(other)} in the database (key fingerprint "
                           f"{', '.join(sorted(other))}; the file's is {fingerprint}): {restore}")


def _sealed_rows(db: Database, tables: SealedTables) -> dict[str, dict[str, int]]:
    """{key fingerprint: {what: number of rows}} over every sealed row of `tables`."""
    found: dict[str, dict[str, int]] = {}
    with db.read() as conn:
        for table, (column, what) in tables.items():
            rows = conn.execute(text(
                f"SELECT key_fingerprint AS fp, COUNT(*) AS n FROM {table}"  # noqa: S608 - our names
                f" WHERE {column} != '' AND key_fingerprint != '' GROUP BY key_fingerprint")).all()
            for row in rows:
                found.setdefault(row.fp, {})[what] = int(row.n)
    return found


def _summary(sealed: Mapping[str, Mapping[str, int]]) -> str:
    totals: dict[str, int] = {}
    for counts in sealed.values():
        for what, n in counts.items():
            totals[what] = totals.get(what, 0) + n
    return ", ".join(f"{n} {what}" for what, n in totals.items())
