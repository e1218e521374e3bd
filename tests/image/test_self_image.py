"""Dockyard's own image, built by `dockyard image self` (no daemon, Debian base from mmdebstrap),
pushed to a real `dockyard up`, pulled with skopeo + umoci and run with runc:

- as the server: uid 65532, read-only root filesystem, writes only in /data and /tmp;
- as the tutorial's Kaniko container: `/kaniko/executor` (with the Jenkinsfile's own flags)
  builds the tutorial's Dockerfile in a container configured like a pod (default capabilities,
  no user namespaces, RuntimeDefault-like seccomp), RUN chrooted because the sandbox cannot
  start there, and pushes; the pushed image runs and prints "Hello from Kaniko".
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from tests.builder.images import busybox_context, dockyard
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, FIXTURES, DockyardServer, free_port, require_tool
from tests.image.fixtures import docker_config
from tests.image.podlike import pod_config, run_pod

pytestmark = [pytest.mark.slow]
CREDS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
POD_PATH = "PATH=/opt/dockyard/bin:/usr/local/bin:/usr/bin:/bin:/kaniko:/busybox"


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("skopeo", "umoci", "runc", "busybox"):
        require_tool(tool)
    if os.geteuid() != 0:
        pytest.skip("runc containers with default capabilities need root")


def unpack(ref: str, root: Path, name: str) -> Path:
    """skopeo copy from the registry + umoci unpack: a runc bundle."""
    layout = root / f"{name}-oci"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--src-creds", CREDS,
                    f"docker://{ref}", f"oci:{layout}:{name}"], check=True, timeout=300)
    bundle = root / f"{name}-bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{name}", str(bundle)], check=True,
                   capture_output=True, timeout=300)
    return bundle


def image_env(bundle: Path) -> list[str]:
    return list(json.loads((bundle / "config.json").read_text())["process"]["env"])


def test_image_is_small_and_has_the_kaniko_layout(tools: None, dockyard_image: str,
                                                  tmp_path: Path) -> None:
    bundle = unpack(dockyard_image, tmp_path, "self")
    rootfs = bundle / "rootfs"
    assert os.access(rootfs / "kaniko" / "executor", os.X_OK)
    assert os.readlink(rootfs / "busybox" / "cat") == "/usr/bin/busybox"
    assert (rootfs / "usr" / "lib" / "dockyard" / "pod-executor").is_file()
    assert not (rootfs / "usr" / "share" / "perl").exists()  # git's perl left out
    owner = os.stat(rootfs / "data")
    assert (owner.st_uid, owner.st_gid) == (65532, 65532)
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"][:2] == ["dockyard", "up"]
    layout = tmp_path / "self-oci"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" /
                           index["manifests"][0]["digest"].split(":")[1]).read_text())
    size = sum(layer["size"] for layer in manifest["layers"])
    assert size < 150 * 1024 * 1024, f"the image grew to {size / 1e6:.0f} MB compressed"


def test_server_runs_as_nonroot_on_a_read_only_root(tools: None, dockyard_image: str,
                                                    tmp_path: Path) -> None:
    """`dockyard up` from the image as uid 65532, read-only rootfs, /data and /tmp writable."""
    bundle = unpack(dockyard_image, tmp_path, "server")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 65532, 65532)
    port = free_port()
    pod_config(bundle, ["dockyard", "up", "--data-dir", "/data", "--host", "127.0.0.1", "--port",
                        str(port), "--admin-password", ADMIN_PASSWORD],
               env=[*image_env(bundle), "HOME=/tmp"], binds={"/data": (data, True)}, uid=65532,
               cwd="/")
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["readonly"] = True
    config["process"]["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted")}
    config["process"]["noNewPrivileges"] = True
    (bundle / "config.json").write_text(json.dumps(config))
    state = tmp_path / "runc-state"
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(["runc", "--root", str(state), "run", "--bundle", str(bundle),
                                f"k8simage-server-{port}"], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    try:
        health = None
        for _ in range(300):
            if process.poll() is not None:
                break
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None and health.status_code == 200, (tmp_path / "server.log").read_text()
        version = httpx.get(f"http://127.0.0.1:{port}/api/v1/version", timeout=5)
        assert version.status_code == 200
        assert (data / "dockyard.db").stat().st_uid == 65532
    finally:
        subprocess.run(["runc", "--root", str(state), "kill", f"k8simage-server-{port}", "KILL"],
                       capture_output=True)
        process.wait(timeout=30)
        subprocess.run(["runc", "--root", str(state), "delete", "--force",
                        f"k8simage-server-{port}"], capture_output=True)
        log.close()


def busybox_base(server: DockyardServer, tmp_path: Path, tag: str) -> tuple[Path, str, Path]:
    """(docker config dir, a busybox base pushed to the server - the tutorial's alpine stand-in,
    an empty workspace)."""
    auth = docker_config(tmp_path / "docker", server.host_port)
    base = f"{server.host_port}/library/busybox:{tag}"
    rootfs = busybox_context(tmp_path / "base") / "rootfs"
    dockyard("image", "import", "--rootfs", str(rootfs), "--destination", base,
             "--insecure-registry", server.host_port, env={"DOCKER_CONFIG": str(auth)})
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return auth, base, workspace


def tutorial_step() -> str:
    """The Jenkinsfile's `sh '''...'''` body exactly as the Kaniko container runs it."""
    body = (FIXTURES / "tutorial" / "Jenkinsfile").read_text().split("sh '''", 1)[1]
    return body.split("'''", 1)[0].replace("\\\\\n", "\\\n")


