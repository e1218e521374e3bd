"""The offline stand-in for `alpine:3.20`: a busybox root filesystem, made from the machine's
static /bin/busybox (Debian's busybox-static), for `dockyard image import`."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

from dockyard.demo.errors import DemoError

BUSYBOX = Path("/bin/busybox")
_PT_INTERP = 3
_MISSING = (
    "{path} is missing: the demo's base image is made from a static busybox; install it with "
    "`apt-get install busybox-static`"
)


def static_busybox() -> Path:
    """The static busybox binary, or a DemoError naming the package that provides it."""
    path = BUSYBOX if BUSYBOX.exists() else None
    if path is None:
        found = shutil.which("busybox")
        path = Path(found) if found else None
    if path is None:
        raise DemoError(_MISSING.format(path=BUSYBOX))
    if _is_dynamic(path):
        raise DemoError(
            f"{path} is dynamically linked, so it cannot run alone in an image; install "
            "`busybox-static` (apt-get install busybox-static)"
        )
    return path


def make_rootfs(root: Path) -> Path:
    """A minimal system: /bin/busybox with every applet linked, passwd/group, /tmp."""
    busybox = static_busybox()
    for name in ("bin", "etc", "tmp", "root"):
        (root / name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(root / "tmp", 0o1777)
    return root


def _is_dynamic(path: Path) -> bool:
    """True when the ELF file asks for a program interpreter (ld.so), i.e. is not static."""
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        is64, little = header[4] == 2, header[5] == 1
        end = "<" if little else ">"
        if is64:
            phoff, = struct.unpack_from(end + "Q", header, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", header, 54)
        else:
            phoff, = struct.unpack_from(end + "I", header, 28)
            phentsize, phnum = struct.unpack_from(end + "HH", header, 42)
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            kind, = struct.unpack(end + "I", f.read(4))
            if kind == _PT_INTERP:
                return True
    return False
