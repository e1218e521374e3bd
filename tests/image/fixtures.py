"""Dockyard's own image for tests: built once per session with `dockyard image self` (the Debian
base cached per machine under $DOCKYARD_TEST_CACHE or ~/.cache/dockyard-test), then pushed to
whichever test server needs it.

Other test packages use it through `push_dockyard_image(host_port, docker_config)` or by
importing the `dockyard_image` fixture into their conftest (it pushes to the session `server`).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dockyard import __version__
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

REPO = "dockyard/dockyard"
_built: dict[str, Path] = {}


def cache_root() -> Path:
    return Path(os.environ.get("DOCKYARD_TEST_CACHE") or Path.home() / ".cache" / "dockyard-test")


def self_image_layout() -> Path:
    """An OCI layout (tag = Dockyard's version) of the image built from this tree; once per
    session. Skips where mmdebstrap is missing (make deps-system installs it)."""
    if "layout" not in _built:
        if shutil.which("mmdebstrap") is None:
            pytest.skip("mmdebstrap is not installed (make install adds it on Debian)")
        scratch = tempfile.mkdtemp(prefix="dockyard-self-image-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # ~60 MB, once per session
        layout = Path(scratch) / "layout"
        result = subprocess.run(
            [sys.executable, "-m", "dockyard", "image", "self", "--oci-layout-path", str(layout),
             "--cache-dir", str(cache_root() / "self-image")],
            capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise AssertionError(f"dockyard image self failed:\n{result.stdout}\n{result.stderr}")
        _built["layout"] = layout
        _built["log"] = Path(layout.parent / "build.log")
        _built["log"].write_text(result.stderr)
    return _built["layout"]


def push_dockyard_image(host_port: str, docker_config: Path | None = None,
                        tag: str = __version__) -> str:
    """Pushes the session's image to `host_port/dockyard/dockyard:TAG` (plain HTTP) and
    returns that reference; `docker_config` is a directory with a config.json for the push."""
    ref = f"{host_port}/{REPO}:{tag}"
    env = {**os.environ, **({"DOCKER_CONFIG": str(docker_config)} if docker_config else {})}
    subprocess.run([sys.executable, "-m", "dockyard", "image", "copy", "--insecure-registry",
                    host_port, f"oci:{self_image_layout()}:{__version__}", ref],
                   check=True, capture_output=True, env=env, timeout=600)
    return ref


@pytest.fixture(scope="session")
def dockyard_image(server: DockyardServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Dockyard's own image in the session server's registry: `127.0.0.1:PORT/dockyard/dockyard:VERSION`."""
    auth = docker_config(tmp_path_factory.mktemp("self-image-auth"), server.host_port)
    return push_dockyard_image(server.host_port, auth)


def docker_config(directory: Path, host_port: str) -> Path:
    """A DOCKER_CONFIG directory with the test administrator's login for `host_port` (what
    `kubectl create secret docker-registry` mounts as config.json)."""
    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": {host_port: {"auth": auth}}}))
    return directory
