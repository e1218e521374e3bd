"""RUN: executes a command in the sandbox on top of the stage rootfs.

Shell form goes through the stage's SHELL; a heredoc is handed to the shell as a
here-document (quoting kept, so `<<'EOF'` is not expanded), and a RUN that is only a
heredoc runs the heredoc as the script. `--mount` types: secret (a file bound read-only
from `--secret`, never in a layer), cache (a directory kept under the cache dir), bind
(read-only from the context or a stage), tmpfs. `--network=none` gets its own empty
network namespace.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.builder.dockerfile import DockerfileError, Mount, RunInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState
from dockyard.sandbox import inside

if TYPE_CHECKING:  # the sandbox and snapshot code load when a RUN executes, not on a hit
    from dockyard.builder.snapshot import TreeState
    from dockyard.sandbox import SandboxMount

_HEREDOC_ONLY = re.compile(r"^<<-?(['\"]?)([A-Za-z0-9_.-]+)\1$")


def command_argv(instruction: RunInstruction, shell: list[str]) -> list[str]:
    if not instruction.shell_form:
        return list(instruction.command)
    command = " ".join(instruction.command)
    if instruction.heredocs:
        if _HEREDOC_ONLY.match(command.strip()) and len(instruction.heredocs) == 1:
            script = instruction.heredocs[0].content
            if script.startswith("#!"):
                interpreter = script[2:].splitlines()[0].split()
                return [*interpreter, "-c", script] if interpreter else [*shell, script]
            return [*shell, script]
        script = command
        for doc in instruction.heredocs:
            script += "\n" + doc.content + ("" if doc.content.endswith("\n") else "\n") + doc.name
        return [*shell, script]
    return [*shell, command]


def _cache_dir(build: BuildEnv, mount: Mount) -> Path:
    key = mount.id or mount.target or "default"
    path = build.options.cache_dir / "run-cache" / hashlib.sha256(key.encode()).hexdigest()[:24]
    if not path.exists():
        path.mkdir(parents=True)
        os.chmod(path, mount.mode if mount.mode is not None else 0o755)
        os.chown(path, mount.uid or 0, mount.gid or 0)
    return path


class RunStep(Step):
    keyword = "RUN"
    makes_layer = True

    def mounts(self, stage: StageState, build: BuildEnv, env: dict[str, str]) -> list[SandboxMount]:
        from dockyard.sandbox import SandboxMount

        i = self.instruction
        assert isinstance(i, RunInstruction)
        out: list[SandboxMount] = []
        for mount in i.mounts:
            if mount.type == "secret":
                secret_id = mount.id or os.path.basename(mount.target or "")
                source = build.options.secrets.get(secret_id)
                if source is None:
                    if mount.required:
                        raise DockerfileError(f"RUN --mount=type=secret,id={secret_id}: no such"
                                              f" secret; pass --secret id={secret_id},src=FILE",
                                              line=i.line)
                    continue
                if str(source).startswith("env:"):
                    value = os.environ.get(str(source)[4:], "")
                    source = build.new_dir("secret") / "value"
                    source.write_text(value)
                if mount.env:
                    env[mount.env] = source.read_text()
                if mount.env and not mount.target:
                    continue
                target = mount.target or f"/run/secrets/{secret_id}"
                out.append(SandboxMount("bind", target, self._secret_copy(build, source, mount),
                                        readonly=True))
            elif mount.type == "cache":
                if not mount.target:
                    raise DockerfileError("RUN --mount=type=cache needs target=", line=i.line)
                out.append(SandboxMount("bind", mount.target, _cache_dir(build, mount),
                                        readonly=mount.readonly))
            elif mount.type == "bind":
                if not mount.target:
                    raise DockerfileError("RUN --mount=type=bind needs target=", line=i.line)
                out.append(self._bind(build, mount))
            elif mount.type == "tmpfs":
                if not mount.target:
                    raise DockerfileError("RUN --mount=type=tmpfs needs target=", line=i.line)
                out.append(SandboxMount("tmpfs", mount.target, None, False, mount.size))
            else:
                raise DockerfileError(f"RUN --mount=type={mount.type} is not supported by "
                                      "Dockyard (supported: bind, cache, secret, tmpfs)",
                                      line=i.line)
        return out

    def _secret_copy(self, build: BuildEnv, source: Path, mount: Mount) -> Path:
        """A private copy with the requested mode/owner (the user's file stays as it is)."""
        copy = build.new_dir("secret") / "secret"
        shutil.copyfile(source, copy)
        os.chmod(copy, mount.mode if mount.mode is not None else 0o400)
        os.chown(copy, mount.uid or 0, mount.gid or 0)
        return copy

    def _bind(self, build: BuildEnv, mount: Mount) -> SandboxMount:
        from dockyard.sandbox import SandboxMount

        i = self.instruction
        if mount.from_:
            root = build.stage_root(mount.from_) or build.image_root(mount.from_)
        else:
            root = build.context.root
        source = Path(inside(str(root), "/" + (mount.source or "")))
        if not source.exists():
            raise DockerfileError(f"RUN --mount=type=bind: source {mount.source!r} not found",
                                  line=i.line)
        assert mount.target is not None
        if not mount.readonly and "rw" in mount.raw.split(","):
            scratch = build.new_dir("bind") / "rw"
            if source.is_dir():
                shutil.copytree(source, scratch, symlinks=True)
            else:
                shutil.copy2(source, scratch)
            return SandboxMount("bind", mount.target, scratch, readonly=False)
        return SandboxMount("bind", mount.target, source, readonly=True)

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        from dockyard.builder.emulation import require_emulation
        from dockyard.builder.podrun import run_step  # the sandbox, or chroot in Dockyard's pod
        from dockyard.builder.snapshot import (
            TreeState,
            prune_copied_up_dirs,
            remove_placeholders,
            tree_diff_entries,
        )
        from dockyard.builder.users import resolve_user
        from dockyard.sandbox import RunRequest

        i = self.instruction
        assert isinstance(i, RunInstruction)
        require_emulation(stage.platform or build.platform, build.log, build.scratch)  # qemu
        env = stage.run_env()
        for name, value in build.options.build_args.items():
            # proxy build args reach RUN without an ARG line, and never the image (BuildKit)
            if name.lower().endswith("_proxy") and value is not None and name not in env:
                env[name] = value
        ident = resolve_user(stage.rootfs, stage.config.config.user or "0", "USER")
        env.setdefault("HOME", ident.home if ident.home else "/")
        mounts = self.mounts(stage, build, env)
        request = RunRequest(
            argv=command_argv(i, stage.shell),
            rootfs=stage.rootfs,
            env=env,
            cwd=stage.workdir,
            uid=ident.uid,
            gid=ident.gid,
            groups=ident.groups,
            network=i.network or "default",
            mounts=mounts,
            timeout=build.remaining_time(),
            display=" ".join(i.command),
        )
        output = build.options.output
        if build.overlay:
            request.upper = build.new_dir("run") / "upper"
            request.upper.mkdir()
            if stage.stack is not None:  # its directories as the lowers, never the mount
                request.rootfs = stage.stack.layers[0]
                request.lower_extra = list(reversed(stage.stack.layers[1:]))
            result = run_step(request, output, build.check_cancelled)
            remove_placeholders(request.upper, result.created)
            prune_copied_up_dirs(request.upper, stage.rootfs)
            return Change(upper=request.upper, lower=stage.rootfs)
        before = TreeState(stage.rootfs)
        result = run_step(request, output, build.check_cancelled)
        remove_placeholders(stage.rootfs, [p for p in result.created
                                           if _new_path(before, p)])
        return Change(entries=tree_diff_entries(before, TreeState(stage.rootfs)))

    def created_by(self) -> str:
        i = self.instruction
        assert isinstance(i, RunInstruction)
        return "RUN " + " ".join(i.command) + " # dockyard"


def _new_path(before: TreeState, container_path: str) -> bool:
    return container_path.lstrip("/") not in before.files
