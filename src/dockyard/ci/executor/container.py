"""How one CI step becomes a `dockyard.sandbox` request.

Every step runs in the sandbox, never as a plain host process: its own user namespace (root
inside is an unprivileged uid on the host), mount/PID/IPC/UTS namespaces, a pids limit and the
pod template's memory/cpu limits in a cgroup. The root filesystem is

- for `container('x')` with an ordinary image: the image's rootfs (pulled and unpacked by the
  builder's `unpack_image`, cached per layer chain) under an overlay upper directory kept for
  the build, so one step's writes outside the workspace are seen by the next;
- for top-level steps and the Kaniko stand-in: a read-only view of the host's / (the system
  directories only), with the data directory, /root, /home, /var/lib, the host's /proc and
  other secret paths hidden.

Writable are only the workspace, the build's own temp dir (the step's /tmp) and what the pod
template declares (the Kaniko stand-in's /kaniko); the build's own credential files are
readable. Nothing of the server's environment reaches the step: PATH, HOME and LANG are set,
the rest is what the pipeline defines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dockyard.sandbox import DEFAULT_PIDS, HostView, Limits, RunRequest, SandboxMount, parse_cpu, parse_memory

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C.UTF-8"}
# Secret or private host paths a top-level step must not see even where their parent is shown.
HIDDEN = (
    "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups", "/var/www",
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh", "/etc/ssl/private",
    "/etc/sudoers", "/etc/sudoers.d", "/etc/dockyard", "/opt/dockyard",
)
PIDS_RESOURCE = "dockyard.io/pids"  # resources.limits key (checked by ci.podtemplate)


def limits_from(raw: Mapping[str, object]) -> Limits:
    """A container's `resources.limits` (validated by the pod template parser)."""
    memory = parse_memory(raw["memory"]) if "memory" in raw else None
    cpu = parse_cpu(raw["cpu"]) if "cpu" in raw else None
    pids = int(str(raw[PIDS_RESOURCE])) if PIDS_RESOURCE in raw else DEFAULT_PIDS
    return Limits(memory=memory, cpu=cpu, pids=pids)


def host_view(hidden: tuple[Path, ...]) -> HostView:
    """The host's system directories read-only; the interpreter and Dockyard's own package
    added (the Kaniko stand-in runs Dockyard's builder), the data directory hidden."""
    hide = [*HIDDEN, *(str(p) for p in hidden)]
    return HostView(hide=tuple(hide), extra_ro=install_paths(tuple(hide)))


def install_paths(hide: tuple[str, ...]) -> tuple[str, ...]:
    """Where this Dockyard's interpreter, virtual environment and package live, wherever they
    were installed (a checkout under /tmp or /root too), without any path that is or holds a
    hidden one (a server started from the data directory's parent puts it on sys.path)."""
    import dockyard

    package = Path(dockyard.__file__).resolve().parent.parent
    extra = {sys.prefix, sys.base_prefix, str(package)}
    extra |= {p for p in sys.path if p and os.path.isdir(p) and p.startswith("/")}
    return tuple(sorted(p for p in extra if not any(_under(p, h) or _under(h, p) for h in hide)))


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def build_mounts(workspace: Path, build_dir: Path, env: Mapping[str, str],
                 hidden: tuple[Path, ...] = ()) -> list[SandboxMount]:
    """What every step of a build gets: its workspace (read-write, at the same path), its own
    temp dir as /tmp, its scripts and credential files (read-only), the trace events file."""
    tmp = build_dir / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    mounts = [
        SandboxMount("bind", str(workspace), workspace, readonly=False, idmap=True),
        SandboxMount("bind", "/tmp", tmp, readonly=False, idmap=True),
        SandboxMount("bind", str(build_dir / "scripts"), build_dir / "scripts", readonly=True, idmap=True),
    ]
    # The step's own /tmp covers the host's: an installation under /tmp is shown again on top.
    hide = (*HIDDEN, *(str(p) for p in hidden), str(build_dir))
    mounts += [SandboxMount("bind", p, Path(p)) for p in install_paths(hide) if _under(p, "/tmp")]
    secrets = build_dir / "secrets"
    if secrets.is_dir():  # withCredentials / credentials() files of this build only
        mounts.append(SandboxMount("bind", str(secrets), secrets, readonly=True, idmap=True))
    events = env.get("DOCKYARD_TRACE_EVENTS")
    if events and Path(events).parent == build_dir:
        Path(events).touch(mode=0o600, exist_ok=True)
        mounts.append(SandboxMount("bind", events, Path(events), readonly=False, idmap=True))
    return mounts


def step_request(argv: list[str], env: dict[str, str], cwd: Path, mounts: list[SandboxMount],
                 limits: Limits, network: str, label: str, *, rootfs: Path | None = None,
                 upper: Path | None = None, hidden: tuple[Path, ...] = ()) -> RunRequest:
    """The request for one step: in an image's rootfs when `rootfs` is given, else on the
    read-only host view."""
    if rootfs is None:  # the data directory hidden even where a bind shows its parent (/tmp)
        mounts = [*mounts, *(SandboxMount("tmpfs", str(p), readonly=True, size=65536) for p in hidden)]
    return RunRequest(
        argv=argv,
        rootfs=rootfs,
        upper=upper,
        env=env,
        cwd=str(cwd),
        mounts=mounts,
        network=network,
        host_view=None if rootfs is not None else host_view(hidden),
        isolate=True,
        limits=limits,
        name=label,
        display=" ".join(argv),
    )
