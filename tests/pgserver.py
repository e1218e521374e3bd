"""A real PostgreSQL server for the database tests: Debian's `postgresql` package (15), started
once per test session in a temp dir on a free loopback port; each user gets a database of its
own (`new_database_url`).

PostgreSQL refuses to run as root: as root the server runs as `nobody` (its data dir handed to
that user). `DOCKYARD_TEST_DATABASE=postgresql` makes every server that `tests.conftest.
start_server` starts use a fresh database here instead of SQLite (see `make test-postgres`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("DOCKYARD_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "dockyard"


def wanted() -> bool:
    """True when this session's servers should run on PostgreSQL instead of SQLite."""
    return os.environ.get("DOCKYARD_TEST_DATABASE", "sqlite").startswith("postgres")


@dataclass
class PostgresServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database_url(self) -> str:
        """A fresh, empty database of the caller's own."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: postgres' "smart" shutdown; then fast
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _demote() -> dict[str, object]:
    """Popen arguments that run the server unprivileged: as root, as `nobody`."""
    if os.geteuid() != 0:
        return {}
    return {"user": 65534, "group": 65534, "extra_groups": []}


def start_postgres() -> PostgresServer:
    from tests.conftest import free_port

    for tool in ("initdb", "postgres"):
        if not (PG_BIN / tool).exists():
            pytest.skip(f"PostgreSQL is not installed ({PG_BIN / tool} is missing):"
                        " make deps-system installs Debian's postgresql package")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[dev]' (or the postgresql extra)")
    # a world-traversable temp dir: pytest's tmp dirs are 0700 root, out of nobody's reach
    root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir(mode=0o700)
    demote = _demote()
    if demote:
        os.chown(data, 65534, 65534)
        os.chown(root, 65534, 65534)
    try:
        init = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, text=True, cwd=root, **demote,  # type: ignore[call-overload]
        )
    except PermissionError as exc:  # root without CAP_SETUID/SETGID (some containers)
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL refuses to run as root and this root cannot become nobody: {exc}")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    port = free_port()
    log = open(root / "postgres.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(PG_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=300"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, **demote,  # type: ignore[call-overload]
    )
    server = PostgresServer(root, port, process)
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited early:\n{(root / 'postgres.log').read_text()}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("postgres did not accept connections in 30 s") from None
            time.sleep(0.1)


_server: PostgresServer | None = None
_lock = threading.Lock()
_by_data_dir: dict[Path, str] = {}


def postgres() -> PostgresServer:
    """The session's PostgreSQL server, started on first use and stopped when pytest exits."""
    global _server
    with _lock:
        if _server is None:
            _server = start_postgres()
            atexit.register(_server.stop)
        return _server


def database_for(data_dir: Path) -> str:
    """The database of the server on `data_dir`: a fresh one the first time, the same one when
    a test restarts a server on its data dir (as SQLite's file in it would be)."""
    key = data_dir.resolve()
    with _lock:
        url = _by_data_dir.get(key)
    if url is None:
        url = postgres().new_database_url()
        with _lock:
            _by_data_dir[key] = url
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind: a SQLite file, or a database on the session's
    PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "dockyard.db")
    return postgres().new_database_url()
