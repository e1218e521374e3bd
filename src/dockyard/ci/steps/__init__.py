"""One module per pipeline step, all behind `Step` (`run(ctx, host)`), as `dockyard.builder.
instructions` does for Dockerfile instructions. `step_for(call)` picks the class by name; a name
no module implements is a `StepFailed` naming the known steps."""

from __future__ import annotations

from dockyard.ci.model import Step as Call
from dockyard.ci.steps.ansi_color import AnsiColorStep
from dockyard.ci.steps.archive_artifacts import ArchiveArtifactsStep
from dockyard.ci.steps.build_job import BuildJobStep
from dockyard.ci.steps.checkout import CheckoutStep
from dockyard.ci.steps.container import ContainerStep
from dockyard.ci.steps.credentials import BuildCredentials
from dockyard.ci.steps.data_files import (
    ReadJSONStep,
    ReadYAMLStep,
    ReadYamlStep,
    WriteJSONStep,
    WriteYAMLStep,
    WriteYamlStep,
)
from dockyard.ci.steps.delete_dir import CleanWsStep, DeleteDirStep
from dockyard.ci.steps.dir import DirStep
from dockyard.ci.steps.echo import EchoStep
from dockyard.ci.steps.error import ErrorStep
from dockyard.ci.steps.gitops_set_image import GitopsSetImageStep
from dockyard.ci.steps.input import InputStep
from dockyard.ci.steps.interface import BuildAborted, Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.junit import JunitStep
from dockyard.ci.steps.read_file import FileExistsStep, ReadFileStep
from dockyard.ci.steps.results import CatchErrorStep, UnstableStep, WarnErrorStep
from dockyard.ci.steps.retry import RetryStep
from dockyard.ci.steps.script import ScriptStep
from dockyard.ci.steps.sh import TRACE_EVENTS, ShStep
from dockyard.ci.steps.sleep import SleepStep
from dockyard.ci.steps.stash import StashStep, UnstashStep
from dockyard.ci.steps.timeout import TimeoutStep
from dockyard.ci.steps.timestamps import TimestampsStep
from dockyard.ci.steps.values import interpolate
from dockyard.ci.steps.wait_until import WaitUntilStep
from dockyard.ci.steps.with_credentials import WithCredentialsStep
from dockyard.ci.steps.with_env import WithEnvStep
from dockyard.ci.steps.write_file import WriteFileStep

STEPS: dict[str, type[Step]] = {
    cls.name: cls
    for cls in (
        AnsiColorStep,
        ArchiveArtifactsStep,
        BuildJobStep,
        CatchErrorStep,
        CheckoutStep,
        CleanWsStep,
        ContainerStep,
        DeleteDirStep,
        DirStep,
        EchoStep,
        ErrorStep,
        FileExistsStep,
        InputStep,
        GitopsSetImageStep,
        JunitStep,
        ReadFileStep,
        ReadJSONStep,
        ReadYamlStep,
        ReadYAMLStep,
        RetryStep,
        ScriptStep,
        ShStep,
        SleepStep,
        StashStep,
        TimeoutStep,
        TimestampsStep,
        UnstableStep,
        UnstashStep,
        WaitUntilStep,
        WarnErrorStep,
        WithCredentialsStep,
        WithEnvStep,
        WriteFileStep,
        WriteJSONStep,
        WriteYamlStep,
        WriteYAMLStep,
    )
}


class UnknownStep(StepFailed):
    """A step name that no module in `dockyard.ci.steps` implements."""


def step_for(call: Call) -> Step:
    """The step object for a parsed call; `UnknownStep` when Dockyard has no such step."""
    cls = STEPS.get(call.name)
    if cls is None:
        where = f"{call.pos}: " if call.pos else ""
        raise UnknownStep(
            f"{where}unknown step '{call.name}': Dockyard does not implement it"
            f" (steps: {', '.join(sorted(STEPS))})"
        )
    return cls(call)


__all__ = [
    "STEPS",
    "TRACE_EVENTS",
    "BuildAborted",
    "Ctx",
    "BuildCredentials",
    "Step",
    "StepFailed",
    "StepHost",
    "UnknownStep",
    "interpolate",
    "step_for",
]
