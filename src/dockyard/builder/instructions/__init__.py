"""One module per Dockerfile instruction, all behind `Step` (execute / files_used /
created_by / makes_layer). `step_for(instruction)` picks the class by keyword."""

from __future__ import annotations

from dockyard.builder.dockerfile import Instruction
from dockyard.builder.instructions.add import AddStep
from dockyard.builder.instructions.arg import ArgStep
from dockyard.builder.instructions.command import CmdStep, EntrypointStep
from dockyard.builder.instructions.copy import CopyStep
from dockyard.builder.instructions.env import EnvStep
from dockyard.builder.instructions.expose import ExposeStep
from dockyard.builder.instructions.healthcheck import HealthcheckStep
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.instructions.label import LabelStep, MaintainerStep
from dockyard.builder.instructions.onbuild import OnbuildStep
from dockyard.builder.instructions.run import RunStep
from dockyard.builder.instructions.shell import ShellStep
from dockyard.builder.instructions.stopsignal import StopsignalStep
from dockyard.builder.instructions.user import UserStep
from dockyard.builder.instructions.volume import VolumeStep
from dockyard.builder.instructions.workdir import WorkdirStep

STEPS: dict[str, type[Step]] = {
    cls.keyword: cls
    for cls in (AddStep, ArgStep, CmdStep, CopyStep, EntrypointStep, EnvStep, ExposeStep,
                HealthcheckStep, LabelStep, MaintainerStep, OnbuildStep, RunStep, ShellStep,
                StopsignalStep, UserStep, VolumeStep, WorkdirStep)
}


def step_for(instruction: Instruction) -> Step:
    return STEPS[instruction.keyword](instruction)


__all__ = ["STEPS", "Change", "Step", "step_for"]
