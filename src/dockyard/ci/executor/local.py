"""The local agent: steps run as processes on this machine, in the build's own workspace.

Containers of a pod template:

- an image in the Kaniko alias table (`gcr.io/kaniko-project/executor*` by default; set
  `DOCKYARD_KANIKO_ALIAS` to a comma list of prefixes, or to `off`) becomes Dockyard's own
  stand-in, built offline: `/kaniko/executor` runs `dockyard executor` with the same arguments,
  `/busybox/*` are busybox applets, and the pod's secret volumes are materialised under it.
- any other image is pulled on first use (`dockyard.oci`, cached) and the step runs in its root
  filesystem inside the builder's RUN sandbox (executor/container.py), with the workspace and
  the pod's secret volumes mounted; the image's env, the container's env apply.

Paths under the Kaniko stand-in's root (`/kaniko/...`, `/busybox/...`, each volume's mountPath)
are mapped to the stand-in directory in the step's script and environment, since that step is
not chrooted (it needs the host's Python for the builder). Each step runs `/bin/sh -xe script`,
as Jenkins' `sh` does, in its own process group so that stop and timeouts kill everything it
started.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.ci.executor.base import (
    AgentSpec,
    ContainerSpec,
    ExecutorError,
    StepHandle,
    StepSpec,
    with_agent_umask,
)
from dockyard.ci.executor.container import PreparedImage, prepare_image, step_spec
from dockyard.ci.executor.warm import WarmExecutor

DEFAULT_KANIKO_IMAGES = ("gcr.io/kaniko-project/executor", "cgr.dev/chainguard/kaniko")
PGIDS_FILE = "pgids"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")


def kaniko_aliases() -> tuple[str, ...]:
    raw = os.environ.get("DOCKYARD_KANIKO_ALIAS")
    if raw is None:
        return DEFAULT_KANIKO_IMAGES
    if raw.strip().lower() in ("off", "0", "false", "none", ""):
        return ()
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def is_kaniko(image: str) -> bool:
    return any(
        image == p or image.startswith(p + ":") or image.startswith(p + "@") or image.startswith(p)
        for p in kaniko_aliases()
    )


@dataclass
class _Proc:
    id: str
    process: asyncio.subprocess.Process


@dataclass
class _Container:
    spec: ContainerSpec
    root: Path | None  # stand-in root or sandbox files root
    kaniko: bool
    prefixes: tuple[str, ...]
    sandboxed: bool = False
    prepared: PreparedImage | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LocalExecutor:
    name = "local"

    def __init__(self, warm: WarmExecutor | None = None) -> None:
        self.warm = warm
        self.log: Any = None
        self.spec: AgentSpec | None = None
        self.containers: dict[str, _Container] = {}
        self._procs: dict[str, _Proc] = {}
        self._ids = itertools.count(1)

    async def setup(self, spec: AgentSpec, log: Any) -> None:
        self.spec = spec
        self.log = log
        spec.workspace.mkdir(parents=True, exist_ok=True)
        for name, c in spec.containers.items():
            self.containers[name] = await asyncio.to_thread(self._prepare, spec, c, log)

    def _prepare(self, spec: AgentSpec, c: ContainerSpec, log: Any) -> _Container:
        root = spec.build_dir / "agent" / c.name
        kaniko = is_kaniko(c.image)
        prefixes: set[str] = set()
        if kaniko:
            (root / "kaniko").mkdir(parents=True, exist_ok=True)
            shim = root / "kaniko" / "executor"
            shim.write_text(_shim_script(self.warm.ensure() if self.warm is not None else None))
            shim.chmod(0o755)
            _busybox_dir(root / "busybox")
            prefixes |= {"/kaniko", "/busybox"}
            log.line(
                f"[dockyard] container '{c.name}': {c.image} runs as Dockyard's built-in Kaniko stand-in"
                " (/kaniko/executor = dockyard executor, /busybox = busybox)"
            )
        else:
            log.line(
                f"[dockyard] container '{c.name}' ({c.image}): steps run in the image's root filesystem"
                " in Dockyard's sandbox, the workspace mounted at the same path"
            )
        for f in c.files:
            target = root / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(f.data)
            os.chmod(target, f.mode & 0o777)
            top = "/" + f.path.strip("/").split("/")[0]
            prefixes.add(top)
            log.line(f"[dockyard] container '{c.name}': secret volume file {f.path} materialised")
        if not kaniko:
            return _Container(c, root, False, (), sandboxed=True)
        return _Container(c, root, kaniko, tuple(sorted(prefixes)))

    # -- steps ------------------------------------------------------------------
    async def start_step(self, step: StepSpec) -> StepHandle:
        assert self.spec is not None, "setup() first"
        env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
        env.update(step.env)
        script = step.script
        container = self.containers.get(step.container) if step.container else None
        if step.container and container is None:
            raise ExecutorError(f"container('{step.container}'): the pod template has no such container")
        if container is not None and container.sandboxed:
            return await self._start_sandboxed(step, container)
        if container is not None:
            env.update(container.spec.env)
            if container.root is not None:
                script = map_paths(script, container.root, container.prefixes)
                env = {k: map_paths(v, container.root, container.prefixes) for k, v in env.items()}
            if container.kaniko:
                assert container.root is not None
                env["PATH"] = (
                    f"{container.root / 'busybox'}:{container.root / 'kaniko'}:{env.get('PATH', '')}"
                )
                env["DOCKER_CONFIG"] = str(container.root / "kaniko" / ".docker")
        step_id = f"step-{next(self._ids)}"
        script_path = self.spec.build_dir / "scripts" / f"{step_id}.sh"
        script_path.parent.mkdir(parents=True, exist_ok=True)
        script_path.write_text(script)
        shell = "/bin/sh"
        if step.shell and container is not None and container.root is not None:
            shell = map_paths(step.shell, container.root, container.prefixes)
        return await self._spawn(step_id, [shell, "-xe", str(script_path)], step.cwd, env)

    async def _spawn(self, step_id: str, argv: list[str], cwd: Path,
                     env: dict[str, str]) -> StepHandle:
        """A step's process in its own session (output merged), registered and remembered."""
        assert self.spec is not None  # started steps belong to a prepared build
        proc = await asyncio.create_subprocess_exec(
            *with_agent_umask(argv),
            cwd=str(cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        handle = _Proc(step_id, proc)
        self._procs[step_id] = handle
        # remembered so that a restart after a crash can end what this build left running
        with open(self.spec.build_dir / PGIDS_FILE, "a") as f:
            f.write(f"{proc.pid}\n")
        return handle

    async def _start_sandboxed(self, step: StepSpec, container: _Container) -> StepHandle:
        """The step as a child process that runs it in the image's rootfs (executor/container.py)."""
        assert self.spec is not None and container.root is not None
        async with container.lock:
            if container.prepared is None:
                self.log.line(
                    f"[dockyard] pulling {container.spec.image} for container '{container.spec.name}'"
                )
                try:
                    container.prepared = await asyncio.to_thread(
                        prepare_image,
                        container.spec.image,
                        container.root / "image",
                        list(self.spec.insecure_registries),
                        self.log,
                    )
                except RuntimeError as e:
                    raise ExecutorError(f"container '{container.spec.name}': {e}") from None
        prepared = container.prepared
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", **prepared.env, **step.env, **container.spec.env}
        step_id = f"step-{next(self._ids)}"
        scripts = self.spec.build_dir / "scripts"
        scripts.mkdir(parents=True, exist_ok=True)
        script_path = scripts / f"{step_id}.sh"
        script_path.write_text(step.script)
        binds: list[tuple[Path, str]] = [
            (self.spec.workspace, str(self.spec.workspace)),
            (scripts, str(scripts)),
        ]
        for directory in sorted({posixpath.dirname(f.path) for f in container.spec.files}):
            binds.append((container.root / directory.lstrip("/"), directory))
        spec = step_spec(prepared, script_path, step.shell or "/bin/sh", env, step.cwd, binds)
        spec_path = scripts / f"{step_id}.json"
        spec_path.write_text(json.dumps(spec))
        from dockyard.ci.executor.warm import package_root

        child_env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
        child_env["PYTHONPATH"] = str(package_root())
        argv = [sys.executable, "-m", "dockyard.ci.executor.container_step", str(spec_path)]
        return await self._spawn(step_id, argv, self.spec.build_dir, child_env)

    async def tail(self, handle: StepHandle) -> AsyncIterator[bytes]:
        proc = self._procs[handle.id].process
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                return
            yield chunk

    async def wait(self, handle: StepHandle) -> int:
        code = await self._procs[handle.id].process.wait()
        self._procs.pop(handle.id, None)
        return code

    async def kill(self, handle: StepHandle) -> None:
        p = self._procs.get(handle.id)
        if p is not None:
            await _kill_group(p.process)

    async def kill_all(self) -> None:
        await asyncio.gather(*(_kill_group(p.process) for p in list(self._procs.values())))

    async def destroy(self) -> None:
        await self.kill_all()
        if self.spec is not None:
            shutil.rmtree(self.spec.build_dir / "agent", ignore_errors=True)
            shutil.rmtree(self.spec.build_dir / "scripts", ignore_errors=True)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except TimeoutError:
            continue


def kill_leftovers(build_dir: Path) -> int:
    """SIGKILL the process groups a build started before Dockyard died; returns how many were alive.

    Steps run in their own session (pgid = the shell's pid), so killing the group also ends
    what the shell started. A group is only signalled while its leader's cwd is in `build_dir`,
    so a reused pid of an unrelated process is left alone.
    """
    killed = 0
    try:
        pgids = [int(x) for x in (build_dir / PGIDS_FILE).read_text().split()]
    except (FileNotFoundError, ValueError):
        return 0
    for pgid in pgids:
        try:
            cwd = os.readlink(f"/proc/{pgid}/cwd")
        except OSError:
            cwd = ""
        if cwd and not cwd.startswith(str(build_dir)):
            continue
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            continue
    return killed


def map_paths(text: str, root: Path, prefixes: tuple[str, ...]) -> str:
    """Rewrite absolute paths under `prefixes` (e.g. /kaniko) to live under `root`."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w./-])" + re.escape(prefix) + r"(?=/|\b|$)")
        replacement = (str(root) + prefix).replace("\\", "\\\\")
        text = pattern.sub(replacement, text)
    return text


def _shim_script(warm_socket: Path | None) -> str:
    """/kaniko/executor: this Dockyard's own builder (same interpreter and package), through the
    pre-warmed executor when one runs."""
    from dockyard.ci.executor.warm import package_root

    root = shlex.quote(str(package_root()))
    python = shlex.quote(sys.executable)
    if warm_socket is not None:
        client = shlex.quote(str(Path(__file__).with_name("zygote_client.py")))
        return f'#!/bin/sh\nexec {python} -S -E {client} {shlex.quote(str(warm_socket))} {root} "$@"\n'
    return (
        f'#!/bin/sh\nPYTHONPATH={root}${{PYTHONPATH:+:$PYTHONPATH}} exec {python} -m dockyard executor "$@"\n'
    )


def _busybox_dir(target: Path) -> None:
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(busybox):
        raise ExecutorError(
            "busybox is needed for the Kaniko stand-in's /busybox shell (apt install busybox-static)"
        )
    target.mkdir(parents=True, exist_ok=True)
    for applet in (
        "sh",
        "cat",
        "ls",
        "echo",
        "env",
        "mkdir",
        "cp",
        "mv",
        "rm",
        "sleep",
        "test",
        "true",
        "false",
        "grep",
        "sed",
        "tr",
        "wc",
        "head",
        "tail",
        "pwd",
        "find",
        "tar",
        "gzip",
        "sha256sum",
        "chmod",
    ):
        link = target / applet
        if not link.exists():
            link.symlink_to(busybox)
