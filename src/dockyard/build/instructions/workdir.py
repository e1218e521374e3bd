"""WORKDIR: sets the working directory (relative paths join the previous one) and
creates it when missing, so the image has it even if no RUN ever uses it."""

from __future__ import annotations

import posixpath

from dockyard.build.dockerfile import WorkdirInstruction
from dockyard.build.fsops import Ownership, is_dir_in_root, resolve, scaffold
from dockyard.build.instructions.base import Change, Step
from dockyard.build.state import BuildEnv, StageState


class WorkdirStep(Step):
    keyword = "WORKDIR"
    makes_layer = True

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, WorkdirInstruction)
        path = self.instruction.path
        if not path.startswith("/"):
            path = posixpath.join(stage.workdir, path)
        path = posixpath.normpath(path)
        stage.config.config.working_dir = path
        rel = resolve(stage.rootfs, path)
        if is_dir_in_root(stage.rootfs, rel):
            return None
        staging = build.new_dir("workdir")
        scaffold(stage.rootfs, staging, rel, Ownership(0, 0))
        return Change(upper=staging)