def test_kaniko_executor_in_a_pod_like_container_builds_the_tutorial(
        tools: None, dockyard_image: str, server: DockyardServer, tmp_path: Path) -> None:
    auth, base, workspace = busybox_base(server, tmp_path, "self-image")
    dockerfile = (FIXTURES / "tutorial" / "Dockerfile").read_text()
    (workspace / "Dockerfile").write_text(dockerfile.replace("FROM alpine:3.20", f"FROM {base}"))
    script = tutorial_step().replace("10.0.24.28:30002", server.host_port)
    script = script.replace("bootcamp/hello-kaniko", "selfimage/hello-kaniko")
    bundle = unpack(dockyard_image, tmp_path, "kaniko")
    pod_config(bundle, ["/busybox/sh", "-c", "dockyard --version && " + script],
               env=[POD_PATH, "HOME=/root"],
               binds={"/kaniko/.docker": (auth, False), "/workspace": (workspace, True)})
    result = run_pod(bundle, f"k8simage-kaniko-{os.getpid()}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "dockyard 0.1.0" in result.stdout
    assert "RUN mode: chroot in this container, the pod is the sandbox" in output
    assert "Operation not permitted" in output  # why the sandbox could not start
    assert f"pushed {server.host_port}/selfimage/hello-kaniko:latest" in output

    hello = unpack(f"{server.host_port}/selfimage/hello-kaniko:dev", tmp_path, "hello")
    pod_config(hello, ["cat", "/hello.txt"], cwd="/")
    ran = run_pod(hello, f"k8simage-hello-{os.getpid()}")
    assert ran.stdout == "Hello from Kaniko\n", ran.stderr


MOUNTS_DOCKERFILE = """\
FROM {base}
RUN echo hi > /dev/null && ls /dev && test ! -e /proc/self && mkdir -p /var/cache/x
RUN --mount=type=cache,target=/var/cache/x --mount=type=secret,id=tok \\
    --mount=type=bind,source=file.txt,target=/src/file.txt --mount=type=tmpfs,target=/scratch \\
    cat /run/secrets/tok /src/file.txt && echo c >> /var/cache/x/n && touch /scratch/t \\
    && wc -l < /var/cache/x/n > /count
USER app
RUN (sleep 1000 &) ; id -u > /tmp/id
"""


def test_chrooted_run_keeps_mounts_and_devices_out_of_the_layers(
        tools: None, dockyard_image: str, server: DockyardServer, tmp_path: Path) -> None:
    auth, base, workspace = busybox_base(server, tmp_path, "self-image-mounts")
    (workspace / "Dockerfile").write_text(MOUNTS_DOCKERFILE.format(base=base))
    (workspace / "file.txt").write_text("bound file\n")
    (workspace / "token").write_text("s3cret-token\n")
    bundle = unpack(dockyard_image, tmp_path, "kaniko")
    pod_config(bundle, ["/kaniko/executor", "--context=/workspace", "--no-push",
                        "--secret=id=tok,src=/workspace/token", "--oci-layout-path=/workspace/out",
                        "--destination=local/mounts:1", "--insecure-pull"],
               env=[POD_PATH, "HOME=/root"],
               binds={"/kaniko/.docker": (auth, False), "/workspace": (workspace, True)})
    result = run_pod(bundle, f"k8simage-mounts-{os.getpid()}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "s3cret-token\nbound file\n" in output
    index = json.loads((workspace / "out" / "index.json").read_text())
    blobs = workspace / "out" / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    layers = []
    for layer in manifest["layers"][1:]:  # the RUN layers on top of the base
        with tarfile.open(blobs / layer["digest"].split(":")[1]) as tar:
            layers.append(sorted(m.name.rstrip("/") for m in tar.getmembers()))
    assert layers == [["var", "var/cache", "var/cache/x"], ["count"], ["tmp/id"]], layers
    with tarfile.open(blobs / manifest["layers"][2]["digest"].split(":")[1]) as tar:
        count = tar.extractfile("count")
        assert count is not None and count.read() == b"1\n"
    with tarfile.open(blobs / manifest["layers"][3]["digest"].split(":")[1]) as tar:
        ident = tar.extractfile("tmp/id")
        assert ident is not None and ident.read() == b"1000\n"


def test_pod_mode_is_ignored_outside_dockyards_image(server: DockyardServer, tmp_path: Path) -> None:
    """On the host DOCKYARD_RUN_MODE=pod changes nothing: the sandbox runs the RUN."""
    from tests.builder.conftest import namespaces_available

    if namespaces_available() is not None:
        pytest.skip(str(namespaces_available()))
    context = busybox_context(tmp_path / "ctx")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\nRUN echo sandboxed > /s\n")
    result = dockyard("executor", f"--context={context}", "--no-push",
                      env={"DOCKYARD_RUN_MODE": "pod", "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert "DOCKYARD_RUN_MODE=pod ignored" in result.stderr
    assert "RUN mode: chroot" not in result.stderr
