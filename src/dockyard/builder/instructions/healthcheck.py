"""HEALTHCHECK: the config's Healthcheck (durations in nanoseconds, as Docker)."""

from __future__ import annotations

from dockyard.builder.dockerfile import HealthcheckInstruction
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState
from dockyard.oci import HealthConfig


class HealthcheckStep(Step):
    keyword = "HEALTHCHECK"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        i = self.instruction
        assert isinstance(i, HealthcheckInstruction)
        stage.config.config.healthcheck = HealthConfig(
            test=list(i.test),
            interval=i.interval or None,
            timeout=i.timeout or None,
            start_period=i.start_period or None,
            start_interval=i.start_interval or None,
            retries=i.retries or None,
        )
        return None
