"""Registry test helpers: run skopeo against the server and count what storage holds."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.registry import open_blob_storage
from dockyard.registry.storage import BlobStorage
from dockyard.registry.storage_fs import FilesystemBlobStorage
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool, start_server
from tests.s3server import S3Server, s3_environment, s3_server, storage

__all__ = ["s3_environment", "s3_server", "storage"]


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tool("skopeo")
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def push(layout_ref: str, server: DockyardServer, name: str, *, creds: str | None = None) -> None:
    creds = creds or f"{ADMIN_USER}:{ADMIN_PASSWORD}"
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        layout_ref,
        f"docker://{server.host_port}/{name}",
    )


def stored_blobs(server: DockyardServer) -> set[str]:
    """Hex digests of every blob the server's storage holds, read through the backend."""
    store = open_blob_storage(server.storage, server.data_dir / "registry", os.environ)
    return {blob.digest.split(":", 1)[1] for blob in store.list_blobs()}


@pytest.fixture(scope="session", params=["file", "s3"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[DockyardServer]:
    """The registry tests' shared server, once per storage backend."""
    url = "file://"
    if request.param == "s3":
        url = request.getfixturevalue("s3_environment").fresh_url()
    srv = start_server(tmp_path_factory.mktemp("dockyard") / "data", storage=url)
    yield srv
    srv.stop()


def module_server(label: str) -> Callable[..., Iterator[DockyardServer]]:
    """A `server` fixture of the test module's own (one storage, its own users and projects)."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockyardServer]:
        srv = start_server(tmp_path_factory.mktemp(label) / "data")
        yield srv
        srv.stop()

    return server


@pytest.fixture
def admin(server: DockyardServer):  # noqa: ANN201
    with server.client() as client:
        yield client


@pytest.fixture(params=["filesystem", "s3"])
def blob_store_opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BlobStorage]:
    """Opens one fresh location of each storage backend; call again to "restart" on it."""
    if request.param == "filesystem":
        return lambda: FilesystemBlobStorage(tmp_path / "registry")
    server: S3Server = request.getfixturevalue("s3_server")
    url = server.fresh_url()
    return lambda: open_blob_storage(url, tmp_path / "unused", server.environ())
