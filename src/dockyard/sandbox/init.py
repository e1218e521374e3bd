"""The inside of the sandbox: creates the namespaces, builds the root, runs the command.

`run.run_in_sandbox` runs `start(spec)` in a fork of itself where it may fork (the sandbox
server's single-threaded step processes), else in a new `python -I -S` with this file's
directory on its path (it imports only the standard library, so it starts in milliseconds
and needs no package on sys.path). Three processes, so that every mount is made with the
creator's full rights and then *locked* under an unprivileged user namespace:

P0 (the starter) takes a user namespace of its own only when it lacks CAP_SYS_ADMIN (a
   rootless server, or a builder inside a CI sandbox), prepares the step's user namespace (a
   short-lived helper process holds it while P0 writes its id maps: inside root = an
   unprivileged host uid), unshares mount/PID/UTS/IPC (and net for `--network=none`), forks
   P1 and tells the supervisor its pid (`report_fd`), so that the supervisor moves P1 into
   the step's cgroup while P1 builds the root (a first cgroup v1 move waits ~10 ms for an
   RCU grace period); it exits with P1's status.
P1 (PID 1 of the new PID namespace, propagation private so nothing leaks to the host):
   1. mounts the root at `merged`: an overlay (lower = image rootfs, upper = the layer
      diff), a bind of the rootfs (tree-diff fallback), or a read-only view of the host
      (`host_view`: chosen top-level directories, secret paths hidden under empty tmpfs);
   2. provides a fresh /proc, a minimal /dev, /etc/resolv.conf, /etc/hosts and the extra
      mounts (binds are id-mapped to the step's user namespace when asked, so host-root
      files in the workspace are the step's root's);
   3. pivots into `merged`, detaches the host's tree, and enters the step's user namespace
      with a fresh mount namespace: every mount is then locked, nothing can be unmounted
      to uncover what it hides;
   4. waits on `gate_fd` until it is in the step's cgroup (so is everything it forks from
      then on), forks the command with the bounding set cut to Docker's defaults, the image user's
      uid/gid, in the working directory, with exactly the given environment, and reaps
      every process until the command exits.

Mount points it had to create are listed in `created_file` so that the parent removes
them from a layer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import sys
from collections.abc import Iterator
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
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
SECBIT_NO_SETUID_FIXUP = 1 << 2
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CAP_SYS_ADMIN = 21
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "setns": 308, "open_tree": 428, "move_mount": 429, "mount_setattr": 442},
    "aarch64": {"pivot_root": 41, "setns": 268, "open_tree": 428, "move_mount": 429, "mount_setattr": 442},
}.get(os.uname().machine, {"pivot_root": 155, "setns": 308, "open_tree": 428, "move_mount": 429,
                           "mount_setattr": 442})
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 4
MOUNT_ATTR_IDMAP = 0x00100000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4

# Docker's default capability set; everything else is dropped from the bounding set.
# CAP_MKNOD is dropped too: without a device cgroup a node would reach the host's disks.
KEEP_CAPS = {0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31}  # CHOWN DAC_OVERRIDE FOWNER FSETID
# KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# As runc's defaults: kernel knobs under /proc read-only, sensitive files masked. Without
# this a root RUN (with CAP_DAC_OVERRIDE) could write /proc/sys or /proc/sysrq-trigger.
# (Skipped in a step's own user namespace: those writes need the host's root there, and a
# masked /proc would stop a builder inside the step from mounting its own.)
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


def preload() -> None:
    """Loads what the sandbox's first processes use (ctypes, libc), for a process that forks
    them (the sandbox server): each fork then starts with it loaded."""
    _libc()
    import ctypes  # noqa: F401 - cached in sys.modules for `_errno` and `mount`


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _check(result: int, what: str) -> int:
    if result < 0:
        err = _errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def has_cap_sys_admin() -> bool:
    """Whether this process may create mount namespaces without a user namespace first."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


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


def bind(source: str, target: str, readonly: bool, recursive: bool = True) -> None:
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0), None)
    if readonly:
        remount_readonly(target)


def remount_readonly(target: str) -> None:
    """Read-only, keeping the mount's nosuid/nodev/noexec (a user namespace may not drop
    them from a mount it inherited)."""
    kept = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, None)


