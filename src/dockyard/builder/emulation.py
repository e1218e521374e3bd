"""Running another architecture's programs: RUN for a foreign platform goes through the
kernel's binfmt_misc, which hands such an ELF binary to a registered emulator (qemu-user).

Dockyard never runs the emulator itself: the RUN's argv is executed in the sandbox as usual
and the kernel starts the interpreter. That works inside the sandbox's chroot and mount
namespace only when the handler has the F (fix-binary) flag: the kernel then opened the
interpreter when it was registered and never looks it up in the RUN's rootfs. So the check
below wants, for the platform's ELF header, an enabled handler with the F flag; anything
less is a `BuildError` that names the platform, the missing piece and the fix. The check
runs at the first RUN of a foreign platform only: COPY-only stages and cache hits need none.
"""

from __future__ import annotations

import errno
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dockyard.builder.options import BuildError
from dockyard.oci import Platform

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")

# architecture -> (ELF class: 1 = 32-bit, 2 = 64-bit; little endian?; e_machine; qemu name)
ELF_MACHINES: dict[str, tuple[int, bool, int, str]] = {
    "amd64": (2, True, 0x3E, "x86_64"),
    "386": (1, True, 0x03, "i386"),
    "arm64": (2, True, 0xB7, "aarch64"),
    "arm": (1, True, 0x28, "arm"),
    "ppc64le": (2, True, 0x15, "ppc64le"),
    "ppc64": (2, False, 0x15, "ppc64"),
    "s390x": (2, False, 0x16, "s390x"),
    "riscv64": (2, True, 0xF3, "riscv64"),
    "mips64le": (2, True, 0x08, "mips64el"),
    "mips64": (2, False, 0x08, "mips64"),
    "mipsle": (1, True, 0x08, "mipsel"),
    "mips": (1, False, 0x08, "mips"),
    "loong64": (2, True, 0x102, "loongarch64"),
}
PROBE_EXIT = 3
# `exit(3)` as machine code, for the probe program of `probe_runs`
EXIT_CODE: dict[str, bytes] = {
    "amd64": bytes.fromhex("b83c000000bf030000000f05"),  # mov eax,60; mov edi,3; syscall
    "386": bytes.fromhex("b801000000bb03000000cd80"),  # mov eax,1; mov ebx,3; int 0x80
    "arm64": struct.pack("<3I", 0xD2800BA8, 0xD2800060, 0xD4000001),  # x8=93 x0=3 svc 0
    "arm": struct.pack("<3I", 0xE3A07001, 0xE3A00003, 0xEF000000),  # r7=1 r0=3 svc 0
    "riscv64": struct.pack("<3I", 0x05D00893, 0x00300513, 0x00000073),  # a7=93 a0=3 ecall
    "ppc64le": struct.pack("<3I", 0x38000001, 0x38600003, 0x44000002),  # r0=1 r3=3 sc
    "s390x": bytes.fromhex("a72900030a01"),  # lghi r2,3; svc 1
}


@dataclass(frozen=True)
class Handler:
    """One binfmt_misc entry (`/proc/sys/fs/binfmt_misc/NAME`)."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    def matches(self, header: bytes) -> bool:
        """The kernel's test: every byte of the header at `offset`, masked, equals the magic."""
        window = header[self.offset:self.offset + len(self.magic)]
        if len(window) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all((a ^ b) & m == 0 for a, b, m in zip(window, self.magic, mask, strict=False))


def elf_header(architecture: str) -> bytes | None:
    """The first 20 bytes of an executable of `architecture` (None: not known here)."""
    known = ELF_MACHINES.get(architecture)
    if known is None:
        return None
    elf_class, little, machine, _ = known
    order: Literal["little", "big"] = "little" if little else "big"
    ident = b"\x7fELF" + bytes([elf_class, 1 if little else 2, 1, 0]) + bytes(8)
    return ident + (2).to_bytes(2, order) + machine.to_bytes(2, order)


def probe_program(architecture: str) -> bytes | None:
    """A static ELF executable of `architecture` that only exits with PROBE_EXIT."""
    code = EXIT_CODE.get(architecture)
    if code is None:
        return None
    elf_class, little, machine, _ = ELF_MACHINES[architecture]
    e = "<" if little else ">"
    ident = b"\x7fELF" + bytes([elf_class, 1 if little else 2, 1, 0]) + bytes(8)
    if elf_class == 2:
        base, ehsize, phsize = 0x400000, 64, 56
        flags = 2 if architecture == "ppc64le" else 0  # the ELFv2 ABI
        total = ehsize + phsize + len(code)
        header = ident + struct.pack(e + "HHIQQQIHHHHHH", 2, machine, 1, base + ehsize + phsize,
                                     ehsize, 0, flags, ehsize, phsize, 1, 0, 0, 0)
        segment = struct.pack(e + "IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
    else:
        base, ehsize, phsize = 0x10000, 52, 32
        flags = 0x05000000 if architecture == "arm" else 0  # EABI5
        total = ehsize + phsize + len(code)
        header = ident + struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, base + ehsize + phsize,
                                     ehsize, 0, flags, ehsize, phsize, 1, 0, 0, 0)
        segment = struct.pack(e + "IIIIIIII", 1, 0, base, base, total, total, 5, 0x1000)
    return header + segment + code


