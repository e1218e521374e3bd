"""LABEL: key/value metadata in the image config."""

from __future__ import annotations

from dockyard.builder.dockerfile import LabelInstruction, MaintainerInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class LabelStep(Step):
    keyword = "LABEL"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, LabelInstruction)
        labels = dict(stage.config.config.labels or {})
        for pair in self.instruction.pairs:
            labels[pair.key] = pair.value
        stage.config.config.labels = labels
        return None

    def created_by(self) -> str:
        assert isinstance(self.instruction, LabelInstruction)
        return "LABEL " + " ".join(f"{p.key}={p.value}" for p in self.instruction.pairs)


class MaintainerStep(Step):
    """MAINTAINER (deprecated): sets the config's author."""

    keyword = "MAINTAINER"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, MaintainerInstruction)
        stage.config.author = self.instruction.maintainer
        return None
