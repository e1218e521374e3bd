"""Agent backends by name, for the composition to pick one and pass it into `CIService`.

Each backend hands out one `Executor` per build and owns what its builds share (the local one: a
pre-warmed Kaniko executor; the Kubernetes one: its API client, concurrency cap and orphan
sweep). `executor_backend` gives the server one `ChoosingBackend`: its default executor is
`Settings.ci_executor`, and a pipeline picks the other one with its pod template's annotation
`dockyard.io/executor: kubernetes` (or `local`), which the runner reads once the pipeline is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.ci.component import ExecutorBackend
from dockyard.ci.executor.interface import AgentSpec, Executor, ExecutorError, StepHandle, StepSpec
from dockyard.ci.executor.local import LocalExecutor
from dockyard.ci.executor.warm import WarmExecutor
from dockyard.config import CI_EXECUTORS, DEFAULT_KANIKO_IMAGES, Settings

if TYPE_CHECKING:
    from dockyard.ci.executor.kubernetes import KubernetesBackend


class LocalBackend:
    """Builds on this machine, each step in the local executor's sandbox; `hidden` are host paths
    no step may see (the data directory)."""

    name = "local"

    def __init__(self, hidden: Sequence[Path] = (), kaniko_images: Sequence[str] = DEFAULT_KANIKO_IMAGES,
                 prewarm: bool = True) -> None:
        self.warm = WarmExecutor(enabled=prewarm)
        self.hidden = tuple(hidden)
        self.kaniko_images = tuple(kaniko_images)

    def new(self) -> Executor:
        return LocalExecutor(self.warm, hidden=self.hidden, kaniko_images=self.kaniko_images)

    async def start(self) -> None:
        """Nothing to do: leftovers of a crash are killed by the scheduler (`kill_leftovers`)."""

    def close(self) -> None:
        self.warm.close()


def kubernetes_backend(settings: Settings) -> KubernetesBackend:
    """The Kubernetes cloud of these settings (its client loads on first use)."""
    from dockyard.ci.executor.kubernetes import KubernetesBackend, KubernetesCloud

    cloud = KubernetesCloud(
        kubeconfig=settings.k8s_kubeconfig,
        namespace=settings.k8s_namespace,
        agent_image=settings.k8s_agent_image,
        executor_image=settings.k8s_executor_image,
        kaniko_images=settings.kaniko_images,
        pod_timeout=settings.k8s_pod_timeout,
        container_cap=settings.k8s_container_cap,
        pull_credential=settings.k8s_pull_credential,
    )
    return KubernetesBackend(cloud, settings.data_dir)


class ChoosingBackend:
    """The local backend and, when a build asks for it, the Kubernetes one; `default` serves
    builds whose pipeline does not choose."""

    def __init__(self, default: str, settings: Settings) -> None:
        if default not in CI_EXECUTORS:
            raise ValueError(f"unknown CI executor {default!r} (known: {', '.join(CI_EXECUTORS)})")
        self.default = default
        self.settings = settings
        self.local = LocalBackend(hidden=(settings.data_dir,), kaniko_images=settings.kaniko_images,
                                  prewarm=settings.ci_prewarm)
        self._kubernetes: KubernetesBackend | None = None

    @property
    def name(self) -> str:
        return self.default

    @property
    def kubernetes(self) -> KubernetesBackend:
        if self._kubernetes is None:
            self._kubernetes = kubernetes_backend(self.settings)
        return self._kubernetes

    def new(self) -> Executor:
        return ExecutorChoice(self)

    def pick(self, wanted: str) -> Executor:
        """A fresh executor of the kind `wanted` ("" for the default)."""
        kind = wanted or self.default
        if kind not in CI_EXECUTORS:
            known = ", ".join(CI_EXECUTORS)
            raise ExecutorError(f"pod annotation dockyard.io/executor: {wanted!r} is not one of {known}")
        return self.kubernetes.new() if kind == "kubernetes" else self.local.new()

    async def start(self) -> None:
        """With Kubernetes configured, its orphan pods go before the first build starts."""
        if self.default == "kubernetes" or self.settings.k8s_namespace or self.settings.k8s_kubeconfig:
            await self.kubernetes.start()

    def close(self) -> None:
        self.local.close()
        if self._kubernetes is not None:
            self._kubernetes.close()


class ExecutorChoice:
    """One build's executor before its pipeline is read: the runner calls `pick` with the
    pipeline's choice and uses what it returns. Nothing runs on it before that."""

    name = "unpicked"

    def __init__(self, backend: ChoosingBackend) -> None:
        self.backend = backend

    def pick(self, wanted: str) -> Executor:
        return self.backend.pick(wanted)

    async def setup(self, spec: AgentSpec, log: Any) -> None:
        raise ExecutorError("no executor was picked for this build")

    async def start_step(self, step: StepSpec) -> StepHandle:
        raise ExecutorError("no executor was picked for this build")

    def tail(self, handle: StepHandle) -> AsyncIterator[bytes]:
        raise ExecutorError("no executor was picked for this build")

    async def wait(self, handle: StepHandle) -> int:
        raise ExecutorError("no executor was picked for this build")

    async def kill(self, handle: StepHandle) -> None:
        return None

    async def destroy(self) -> None:
        return None


def executor_backend(name: str, settings: Settings) -> ExecutorBackend:
    """The backend for a server with these settings whose builds run on `name` (local or
    kubernetes) unless their pipeline picks; ValueError naming the known ones otherwise. The data
    directory is hidden from every local step."""
    return ChoosingBackend(name, settings)
