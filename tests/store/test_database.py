"""The database layer on SQLite and on a real PostgreSQL: every component's migrations, the
insert/partial-update helpers, booleans and 64-bit integers, and concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from dockyard.auth import AuthService
from dockyard.ci.store import CIStore
from dockyard.credentials import SecretBox
from dockyard.server.app import all_migrations
from dockyard.store import (
    Database,
    DatabaseUnavailable,
    InvalidText,
    Migration,
    insert_row,
    update_row,
)
from dockyard.store.dialect import postgres_ddl
from tests.ci.conftest import job_xml


def _migrated(url: str) -> Database:
    db = Database(url)
    db.migrate(all_migrations())
    return db


def test_every_migration_applies_once(database_url: str) -> None:
    db = Database(database_url)
    ids = [m.id for m in all_migrations()]
    assert db.migrate(all_migrations()) == ids
    assert db.migrate(all_migrations()) == []
    assert Database(database_url).migrate(all_migrations()) == []  # a restart applies nothing
    with db.read() as conn:
        assert {r[0] for r in conn.execute(text("SELECT id FROM schema_migrations"))} == set(ids)
    db.close()


def test_insert_returns_id_and_update_touches_only_given_columns(database_url: str) -> None:
    db = _migrated(database_url)
    AuthService(db).create_user("alice", "pw")
    with db.transaction() as conn:
        repo_id = conn.execute(text(
            "INSERT INTO git_repos (owner, lower_owner, name, lower_name, created_at, updated_at)"
            " VALUES ('alice', 'alice', 'r', 'r', 'x', 'x') RETURNING id")).scalar_one()
        first = insert_row(conn, "git_statuses", {"repo_id": repo_id, "sha": "a" * 40,
                                                  "state": "pending", "created_at": "t0",
                                                  "updated_at": "t0"})
        second = insert_row(conn, "git_statuses", {"repo_id": repo_id, "sha": "b" * 40,
                                                   "state": "pending", "created_at": "t0",
                                                   "updated_at": "t0"})
        assert second > first > 0
        assert update_row(conn, "git_statuses", {"id": first}, {"state": "success"}) == 1
        assert update_row(conn, "git_statuses", {"id": first}, {}) == 0
        assert update_row(conn, "git_statuses", {"id": 10**12}, {"state": "error"}) == 0
    row = db.row("SELECT state, description, context, updated_at FROM git_statuses WHERE id = :i",
                 i=first)
    assert row is not None and tuple(row) == ("success", "", "default", "t0")
    assert db.row("SELECT state FROM git_statuses WHERE id = :i", i=second)[0] == "pending"  # type: ignore[index]


def test_booleans_and_big_integers_read_back_alike(database_url: str) -> None:
    """Bools are 0/1 on both (SQLite's storage); sizes past 2**31 fit (a 3 GiB layer)."""
    db = _migrated(database_url)
    with db.transaction() as conn:
        project = insert_row(conn, "registry_projects", {"name": "p", "public": True,
                                                         "created_at": "t", "updated_at": "t"})
        repo = insert_row(conn, "registry_repositories", {"project_id": project, "name": "p/r",
                                                          "created_at": "t", "updated_at": "t"})
        conn.execute(text("INSERT INTO registry_repo_blobs (repository_id, digest, size, created_at)"
                          " VALUES (:r, 'sha256:x', :s, 't')"), {"r": repo, "s": 3 << 30})
    assert db.rows("SELECT public FROM registry_projects WHERE public = 1")[0][0] == 1
    assert db.rows("SELECT name FROM registry_projects WHERE public = :p", p=False) == []
    assert db.row("SELECT size FROM registry_repo_blobs")[0] == 3 << 30  # type: ignore[index]


def test_concurrent_triggers_get_distinct_build_numbers(database_url: str, tmp_path: Path) -> None:
    """CI's number allocation under parallel writers (no in-process lock on PostgreSQL)."""
    db = _migrated(database_url)
    store = CIStore(db, SecretBox(os.urandom(32)))
    job = store.create_job("numbers", job_xml("http://127.0.0.1:1/o/r.git"))
    numbers: list[int] = []
    errors: list[BaseException] = []

    def trigger() -> None:
        try:
            for _ in range(5):
                numbers.append(store.enqueue(job, cause="test").number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 41))
    assert store.job("numbers").next_number == 41


