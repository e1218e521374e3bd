"""The inside of the RUN sandbox: PID 1 of fresh namespaces, started by `unshare`.

`sandbox.run_in_sandbox` starts `unshare --mount --pid --uts --ipc [--net] [--user] --fork
python -m dockyard.builder.sandbox_init SPEC.json`. This module then, inside the new mount
namespace (propagation private, so nothing leaks to the host):

1. mounts the stage rootfs at `merged` (overlay lower=rootfs upper=fresh dir, or a bind
   of the rootfs itself for the tree-diff fallback);
2. provides /proc, a minimal /dev, /etc/resolv.conf, /etc/hosts and the RUN --mount's;
3. pivots into `merged` and detaches the host's tree (chroot alone can be escaped);
4. forks the command with the image user's uid/gid, in WORKDIR, with exactly the given
   environment, and reaps every process until the command exits (it is PID 1).

Mount points it had to create are listed in `created_file` so that the parent removes
them from the layer. Only the standard library is imported: this runs once per RUN.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP = 24
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)

# Docker's default capability set; everything else is dropped from the bounding set.
# CAP_MKNOD is dropped too: without a device cgroup a node would reach the host's disks.
KEEP_CAPS = {0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31}  # CHOWN DAC_OVERRIDE FOWNER FSETID
# KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# As runc's defaults: kernel knobs under /proc read-only, sensitive files masked. Without
# this a root RUN (with CAP_DAC_OVERRIDE) could write /proc/sys or /proc/sysrq-trigger.
PROC_READONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
PROC_MASKED = ("kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug")

_LIBC: Any = None


def _libc() -> Any:
    """libc through ctypes, loaded on first use: the builder imports this module for
    `inside` alone, on every build, and ctypes costs start-up time."""
    global _LIBC
    if _LIBC is None:
        import ctypes

        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = _errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    import ctypes

    _check(
        _libc().mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def bind(source: str, target: str, readonly: bool) -> None:
    mount(source, target, None, MS_BIND | MS_REC, None)
    if readonly:
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, None)


def inside(root: str, path: str) -> str:
    """`path` (absolute, in the container) resolved under `root` without leaving it.

    Symlinks are followed the way the container would see them: absolute targets
    restart at `root`, `..` stops at `root`.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, f"too many symlinks in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


