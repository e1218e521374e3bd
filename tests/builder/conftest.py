"""Fixtures for builder tests: a busybox rootfs, and skips where namespaces are unavailable."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX_APPLETS = (
    "sh",
    "cat",
    "echo",
    "ls",
    "id",
    "rm",
    "mkdir",
    "touch",
    "chmod",
    "test",
    "true",
    "false",
    "sleep",
    "hostname",
    "ps",
    "ln",
    "cp",
    "mv",
    "printf",
    "wc",
    "env",
    "pwd",
    "grep",
    "tr",
    "head",
    "tail",
    "seq",
    "dd",
    "find",
    "stat",
)


def make_busybox_rootfs(root: Path) -> Path:
    """A minimal rootfs: /bin/busybox and its applets, /etc/passwd and /etc/group."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        "app:x:1000:1000:app:/home/app:/bin/sh\n"
    )
    (root / "etc" / "group").write_text(
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n"
    )
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    return root


def namespaces_available() -> str | None:
    """None when `unshare` can create mount+pid namespaces here, else the reason."""
    if shutil.which("unshare") is None:
        return "the unshare program (util-linux) is not installed"
    if not Path("/bin/busybox").exists() and shutil.which("busybox") is None:
        return "busybox-static is not installed"
    result = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True, check=False
    )
    if result.returncode != 0 and os.geteuid() != 0:
        result = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "true"],
            capture_output=True,
            check=False,
        )
    if result.returncode != 0:
        return f"cannot create namespaces: {result.stderr.decode().strip()}"
    return None


@pytest.fixture
def needs_namespaces() -> None:
    reason = namespaces_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Path:
    return make_busybox_rootfs(tmp_path / "rootfs")


def start_docker_registry(root: Path, htpasswd: str | None = None
                          ) -> tuple[str, subprocess.Popen[bytes]]:
    """CNCF distribution (Debian's docker-registry) on a free loopback port, optionally
    with htpasswd basic auth; returns host:port and the process."""
    import time

    import httpx

    from tests.conftest import free_port, require_tool

    binary = require_tool("docker-registry")
    port = free_port()
    auth = ""
    if htpasswd is not None:
        (root / "htpasswd").write_text(htpasswd)
        auth = f"auth:\n  htpasswd:\n    realm: dockyard-test\n    path: {root}/htpasswd\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}/data\n  delete:\n    enabled: true\n{auth}"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: dockyard-test\n"
    )
    log = open(root / "log", "wb")  # noqa: SIM115 - closed after the process
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{host}/v2/", timeout=1).status_code in (200, 401):
                return host, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"docker-registry did not start:\n{(root / 'log').read_text()}")


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An open docker-registry on loopback; yields host:port."""
    host, process = start_docker_registry(tmp_path_factory.mktemp("docker-registry"))
    yield host
    process.terminate()
    process.wait(timeout=10)
