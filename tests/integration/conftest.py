"""Integration tests reuse the builder's fixtures (namespaces check, busybox bases) and run the
loop over each registry storage backend."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builder.conftest import needs_namespaces
from tests.conftest import DockyardServer, start_server
from tests.s3server import s3_environment, s3_server, storage

__all__ = ["needs_namespaces", "s3_environment", "s3_server", "storage"]


@pytest.fixture
def fresh_server(tmp_path: Path, storage: str) -> Iterator[DockyardServer]:
    """A server of the test's own, once with file:// and once with s3:// storage."""
    srv = start_server(tmp_path / "data", storage=storage)
    yield srv
    srv.stop()
