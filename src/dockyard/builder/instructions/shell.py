"""SHELL: the shell later shell-form RUN/CMD/ENTRYPOINT use (also kept in the config)."""

from __future__ import annotations

from dockyard.builder.dockerfile import ShellInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class ShellStep(Step):
    keyword = "SHELL"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, ShellInstruction)
        stage.shell = list(self.instruction.shell)
        stage.config.config.shell = list(self.instruction.shell)
        return None