def bind_idmapped(source: str, target: str, userns_fd: int, readonly: bool) -> None:
    """A bind whose owners are seen through the step's user namespace (Linux >= 5.12):
    files of the host's root are its root, what it writes lands as the host's root (so no
    set-uid bit or device node there takes effect)."""
    import ctypes

    libc = _libc()
    fd = _check(
        libc.syscall(_SYSCALLS["open_tree"], -100, source.encode(), OPEN_TREE_CLONE | AT_RECURSIVE),
        f"open_tree {source}",
    )
    try:
        flags = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
        flags |= MOUNT_ATTR_RDONLY if readonly else 0
        attr = (ctypes.c_uint64 * 4)(flags, 0, 0, userns_fd)
        _check(
            libc.syscall(_SYSCALLS["mount_setattr"], fd, b"", AT_EMPTY_PATH | AT_RECURSIVE,
                         ctypes.byref(attr), ctypes.c_size_t(32)),
            f"id-mapped mount of {source} (needs Linux >= 5.12 and a filesystem that supports it)",
        )
        _check(
            libc.syscall(_SYSCALLS["move_mount"], fd, b"", -100, target.encode(), MOVE_MOUNT_F_EMPTY_PATH),
            f"move_mount {source} to {target}",
        )
    finally:
        os.close(fd)


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
            try:
                if path == host and not is_dir:
                    with open(path, "x"):
                        pass
                else:
                    os.mkdir(path, 0o755)
            except FileExistsError:
                continue  # a sandbox started at the same time made it (parallel steps)
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


def setup_host_view(merged: str, view: dict[str, Any], places: Placeholders) -> list[str]:
    """A read-only view of the host's / at `merged`: the listed top-level directories (each
    bound on its own, so other filesystems mounted below them stay out), the extra read-only
    paths (the interpreter and Dockyard's package), secret paths under empty tmpfs. Returns
    the mounts to turn read-only once every mount point below them exists."""
    mount("tmpfs", merged, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    later = [merged]
    allowed = set(view.get("allow", []))
    for name in sorted(os.listdir("/")):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(merged, name))
        elif name in allowed and os.path.isdir(host):
            target = os.path.join(merged, name)
            os.mkdir(target, 0o755)
            if not show_top_level(host, target):
                later.append(target)  # the empty stand-in turns read-only with the rest
    hidden = list(view.get("hide", []))
    for path in hidden:
        target = inside(merged, path)
        if os.path.isdir(target) and not os.path.islink(target):
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k")
            later.append(target)
        elif os.path.lexists(target) and not os.path.islink(target):
            bind("/dev/null", target, readonly=True)
    for path in view.get("tmpfs", []):
        mount("tmpfs", places.ensure(path, True), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    for path in view.get("extra_ro", []):  # after the tmpfs: an installation under /run stays shown
        shown = any(_under(path, "/" + a) for a in allowed) and not any(_under(path, h) for h in hidden)
        shown = shown and not any(_under(path, t) for t in view.get("tmpfs", []))
        if os.path.isdir(path) and not shown:
            bind(path, places.ensure(path, True), readonly=True)
    return later


def show_top_level(host: str, target: str) -> bool:
    """Binds one top-level directory without the filesystems mounted below it. In a user
    namespace the kernel refuses that (EINVAL) when those mounts are locked (e.g. a kubelet's
    or container runtime's under /var): showing them would need a recursive bind, which could
    reveal their secrets, so the step sees that directory empty instead and is told why.
    False when it did."""
    try:
        bind(host, target, readonly=True, recursive=False)
        return True
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k")
        sys.stderr.write(f"dockyard sandbox: {host} is shown empty: other filesystems are mounted"
                         " below it, and this user namespace may not show it without them\n")
        return False


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def mount_overlay(spec: dict[str, Any], merged: str, userns_fd: int | None) -> None:
    """The overlay at `merged`; with `userns_fd` its layers are id-mapped first (an overlay
    cannot be id-mapped itself), so the image's owners are the step's ids."""
    lower, upper, work = [str(p) for p in spec["lower"]], str(spec["upper"]), str(spec["work"])
    if userns_fd is not None:
        scratch = os.path.dirname(merged)
        for i, layer in enumerate(lower):
            lower[i] = os.path.join(scratch, f"lower{i}")
            os.mkdir(lower[i], 0o700)
            bind_idmapped(layer, lower[i], userns_fd, readonly=True)
        parent = os.path.join(scratch, "upperdir")
        os.mkdir(parent, 0o700)
        bind_idmapped(os.path.dirname(upper), parent, userns_fd, readonly=False)
        upper = os.path.join(parent, os.path.basename(upper))
        work = os.path.join(parent, os.path.basename(work))
    options = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}"
    if spec.get("userxattr"):
        options += ",userxattr"
    if userns_fd is None:
        mount("overlay", merged, "overlay", 0, options)
        return
    # The overlay writes its layers with its mounter's file ids: the step's root (mapped to
    # the host's root on the id-mapped layers).
    with as_step_root(spec):
        mount("overlay", merged, "overlay", 0, options)


