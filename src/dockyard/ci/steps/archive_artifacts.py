"""`archiveArtifacts artifacts: 'dist/**', excludes: '...'`: copy matching workspace files into the
build's archive (served at /job/NAME/N/artifact/...); `fingerprint: true` records their MD5s
(dockyard.ci.fingerprints)."""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import shutil
from pathlib import Path

from dockyard.ci.fingerprints import md5_of, record_fingerprints
from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import split_list


class ArchiveArtifactsStep(Step):
    name = "archiveArtifacts"

    async def run(self, ctx: Ctx, host: StepHost) -> None:
        ws = host.paths.workspace
        patterns = split_list(self.args["artifacts"], ctx.env)
        excludes = split_list(self.args.get("excludes", ""), ctx.env)
        found: list[Path] = []
        for pattern in patterns:
            for match in glob.glob(pattern, root_dir=ws, recursive=True):
                p = ws / match
                inside = p.resolve().is_relative_to(ws.resolve())  # no symlink out of it
                if inside and p.is_file() and not any(fnmatch.fnmatch(match, e) for e in excludes):
                    found.append(p)
        if not found and not self.args.get("allowEmptyArchive", False):
            raise StepFailed(f'No artifacts found that match the file pattern "{", ".join(patterns)}"')
        for p in found:
            target = host.paths.archive / p.relative_to(ws)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)  # the server's private mode, not the workspace's
        host.log.line(f"[Pipeline] archiveArtifacts\nArchiving {len(found)} artifact(s)")
        if self.args.get("fingerprint") and found:
            names = [p.relative_to(ws).as_posix() for p in found]
            await asyncio.to_thread(self._fingerprint, host, names)
            host.log.line(f"Recording fingerprints of {len(names)} artifact(s)")

    def _fingerprint(self, host: StepHost, names: list[str]) -> None:
        files = {name: md5_of(host.paths.archive / name) for name in names}
        root = host.paths.root  # DATA/ci/<job>/<n>
        record_fingerprints(root.parent.parent, root, host.job_name, host.build_number, files)
