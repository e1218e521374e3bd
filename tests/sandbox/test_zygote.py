"""The pre-warmed executor (ci/executor/zygote.py) and its client: the request format, and a
step that connects and sends nothing holds up no other step's `/kaniko/executor`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.ci.executor import zygote, zygote_client
from dockyard.ci.executor.warm import WarmExecutor, package_root


def test_requests_travel_whole() -> None:
    argv = ["--destination=r/x:1", "a=b", "", "\u00e9", "new\nline"]
    env = {"PATH": "/busybox", "EQ": "a=b=c", "EMPTY": "", "RAW": b"\xff".decode(errors="surrogateescape")}
    encoded = zygote_client.encode_request(argv, env, "/work space")
    assert int.from_bytes(encoded[:4], "big") == len(encoded) - 4
    assert zygote.decode_request(encoded[4:]) == (argv, env, "/work space")


@pytest.mark.parametrize("payload", [b"", b"/cwd", b"/cwd\0x", b"/cwd\x003\0only-one", b"/cwd\x000"])
def test_malformed_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):
        zygote.decode_request(payload)


@pytest.fixture(scope="module")
def warm_socket() -> Iterator[Path]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    warm = WarmExecutor()
    socket = warm.ensure()
    if socket is None:
        pytest.skip("the pre-warmed executor cannot start here")
    yield socket
    warm.close()


def _in_userns(*argv: str) -> list[str]:
    """A process in a user namespace of its own: the zygote serves only sandboxed peers."""
    return ["unshare", "--user", "--map-root-user", *argv]


def test_a_silent_client_holds_up_no_other(warm_socket: Path) -> None:
    stalled = subprocess.Popen(_in_userns(
        sys.executable, "-c",
        f"import socket,time;s=socket.socket(socket.AF_UNIX);s.connect({str(warm_socket)!r});"
        "s.send(b'\\0\\0');time.sleep(60)",
    ))
    try:
        client = str(Path(zygote_client.__file__))
        done = subprocess.run(
            _in_userns(sys.executable, "-S", "-E", client, str(warm_socket), str(package_root()), "--help"),
            capture_output=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert b"--destination" in done.stdout + done.stderr  # the builder's own usage
    finally:
        stalled.kill()
        stalled.wait()
