"""SHELL: the shell later shell-form RUN/CMD/ENTRYPOINT use (also kept in the config)."""

from __future__ import annotations

from dockyard.build.dockerfile import ShellInstruction
from dockyard.build.instructions.base import Change, Step
from dockyard.build.state import BuildEnv, StageState


class ShellStep(Step):
    keyword = "SHELL"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, ShellInstruction)
        stage.shell = list(self.instruction.shell)
        stage.config.config.shell = list(self.instruction.shell)
        return None