def probe_runs(platform: Platform, directory: Path) -> bool | None:
    """Runs the probe program of the platform: True when it ran (an emulator is registered),
    False when the kernel refused its format, None when this cannot tell (no probe for the
    architecture, or `directory` does not allow executables)."""
    program = probe_program(platform.architecture)
    if program is None:
        return None
    with tempfile.TemporaryDirectory(prefix="binfmt-probe-", dir=directory) as tmp:
        path = Path(tmp) / "probe"
        path.write_bytes(program)
        path.chmod(0o755)
        try:
            result = subprocess.run([str(path)], stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=30)
        except OSError as exc:
            return False if exc.errno == errno.ENOEXEC else None
        except subprocess.TimeoutExpired:
            return None
    return result.returncode == PROBE_EXIT


def read_handlers(root: Path = BINFMT_MISC) -> list[Handler]:
    """The magic-number handlers registered in binfmt_misc mounted at `root`."""
    handlers = []
    for entry in sorted(root.iterdir()):
        if entry.name in ("register", "status"):
            continue
        try:
            lines = entry.read_text().splitlines()
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            fields[key.rstrip(":")] = value.strip()
        if "magic" not in fields:  # an extension handler (E), not a magic one
            continue
        handlers.append(Handler(
            name=entry.name,
            enabled=bool(lines) and lines[0].strip() == "enabled",
            interpreter=fields.get("interpreter", ""),
            flags=fields.get("flags", ""),
            offset=int(fields.get("offset", "0") or 0),
            magic=bytes.fromhex(fields["magic"]),
            mask=bytes.fromhex(fields.get("mask", "")),
        ))
    return handlers


def is_native(platform: Platform) -> bool:
    """Whether this machine runs the platform's programs without an emulator."""
    host = Platform.current()
    return platform.os == host.os and platform.matches(host) and host.matches(platform)


def _fix(qemu: str) -> str:
    return (f"install Debian's qemu-user-static (apt install qemu-user-static) and register "
            f"its handler with the F flag (as root: /lib/systemd/systemd-binfmt "
            f"/usr/lib/binfmt.d/qemu-{qemu}.conf, or update-binfmts --import qemu-{qemu})")


def check_emulation(platform: Platform, root: Path | None = None,
                    probe_dir: Path | None = None) -> str | None:
    """What will run `platform`'s programs (None when this machine does natively); a
    BuildError naming the platform, what is missing and the fix when nothing will.

    Where binfmt_misc is not visible (a container whose /proc hides it) but the kernel has a
    handler all the same, a probe program written to `probe_dir` tells (`probe_runs`)."""
    if is_native(platform):
        return None
    root = root or BINFMT_MISC
    what = f"RUN for platform {platform} on this {Platform.current()} machine needs emulation"
    header = elf_header(platform.architecture)
    if platform.os != "linux" or header is None:
        raise BuildError(f"{what}, and Dockyard knows no emulator for {platform}: build it on "
                         "a machine of that platform")
    qemu = ELF_MACHINES[platform.architecture][3]
    if not (root / "status").exists():
        if probe_dir is not None and probe_runs(platform, probe_dir):
            return (f"the kernel's binfmt_misc handler for {qemu} (not visible here; a "
                    f"{platform} probe program ran)")
        raise BuildError(f"{what} through qemu-user, but binfmt_misc is not mounted at {root}: "
                         f"mount it (as root: mount -t binfmt_misc binfmt_misc {root}), then "
                         + _fix(qemu))
    try:
        active = (root / "status").read_text().strip() == "enabled"
    except OSError:
        active = False
    if not active:
        raise BuildError(f"{what} through qemu-user, but binfmt_misc is disabled: enable it "
                         f"(as root: echo 1 > {root}/status)")
    handlers = [h for h in read_handlers(root) if h.matches(header)]
    usable = [h for h in handlers if h.enabled and "F" in h.flags]
    if usable:
        return f"{usable[0].interpreter} (binfmt_misc {usable[0].name})"
    if any(h.enabled for h in handlers):
        names = ", ".join(f"{h.name} ({h.interpreter})" for h in handlers if h.enabled)
        raise BuildError(f"{what}: the binfmt_misc handler {names} lacks the F (fix-binary) "
                         "flag, so its interpreter is looked up inside the RUN's root "
                         "filesystem, where it does not exist: re-register it with flags F "
                         f"(as root: echo -1 > {root}/{handlers[0].name}, then "
                         f"/lib/systemd/systemd-binfmt /usr/lib/binfmt.d/qemu-{qemu}.conf)")
    if handlers:
        raise BuildError(f"{what}: the binfmt_misc handler {handlers[0].name} is disabled: "
                         f"enable it (as root: echo 1 > {root}/{handlers[0].name})")
    if probe_dir is not None and probe_runs(platform, probe_dir):
        return f"this machine's kernel itself ({platform} programs run without an emulator)"
    raise BuildError(f"{what}: no binfmt_misc handler for {qemu} programs is registered: "
                     + _fix(qemu))


_ANNOUNCED: set[str] = set()


def require_emulation(platform: Platform, log: Callable[[str], None], probe_dir: Path) -> None:
    """`check_emulation` before a RUN; the emulator in use is logged once per platform."""
    key = str(platform)
    if key in _ANNOUNCED:
        return
    emulator = check_emulation(platform, probe_dir=probe_dir)
    if emulator is not None:
        log(f"    RUN for {key} runs under {emulator}")
    _ANNOUNCED.add(key)
