"""Run a process in its own namespaces on a root filesystem, with limits.

User/mount/PID/IPC/UTS (and optionally net) namespaces, an overlay or a bind of an image
rootfs or a read-only view of the host, bind mounts (id-mapped into the sandbox's user
namespace where asked), cgroup limits, a minimal /dev and a fresh /proc, pivot_root.
Used by the builder's RUN and by every CI step; imports nothing else of Dockyard and only
the standard library, so the builder's start-up does not pay for it.

Public API:

    RunRequest(argv, rootfs=..., env=..., mounts=[SandboxMount(...)], upper=..., host_view=
               HostView(...), isolate=True, limits=Limits(memory=..., cpu=..., pids=...))
    run_in_sandbox(request, output=callback) -> RunResult     raises RunFailed (exit code,
               reason such as "killed: memory limit 256Mi exceeded") or SandboxUnavailable
    SandboxServer(...)      the warm process that forks every CI step's sandbox (forkserver.py)
    support() -> Support        what this machine allows (user namespaces, cgroup version)
    overlay_supported(dir)      whether an overlay mount works there (probed once)
    inside(root, path)          a container path resolved under `root`, symlinks included
    parse_memory, parse_cpu     Kubernetes quantities -> bytes, cores

`python -m dockyard.sandbox REQUEST.json` runs one request with its output on stdout and
exits with the command's status (how CI runs a step as a child process it can stop).
"""

from dockyard.sandbox.cgroups import DEFAULT_PIDS, Limits, parse_cpu, parse_memory
from dockyard.sandbox.forkserver import SandboxServer
from dockyard.sandbox.init import inside
from dockyard.sandbox.run import (
    HostView,
    RunFailed,
    RunRequest,
    RunResult,
    SandboxMount,
    SandboxUnavailable,
    overlay_supported,
    rootless,
    run_in_sandbox,
)
from dockyard.sandbox.support import Support, support

__all__ = [
    "DEFAULT_PIDS",
    "HostView",
    "Limits",
    "RunFailed",
    "RunRequest",
    "RunResult",
    "SandboxMount",
    "SandboxServer",
    "SandboxUnavailable",
    "Support",
    "inside",
    "overlay_supported",
    "parse_cpu",
    "parse_memory",
    "rootless",
    "run_in_sandbox",
    "support",
]
