"""Rootless RUN: as an unprivileged user the sandbox adds a user namespace (mapped to
root inside) and still produces the overlay diff, whiteouts included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.builder.conftest import make_busybox_rootfs
from tests.conftest import REPO_ROOT

SCRIPT = """
import json, sys
from pathlib import Path
from dockyard.sandbox import RunRequest, run_in_sandbox
from dockyard.builder.snapshot import prune_copied_up_dirs, remove_placeholders, upper_entries
root, upper = Path(sys.argv[1]), Path(sys.argv[2])
upper.mkdir()
out = bytearray()
r = run_in_sandbox(RunRequest(argv=["/bin/sh", "-c", "id -u; echo x > /f; rm /bin/ls"],
                              rootfs=root, upper=upper, env={"PATH": "/bin"}), out.extend)
remove_placeholders(upper, r.created)
prune_copied_up_dirs(upper, root)
entries = [[e.name, e.kind] for e in upper_entries(upper)]
print(json.dumps({"out": out.decode(), "entries": entries}))
"""


def _tree_for_nobody(base: Path) -> Path:
    """`base` open to `nobody`, with a copy of Dockyard's source it can import."""
    os.chmod(base, 0o777)
    shutil.copytree(REPO_ROOT / "src", base / "src")
    subprocess.run(["chmod", "-R", "a+rX", str(base / "src")], check=True)
    return base


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to `nobody` with setpriv: needs root "
                    "(as a normal user every sandbox test already runs rootless)")
def test_rootless_run_as_nobody() -> None:
    if shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists():
        pytest.skip("needs setpriv (util-linux) and a system python3 that `nobody` can run")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = _tree_for_nobody(Path(tmp))
        rootfs = make_busybox_rootfs(work / "rootfs")
        subprocess.run(["chown", "-R", "65534:65534", str(rootfs)], check=True)
        probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                "unshare", "--user", "--map-root-user", "--mount", "true"],
                               capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"unprivileged user namespaces are disabled: {probe.stderr.decode()}")
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
             f"PYTHONPATH={work / 'src'}", f"HOME={work}", "/usr/bin/python3", "-c", SCRIPT,
             str(rootfs), str(work / "upper")],
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout.strip().splitlines()[-1])
        assert data["out"].split()[0] == "0"  # root inside the user namespace
        assert data["entries"] == [["bin", "path"], ["bin/ls", "whiteout"], ["f", "path"]]


ISOLATED = """
import sys
from pathlib import Path
from dockyard.sandbox import HostView, Limits, RunRequest, SandboxMount, run_in_sandbox
work = Path(sys.argv[1])
out = bytearray()
script = "id -u; echo made > made; ls /root 2>&1; touch /etc/x 2>&1; true"
run_in_sandbox(RunRequest(argv=["/bin/sh", "-c", script],
                          env={"PATH": "/usr/bin:/bin"}, cwd=str(work), host_view=HostView(), isolate=True,
                          mounts=[SandboxMount("bind", str(work), work, readonly=False, idmap=True)],
                          limits=Limits(memory=64 << 20)), out.extend)
print(out.decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to `nobody` with setpriv: needs root")
@pytest.mark.parametrize("mount_below_var", [False, True], ids=["plain", "mount-below-var"])
def test_rootless_server_runs_isolated_ci_steps(mount_below_var: bool) -> None:
    """A Dockyard that is not root still isolates a CI step (its own uid is root inside, the
    host view is read-only) and says that it cannot apply limits without a writable cgroup.
    With a filesystem mounted below /var (a kubelet's, a container runtime's), which a user
    namespace may not leave out of a bind, the step sees /var empty and is told so."""
    if shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists():
        pytest.skip("needs setpriv (util-linux) and a system python3 that `nobody` can run")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        base = _tree_for_nobody(Path(tmp))
        work = base / "work"
        work.mkdir()
        os.chown(work, 65534, 65534)
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                f"PYTHONPATH={base / 'src'}", f"HOME={base}", "/usr/bin/python3", "-c", ISOLATED,
                str(work)]
        if mount_below_var:  # in a private mount namespace: the host's mounts stay as they are
            (base / "locked").mkdir()
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount -t tmpfs none "$0" && exec "$@"', str(base / "locked"), *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if "user namespaces" in result.stderr and result.returncode != 0:
            pytest.skip(result.stderr)
        assert result.returncode == 0, result.stderr
        told = "dockyard sandbox: /var is shown empty: other filesystems are mounted below it"
        assert (told in result.stdout) == mount_below_var, result.stdout
        lines = [line for line in result.stdout.splitlines() if not line.startswith(told)]
        assert "resource limits not applied" in lines[0]
        assert lines[1] == "0"
        assert "No such file or directory" in result.stdout and "Read-only file system" in result.stdout
        assert (work / "made").stat().st_uid == 65534


FOREIGN = """
import sys
from pathlib import Path
from dockyard.builder.emulation import check_emulation
from dockyard.oci import Platform
from dockyard.sandbox import RunRequest, run_in_sandbox
work = Path(sys.argv[1])
print(check_emulation(Platform.parse("linux/arm64"), probe_dir=work))
out = bytearray()
run_in_sandbox(RunRequest(argv=["/bin/sh", "-c", "id -u; uname -m"], rootfs=work / "rootfs",
                          env={"PATH": "/bin"}), out.extend)
print(out.decode())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to `nobody` with setpriv: needs root")
def test_rootless_run_of_a_foreign_platform_goes_through_qemu() -> None:
    """binfmt_misc's F flag: the kernel opened qemu at registration, so an arm64 RUN works
    in the rootless sandbox too (a user namespace, a chroot with no qemu inside)."""
    from tests.builder.multiarch import arm64_rootfs, ensure_qemu_binfmt

    reason = ensure_qemu_binfmt("aarch64")
    if reason or shutil.which("setpriv") is None:
        pytest.skip(reason or "needs setpriv (util-linux)")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = _tree_for_nobody(Path(tmp))
        shutil.copytree(arm64_rootfs(), work / "rootfs", symlinks=True)
        assert not list((work / "rootfs").rglob("qemu*"))
        subprocess.run(["chown", "-R", "65534:65534", str(work / "rootfs")], check=True)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
             f"PYTHONPATH={work / 'src'}", f"HOME={work}", "/usr/bin/python3", "-c", FOREIGN,
             str(work)], capture_output=True, text=True, timeout=120)
        if "user namespaces" in result.stderr and result.returncode != 0:
            pytest.skip(result.stderr)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.split()
        assert "binfmt_misc" in result.stdout.splitlines()[0]
        assert lines[-2:] == ["0", "aarch64"]
