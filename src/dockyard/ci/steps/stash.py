"""`stash name: 'x', includes: 'dist/**'` and `unstash 'x'`: files saved from the workspace and
restored later in the build (another stage, another directory). A stash is a tar in the build's
own directory (DATA/ci/JOB/N/stashes/), of regular files only; it is restored with tarfile's
`data` filter, so no member can land outside the directory it is restored into (absolute paths,
`..`, links out and symlinked directories are refused)."""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import re
import tarfile
from pathlib import Path

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import interpolate, split_list

MAX_STASH_BYTES = 512 << 20
MAX_STASH_FILES = 100_000
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# Ant's default excludes, as Jenkins applies them (useDefaultExcludes: true)
_DEFAULT_EXCLUDES = ("**/.git/**", "**/.svn/**", "**/.hg/**", "**/CVS/**", "**/.DS_Store", "**/*~")


def _stash_path(host: StepHost, name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise StepFailed(f"stash name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    return host.paths.root / "stashes" / f"{name}.tar"


def _excluded(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch("/" + rel, p) for p in patterns)


class StashStep(Step):
    name = "stash"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        name = interpolate(self.args["name"], ctx.env)
        target = _stash_path(host, name)
        includes = split_list(self.args.get("includes") or "**", ctx.env)
        excludes = split_list(self.args.get("excludes") or "", ctx.env)
        if self.args.get("useDefaultExcludes", True):
            excludes += list(_DEFAULT_EXCLUDES)
        ws, base = host.paths.workspace.resolve(), ctx.cwd.resolve()
        files = await asyncio.to_thread(_collect, base, ws, includes, excludes)
        if not files and not self.args.get("allowEmpty"):
            raise StepFailed(f"No files included in stash '{name}'")
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_write, target, base, files)
        host.log.line(f"[Pipeline] stash\nStashed {len(files)} file(s)")


def _collect(base: Path, ws: Path, includes: list[str], excludes: list[str]) -> list[str]:
    found: dict[str, None] = {}
    size = 0
    for pattern in includes:
        pattern = pattern + "**" if pattern.endswith("/") else pattern
        for match in glob.glob(pattern, root_dir=base, recursive=True, include_hidden=True):
            p = base / match
            if not p.is_file() or not p.resolve().is_relative_to(ws) or _excluded(match, excludes):
                continue
            if match not in found:
                found[match] = None
                size += p.stat().st_size
                if len(found) > MAX_STASH_FILES or size > MAX_STASH_BYTES:
                    limit = f"{MAX_STASH_FILES} files or {MAX_STASH_BYTES >> 20} MiB"
                    raise StepFailed(f"stash: more than {limit}: narrow includes")
    return sorted(found)


def _write(target: Path, base: Path, files: list[str]) -> None:
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for rel in files:
            tar.add(base / rel, arcname=rel, recursive=False)
    tmp.replace(target)


class UnstashStep(Step):
    name = "unstash"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        name = interpolate(self.args["name"], ctx.env)
        source = _stash_path(host, name)
        if not source.is_file():
            raise StepFailed(f"No such saved stash '{name}'")
        ctx.cwd.mkdir(parents=True, exist_ok=True)
        count = await asyncio.to_thread(_extract, source, ctx.cwd)
        host.log.line(f"[Pipeline] unstash\nUnstashed {count} file(s) from '{name}'")


def _extract(source: Path, dest: Path) -> int:
    try:
        with tarfile.open(source) as tar:
            members = tar.getmembers()
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as e:
        raise StepFailed(f"unstash: {e}") from None
    return len(members)
