"""binfmt_misc detection for RUN on a foreign platform: every missing piece is a clear error
naming the platform, what is missing and the fix; the handler must have the F flag (its
interpreter then works inside the sandbox's chroot). The handlers below are written in the
format of /proc/sys/fs/binfmt_misc/NAME, with the magic and mask of Debian's
qemu-user-static (/usr/lib/binfmt.d/qemu-aarch64.conf)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.builder.emulation import (
    ELF_MACHINES,
    EXIT_CODE,
    PROBE_EXIT,
    check_emulation,
    elf_header,
    is_native,
    probe_program,
    probe_runs,
    read_handlers,
)
from dockyard.builder.options import BuildError
from dockyard.oci import Platform

AARCH64_MAGIC = "7f454c460201010000000000000000000200b700"
AARCH64_MASK = "ffffffffffffff00fffffffffffffffffeffffff"
ARM64 = Platform.parse("linux/arm64")
pytestmark = pytest.mark.skipif(not is_native(Platform.parse("linux/amd64")),
                                reason="the foreign platform of these tests is arm64 on amd64")


def binfmt(root: Path, handlers: dict[str, tuple[str, str, str]] | None = None,
           status: str = "enabled") -> Path:
    """A binfmt_misc directory: NAME -> (enabled|disabled, flags, magic)."""
    root.mkdir()
    (root / "status").write_text(status + "\n")
    (root / "register").write_text("")
    for name, (state, flags, magic) in (handlers or {}).items():
        (root / name).write_text(
            f"{state}\ninterpreter /usr/libexec/qemu-binfmt/{name}-binfmt-P\nflags: {flags}\n"
            f"offset 0\nmagic {magic}\nmask {AARCH64_MASK}\n")
    return root


def test_a_registered_handler_with_the_f_flag_is_used(tmp_path: Path) -> None:
    root = binfmt(tmp_path / "b", {"qemu-aarch64": ("enabled", "POF", AARCH64_MAGIC),
                                   "python3.11": ("enabled", "", "a70d0d0a")})
    assert check_emulation(ARM64, root) == \
        "/usr/libexec/qemu-binfmt/qemu-aarch64-binfmt-P (binfmt_misc qemu-aarch64)"
    # an amd64 program matches no aarch64 handler: the kernel would run it natively
    amd64 = elf_header("amd64")
    assert amd64 is not None
    assert not any(h.matches(amd64) for h in read_handlers(root))


def test_the_native_platform_needs_nothing(tmp_path: Path) -> None:
    assert check_emulation(Platform.parse("linux/amd64"), tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("handlers", "status", "expected"),
    [
        (None, None, ["binfmt_misc is not mounted", "mount -t binfmt_misc",
                      "apt install qemu-user-static"]),
        ({}, "disabled", ["binfmt_misc is disabled", "echo 1 >"]),
        ({}, "enabled", ["no binfmt_misc handler for aarch64", "apt install qemu-user-static",
                         "/usr/lib/binfmt.d/qemu-aarch64.conf"]),
        ({"qemu-aarch64": ("enabled", "OC", AARCH64_MAGIC)}, "enabled",
         ["lacks the F (fix-binary) flag", "qemu-aarch64"]),
        ({"qemu-aarch64": ("disabled", "F", AARCH64_MAGIC)}, "enabled",
         ["qemu-aarch64 is disabled"]),
        # a riscv64 handler does not run arm64 programs
        ({"qemu-riscv64": ("enabled", "F", "7f454c460201010000000000000000000200f300")},
         "enabled", ["no binfmt_misc handler for aarch64"]),
    ],
)
def test_what_is_missing_is_named_with_the_fix(
    tmp_path: Path, handlers: dict[str, tuple[str, str, str]] | None, status: str | None,
    expected: list[str],
) -> None:
    root = tmp_path / "b"
    if status is not None:
        binfmt(root, handlers, status)
    with pytest.raises(BuildError) as caught:
        check_emulation(ARM64, root)
    message = str(caught.value)
    assert "RUN for platform linux/arm64" in message, message
    for part in expected:
        assert part in message, message


def test_a_platform_without_a_known_emulator_says_so(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="knows no emulator for linux/sparc64"):
        check_emulation(Platform.parse("linux/sparc64"), binfmt(tmp_path / "b"))


@pytest.mark.parametrize("arch", sorted(EXIT_CODE))
def test_the_probe_programs_run_under_their_qemu(arch: str, tmp_path: Path) -> None:
    """Each probe program is a valid executable of its architecture that exits with 3: run
    directly by that qemu-user (no binfmt_misc involved), or natively for this machine's."""
    program = probe_program(arch)
    assert program is not None
    path = tmp_path / "probe"
    path.write_bytes(program)
    path.chmod(0o755)
    if arch == "amd64":
        argv = [str(path)]
    else:
        qemu = shutil.which(f"qemu-{ELF_MACHINES[arch][3]}-static")
        if qemu is None:
            pytest.skip("qemu-user-static is not installed (make deps-system adds it)")
        argv = [qemu, str(path)]
    assert subprocess.run(argv, capture_output=True, timeout=30).returncode == PROBE_EXIT


def test_where_binfmt_misc_is_hidden_the_probe_decides(tmp_path: Path) -> None:
    """A container's /proc may hide binfmt_misc while the kernel still has the handlers:
    the probe program then shows whether the platform's programs run."""
    from tests.builder.multiarch import ensure_qemu_binfmt

    hidden = tmp_path / "hidden"
    if ensure_qemu_binfmt("aarch64") is None:
        found = check_emulation(ARM64, hidden, probe_dir=tmp_path)
        assert found is not None and "not visible here" in found and "linux/arm64" in found
    assert probe_runs(Platform.parse("linux/amd64"), tmp_path) is True  # native
    if not Path("/proc/sys/fs/binfmt_misc/qemu-s390x").exists():
        assert probe_runs(Platform.parse("linux/s390x"), tmp_path) is False  # ENOEXEC
        with pytest.raises(BuildError, match="binfmt_misc is not mounted"):
            check_emulation(Platform.parse("linux/s390x"), hidden, probe_dir=tmp_path)


def test_a_platform_the_kernel_runs_itself_needs_no_handler(tmp_path: Path) -> None:
    """linux/386 on an x86-64 kernel (IA32 emulation): no binfmt_misc handler (Debian
    registers none for it), and the probe shows the kernel runs such programs."""
    i386 = Platform.parse("linux/386")
    if probe_runs(i386, tmp_path) is not True:
        pytest.skip("this kernel does not run 32-bit x86 programs")
    found = check_emulation(i386, binfmt(tmp_path / "b"), probe_dir=tmp_path)
    assert found is not None and "without an emulator" in found
