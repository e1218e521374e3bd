"""USER: the user later RUNs and the container run as (resolved at RUN time, as Docker)."""

from __future__ import annotations

from dockyard.builder.dockerfile import UserInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class UserStep(Step):
    keyword = "USER"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, UserInstruction)
        stage.config.config.user = self.instruction.user
        return None
