"""A foreign-platform (arm64) base for multi-platform build tests, and qemu-user through
binfmt_misc on this machine.

The arm64 root filesystem is Debian's busybox-static:arm64, extracted by mmdebstrap (no
emulation needed to extract) once per machine into the test cache (tests/buildcache.py),
with one symlink per applet. `ensure_qemu_binfmt` mounts binfmt_misc and registers Debian
qemu-user-static's handler (with its F flag) when it is missing and the tests run as root,
as `systemd-binfmt` would at boot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.buildcache import BuildFailed, build_once, cache_dir

SUITE = "bookworm"
ARM64_ROOTFS = f"arm64-busybox-{SUITE}-1"
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def arm64_rootfs() -> Path:
    """Debian's busybox-static for arm64 as a root filesystem (cached; built when missing)."""
    return build_once(cache_dir() / ARM64_ROOTFS, _extract_busybox)


def _extract_busybox(staging: Path) -> None:
    if shutil.which("mmdebstrap") is None:
        raise BuildFailed("mmdebstrap is not installed (make deps-system adds it)")
    rootfs = staging / ARM64_ROOTFS
    result = subprocess.run(
        ["mmdebstrap", "--variant=extract", "--include=busybox-static", "--arch=arm64",
         "--mode=root", "--quiet", SUITE, str(rootfs)],
        capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise BuildFailed(f"mmdebstrap --arch=arm64 failed:\n{result.stderr[-3000:]}")
    for extra in ("dev", "var", "usr/share"):  # device nodes and apt's leftovers
        shutil.rmtree(rootfs / extra, ignore_errors=True)
    busybox = rootfs / "bin" / "busybox"
    if not busybox.is_file():
        raise BuildFailed(f"mmdebstrap left no {busybox}")
    # the applet list of the same Debian version, from this machine's busybox
    host = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([host, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (rootfs / "etc").mkdir(exist_ok=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    (rootfs / "tmp").mkdir(exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)


def ensure_qemu_binfmt(qemu: str = "aarch64") -> str | None:
    """None when RUN for that architecture can run here, else why not (a skip reason)."""
    from dockyard.builder.emulation import ELF_MACHINES, check_emulation
    from dockyard.builder.options import BuildError
    from dockyard.oci import Platform

    arch = next(a for a, known in ELF_MACHINES.items() if known[3] == qemu)
    conf = Path(f"/usr/lib/binfmt.d/qemu-{qemu}.conf")
    if os.geteuid() == 0:
        if not (BINFMT / "status").exists():
            subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
                           capture_output=True, check=False)
        if (BINFMT / "register").exists() and not (BINFMT / f"qemu-{qemu}").exists() \
                and conf.is_file():
            # OSError: another test session registered it first, or no permission
            with contextlib.suppress(OSError):
                (BINFMT / "register").write_text(conf.read_text().strip())
    try:
        check_emulation(Platform.parse(f"linux/{arch}"))
    except BuildError as exc:
        return str(exc)
    return None


def push_bases(host_port: str, repository: str, env: dict[str, str], work: Path) -> dict[str, str]:
    """Pushes busybox bases to `host_port/repository`: `amd64` and `arm64` (single-platform,
    by `dockyard image import --platform`) and `multi`, an index of both made by a
    two-platform build of a FROM-only Dockerfile (no RUN: no emulation needed)."""
    from tests.builder.images import busybox_context, dockyard

    name = f"{host_port}/{repository}"
    out = {"amd64": f"{name}:amd64", "arm64": f"{name}:arm64", "multi": f"{name}:multi"}
    amd64 = busybox_context(work / "amd64") / "rootfs"
    dockyard("image", "import", "--rootfs", str(amd64), "--platform", "linux/amd64",
             "--destination", out["amd64"], "--cmd", '["sh"]', "--insecure", env=env)
    dockyard("image", "import", "--rootfs", str(arm64_rootfs()), "--platform", "linux/arm64",
             "--owner", "0:0", "--destination", out["arm64"], "--cmd", '["sh"]', "--insecure",
             env=env)
    context = work / "index"
    context.mkdir()
    (context / "Dockerfile").write_text(f"ARG TARGETARCH\nFROM {name}:$TARGETARCH\n")
    dockyard("executor", f"--context={context}", f"--destination={out['multi']}", "--insecure",
             "--insecure-pull", "--custom-platform=linux/amd64,linux/arm64", env=env)
    return out
