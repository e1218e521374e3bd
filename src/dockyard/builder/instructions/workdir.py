"""WORKDIR: sets the working directory (relative paths join the previous one) and
creates it when missing (owned by the current USER), so the image has it even if no RUN
ever uses it."""

from __future__ import annotations

import posixpath

from dockyard.builder.dockerfile import WorkdirInstruction
from dockyard.builder.fsops import Ownership, is_dir_in_root, resolve, scaffold
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState
from dockyard.builder.users import resolve_user


class WorkdirStep(Step):
    keyword = "WORKDIR"
    makes_layer = True

    def apply_config(self, stage: StageState) -> None:
        assert isinstance(self.instruction, WorkdirInstruction)
        path = self.instruction.path
        if not path.startswith("/"):
            path = posixpath.join(stage.workdir, path)
        stage.config.config.working_dir = posixpath.normpath(path)

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        self.apply_config(stage)
        path = stage.workdir
        rel = resolve(stage.rootfs, path)
        if is_dir_in_root(stage.rootfs, rel):
            return None
        staging = build.new_dir("workdir")
        owner = Ownership(0, 0)
        if stage.config.config.user:  # created for the current USER, as BuildKit and buildah
            ident = resolve_user(stage.rootfs, stage.config.config.user, "WORKDIR")
            owner = Ownership(ident.uid, ident.gid)
        scaffold(stage.rootfs, staging, rel, owner)
        return Change(upper=staging)