@contextlib.contextmanager
def as_step_root(spec: dict[str, Any]) -> Iterator[None]:
    """File operations as the step's root (its host uid), every capability kept: what an
    id-mapped root or overlay takes (the host's root has no id there)."""
    ids = spec["step_ids"]
    libc = _libc()
    _check(libc.prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0), "keep capabilities")
    libc.setfsgid(int(ids["gid"]))
    libc.setfsuid(int(ids["uid"]))
    try:
        yield
    finally:
        libc.setfsuid(0)
        libc.setfsgid(0)
        _check(libc.prctl(PR_SET_SECUREBITS, 0, 0, 0, 0), "restore capabilities")


def _is_dir(extra: dict[str, Any]) -> bool:
    return extra["type"] == "tmpfs" or os.path.isdir(extra["source"])


def setup(spec: dict[str, Any], userns_fd: int | None) -> Placeholders:
    merged = str(spec["merged"])
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    places = Placeholders(merged)
    readonly_later: list[str] = []
    if spec.get("host_view"):
        readonly_later = setup_host_view(merged, spec["host_view"], places)
    elif spec.get("upper"):
        mount_overlay(spec, merged, userns_fd if spec.get("idmap") else None)
    elif spec.get("idmap") and userns_fd is not None:
        bind_idmapped(str(spec["rootfs"]), merged, userns_fd, readonly=False)
    else:
        bind(str(spec["rootfs"]), merged, readonly=False)
    idmap = userns_fd if spec.get("idmap") else None
    # parents before children: a bind at /tmp must not cover one at /tmp/x/workspace
    extras = sorted(spec.get("mounts", []), key=lambda m: m["target"].rstrip("/").count("/"))
    files = [("resolv_conf", "/etc/resolv.conf"), ("hosts", "/etc/hosts")]
    if idmap is not None:  # an id-mapped mount takes no new entries from the host's root:
        # every mount point is made first (in the root, or in the bind's source)
        root_points: list[tuple[str, bool]] = [("/proc", True), ("/dev", True)]
        root_points += [(path, False) for name, path in files if spec.get(name)]
        for extra in extras:
            outer = [m for m in extras if m is not extra and _under(extra["target"], m["target"])]
            if outer and outer[-1]["type"] == "bind" and os.path.isdir(outer[-1]["source"]):
                rel = os.path.relpath(extra["target"], outer[-1]["target"])
                Placeholders(outer[-1]["source"]).ensure("/" + rel, _is_dir(extra))
            elif not outer:
                root_points.append((extra["target"], _is_dir(extra)))
        with as_step_root(spec) if not spec.get("host_view") else contextlib.nullcontext():
            for path, is_dir in root_points:
                places.ensure(path, is_dir)
    proc = places.ensure("/proc", True)
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    if spec.get("mask_proc", True):
        for name in PROC_READONLY:
            path = os.path.join(proc, name)
            if os.path.exists(path):
                bind(path, path, readonly=True)
        for name in PROC_MASKED:
            path = os.path.join(proc, name)
            if os.path.isfile(path):
                bind("/dev/null", path, readonly=True)
    setup_dev(merged, places)
    for name, path in files:
        if spec.get(name):
            bind(str(spec[name]), places.ensure(path, False), readonly=True)
    for extra in extras:
        target = places.ensure(extra["target"], _is_dir(extra))
        if extra["type"] == "tmpfs":  # read-only: an empty place that hides what is below
            size = extra.get("size") or 0
            mode = "mode=755" if extra.get("readonly") else "mode=1777"
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"{mode},size={size}" if size else mode)
            if extra.get("readonly"):
                readonly_later.append(target)
        elif idmap is not None and extra.get("idmap"):
            bind_idmapped(extra["source"], target, idmap, bool(extra.get("readonly")))
        else:
            bind(extra["source"], target, readonly=bool(extra.get("readonly")))
    for path in readonly_later:
        remount_readonly(path)
    return places


def pivot_into(root: str) -> None:
    os.chdir(root)
    _check(_libc().syscall(_SYSCALLS["pivot_root"], b".", b"."), "pivot_root")
    _check(_libc().umount2(b".", MNT_DETACH), "detach the host tree")
    os.chdir("/")


def _unshare(flags: int, what: str) -> None:
    _check(_libc().unshare(flags), f"unshare ({what})")


