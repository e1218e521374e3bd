"""`container('x') { sh ... }` for an ordinary image: the step runs inside the image's root
filesystem, in the builder's RUN sandbox (its own mount/PID/UTS/IPC namespaces, pivoted into the
rootfs), with the workspace bind-mounted read-write at the same path.

Preparation (in the server, once per build and container): pull the image with `dockyard.oci`
(blobs cached, digests verified) and unpack it with the builder's `rootfs_for` (cached per layer
chain). Each container gets an overlay upper directory, so what one step writes outside the
workspace is seen by the next step of the same build, and the cached rootfs stays pristine.

Each step is a child process (`python -m dockyard.ci.executor.container_step SPEC`) that calls the
sandbox and streams its output, so the local executor starts, tails, waits for and kills it like
any other step; on SIGTERM it kills the sandbox's process group first.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SANDBOX_FAILED = 125


@dataclass
class PreparedImage:
    rootfs: Path
    upper: Path | None
    env: dict[str, str]
    working_dir: str
    user: str


def prepare_image(image: str, target: Path, insecure_registries: list[str], log: Any) -> PreparedImage:
    """Pull and unpack `image` for one build's container (blocking: run in a thread)."""
    from dockyard.builder.base import resolve_base, rootfs_for
    from dockyard.builder.options import BuildError, BuildOptions, default_cache_dir
    from dockyard.builder.sandbox import overlay_supported
    from dockyard.oci import Platform
    from dockyard.oci.blobcache import BlobCache

    cache_dir = default_cache_dir()
    options = BuildOptions(
        context=target,
        dockerfile=target / "Dockerfile",
        cache_dir=cache_dir,
        insecure_registries=list(insecure_registries),
    )
    target.mkdir(parents=True, exist_ok=True)
    try:
        base = resolve_base(
            image,
            options,
            BlobCache(cache_dir / "blobs"),
            Platform.current(),
            lambda message: log.line(f"[dockyard] {message.strip()}"),
        )
        overlay = overlay_supported(target)
        rootfs = target / "rootfs"
        rootfs_for(base, rootfs, cache_dir, hardlink=overlay)
    except BuildError as e:
        raise RuntimeError(str(e).replace("FROM ", "container image ", 1)) from None
    upper = target / "upper" if overlay else None
    if upper is not None:
        upper.mkdir(exist_ok=True)
    cfg = base.config.config
    env: dict[str, str] = {}
    for item in cfg.env if cfg is not None and cfg.env else []:
        name, _, value = item.partition("=")
        env[name] = value
    working_dir = (cfg.working_dir if cfg is not None else None) or ""
    user = (cfg.user if cfg is not None else None) or ""
    return PreparedImage(rootfs, upper, env, working_dir, user)


def step_spec(
    prepared: PreparedImage,
    script: Path,
    shell: str,
    env: dict[str, str],
    cwd: Path,
    binds: list[tuple[Path, str]],
) -> dict[str, Any]:
    """`binds` are (host path, container path) pairs, mounted read-write."""
    return {
        "rootfs": str(prepared.rootfs),
        "upper": str(prepared.upper) if prepared.upper else None,
        "argv": [shell, "-xe", str(script)],
        "env": env,
        "cwd": str(cwd),
        "binds": [[str(src), target] for src, target in binds],
    }


def run_step(spec_path: str) -> int:
    """The child process: one sandboxed RUN-like execution, output to stdout."""
    from dockyard.builder.sandbox import (
        RunFailed,
        RunRequest,
        SandboxMount,
        SandboxUnavailable,
        run_in_sandbox,
    )

    spec = json.loads(Path(spec_path).read_text())
    signal.signal(signal.SIGTERM, _kill_children_and_exit)
    mounts = [SandboxMount("bind", target=t, source=Path(s), readonly=False) for s, t in spec["binds"]]
    request = RunRequest(
        argv=spec["argv"],
        rootfs=Path(spec["rootfs"]),
        env=spec["env"],
        cwd=spec["cwd"],
        upper=Path(spec["upper"]) if spec["upper"] else None,
        mounts=mounts,
        display=" ".join(spec["argv"]),
    )
    try:
        run_in_sandbox(request, output=_write_out)
    except RunFailed as e:
        return e.exit_code or 1
    except SandboxUnavailable as e:
        print(f"dockyard: the container sandbox is not available here: {e}", file=sys.stderr, flush=True)
        return SANDBOX_FAILED
    return 0


def _write_out(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _kill_children_and_exit(_sig: int, _frame: object) -> None:
    """The sandbox runs in its own session; end it before this process goes."""
    for task in Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                continue
    os._exit(143)
