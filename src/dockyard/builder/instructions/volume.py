"""VOLUME: mount points recorded in the config's Volumes."""

from __future__ import annotations

from dockyard.builder.dockerfile import VolumeInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class VolumeStep(Step):
    keyword = "VOLUME"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, VolumeInstruction)
        volumes = dict(stage.config.config.volumes or {})
        for path in self.instruction.paths:
            if path:
                volumes[path] = {}
        stage.config.config.volumes = volumes
        return None
