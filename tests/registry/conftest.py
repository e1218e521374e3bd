"""Registry test helpers: run skopeo against the server and count what storage holds."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.registry.storage import BlobStore
from dockyard.registry.storage_fs import FilesystemBlobStore
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool


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


def stored_blobs(data_dir: Path) -> set[str]:
    root = data_dir / "registry" / "blobs" / "sha256"
    return {p.name for p in root.glob("*/*") if not p.name.startswith(".")}


@pytest.fixture
def admin(server: DockyardServer):  # noqa: ANN201
    with server.client() as client:
        yield client


@pytest.fixture(params=["filesystem"])
def blob_store_opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BlobStore]:
    """Opens one fresh location of each storage backend; call again to "restart" on it."""
    return lambda: FilesystemBlobStore(tmp_path / "registry")
