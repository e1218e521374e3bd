"""The executor interface every agent backend implements (Woodpecker's Backend, Drone's Engine):
set up once per build, start a step, wait for it, tail its output, destroy everything.

The runner knows nothing of processes or pods; a Kubernetes executor (one pod per build with an
emptyDir workspace) implements the same five calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

AGENT_UMASK = 0o022  # a Jenkins agent's (and Docker's RUN): files a build makes reach images


def with_agent_umask(argv: list[str]) -> list[str]:
    """`argv` run under the agent's umask, not the server's private 077 (`dockyard up`): the
    checkout and the steps write the workspace, whose modes COPY puts into images. (uvloop's
    subprocesses take no `umask=`; a shell sets it and execs, keeping the pid.)"""
    return ["/bin/sh", "-c", f'umask {AGENT_UMASK:03o} && exec "$@"', "sh", *argv]


class ExecutorError(Exception):
    """The agent cannot be prepared (bad pod template, missing credential); the message says why."""


@dataclass(frozen=True)
class VolumeFile:
    """A file to place in the agent's filesystem before steps run (secret volume items)."""

    path: str
    data: bytes
    mode: int = 0o600


@dataclass
class ContainerSpec:
    """One container of the pod template: only what the local agent honours."""

    name: str
    image: str
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    files: list[VolumeFile] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    network: str = "default"  # "none": an empty network namespace (pod annotation, see podtemplate)


@dataclass
class AgentSpec:
    """What a build needs from its agent: the workspace and the pod's containers (may be empty)."""

    workspace: Path
    build_dir: Path
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    insecure_registries: list[str] = field(default_factory=list)  # plain-HTTP pulls (Dockyard's own)
    # For executors that run the build elsewhere (Kubernetes): the pod template as written, the
    # build's identity and timeout (pod labels, activeDeadlineSeconds), and the server's credential
    # store for the cloud's own settings (an administrator's pull credential), never for steps.
    pod_yaml: str = ""
    job: str = ""
    number: int = 0
    build_url: str = ""
    timeout_seconds: float | None = None
    cloud_credentials: Any = None


@dataclass(frozen=True)
class StepSpec:
    """One shell step: the script, where it runs and with which environment."""

    script: str
    env: Mapping[str, str]
    cwd: Path
    container: str | None = None
    shell: str | None = None
    label: str = ""


class StepHandle(Protocol):
    @property
    def id(self) -> str: ...


class Executor(Protocol):
    name: str

    async def setup(self, spec: AgentSpec, log: Any) -> None: ...

    async def start_step(self, step: StepSpec) -> StepHandle: ...

    def tail(self, handle: StepHandle) -> AsyncIterator[bytes]: ...

    async def wait(self, handle: StepHandle) -> int: ...

    async def kill(self, handle: StepHandle) -> None: ...

    async def destroy(self) -> None: ...
