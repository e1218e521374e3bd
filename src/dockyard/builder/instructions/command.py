"""CMD and ENTRYPOINT: shell form runs through the stage's SHELL. Setting ENTRYPOINT
clears a CMD inherited from the base (not one set earlier in this stage), as Docker."""

from __future__ import annotations

from dockyard.builder.dockerfile import CommandInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


def argv_of(instruction: CommandInstruction, shell: list[str]) -> list[str]:
    if instruction.shell_form:
        return [*shell, " ".join(instruction.command)]
    return list(instruction.command)


class CmdStep(Step):
    keyword = "CMD"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, CommandInstruction)
        stage.config.config.cmd = argv_of(self.instruction, stage.shell)
        stage.cmd_set = True
        return None


class EntrypointStep(Step):
    keyword = "ENTRYPOINT"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, CommandInstruction)
        stage.config.config.entrypoint = argv_of(self.instruction, stage.shell)
        if not stage.cmd_set:
            stage.config.config.cmd = None
        return None
