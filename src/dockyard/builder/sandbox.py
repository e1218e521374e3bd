"""Runs one RUN command confined to a stage rootfs (the parent side of the sandbox).

The command gets its own mount, PID, UTS and IPC namespaces (plus a network namespace for
`--network=none` and a user namespace when Dockyard itself is not root), through the
`unshare` program from util-linux; `sandbox_init` does the mounts and the pivot inside.
With `upper` set, the rootfs is the read-only lower layer of an overlay and every change
lands in `upper`, which then *is* the layer diff. Without it the command writes into the
rootfs directly and the caller diffs the tree.
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
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.atomicfile import atomic_write_text

TAIL_BYTES = 4096


class SandboxUnavailable(RuntimeError):
    """The machine cannot create the namespaces a RUN needs (names the missing piece)."""


class RunFailed(RuntimeError):
    """A RUN exited non-zero; the message carries the command, code and output tail."""

    def __init__(self, command: str, exit_code: int, tail: str, timed_out: bool = False) -> None:
        self.command = command
        self.exit_code = exit_code
        self.tail = tail
        self.timed_out = timed_out
        why = "timed out" if timed_out else f"exit code {exit_code}"
        super().__init__(f"RUN {command!r} failed ({why})\n--- last output ---\n{tail}".rstrip())


@dataclass(frozen=True)
class SandboxMount:
    """An extra mount for RUN --mount: a bind of a host path, or a tmpfs."""

    type: str  # "bind" | "tmpfs"
    target: str  # absolute container path
    source: Path | None = None
    readonly: bool = True
    size: int | None = None


@dataclass
class RunRequest:
    """Everything one RUN needs; `upper` None means "write into rootfs" (tree-diff mode)."""

    argv: list[str]
    rootfs: Path
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


@dataclass
class RunResult:
    """How a RUN ended: exit code, output tail, mount points it created, duration."""

    exit_code: int
    tail: str
    created: list[str]  # mount points the sandbox had to create (container paths)
    seconds: float


def rootless() -> bool:
    return os.geteuid() != 0


def _unshare() -> str:
    path = shutil.which("unshare")
    if path is None:
        raise SandboxUnavailable("RUN needs the `unshare` program (Debian package util-linux)")
    return path


def unshare_argv(network: str) -> list[str]:
    argv = [_unshare(), "--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child"]
    if network == "none":
        argv.append("--net")
    if rootless():
        argv += ["--user", "--map-root-user"]
    return argv


def _init_argv() -> list[str]:
    return [sys.executable, "-I", "-S", str(Path(__file__).with_name("sandbox_init.py"))]


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
            atomic_write_text(remember, json.dumps({key: ok}))
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


def run_in_sandbox(request: RunRequest, output: Callable[[bytes], None] | None = None) -> RunResult:
    """Runs the command; streams its output to `output`; raises RunFailed on non-zero."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dockyard-run-") as tmp:
        scratch = Path(tmp)
        merged = scratch / "merged"
        merged.mkdir()
        resolv = scratch / "resolv.conf"
        try:
            shutil.copyfile("/etc/resolv.conf", resolv)
        except OSError:
            resolv.write_text("")
        hosts = scratch / "hosts"
        hosts.write_text(_hosts_file(request.hostname))
        spec: dict[str, object] = {
            "merged": str(merged),
            "hostname": request.hostname,
            "resolv_conf": str(resolv),
            "hosts": str(hosts),
            "created_file": str(scratch / "created.json"),
            "argv": request.argv,
            "env": request.env,
            "cwd": request.cwd,
            "uid": request.uid,
            "gid": request.gid,
            "groups": request.groups,
            "mounts": [
                {
                    "type": m.type,
                    "target": m.target,
                    "source": str(m.source) if m.source else None,
                    "readonly": m.readonly,
                    "size": m.size,
                }
                for m in request.mounts
            ],
        }
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
        spec_path = scratch / "spec.json"
        spec_path.write_text(json.dumps(spec))
        argv = unshare_argv(request.network) + _init_argv() + [str(spec_path)]
        exit_code, tail, timed_out = _supervise(argv, request.timeout, output)
        if request.upper is not None:
            shutil.rmtree(request.upper.parent / (request.upper.name + ".work"), ignore_errors=True)
        created_path = scratch / "created.json"
        set_up = created_path.exists()
        created = json.loads(created_path.read_text()) if set_up else []
    display = request.display or " ".join(request.argv)
    if not set_up and not timed_out:
        raise SandboxUnavailable(f"the RUN sandbox could not be set up:\n{tail}")
    if exit_code != 0 or timed_out:
        raise RunFailed(display, exit_code, tail, timed_out)
    return RunResult(exit_code, tail, created, time.monotonic() - started)


def _supervise(
    argv: list[str], timeout: float | None, output: Callable[[bytes], None] | None
) -> tuple[int, str, bool]:
    """Runs `argv`, pumping its combined output; kills its process group on timeout."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=0o022,  # Docker's for RUN, whatever the caller's (`dockyard up` runs with 077)
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout if timeout else None
    tail = bytearray()
    fd = process.stdout.fileno()
    try:
        timed_out = _pump(process, fd, deadline, output, tail)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): never leave the step running
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    process.stdout.close()
    code = process.wait()
    return code, tail.decode(errors="replace"), timed_out


def _pump(process: subprocess.Popen[bytes], fd: int, deadline: float | None,
          output: Callable[[bytes], None] | None, tail: bytearray) -> bool:
    """Copies the step's output until it ends; True when the deadline killed it."""
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                break
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
