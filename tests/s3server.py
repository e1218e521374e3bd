"""A real S3-compatible server for the storage tests: versitygw (Versity S3 Gateway, posix backend).

Built with Go from the module proxy into ~/.cache/dockyard-test/versitygw-<version>/ the first
time (about two minutes), then started once per test session on a free loopback port.
Each user of `s3_server` gets its own prefix in one bucket, so tests stay apart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dockyard.registry.storage_s3_client import S3Client, S3Config
from tests.buildcache import BuildFailed, build_once, cache_dir
from tests.conftest import free_port
from tests.processes import stop_process

VERSITYGW_VERSION = "v1.8.0"
ACCESS_KEY = "dockyard-test"
SECRET_KEY = "dockyard-test-secret-key"
BUCKET = "dockyard"


def versitygw_binary() -> Path:
    """The cached versitygw binary, built with `go install` when missing."""
    return go_binary("github.com/versity/versitygw/cmd/versitygw", VERSITYGW_VERSION, "versitygw")


def go_binary(package: str, version: str, name: str) -> Path:
    """`package@version` built with `go install` into the cache the first time (under a lock)."""

    def install(go: str, staging: Path) -> None:
        _go(go, name, version, staging, "install", f"{package}@{version}", GOBIN=str(staging))
        os.replace(staging / package.rsplit("/", 1)[-1], staging / name)

    return _cached_go_build(name, version, install)


def go_test_binary(module: str, version: str, name: str) -> Path:
    """The tests of `module@version` compiled with `go test -c` (a suite shipped as Go tests,
    which `go install` cannot build) into the cache the first time (under a lock)."""

    def compile_tests(go: str, staging: Path) -> None:
        listed = _go(go, name, version, staging, "mod", "download", "-json", f"{module}@{version}")
        source = staging / "src"
        shutil.copytree(json.loads(listed)["Dir"], source)
        for path in [source, *source.rglob("*")]:  # the module cache is read-only
            path.chmod(path.stat().st_mode | 0o200)
        _go(go, name, version, source, "test", "-c", "-o", str(staging / name), ".")

    return _cached_go_build(name, version, compile_tests)


def _go(go: str, name: str, version: str, cwd: Path, *args: str, **env: str) -> str:
    proc = subprocess.run(
        [go, *args], cwd=cwd, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", **env},
    )
    if proc.returncode != 0:
        raise BuildFailed(f"building {name} {version} (go {' '.join(args)}) failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def _cached_go_build(name: str, version: str, build: Callable[[str, Path], None]) -> Path:
    target = cache_dir() / f"{name}-{version}" / name
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"these tests build {name} with Go: install Go (make deps-go) or put a"
                    f" {name} {version} binary at {target}")
    try:
        return build_once(target, lambda staging: build(go, staging))
    except BuildFailed as exc:
        pytest.fail(str(exc))


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def environ(self) -> dict[str, str]:
        """The AWS environment a client of this server needs."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def fresh_url(self) -> str:
        """`s3://BUCKET/<unique prefix>`: an empty place of the caller's own."""
        return f"s3://{BUCKET}/t-{uuid.uuid4().hex[:12]}"

    def client(self, url: str) -> S3Client:
        return S3Client(S3Config.from_url(url, self.environ()))


def start_s3_server(root: Path) -> S3Server:
    binary = versitygw_binary()
    port = free_port()
    data = root / "gateway"
    data.mkdir(parents=True)
    log_path = root / "versitygw.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(binary), "--port", f"127.0.0.1:{port}", "--access", ACCESS_KEY, "--secret", SECRET_KEY,
         "--quiet", "posix", "--sidecar", str(root / "meta"), str(data)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    (root / "meta").mkdir(exist_ok=True)
    server = S3Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"versitygw exited early:\n{log_path.read_text()}")
        try:
            httpx.get(server.endpoint, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"versitygw did not start:\n{log_path.read_text()}")
    client = server.client(f"s3://{BUCKET}")
    client.request("PUT", None)  # CreateBucket
    client.close()
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def s3_environment(s3_server: S3Server) -> Iterator[S3Server]:
    """The AWS variables for the test S3 server, in this process and the servers it starts."""
    saved = {k: os.environ.get(k) for k in s3_server.environ()}
    os.environ.update(s3_server.environ())
    yield s3_server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest) -> str:
    """A `--storage` URL of each backend, empty: file:// or a fresh prefix on the S3 server."""
    if request.param == "file":
        return "file://"
    server: S3Server = request.getfixturevalue("s3_environment")
    return server.fresh_url()