class Placeholders:
    """Creates missing mount points and remembers them (container paths)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.created: list[str] = []

    def ensure(self, container_path: str, is_dir: bool) -> str:
        host = inside(self.root, container_path)
        missing: list[str] = []
        probe = host
        while not os.path.lexists(probe) and probe != self.root:
            missing.append(probe)
            probe = os.path.dirname(probe)
        for path in reversed(missing):
            if path == host and not is_dir:
                with open(path, "a"):
                    pass
            else:
                os.mkdir(path, 0o755)
            self.created.append("/" + os.path.relpath(path, self.root))
        return host


def setup_dev(root: str, places: Placeholders) -> None:
    dev = places.ensure("/dev", True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k")
    for name in DEVICES:
        node = os.path.join(dev, name)
        with open(node, "w"):
            pass
        bind(f"/dev/{name}", node, readonly=False)
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    mount(
        "shm",
        os.path.join(dev, "shm"),
        "tmpfs",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        "mode=1777,size=65536k",
    )
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, link))


def setup(spec: dict[str, object]) -> Placeholders:
    merged = str(spec["merged"])
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    if spec.get("upper"):
        lower = ":".join(str(p) for p in spec["lower"])  # type: ignore[attr-defined]
        options = f"lowerdir={lower},upperdir={spec['upper']},workdir={spec['work']}"
        if spec.get("userxattr"):
            options += ",userxattr"
        mount("overlay", merged, "overlay", 0, options)
    else:
        bind(str(spec["rootfs"]), merged, readonly=False)
    places = Placeholders(merged)
    proc = places.ensure("/proc", True)
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    for name in PROC_READONLY:
        path = os.path.join(proc, name)
        if os.path.exists(path):
            bind(path, path, readonly=True)
    for name in PROC_MASKED:
        path = os.path.join(proc, name)
        if os.path.isfile(path):
            bind("/dev/null", path, readonly=True)
    setup_dev(merged, places)
    for name in ("resolv_conf", "hosts"):
        source = spec.get(name)
        if source:
            target = places.ensure(
                "/etc/resolv.conf" if name == "resolv_conf" else "/etc/hosts", False
            )
            bind(str(source), target, readonly=True)
    for extra in spec.get("mounts", []):  # type: ignore[attr-defined]
        kind = extra["type"]
        if kind == "tmpfs":
            target = places.ensure(extra["target"], True)
            size = extra.get("size") or 0
            mount(
                "tmpfs",
                target,
                "tmpfs",
                MS_NOSUID | MS_NODEV,
                f"mode=1777,size={size}" if size else "mode=1777",
            )
        else:
            is_dir = os.path.isdir(extra["source"])
            target = places.ensure(extra["target"], is_dir)
            bind(extra["source"], target, readonly=bool(extra.get("readonly")))
    return places


def pivot_into(root: str) -> None:
    os.chdir(root)
    _check(_libc().syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(_libc().umount2(b".", MNT_DETACH), "detach the host tree")
    os.chdir("/")


def drop_capabilities() -> None:
    for cap in range(64):
        if cap in KEEP_CAPS:
            continue
        if _libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and _errno() == errno.EINVAL:
            break  # past the last capability this kernel knows


def find_program(name: str, env: dict[str, str]) -> str | None:
    if "/" in name:
        return name
    for directory in env.get(
        "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ).split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def exec_command(spec: dict[str, object]) -> None:
    """Runs in the forked child: become the image user and exec; never returns."""
    try:
        env = dict(spec["env"])  # type: ignore[call-overload]
        cwd = str(spec.get("cwd") or "/")
        os.makedirs(cwd, exist_ok=True)
        uid, gid = int(spec["uid"]), int(spec["gid"])  # type: ignore[call-overload]
        groups = [int(g) for g in spec.get("groups", [])]  # type: ignore[attr-defined]
        drop_capabilities()
        # rootless with a single id mapping: setgroups is denied, keep no extra groups
        with contextlib.suppress(PermissionError):
            os.setgroups(groups)
        try:
            os.setgid(gid)
            os.setuid(uid)
        except OSError as exc:
            sys.stderr.write(
                f"dockyard: cannot switch to uid {uid} gid {gid} ({exc.strerror}); rootless "
                "builds only have the ids of the user namespace (see /etc/subuid)\n"
            )
            os._exit(126)
        os.chdir(cwd)
        argv = [str(a) for a in spec["argv"]]  # type: ignore[attr-defined]
        program = find_program(argv[0], env)
        if program is None:
            sys.stderr.write(f"dockyard: {argv[0]}: executable file not found in $PATH\n")
            os._exit(127)
        os.execve(program, argv, env)
    except OSError as exc:
        sys.stderr.write(f"dockyard: cannot start {spec.get('argv')}: {exc}\n")
        os._exit(126)


def reap(child: int) -> int:
    """Waits for `child`, reaping orphans too (we are PID 1); returns a shell-style code."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 255
        if pid == child:
            return (
                os.waitstatus_to_exitcode(status)
                if os.WIFEXITED(status)
                else 128 + os.WTERMSIG(status)
            )


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        if spec.get("hostname"):
            name = spec["hostname"].encode()
            _check(_libc().sethostname(name, len(name)), "sethostname")
        places = setup(spec)
        with open(spec["created_file"], "w") as f:
            json.dump(places.created, f)
        pivot_into(spec["merged"])
    except OSError as exc:
        sys.stderr.write(f"dockyard: sandbox set-up failed: {exc}\n")
        return 125
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        exec_command(spec)
    return reap(child)


if __name__ == "__main__":
    sys.exit(main())
