"""ONBUILD: stores a trigger in the config; images built FROM this one run it first."""

from __future__ import annotations

from dockyard.builder.dockerfile import OnbuildInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class OnbuildStep(Step):
    keyword = "ONBUILD"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, OnbuildInstruction)
        triggers = list(stage.config.config.on_build or [])
        triggers.append(self.instruction.expression)
        stage.config.config.on_build = triggers
        return None
