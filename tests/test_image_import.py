"""`dockyard image import` end to end: a busybox rootfs becomes an image in a real
docker-registry, skopeo copies it back, umoci unpacks it and runc runs it."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from dockyard.oci import (
    BlobCache,
    ImageLayout,
    Logins,
    RegistryClient,
    RegistryOptions,
    apply_layer,
)
from tests.oci.peers import Registry, registry, require_tool

__all__ = ["registry"]

BUSYBOX = Path("/bin/busybox")


def dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard", "image", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Path:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (make install adds it)")
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat", "ls"):
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return root


@pytest.mark.slow
def test_import_push_then_run_with_umoci_and_runc(
    tmp_path: Path, busybox_rootfs: Path, registry: Registry
) -> None:
    skopeo, umoci, runc = require_tool("skopeo"), require_tool("umoci"), require_tool("runc")
    if os.geteuid() != 0:
        pytest.skip("runc needs root here")
    ref = f"{registry.host}/base/busybox:1"
    result = dockyard(
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--destination",
        ref,
        "--destination",
        f"{registry.host}/base/busybox:latest",
        "--cmd",
        '["/bin/sh", "-c", "echo hello from dockyard; cat /etc/passwd"]',
        "--env",
        "GREETING=hi",
        "--label",
        "org.opencontainers.image.title=busybox",
        "--tar-path",
        str(tmp_path / "image.tar"),
        "--insecure",
    )
    assert result.returncode == 0, result.stderr
    digest = result.stdout.strip()
    assert digest.startswith("sha256:")

    inspected = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--tls-verify=false", f"docker://{ref}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert inspected["Digest"] == digest
    assert inspected["Labels"] == {"org.opencontainers.image.title": "busybox"}

    layout = tmp_path / "oci"
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:1"],
        check=True,
        capture_output=True,
    )
    bundle = tmp_path / "bundle"
    subprocess.run(
        [umoci, "unpack", "--image", f"{layout}:1", str(bundle)], check=True, capture_output=True
    )
    config_path = bundle / "config.json"
    spec = json.loads(config_path.read_text())
    spec["process"]["terminal"] = False
    assert "GREETING=hi" in spec["process"]["env"]
    config_path.write_text(json.dumps(spec))
    container = f"dockyard-oci-test-{os.getpid()}"
    try:
        run = subprocess.run(
            [runc, "run", container],
            cwd=bundle,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run([runc, "delete", "--force", container], capture_output=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["hello from dockyard", "root:x:0:0:root:/root:/bin/sh"]

    with RegistryClient(RegistryOptions(), Logins()) as client:
        pulled = client.pull(ref, BlobCache(tmp_path / "cache"))
    assert pulled.digest == digest
    root = tmp_path / "unpacked"
    root.mkdir()
    assert pulled.layers[0].path is not None
    apply_layer(pulled.layers[0].path, root, expected_diff_id=pulled.layers[0].diff_id)
    assert os.readlink(root / "bin" / "sh") == "busybox"
    assert (root / "bin" / "busybox").read_bytes() == BUSYBOX.read_bytes()

    archive = json.loads(
        subprocess.run(
            [skopeo, "inspect", f"oci-archive:{tmp_path / 'image.tar'}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert archive["Digest"] == digest


def test_import_from_tar_is_reproducible(tmp_path: Path, busybox_rootfs: Path) -> None:
    rootfs_tar = tmp_path / "rootfs.tar.gz"
    with tarfile.open(rootfs_tar, "w:gz") as tar:
        tar.add(busybox_rootfs, arcname=".")
    digests = []
    for n in (1, 2):
        out = tmp_path / f"layout{n}"
        result = dockyard(
            "import",
            "--rootfs",
            str(rootfs_tar),
            "--oci-layout",
            str(out),
            "--destination",
            "example.local/busybox:1",
            "--no-push",
            "--reproducible",
            "--owner",
            "0:0",
            "--cmd",
            "sh",
        )
        assert result.returncode == 0, result.stderr
        digests.append(result.stdout.strip())
    assert digests[0] == digests[1]
    index = json.loads((tmp_path / "layout1" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1"
    # our layout is one umoci reads directly
    bundle = tmp_path / "bundle"
    unpack = [require_tool("umoci"), "unpack", "--image", f"{tmp_path / 'layout1'}:1", str(bundle)]
    if os.geteuid() != 0:
        unpack.insert(2, "--rootless")
    subprocess.run(unpack, check=True, capture_output=True)
    assert (bundle / "rootfs" / "bin" / "busybox").read_bytes() == BUSYBOX.read_bytes()
    image = ImageLayout(tmp_path / "layout1").read_image("1")
    assert image.config.config.cmd == ["sh"]
    assert image.config.created == "1970-01-01T00:00:00Z"
    assert image.layers[0].path is not None
    with tarfile.open(image.layers[0].path) as tar:
        members = {m.name: m for m in tar}
    assert "bin/busybox" in members and members["bin/sh"].linkname == "busybox"
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}

    arm = tmp_path / "arm"
    result = dockyard(
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--oci-layout",
        str(arm),
        "--platform",
        "linux/arm64",
        "--compression",
        "zstd",
    )
    assert result.returncode == 0, result.stderr
    arm_image = ImageLayout(arm).read_image()
    assert (arm_image.config.os, arm_image.config.architecture) == ("linux", "arm64")
    assert arm_image.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar+zstd"


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `dockyard image ...` in this process (fast) and return (exit code, stderr)."""
    from dockyard.cli import main

    code = main(["image", *args])
    return code, capsys.readouterr().err


def test_import_refuses_a_hostile_rootfs_tar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/pwn")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    code, err = in_process(
        capsys, "import", "--rootfs", str(evil), "--tar-path", str(tmp_path / "out.tar")
    )
    assert code == 1
    assert "escapes the root filesystem" in err
    assert not (tmp_path / "out.tar").exists()


