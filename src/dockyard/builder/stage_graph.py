"""Which stages a build needs and which of them wait for which: the graph the scheduler runs.

As BuildKit's solver: only the stages the target reaches are built (`--target` or the last
stage, then everything it uses), and a stage waits only for the stages it uses: its `FROM
<stage>`, `COPY --from=<stage>` / `ADD --from=<stage>` and `RUN --mount=from=<stage>`
(references expanded with the global ARGs, as `FROM` sees them). Stages that do not use each
other can build at the same time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.builder.dockerfile import Dockerfile, stage_dependencies, stages_needed
from dockyard.builder.dockerfile.expansion import global_env


@dataclass(frozen=True)
class StageGraph:
    """The needed stages (ascending; the last is the target) and the stages each one uses."""

    order: tuple[int, ...]
    uses: Mapping[int, frozenset[int]]
    names: Mapping[int, str]  # how logs and errors call a stage: its name, else its index

    @classmethod
    def plan(cls, dockerfile: Dockerfile, target: str | None, build_args: Mapping[str, str],
             platform_args: Mapping[str, str]) -> StageGraph:
        needed = stages_needed(dockerfile, target, build_args, platform_args)
        env = global_env(dockerfile, build_args, platform_args)
        uses = {index: frozenset(stage_dependencies(dockerfile, dockerfile.stages[index], env))
                for index in needed}
        names = {index: dockerfile.stages[index].name or str(index) for index in needed}
        return cls(tuple(needed), uses, names)

    def ready(self, built: set[int], started: set[int]) -> list[int]:
        """Stages not started yet whose every used stage is built, in Dockerfile order."""
        return [index for index in self.order
                if index not in started and index not in built and self.uses[index] <= built]

    def independent(self) -> bool:
        """Whether any two stages use neither each other nor each other's users (then the
        build has something to overlap; a chain of stages has not)."""
        reaches: dict[int, set[int]] = {}
        for index in self.order:  # uses point to earlier stages: one pass in order
            reaches[index] = set(self.uses[index])
            for used in self.uses[index]:
                reaches[index] |= reaches[used]
        return any(a not in reaches[b] and b not in reaches[a]
                   for i, a in enumerate(self.order) for b in self.order[i + 1:])

    def skipped(self, dockerfile: Dockerfile) -> list[str]:
        """Stages the target does not use (not built, as BuildKit; Kaniko builds them)."""
        return [stage.name or str(stage.index) for stage in dockerfile.stages
                if stage.index not in self.names]
