"""Agent backends behind one interface (`Executor`); `LocalExecutor` is the embedded default."""

from dockyard.ci.executor.interface import (
    AgentSpec,
    ContainerSpec,
    Executor,
    ExecutorError,
    StepSpec,
    VolumeFile,
)
from dockyard.ci.executor.local import LocalExecutor, is_kaniko

__all__ = [
    "AgentSpec",
    "ContainerSpec",
    "Executor",
    "ExecutorError",
    "LocalExecutor",
    "StepSpec",
    "VolumeFile",
    "is_kaniko",
]
