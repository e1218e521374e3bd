"""The one interface every instruction implements (Kaniko's pkg/commands shape)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dockyard.builder.dockerfile import Instruction
from dockyard.builder.layer_writer import Entry
from dockyard.builder.state import BuildEnv, StageState


@dataclass
class Change:
    """What a step changed on disk: a staged/upper dir to become the layer (and be merged
    into the rootfs), or entries already in the rootfs (tree-diff fallback)."""

    upper: Path | None = None
    entries: list[Entry] | None = None
    lower: Path | None = None  # the rootfs the upper sits on (to prune copied-up dirs)


class Step:
    """One Dockerfile instruction, already expanded with the stage's ARG/ENV values."""

    keyword: ClassVar[str] = ""
    makes_layer: ClassVar[bool] = False

    def __init__(self, instruction: Instruction) -> None:
        self.instruction = instruction

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        """Applies the instruction; returns the filesystem change or None (config only)."""
        raise NotImplementedError

    def apply_config(self, stage: StageState) -> None:
        """The step's effect on the image config alone (also run when its layer comes
        from the cache); most layer steps have none."""

    def files_used(self, stage: StageState, build: BuildEnv) -> list[Path]:
        """Context files the result depends on (part of the layer cache key)."""
        return []

    def created_by(self) -> str:
        """The history line, as BuildKit writes it."""
        return self.instruction.original
