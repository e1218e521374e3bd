"""One module per Dockerfile instruction, all behind `Step` (execute / files_used /
created_by / makes_layer). `step_for(instruction)` picks the class by keyword."""

from __future__ import annotations

from dockyard.build.dockerfile import Instruction
from dockyard.build.instructions.add import AddStep
from dockyard.build.instructions.arg import ArgStep
from dockyard.build.instructions.base import Change, Step
from dockyard.build.instructions.command import CmdStep, EntrypointStep
from dockyard.build.instructions.copy import CopyStep
from dockyard.build.instructions.env import EnvStep
from dockyard.build.instructions.expose import ExposeStep
from dockyard.build.instructions.healthcheck import HealthcheckStep
from dockyard.build.instructions.label import LabelStep, MaintainerStep
from dockyard.build.instructions.onbuild import OnbuildStep
from dockyard.build.instructions.run import RunStep
from dockyard.build.instructions.shell import ShellStep
from dockyard.build.instructions.stopsignal import StopsignalStep
from dockyard.build.instructions.user import UserStep
from dockyard.build.instructions.volume import VolumeStep
from dockyard.build.instructions.workdir import WorkdirStep

STEPS: dict[str, type[Step]] = {
    cls.keyword: cls
    for cls in (AddStep, ArgStep, CmdStep, CopyStep, EntrypointStep, EnvStep, ExposeStep,
                HealthcheckStep, LabelStep, MaintainerStep, OnbuildStep, RunStep, ShellStep,
                StopsignalStep, UserStep, VolumeStep, WorkdirStep)
}


def step_for(instruction: Instruction) -> Step:
    return STEPS[instruction.keyword](instruction)


__all__ = ["STEPS", "Change", "Step", "step_for"]
