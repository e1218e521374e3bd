"""RUN inside a build pod: chrooted into the stage rootfs in the container's own filesystem, the
pod being the sandbox (Kaniko's way).

A pod's container (seccomp RuntimeDefault, masked /proc, no CAP_SYS_ADMIN) cannot create the
namespaces `dockyard.sandbox` needs. Dockyard's image runs `/kaniko/executor` with
DOCKYARD_RUN_MODE=pod; only then, only in that image (its marker file), and only when the
sandbox really cannot start here, a RUN runs chrooted as the image user. Everywhere else the
sandbox stays mandatory and its refusal stands. The log says once which mode ran.

Differences from the sandbox: no /proc in the RUN; the pod's network (`--network=none` is
refused); /dev holds null, zero, full, random, urandom and tty where the container may mknod
them; `--mount` targets are placed in the rootfs for the command (read-only binds and secrets
as copies, cache and rw binds moved in and back) and removed before the layer is taken; the
pod's /etc/resolv.conf and /etc/hosts are shown where the image has none. The command loses
CAP_SYS_CHROOT so it cannot chroot back out to the executor's files.

Run as a script (`python -I -S podrun.py SPEC.json`) it is the child that chroots and execs;
it then imports only the standard library.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.sandbox import RunRequest, RunResult, SandboxMount

MODE_ENV = "DOCKYARD_RUN_MODE"
MARKER = Path("/usr/lib/dockyard/pod-executor")  # written only by Dockyard's own image
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
           "tty": (5, 0)}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TAIL_BYTES = 4096
CAP_SYS_CHROOT = 18
PR_CAPBSET_DROP = 24
Output = Callable[[bytes], None]

_mode: list[bool] = []  # decided once per process: True = chroot
_deciding = threading.Lock()


def run_step(request: RunRequest, output: Output | None,
             check: Callable[[], None] | None = None) -> RunResult:
    """A RUN: in the sandbox, or chrooted when this is Dockyard's in-pod executor and the
    sandbox cannot start in this container. `check` raises to stop it (another stage failed)."""
    if chroot_mode(output):
        return run_chrooted(request, output, check)
    from dockyard.sandbox import run_in_sandbox

    return run_in_sandbox(request, output, check=check)


def chroot_mode(output: Output | None) -> bool:
    if os.environ.get(MODE_ENV) != "pod":
        return False
    with _deciding:  # stages built at once: one probe, one message
        if not _mode:
            _mode.append(_decide(output))
    return _mode[0]


def _decide(output: Output | None) -> bool:
    say = output or (lambda chunk: sys.stderr.buffer.write(chunk))
    if not MARKER.is_file():
        say(f"dockyard: {MODE_ENV}=pod ignored: only Dockyard's image ({MARKER}) runs RUN without"
            " the sandbox\n".encode())
        return False
    problem = _sandbox_problem()
    if not problem:
        say(b"dockyard: RUN mode: sandbox (namespaces work in this container)\n")
        return False
    say(f"dockyard: RUN mode: chroot in this container, the pod is the sandbox (the sandbox"
        f" cannot start here: {problem})\n".encode())
    return True


def _sandbox_problem() -> str:
    """Why the sandbox cannot run a RUN here ('' when it can), from a real start."""
    from dockyard.sandbox import HostView, RunFailed, RunRequest, SandboxUnavailable, run_in_sandbox

    probe = RunRequest(argv=["/bin/true"], env={"PATH": DEFAULT_PATH}, host_view=HostView(),
                       name="probe", timeout=30)
    try:
        run_in_sandbox(probe)
    except (SandboxUnavailable, RunFailed, OSError) as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return lines[-1].strip() if lines else type(exc).__name__
    return ""


def run_chrooted(request: RunRequest, output: Output | None,
                 check: Callable[[], None] | None = None) -> RunResult:
    """Runs the command chrooted into `request.rootfs` (tree-diff mode: it writes there)."""
    from dockyard import sandbox
    from dockyard.sandbox import RunFailed, RunResult, SandboxUnavailable

    if request.network not in ("default", "host"):
        raise SandboxUnavailable(
            f"RUN --network={request.network} needs a network namespace, which a pod's container"
            " cannot create; remove the flag or build where Dockyard's sandbox runs")
    assert request.rootfs is not None, "a chrooted RUN needs the stage rootfs"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dockyard-chroot-", dir=request.rootfs.parent) as tmp:
        staged = _Staged(request.rootfs, Path(tmp))
        try:
            staged.devices(output)
            for name in ("/etc/resolv.conf", "/etc/hosts"):
                if os.path.isfile(name):
                    staged.place_if_missing(name, Path(name))
            for mount in request.mounts:
                staged.mount(mount)
            spec = Path(tmp) / "spec.json"
            spec.write_text(json.dumps({
                "init": str(Path(sandbox.__file__).with_name("init.py")),
                "root": str(request.rootfs), "argv": request.argv, "env": request.env,
                "cwd": request.cwd or "/", "uid": request.uid, "gid": request.gid,
                "groups": request.groups}))
            argv = [sys.executable, "-I", "-S", str(Path(__file__)), str(spec)]
            code, tail, timed_out = _supervise(argv, request.timeout, output, check)
        finally:
            staged.undo()
    display = request.display or " ".join(request.argv)
    if code != 0 or timed_out:
        raise RunFailed(display, code or 137, tail, timed_out)
    return RunResult(0, tail, [], time.monotonic() - started)


class _Staged:
    """What is put into the rootfs for one command, and taken out again afterwards (newest
    first), leaving the parents' timestamps as they were so the layer holds only the RUN's
    own changes."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch
        self._undo: list[Callable[[], None]] = []

    def _path(self, target: str) -> Path:
        from dockyard.sandbox import inside

        return Path(inside(str(self.root), target))

    def _prepare(self, path: Path) -> None:
        """Creates missing parents (removed again later) and moves an existing target aside."""
        missing: list[Path] = []
        parent = path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        times = os.lstat(parent)
        for directory in reversed(missing):
            directory.mkdir()
        self._undo.append(lambda: self._restore_parents(missing, parent, times))
        if os.path.lexists(path):
            stash = Path(tempfile.mkdtemp(dir=self.scratch)) / "stash"
            os.rename(path, stash)
            self._undo.append(lambda: os.rename(stash, path))

    @staticmethod
    def _restore_parents(missing: list[Path], existing: Path, times: os.stat_result) -> None:
        for directory in missing:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            os.utime(existing, ns=(times.st_atime_ns, times.st_mtime_ns), follow_symlinks=False)

    def _remove_later(self, path: Path) -> None:
        def remove() -> None:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                path.unlink()
        self._undo.append(remove)

    def place_if_missing(self, target: str, source: Path) -> None:
        path = self._path(target)
        if os.path.lexists(path):
            return
        self._prepare(path)
        shutil.copyfile(source, path)
        os.chmod(path, 0o644)
        self._remove_later(path)

    def devices(self, output: Output | None) -> None:
        """/dev's usual character devices where the image has none (a RUN that writes to
        /dev/null must not leave a file in the layer)."""
        dev = self._path("/dev")
        for name, (major, minor) in DEVICES.items():
            path = dev / name
            if os.path.lexists(path):
                continue
            self._prepare(path)
            try:
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                os.chmod(path, 0o666)
            except OSError as exc:
                if output is not None:
                    output(f"dockyard: warning: no /dev/{name} in RUN ({exc.strerror})\n".encode())
                continue
            self._remove_later(path)

    def mount(self, mount: SandboxMount) -> None:
        """A `--mount`: a tmpfs becomes an empty dir; a read-only bind (context, stage, secret)
        a private copy; a writable one (cache, rw bind scratch) is moved in and back."""
        path = self._path(mount.target)
        self._prepare(path)
        if mount.type == "tmpfs" or mount.source is None:
            path.mkdir(mode=0o1777)
            os.chmod(path, 0o1777)
            self._remove_later(path)
            return
        source = mount.source
        if not mount.readonly:
            try:
                os.rename(source, path)
                self._undo.append(lambda: os.rename(path, source))
                return
            except OSError:  # another filesystem: copy in, and back afterwards
                self._undo.append(lambda: _copy_back(path, source))
        else:
            self._remove_later(path)
        if source.is_dir():
            shutil.copytree(source, path, symlinks=True)
        else:
            shutil.copy2(source, path)
            st = os.stat(source)
            os.chown(path, st.st_uid, st.st_gid)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