def test_concurrent_pushes_of_one_image_neither_fail_nor_deadlock(database_url: str) -> None:
    """What parallel `docker push`es of the same image do to the registry's metadata: create
    the repository, link the same layers, record the same manifest and move the same tag."""
    from dockyard.registry.metadata import RegistryMetadata

    db = _migrated(database_url)
    meta = RegistryMetadata(db)
    layers = [f"sha256:{i:064x}" for i in range(4)]
    errors: list[BaseException] = []

    def push(n: int) -> None:
        try:
            project = meta.create_project("team", public=False, owner_id=None)
            repo = meta.ensure_repository("team/app", project)
            for digest in layers[n % 2:] + layers[:n % 2]:  # two link orders
                meta.link_blob(repo.id, digest, 3 << 30)
            for tag in ("latest", f"v{n % 3}"):
                meta.put_manifest(repo.id, digest="sha256:" + "f" * 64, media_type="m", size=10,
                                  artifact_type="", subject=None, annotations={}, total_size=1,
                                  references=[(d, "layer") for d in layers], tag=tag)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    repo = meta.get_repository("team/app")
    assert repo is not None
    assert meta.list_tags(repo.id) == ["latest", "v0", "v1", "v2"]
    assert meta.missing_blobs(repo.id, layers) == []


def test_nul_in_text_is_invalid_input_on_postgres_and_stored_on_sqlite(database_url: str) -> None:
    """PostgreSQL text cannot hold NUL: the store names it (InvalidText, a 400 at the HTTP
    layer) instead of a driver error (a 500); SQLite keeps the value."""
    db = _migrated(database_url)
    lookup = "SELECT * FROM users WHERE lower(username) = lower(:u)"
    if db.is_sqlite:
        assert db.row(lookup, u="a\x00b") is None
        return
    with pytest.raises(InvalidText, match="NUL"):
        db.row(lookup, u="a\x00b")
    with pytest.raises(InvalidText), db.transaction() as conn:
        insert_row(conn, "auth_namespaces", {"name": "x\x00", "lower_name": "x\x00",
                                             "kind": "user", "created_at": "t"})
    assert db.row(lookup, u="ab") is None  # the pool's connections still work


def test_existing_sqlite_schema_is_what_it_was(tmp_path: Path) -> None:
    """SQLite runs migrations as written: the DDL that existing databases were made with."""
    path = tmp_path / "dockyard.db"
    Database(path).migrate(all_migrations())
    with sqlite3.connect(path) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()
    assert "INTEGER PRIMARY KEY AUTOINCREMENT" in sql and "BOOLEAN NOT NULL DEFAULT 0" in sql


def test_postgres_rendering_keeps_sqlite_meaning() -> None:
    ddl = postgres_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL,"
                       " ok BOOLEAN NOT NULL DEFAULT 0, at REAL, name VARCHAR(64) NOT NULL)")
    assert ddl == ("CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                   " n BIGINT NOT NULL, ok SMALLINT NOT NULL DEFAULT 0, at DOUBLE PRECISION,"
                   " name TEXT NOT NULL)")
    data = "INSERT INTO t (name) SELECT username FROM users WHERE note = 'INTEGER'"
    assert postgres_ddl(data) == data  # data statements are portable as written
    with pytest.raises(ValueError, match="SQLite-only"):
        postgres_ddl("INSERT OR IGNORE INTO t (n) VALUES (1)")


def test_sqlite_only_migration_is_refused_on_postgres_before_anything_changes(
        database_url: str) -> None:
    db = Database(database_url)
    bad = Migration("test.0001", ("CREATE TABLE x (n INTEGER)",
                                  "INSERT OR REPLACE INTO x (n) VALUES (1)"))
    if db.is_sqlite:
        assert db.migrate([bad]) == ["test.0001"]
        return
    with pytest.raises(ValueError, match="SQLite-only"):
        db.migrate([bad])
    assert db.migrate([]) == []
    with db.read() as conn:  # the transaction rolled back: no half-applied table
        assert conn.execute(text("SELECT to_regclass('x')")).scalar() is None


def test_unreachable_database_names_the_url_without_its_password() -> None:
    from tests.conftest import free_port

    db = Database(f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x")
    with pytest.raises(DatabaseUnavailable) as info:
        db.migrate(all_migrations())
    assert "127.0.0.1" in str(info.value) and "hunter2" not in str(info.value)
    for url in ("mysql2://u:hunter2@h/x", "not a url://u:hunter2@h"):
        with pytest.raises(DatabaseUnavailable, match="postgresql://USER") as info:
            Database(url)
        assert "hunter2" not in str(info.value)


def test_dockyard_up_keeps_its_metadata_in_postgres(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """`dockyard up --database-url postgresql://...` (what DOCKYARD_TEST_DATABASE switches every
    test server to): users live in PostgreSQL, and no SQLite file appears in the data dir."""
    from tests.conftest import ADMIN_USER, start_server

    monkeypatch.setenv("DOCKYARD_TEST_DATABASE", "postgresql")
    server = start_server(tmp_path / "data")
    try:
        assert server.database_url.startswith("postgresql://")
        server.add_user("pg-user", "pw-1234")
        with server.client("pg-user", "pw-1234") as client:
            assert client.get("/api/v1/user").json()["login"] == "pg-user"
        names = {r.username for r in Database(server.database()).rows("SELECT username FROM users")}
        assert names == {ADMIN_USER, "pg-user"}
        assert not (tmp_path / "data" / "dockyard.db").exists()
    finally:
        assert server.stop() == 0