def enter_step_userns(userns_fd: int, groups: bool) -> None:
    """Become root of the step's user namespace (an unprivileged uid on the host), in a
    mount namespace of its own: the mounts made above are locked from here on."""
    _check(_libc().syscall(_SYSCALLS["setns"], userns_fd, CLONE_NEWUSER), "setns (step user namespace)")
    os.close(userns_fd)
    os.setresgid(0, 0, 0)
    if groups:
        os.setgroups([])
    os.setresuid(0, 0, 0)
    _unshare(CLONE_NEWNS, "lock the mounts")


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


def exec_command(spec: dict[str, Any]) -> None:
    """Runs in the forked child: become the image user and exec; never returns."""
    try:
        env = dict(spec["env"])
        cwd = str(spec.get("cwd") or "/")
        with contextlib.suppress(OSError):
            os.makedirs(cwd, exist_ok=True)
        uid, gid = int(spec["uid"]), int(spec["gid"])
        groups = [int(g) for g in spec.get("groups", [])]
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
        argv = [str(a) for a in spec["argv"]]
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


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def own_userns() -> None:
    """Rootless: a user namespace where this process is root (its uid and gid mapped to 0)."""
    uid, gid = os.geteuid(), os.getegid()
    _unshare(CLONE_NEWUSER, "user namespace")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1\n")
    _write("/proc/self/gid_map", f"0 {gid} 1\n")


def step_userns(ids: dict[str, Any]) -> int:
    """An fd of a new user namespace with the step's id maps: a helper child creates it and
    waits while this process (in the parent namespace, with CAP_SETUID) writes the maps."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    helper = os.fork()
    if helper == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            _unshare(CLONE_NEWUSER, "step user namespace")
            os.write(ready_w, b"1")
            os.read(hold_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(errno.EPERM, "user namespaces are not available here")
        proc = f"/proc/{helper}"
        if not ids.get("setgroups", False):
            _write(f"{proc}/setgroups", "deny")
        _write(f"{proc}/uid_map", f"0 {ids['uid']} {ids['count']}\n")
        _write(f"{proc}/gid_map", f"0 {ids['gid']} {ids['count']}\n")
        return os.open(f"{proc}/ns/user", os.O_RDONLY)
    finally:
        os.close(hold_w)
        os.close(ready_r)
        os.waitpid(helper, 0)


def pid1(spec: dict[str, Any], userns_fd: int | None) -> int:
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if spec.get("hostname"):
        name = spec["hostname"].encode()
        _check(_libc().sethostname(name, len(name)), "sethostname")
    places = setup(spec, userns_fd)
    with open(spec["created_file"], "w") as f:
        json.dump(places.created, f)
    pivot_into(spec["merged"])
    if userns_fd is not None:
        enter_step_userns(userns_fd, bool(spec["step_ids"].get("setgroups")))
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by the id change
    gate = int(spec["gate_fd"])
    go = os.read(gate, 1)  # the supervisor has moved this process into the step's cgroup
    os.close(gate)
    if go != b"1":
        raise OSError(errno.ECANCELED, "the supervisor did not let the step start")
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        exec_command(spec)
    return reap(child)


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        return start(json.load(f))


def start(spec: dict[str, Any]) -> int:
    """P0: makes the namespaces, forks P1 and returns its status (the caller exits with it;
    `run.py` runs this in a forked child where it can, else as a script)."""
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the supervisor went: so do we
        if not has_cap_sys_admin():
            own_userns()
        userns_fd = spec.get("userns_fd")  # made ahead of time by the sandbox server
        if userns_fd is None and spec.get("step_ids"):
            userns_fd = step_userns(spec["step_ids"])
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC
        _unshare(flags | (CLONE_NEWNET if spec.get("network") == "none" else 0), "namespaces")
    except OSError as exc:
        sys.stderr.write(f"dockyard: sandbox set-up failed: {exc}\n")
        return 125
    sys.stdout.flush()
    child = os.fork()
    if child != 0:  # the supervisor moves P1 into the step's cgroup while P1 builds the root
        with contextlib.suppress(OSError):
            os.write(int(spec["report_fd"]), str(child).encode())
        os.close(int(spec["report_fd"]))
        os.close(int(spec["gate_fd"]))
    else:
        code = 125
        try:
            os.close(int(spec["report_fd"]))  # P0's to write: the supervisor reads it to its end
            code = pid1(spec, userns_fd)
        except OSError as exc:
            sys.stderr.write(f"dockyard: sandbox set-up failed: {exc}\n")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if userns_fd is not None:
        os.close(userns_fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def exit_with(status: int) -> None:
    """Ends this process with `status` once its output is out; no interpreter teardown (nothing
    is left to clean up, and it costs a step milliseconds)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_with(main(sys.argv[1]))
