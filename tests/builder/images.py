"""Helpers for builder tests: make a busybox base, build with Dockyard and buildah,
unpack with umoci, and describe an image (config + file tree) for comparison."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

BASE_TAG = "base"
PASSWD = ("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"
BASE_DOCKERFILE = (
    "FROM scratch\nCOPY rootfs/ /\n"
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD [\"sh\"]\n"
)


def busybox_context(root: Path) -> Path:
    """A build context whose rootfs/ is a busybox system (all applets, passwd, group)."""
    rootfs = root / "rootfs"
    for name in ("bin", "etc", "tmp", "root", "home"):
        (rootfs / name).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not (rootfs / "bin" / applet).exists():
            (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    (rootfs / "etc" / "motd").write_text("welcome\n")
    os.chmod(rootfs / "tmp", 0o1777)
    (root / "Dockerfile").write_text(BASE_DOCKERFILE)
    return root


def dockyard(*args: str, check: bool = True, env: dict[str, str] | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True,
                            text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def try_build_from(tmp: Path, base: str, run: str = "true") -> subprocess.CompletedProcess[str]:
    """`FROM base` + one RUN, built without pushing; the result, failed or not."""
    context = tmp / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nRUN {run}\n")
    return dockyard("executor", f"--context={context}", "--no-push",
                    f"--cache-dir={tmp / 'cache'}", check=False)


def make_base_layout(tmp: Path, cache_dir: Path) -> Path:
    """An OCI layout with the busybox base tagged `base`, built by Dockyard from scratch."""
    context = busybox_context(tmp / "base-context")
    layout = tmp / "base-layout"
    dockyard("executor", f"--context={context}", "--no-push", f"--oci-layout-path={layout}",
             "--destination=local/base:" + BASE_TAG, f"--cache-dir={cache_dir}", "-v", "warn")
    return layout


def build_args_of(context: Path) -> list[str]:
    path = context / "args.txt"
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def dockyard_build(context: Path, base_layout: Path, out_layout: Path, cache_dir: Path,
                   *extra: str) -> str:
    args = [f"--build-arg=BASE=oci-layout://{base_layout}:{BASE_TAG}"]
    args += [f"--build-arg={a}" for a in build_args_of(context)]
    result = dockyard("executor", f"--context={context}", "--no-push",
                      f"--oci-layout-path={out_layout}", "--destination=local/test:out",
                      f"--cache-dir={cache_dir}", *args, *extra)
    return result.stdout.strip().splitlines()[-1]


class Buildah:
    """buildah with its own storage under a temp dir (never the machine's store)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config: dict[str, object] = {}
        self.global_args = ["--root", str(root / "storage"), "--runroot", str(root / "run"),
                            "--storage-driver", "vfs"]

    def run(self, *args: str) -> str:
        result = subprocess.run(["buildah", *self.global_args, *args], capture_output=True,
                                text=True, timeout=600)
        if result.returncode != 0:
            raise AssertionError(f"buildah {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def build(self, context: Path, base_layout: Path, out_layout: Path, *extra: str) -> None:
        args = ["--build-arg", f"BASE=oci:{base_layout}:{BASE_TAG}"]
        for value in build_args_of(context):
            args += ["--build-arg", value]
        name = "localhost/parity:" + context.name
        self.run("bud", "--format", "docker", "--isolation", "chroot", *args, *extra,
                 "-t", name, str(context))
        self.run("push", "--quiet", name, f"oci:{out_layout}:out")
        # the Docker-format config (an oci: copy drops Healthcheck, OnBuild and Shell)
        self.config = json.loads(self.run("inspect", "--type", "image", name))["Docker"]

    def cleanup(self) -> None:
        subprocess.run(["buildah", *self.global_args, "rmi", "--all", "--force"],
                       capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(self.root / "storage")], capture_output=True,
                       check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)],
                   capture_output=True, check=True)
    return bundle / "rootfs"


def image_config(layout: Path, tag: str) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"]
                 if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    manifest = json.loads(_blob(layout, entry["digest"]).read_text())
    return json.loads(_blob(layout, manifest["config"]["digest"]).read_text())


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / digest.replace(":", "/", 1)


def tree(rootfs: Path) -> dict[str, tuple[object, ...]]:
    """Every path: (type, mode, uid, gid, content hash or link target); no timestamps."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(rootfs))
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            detail: object = None
            if stat.S_ISREG(st.st_mode):
                detail = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            elif stat.S_ISLNK(st.st_mode):
                detail = os.readlink(path)
            out[rel] = (kind, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, detail)
    return out
