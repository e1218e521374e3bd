"""What this machine allows a sandbox: user namespaces, id-mapped mounts, cgroups.

Probed once per process by starting a real (tiny) isolated sandbox, because sysctls,
seccomp profiles and container runtimes each can forbid what the kernel version allows.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.sandbox import cgroups
from dockyard.sandbox.run import (
    HostView,
    RunFailed,
    RunRequest,
    SandboxMount,
    SandboxUnavailable,
    run_in_sandbox,
)


@dataclass(frozen=True)
class Support:
    isolated: bool  # a step can run in its own user namespace as an unprivileged uid
    problem: str  # why not, naming the fix
    cgroup: str | None  # "v2", "v1" or None (limits cannot be applied)

    def describe(self) -> str:
        limits = f"cgroup {self.cgroup}" if self.cgroup else "no writable cgroup (no resource limits)"
        return ("isolated steps (user namespaces)" if self.isolated else "no isolated steps") + ", " + limits


_known: dict[int, Support] = {}


def support(where: Path | None = None) -> Support:
    """What a sandbox can do with binds from `where`'s filesystem (id-mapped mounts depend on
    it; the temp dir by default); probed once per filesystem."""
    base = Path(where) if where is not None else Path(tempfile.gettempdir())
    device = os.stat(base).st_dev
    if device not in _known:
        _known[device] = Support(*_probe_isolation(base), cgroups.version())
    return _known[device]


def _probe_isolation(base: Path) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="dockyard-probe-", dir=base) as tmp:
        probe = Path(tmp) / "w"
        probe.mkdir()
        request = RunRequest(
            argv=["/bin/sh", "-c", "echo ok > /probe/ok"],
            env={"PATH": "/usr/bin:/bin"},
            host_view=HostView(),
            isolate=True,
            mounts=[SandboxMount("bind", "/probe", probe, readonly=False, idmap=True)],
            name="probe",
        )
        try:
            run_in_sandbox(request)
        except (SandboxUnavailable, RunFailed) as e:
            detail = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            return False, (
                f"this machine does not let Dockyard start an isolated sandbox ({detail}); user"
                " namespaces must be enabled (sysctl user.max_user_namespaces > 0,"
                " kernel.unprivileged_userns_clone=1 where it exists) and, when Dockyard runs"
                " as root, id-mapped mounts (Linux >= 5.12) on the data directory's filesystem"
            )
        except OSError as e:
            return False, f"cannot start the sandbox probe: {e}"
        ok = (probe / "ok").exists()
        return ok, "" if ok else "the sandbox probe could not write its bind mount"

