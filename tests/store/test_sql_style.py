"""The components' SQL stays in the subset SQLite and PostgreSQL share (see dockyard.store):
every SQL string literal outside the migrations (which store.dialect renders, and
tests/store/test_database.py applies to a real PostgreSQL) is checked here."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import dockyard
from dockyard.store.dialect import SQLITE_ONLY

SRC = Path(dockyard.__file__).parent
SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER)\s", re.I)


def _sql_literals() -> Iterator[tuple[str, int, str, bool]]:
    """(module, line, text, is an f-string) of each string literal that starts a statement."""
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "migrations.py" or path.parent.name == "store":
            continue
        name = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL_START.match(node.value):
                    yield name, node.lineno, node.value, False
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
                if SQL_START.match(text):
                    yield name, node.lineno, text, True


def test_the_scan_sees_the_components_sql() -> None:
    assert sum(1 for _ in _sql_literals()) > 50


def test_no_sqlite_only_sql_in_components() -> None:
    found = [f"{name}:{line}: {m.group(0)}" for name, line, text, _ in _sql_literals()
             if (m := SQLITE_ONLY.search(text))]
    assert found == []


def test_partial_updates_use_the_one_helper() -> None:
    found = [f"{name}:{line}" for name, line, text, is_f in _sql_literals()
             if is_f and re.match(r"\s*UPDATE \S+ SET \{", text)]
    assert found == [], "build PATCH-style UPDATEs with dockyard.store.update_row"


def test_no_lastrowid() -> None:
    found = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if ".lastrowid" in p.read_text()]
    assert found == [], "lastrowid is SQLite's: use dockyard.store.insert_row (RETURNING)"
