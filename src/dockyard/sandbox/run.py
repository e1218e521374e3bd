"""Runs one command confined to a root filesystem (the parent side of the sandbox).

The command gets its own mount, PID, UTS and IPC namespaces (plus a network namespace for
`network="none"`, a user namespace when this process lacks CAP_SYS_ADMIN, and with
`isolate=True` a user namespace of its own whose root is an unprivileged host uid);
`init.py` does the namespaces, the mounts and the pivot. The root is an image rootfs
(with `upper` set, the read-only lower layer of an overlay whose upper directory then *is*
the layer diff; without it the command writes into the rootfs and the caller diffs the
tree) or a read-only view of the host (`host_view`). `limits` go to a cgroup.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.sandbox.cgroups import Cgroup, Limits

TAIL_BYTES = 4096
LIMIT_CHECK = 0.1  # seconds between reads of a step's cgroup counters (fork bomb, OOM kill)
STEP_IDS = 65536  # ids of an isolated step's user namespace (root inside + image users)
DEFAULT_STEP_UID = 100000


class SandboxUnavailable(RuntimeError):
    """The machine cannot create the namespaces a command needs (names the missing piece)."""


class RunFailed(RuntimeError):
    """A command exited non-zero; the message carries the command, code, why and output tail."""

    def __init__(self, command: str, exit_code: int, tail: str, timed_out: bool = False,
                 reason: str = "") -> None:
        self.command = command
        self.exit_code = exit_code
        self.tail = tail
        self.timed_out = timed_out
        self.reason = reason
        why = reason or ("timed out" if timed_out else f"exit code {exit_code}")
        super().__init__(f"RUN {command!r} failed ({why})\n--- last output ---\n{tail}".rstrip())


@dataclass(frozen=True)
class SandboxMount:
    """An extra mount: a bind of a host path, or a tmpfs. `idmap`: in an isolated sandbox the
    files of the host's root appear as the sandbox's root (the workspace, its own secrets)."""

    type: str  # "bind" | "tmpfs"
    target: str  # absolute container path
    source: Path | None = None
    readonly: bool = True
    size: int | None = None
    idmap: bool = False


@dataclass(frozen=True)
class HostView:
    """The root is the host's own /, read-only: only the `allow`ed top-level directories, with
    `hide` paths under empty tmpfs (or /dev/null for files), `extra_ro` paths (the interpreter,
    Dockyard's package) added read-only, and fresh tmpfs at `tmpfs`."""

    allow: tuple[str, ...] = ("bin", "etc", "lib", "lib32", "lib64", "libx32", "opt", "sbin", "usr", "var")
    hide: tuple[str, ...] = ()
    extra_ro: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ("/run", "/var/tmp")


@dataclass
class RunRequest:
    """Everything one command needs; `upper` None means "write into rootfs" (tree-diff mode)."""

    argv: list[str]
    rootfs: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    upper: Path | None = None
    lower_extra: list[Path] = field(default_factory=list)
    network: str = "default"
    mounts: list[SandboxMount] = field(default_factory=list)
    timeout: float | None = None
    hostname: str = "dockyard"
    display: str = ""  # the command as the user wrote it, for errors
    host_view: HostView | None = None
    isolate: bool = False  # a user namespace of its own, root inside = an unprivileged host uid
    limits: Limits | None = None
    name: str = ""  # for the cgroup's directory name

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        data = json.loads(text)
        path = lambda v: Path(v) if v else None  # noqa: E731
        data["rootfs"], data["upper"] = path(data["rootfs"]), path(data["upper"])
        data["lower_extra"] = [Path(p) for p in data["lower_extra"]]
        data["mounts"] = [SandboxMount(**{**m, "source": path(m["source"])}) for m in data["mounts"]]
        if data["host_view"] is not None:
            data["host_view"] = HostView(**{k: tuple(v) for k, v in data["host_view"].items()})
        if data["limits"] is not None:
            data["limits"] = Limits(**data["limits"])
        return cls(**data)


@dataclass
class RunResult:
    """How a command ended: exit code, output tail, mount points it created, duration."""

    exit_code: int
    tail: str
    created: list[str]  # mount points the sandbox had to create (container paths)
    seconds: float


def rootless() -> bool:
    """Whether the sandbox needs a user namespace before it may mount anything."""
    from dockyard.sandbox.init import has_cap_sys_admin

    return not has_cap_sys_admin()


def step_ids() -> tuple[int, int, int]:
    """(host uid, host gid, count) that an isolated sandbox's ids 0.. map to: the `dockyard`
    (else `root`) range of /etc/subuid and /etc/subgid when Dockyard runs as root, else
    100000 + 65536; a rootless Dockyard can only map its own uid."""
    if rootless() or os.geteuid() != 0:
        return os.geteuid(), os.getegid(), 1
    found: list[int] = []
    for table in ("/etc/subuid", "/etc/subgid"):
        ranges: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            for line in Path(table).read_text().splitlines():
                user, start, count = line.strip().split(":")
                if int(count) >= STEP_IDS:
                    ranges.setdefault(user, int(start))
        found.append(ranges.get("dockyard", ranges.get("root", DEFAULT_STEP_UID)))
    return found[0], found[1], STEP_IDS


def step_id_map() -> dict[str, object]:
    """The id map of an isolated sandbox's user namespace, as init.py's `step_userns` takes it."""
    uid, gid, count = step_ids()
    return {"uid": uid if count > 1 else 0, "gid": gid if count > 1 else 0, "count": count,
            "setgroups": count > 1}


class SpareUserns:
    """A step user namespace made ahead of time (an fd of it, with `ids` mapped) by the sandbox
    server while it waits, so the step's first process need not fork a helper to make one: its
    own, never used before, closed by whoever does not use it."""

    def __init__(self, fd: int, ids: dict[str, object]) -> None:
        self.fd, self.ids = fd, ids

    @classmethod
    def make(cls) -> SpareUserns | None:
        """None where the step's first process must make it (rootless: inside its own)."""
        if rootless():
            return None
        from dockyard.sandbox.init import step_userns

        ids = step_id_map()
        try:
            return cls(step_userns(ids), ids)
        except OSError:
            return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _unshare() -> str:
    path = shutil.which("unshare")
    if path is None:
        raise SandboxUnavailable("the sandbox needs the `unshare` program (Debian package util-linux)")
    return path


def _init_argv(spec_path: Path) -> list[str]:
    """init.py imported from its cached bytecode (run as a script it is compiled anew each
    time: ~20 ms of every sandbox), with nothing but the standard library on the path."""
    code = "import sys;sys.path.append(sys.argv[1]);import init;init.exit_with(init.main(sys.argv[2]))"
    return [sys.executable, "-I", "-S", "-c", code, str(Path(__file__).parent), str(spec_path)]


_overlay_cache: dict[str, bool] = {}


def overlay_supported(scratch: Path, remember: Path | None = None) -> bool:
    """Whether an overlay mount works here: probed once per filesystem, kernel and user;
    with `remember` (a file in the cache dir) the answer is kept across builds."""
    key = f"{os.stat(scratch).st_dev}:{os.uname().release}:{os.geteuid()}"
    if key in _overlay_cache:
        return _overlay_cache[key]
    if remember is not None:
        try:
            known = json.loads(remember.read_text())
            if isinstance(known.get(key), bool):
                _overlay_cache[key] = known[key]
                return bool(known[key])
        except (OSError, ValueError, AttributeError):
            pass
    ok = _probe_overlay(scratch)
    _overlay_cache[key] = ok
    if remember is not None:
        with contextlib.suppress(OSError):
            tmp = remember.with_name(remember.name + f".{os.getpid()}")
            tmp.write_text(json.dumps({key: ok}))
            os.replace(tmp, remember)
    return ok


def _probe_overlay(scratch: Path) -> bool:
    probe = Path(tempfile.mkdtemp(prefix="ovl-probe-", dir=scratch))
    try:
        for name in ("lower", "upper", "work", "merged"):
            (probe / name).mkdir()
        code = (
            "import ctypes,sys;l=ctypes.CDLL(None,use_errno=True);"
            "d=sys.argv[1];o=f'lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work'"
            "+(',userxattr' if sys.argv[2]=='1' else '');"
            "sys.exit(l.mount(b'overlay',(d+'/merged').encode(),b'overlay',0,o.encode()))"
        )
        argv = [_unshare(), "--mount"] + (["--user", "--map-root-user"] if rootless() else [])
        result = subprocess.run(
            [*argv, sys.executable, "-I", "-S", "-c", code, str(probe), "1" if rootless() else "0"],
            capture_output=True,
            timeout=20,
        )
        ok = result.returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return ok


def _hosts_file(hostname: str) -> str:
    try:
        base = Path("/etc/hosts").read_text()
    except OSError:
        base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    return base.rstrip("\n") + f"\n127.0.1.1\t{hostname}\n"


def run_in_sandbox(request: RunRequest, output: Callable[[bytes], None] | None = None, *,
                   fork: bool = False, userns: SpareUserns | None = None,
                   check: Callable[[], None] | None = None) -> RunResult:
    """Runs the command; streams its output to `output`; raises RunFailed on non-zero
    (with the reason when a limit ended it) and SandboxUnavailable when it cannot start.

    `fork`: the sandbox's first process is a fork of this one running init.py's code, not a
    new interpreter (~30 ms less). Only for a single-threaded caller (a fork of a threaded
    process may hold another thread's locks): the sandbox server's step processes, which
    may also hand in a `userns` made ahead of time (used when the request is isolated with
    the same ids; closed here either way).

    `check` is called about every 0.2 s while the command runs; what it raises (a build whose
    other stage failed) kills the command's processes and is raised here."""
    started = time.monotonic()
    cgroup, warning = _cgroup(request)
    if warning and output is not None:
        output(f"dockyard: warning: {warning}\n".encode())
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-run-") as tmp:
            spec = _spec(request, Path(tmp))
            gate, go = os.pipe()
            report, reported = os.pipe()
            spec.update(gate_fd=gate, report_fd=reported)
            if fork and userns is not None and spec.get("step_ids") == userns.ids:
                spec["userns_fd"] = userns.fd
            try:
                if fork:
                    child = _fork_init(spec, gate, reported, *([userns.fd] if userns is not None else []))
                else:
                    spec_path = Path(tmp) / "spec.json"
                    spec_path.write_text(json.dumps(spec))
                    child = _start_init(_init_argv(spec_path), gate, reported)
            finally:
                os.close(gate)
                os.close(reported)
                if userns is not None:
                    userns.close()
            with os.fdopen(go, "wb", buffering=0) as go_file, os.fdopen(report, "rb") as report_file:
                if cgroup is not None:
                    _join(cgroup, child, report_file)
                with contextlib.suppress(OSError):  # it may have failed already: it says why
                    go_file.write(b"1")
            exit_code, tail, timed_out = _supervise(child, request.timeout, output, cgroup,
                                                     check)
            if request.upper is not None:
                shutil.rmtree(request.upper.parent / (request.upper.name + ".work"), ignore_errors=True)
            created_path = Path(tmp) / "created.json"
            set_up = created_path.exists()
            created = json.loads(created_path.read_text()) if set_up else []
        reason = cgroup.kill_reason() if cgroup is not None else ""
    finally:
        if cgroup is not None:
            cgroup.remove()
    display = request.display or " ".join(request.argv)
    if not set_up and not timed_out:
        raise SandboxUnavailable(f"the sandbox could not be set up:\n{tail}")
    if reason and output is not None:
        output(f"\ndockyard: {reason}\n".encode())
    if exit_code != 0 or timed_out or reason:
        raise RunFailed(display, exit_code or 137, tail, timed_out, reason)
    return RunResult(exit_code, tail, created, time.monotonic() - started)


def _cgroup(request: RunRequest) -> tuple[Cgroup | None, str]:
    if request.limits is None:
        return None, ""
    name = f"dockyard-{request.name or 'run'}-{os.getpid()}-{int(time.monotonic() * 1000)}"
    return Cgroup.create(name.replace("/", "_"), request.limits)


def _join(cgroup: Cgroup, child: _Init, report: BinaryIO) -> None:
    """Moves the sandbox's first process into the step's cgroup at once, then P1 once the
    first says its pid (P1 waits for the gate before it forks the command): the move's wait
    for an RCU grace period runs while they make the namespaces and the root."""
    try:
        cgroup.add(child.pid)
        pid1 = report.read()  # empty: P0 failed before it forked (its output says why)
        if pid1:
            with contextlib.suppress(ProcessLookupError):  # P1 failed already: it says why
                cgroup.add(int(pid1))
    except OSError as e:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise SandboxUnavailable(f"the sandbox could not join its cgroup: {e}") from None


def _spec(request: RunRequest, scratch: Path) -> dict[str, object]:
    """The JSON that init.py reads (see there for what each field does)."""
    merged = scratch / "merged"
    merged.mkdir()
    idmap = request.isolate and os.geteuid() == 0 and not rootless()
    spec: dict[str, object] = {
        "merged": str(merged),
        "hostname": request.hostname,
        "created_file": str(scratch / "created.json"),
        "argv": request.argv,
        "env": request.env,
        "cwd": request.cwd,
        "uid": request.uid,
        "gid": request.gid,
        "groups": request.groups,
        "network": request.network,
        "mask_proc": not request.isolate,
        "idmap": idmap,
        "mounts": [
            {
                "type": m.type,
                "target": m.target,
                "source": str(m.source) if m.source else None,
                "readonly": m.readonly,
                "size": m.size,
                "idmap": m.idmap,
            }
            for m in request.mounts
        ],
    }
    if request.isolate:
        spec["step_ids"] = step_id_map()
    if request.host_view is not None:
        view = request.host_view
        spec["host_view"] = {"allow": list(view.allow), "hide": list(view.hide),
                             "extra_ro": list(view.extra_ro), "tmpfs": list(view.tmpfs)}
        return spec
    resolv = scratch / "resolv.conf"
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
    except OSError:
        resolv.write_text("")
    hosts = scratch / "hosts"
    hosts.write_text(_hosts_file(request.hostname))
    spec.update(resolv_conf=str(resolv), hosts=str(hosts))
    assert request.rootfs is not None, "a sandbox needs a rootfs or a host view"
    if request.upper is not None:
        work = request.upper.parent / (request.upper.name + ".work")
        work.mkdir(exist_ok=True)
        spec.update(
            upper=str(request.upper),
            work=str(work),
            lower=[str(p) for p in request.lower_extra] + [str(request.rootfs)],
            userxattr=rootless(),
        )
    else:
        spec["rootfs"] = str(request.rootfs)
    return spec


class _Init:
    """The sandbox's first process (init.py's P0), in a session of its own: its pid (= its
    process group), the read end of its combined stdout/stderr, and how to wait for it."""

    def __init__(self, pid: int, fd: int, wait: Callable[[], int]) -> None:
        self.pid, self.fd, self.wait = pid, fd, wait


def _start_init(argv: list[str], *keep: int) -> _Init:
    process = subprocess.Popen(
        argv,
        pass_fds=keep,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        umask=0o022,  # Docker's for RUN and a Jenkins agent's, whatever the caller's (`dockyard up`: 077)
    )
    assert process.stdout is not None
    stdout = process.stdout

    def wait() -> int:
        stdout.close()
        return process.wait()

    return _Init(process.pid, stdout.fileno(), wait)


def _fork_init(spec: dict[str, object], *keep: int) -> _Init:
    """P0 as a fork of this process, set up as `_start_init`'s Popen sets up its child: own
    session, stdin /dev/null, output to a pipe, umask 022, default signal dispositions, and
    no descriptor of this process but `keep` (nothing of the server reaches the step)."""
    from dockyard.sandbox import init

    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 125
        try:
            os.setsid()
            os.umask(0o022)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(write, 1)
            os.dup2(write, 2)
            low = 3
            for fd in sorted(set(keep)):
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 65536)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                        signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            status = init.start(spec)
        except BaseException as e:  # noqa: BLE001 - the step's status is all this process can say
            with contextlib.suppress(OSError):
                os.write(2, f"dockyard: sandbox set-up failed: {e}\n".encode())
        finally:
            init.exit_with(status)
    os.close(write)

    def wait() -> int:
        os.close(read)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    return _Init(pid, read, wait)


