"""Agent backends by name, for the composition to pick one and pass it into `CIService`.

Each backend hands out one `Executor` per build and owns what its builds share (the local one: a
pre-warmed Kaniko executor). A Kubernetes backend joins this table with the same two calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dockyard.ci.component import ExecutorBackend
from dockyard.ci.executor.interface import Executor
from dockyard.ci.executor.local import LocalExecutor
from dockyard.ci.executor.warm import WarmExecutor
from dockyard.config import DEFAULT_KANIKO_IMAGES, Settings


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

    def close(self) -> None:
        self.warm.close()


BACKENDS: dict[str, type[LocalBackend]] = {LocalBackend.name: LocalBackend}


def executor_backend(name: str, settings: Settings) -> ExecutorBackend:
    """The backend called `name` for a server with these settings (its data directory is hidden
    from every step); ValueError naming the known ones otherwise."""
    cls = BACKENDS.get(name)
    if cls is None:
        raise ValueError(f"unknown CI executor {name!r} (known: {', '.join(sorted(BACKENDS))})")
    return cls(hidden=(settings.data_dir,), kaniko_images=settings.kaniko_images, prewarm=settings.ci_prewarm)
