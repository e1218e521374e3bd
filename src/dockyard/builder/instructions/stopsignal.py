"""STOPSIGNAL: the signal that stops a container of the image."""

from __future__ import annotations

from dockyard.builder.dockerfile import StopsignalInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class StopsignalStep(Step):
    keyword = "STOPSIGNAL"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, StopsignalInstruction)
        stage.config.config.stop_signal = self.instruction.signal
        return None