def _supervise(child: _Init, timeout: float | None, output: Callable[[bytes], None] | None,
               cgroup: Cgroup | None = None, check: Callable[[], None] | None = None
               ) -> tuple[int, str, bool]:
    """Pumps `child`'s combined output; kills its process group on timeout, when its
    processes exhaust their pids limit (a fork bomb would otherwise spin on) or when the kernel
    killed one of them for memory (the step then fails with that reason, not later on)."""
    deadline = time.monotonic() + timeout if timeout else None
    tail = bytearray()
    try:
        timed_out = _pump(child.pid, child.fd, deadline, output, tail, cgroup, check)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the step running
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise
    code = child.wait()
    return code, tail.decode(errors="replace"), timed_out


def _pump(pid: int, fd: int, deadline: float | None, output: Callable[[bytes], None] | None,
          tail: bytearray, cgroup: Cgroup | None, check: Callable[[], None] | None = None) -> bool:
    """Copies the step's output until it ends; True when the deadline killed it."""
    timed_out = False
    next_check = 0.0  # the cgroup's counters are read every LIMIT_CHECK seconds, not per chunk
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            wait = None if deadline is None else max(0.0, deadline - now)
            if wait == 0.0:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                break
            if check is not None:
                check()  # raises to stop the step (_supervise kills it)
                wait = 0.2 if wait is None else min(wait, 0.2)
            if cgroup is not None:
                wait = LIMIT_CHECK if wait is None else min(wait, LIMIT_CHECK)
            if cgroup is not None and now >= next_check:
                next_check = now + LIMIT_CHECK
                if cgroup.pids_exhausted() or cgroup.oom_killed():  # the step ends with its process
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    for member in _cgroup_pids(cgroup):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(member, signal.SIGKILL)
            if not selector.select(wait):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            if output is not None:
                output(chunk)
            tail += chunk
            del tail[:-TAIL_BYTES]
    return timed_out


def _cgroup_pids(cgroup: Cgroup) -> list[int]:
    pids: list[int] = []
    for d in cgroup.paths:
        with contextlib.suppress(OSError, ValueError):
            pids += [int(p) for p in Path(d, "cgroup.procs").read_text().split()]
    return pids