def _copy_back(path: Path, source: Path) -> None:
    if source.is_dir():
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(path, source, symlinks=True)
        shutil.rmtree(path, ignore_errors=True)
    else:
        shutil.copy2(path, source)
        path.unlink()


def _supervise(argv: list[str], timeout: float | None, output: Output | None,
               check: Callable[[], None] | None = None) -> tuple[int, str, bool]:
    """Runs the child in its own session, streaming its combined output. There is no PID
    namespace to end with the command: once it exits, what it left running in its session (a
    daemon holding the output pipe) is killed, as at the deadline or an interrupted build."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               env={"PATH": DEFAULT_PATH}, umask=0o022)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout if timeout else None
    tail = bytearray()
    timed_out = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
                if wait <= 0:
                    timed_out = True
                    break
                if check is not None:
                    check()
                if not selector.select(wait):
                    if process.poll() is not None:
                        _kill_session(process.pid)  # stragglers keep the pipe open
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                if output is not None:
                    output(chunk)
                tail += chunk
                del tail[:-TAIL_BYTES]
    except BaseException:
        _kill_session(process.pid)
        raise
    finally:
        if timed_out:
            _kill_session(process.pid)
        process.stdout.close()
        code = process.wait()
    _kill_session(process.pid)
    return code, tail.decode(errors="replace"), timed_out


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _child(spec: dict[str, Any]) -> None:
    """chroot, drop CAP_SYS_CHROOT, then the sandbox's own exec (init.py, a stdlib-only script:
    the image user, its groups, PATH lookup, capabilities bounded as in the sandbox)."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("dockyard_sandbox_init", spec["init"])
    assert loader is not None and loader.loader is not None
    init = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(init)
    try:
        os.chroot(spec["root"])
        os.chdir("/")
    except OSError as exc:
        sys.stderr.write(f"dockyard: cannot chroot into the stage rootfs: {exc}\n")
        os._exit(126)
    ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_CHROOT, 0, 0, 0)
    init.exec_command(spec)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        _child(json.load(f))