def test_import_reports_bad_arguments(
    tmp_path: Path, busybox_rootfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = in_process(capsys, "import", "--rootfs", str(busybox_rootfs))
    assert code == 1 and "give --destination, --tar-path or --oci-layout" in err
    code, err = in_process(
        capsys, "import", "--rootfs", str(tmp_path / "missing"), "-d", "x.local/a"
    )
    assert code == 1 and "does not exist" in err
    code, err = in_process(capsys, "import", "--rootfs", str(busybox_rootfs), "-d", "Upper/Case")
    assert code == 1 and "must be lowercase" in err
    code, err = in_process(
        capsys,
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "-d",
        "x.local/a",
        "--env",
        "NOEQUALS",
        "--no-push",
        "--tar-path",
        str(tmp_path / "t.tar"),
    )
    assert code == 1 and "expected KEY=VALUE" in err
    code, err = in_process(
        capsys,
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--oci-layout",
        str(tmp_path / "l"),
        "--cmd",
        '["sh", 1]',
    )
    assert code == 1 and "--cmd must be a JSON array of strings" in err
    code, err = in_process(
        capsys,
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--oci-layout",
        str(tmp_path / "l"),
        "--entrypoint",
        "[sh",
    )
    assert code == 1 and "--entrypoint '[sh' is not a valid JSON array" in err


@pytest.mark.slow
def test_podman_pulls_loads_and_runs_an_imported_image(
    tmp_path: Path, busybox_rootfs: Path, registry: Registry
) -> None:
    """podman pulls the pushed image, and `podman load` reads the --tar-path archive."""
    podman = require_tool("podman")
    if os.geteuid() != 0:
        pytest.skip("podman with runc needs root here")
    ref = f"{registry.host}/base/podman-busybox:1"
    archive = tmp_path / "image.tar"
    result = dockyard(
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--destination",
        ref,
        "--entrypoint",
        "/bin/echo",
        "--cmd",
        "hello from podman",
        "--tar-path",
        str(archive),
    )
    assert result.returncode == 0, result.stderr
    runroot = tempfile.mkdtemp(prefix="dy-pm-", dir="/tmp")  # podman wants a short runroot
    storage = ["--root", str(tmp_path / "podman-root"), "--runroot", runroot]
    storage += ["--storage-driver", "vfs"]
    run_flags = ["--rm", "--runtime", "runc", "--network", "none"]
    run_flags += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

    def podman_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [podman, *storage, *args],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    try:
        pulled = podman_run("run", "--tls-verify=false", *run_flags, ref)
        assert pulled.returncode == 0, pulled.stderr
        assert pulled.stdout.strip() == "hello from podman"
        podman_run("rmi", "--all", "--force")
        loaded = podman_run("load", "-i", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        assert ref in loaded.stdout
        from_archive = podman_run("run", "--pull=never", *run_flags, ref, "from the archive")
        assert from_archive.returncode == 0, from_archive.stderr
        assert from_archive.stdout.strip() == "from the archive"
    finally:
        podman_run("rmi", "--all", "--force")
        shutil.rmtree(runroot, ignore_errors=True)


def test_copy_and_inspect_between_registry_layout_and_archive(
    tmp_path: Path, busybox_rootfs: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "layout"
    code, err = in_process(
        capsys,
        "import",
        "--rootfs",
        str(busybox_rootfs),
        "--oci-layout",
        str(layout),
        "--destination",
        "offline.local/busybox:1.36",
        "--no-push",
        "--cmd",
        "sh",
    )
    assert code == 0, err
    ref = f"{registry.host}/copied/busybox:1.36"
    assert in_process(capsys, "copy", f"oci:{layout}:1.36", f"docker://{ref}")[0] == 0
    summary = json.loads(main_out(capsys, "inspect", ref))
    assert summary["Cmd"] == ["sh"] and summary["Platform"].startswith("linux/")
    archive = tmp_path / "busybox.tar"
    assert in_process(capsys, "copy", ref, f"oci-archive:{archive}")[0] == 0
    # the archive names the image by its source reference (docker-archive RepoTags)
    named = subprocess.run(
        [require_tool("skopeo"), "inspect", f"docker-archive:{archive}:{ref}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert len(json.loads(named)["Layers"]) == 1
    raw = main_out(capsys, "inspect", "--raw", f"oci:{layout}:1.36")
    assert json.loads(raw)["layers"][0]["digest"] == summary["Layers"][0]
    code, err = in_process(capsys, "inspect", f"oci:{layout}:nope")
    assert code == 1 and "no image named 'nope'" in err
    # archives are read too: as oci-archive (by tag) and as docker-archive (layers hashed)
    assert in_process(capsys, "copy", f"oci-archive:{archive}:1.36", f"oci:{tmp_path / 'x'}:1")[0] == 0
    assert json.loads(main_out(capsys, "inspect", f"oci:{tmp_path / 'x'}:1"))["Digest"] == summary["Digest"]
    back = f"{registry.host}/from-archive/busybox:1"
    assert in_process(capsys, "copy", f"docker-archive:{archive}", f"docker://{back}")[0] == 0
    pushed = json.loads(main_out(capsys, "inspect", back))
    assert pushed["DiffIDs"] == summary["DiffIDs"] and pushed["Cmd"] == ["sh"]
    code, err = in_process(capsys, "inspect", f"oci-archive:{layout / 'index.json'}")
    assert code == 1 and "not an uncompressed tar archive" in err


def main_out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    from dockyard.cli import main

    capsys.readouterr()
    assert main(["image", *args]) == 0
    return capsys.readouterr().out
