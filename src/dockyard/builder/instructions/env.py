"""ENV: sets variables in the image config (each value sees the earlier ones)."""

from __future__ import annotations

from dockyard.builder.dockerfile import EnvInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class EnvStep(Step):
    keyword = "ENV"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, EnvInstruction)
        for pair in self.instruction.pairs:
            stage.config.config.set_env(pair.key, pair.value)
        return None

    def created_by(self) -> str:
        assert isinstance(self.instruction, EnvInstruction)
        return "ENV " + " ".join(f"{p.key}={p.value}" for p in self.instruction.pairs)
