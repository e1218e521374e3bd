"""Which stages a build target needs, and finding a stage by name or index."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.builder.dockerfile import model as m
from dockyard.builder.dockerfile.expansion import global_env
from dockyard.builder.dockerfile.lexer import ExpansionError, expand
from dockyard.builder.dockerfile.parser import stage_references


def resolve_stage(dockerfile: m.Dockerfile, name_or_index: str | int | None) -> m.Stage:
    """`--target` lookup: a stage name (case-insensitive), an index, or None for the last."""
    stages = dockerfile.stages
    if name_or_index is None or name_or_index == "":
        return stages[-1]
    if isinstance(name_or_index, int) or name_or_index.isdigit():
        index = int(name_or_index)
        if 0 <= index < len(stages):
            return stages[index]
    else:
        for stage in stages:
            if stage.name == name_or_index.lower():
                return stage
    names = [s.name for s in stages if s.name]
    known = ", ".join(names) if names else "none (name stages with FROM image AS name)"
    raise m.DockerfileError(
        f"target stage {str(name_or_index)!r} could not be found; stage names: {known}; "
        f"indexes 0..{len(stages) - 1}",
        filename=dockerfile.filename,
    )


def _find(dockerfile: m.Dockerfile, ref: str, before: int) -> int | None:
    """Index of an earlier stage that `ref` names, or None (then it is an image)."""
    lowered = ref.lower()
    for stage in dockerfile.stages[:before]:
        if stage.name == lowered:
            return stage.index
    if ref.isdigit() and int(ref) < before:
        return int(ref)
    return None


def stage_dependencies(
    dockerfile: m.Dockerfile, stage: m.Stage, env: Mapping[str, str]
) -> list[int]:
    """Earlier stages `stage` uses: its FROM base, COPY --from, RUN --mount from=."""
    deps: list[int] = []
    try:
        base = expand(stage.base, env, dockerfile.escape)
    except ExpansionError:
        base = stage.base
    found = _find(dockerfile, base, stage.index)
    if found is not None:
        deps.append(found)
    for instruction in stage.instructions:
        for _, ref in stage_references(instruction):
            try:
                ref = expand(ref, env, dockerfile.escape)
            except ExpansionError:
                continue
            found = _find(dockerfile, ref, stage.index)
            if found is not None and found not in deps:
                deps.append(found)
    return deps


def stages_needed(
    dockerfile: m.Dockerfile,
    target: str | int | None = None,
    build_args: Mapping[str, str] | None = None,
    platform: Mapping[str, str] | None = None,
) -> list[int]:
    """Indexes (ascending) of the stages building `target` needs, target included.

    References are expanded with the global ARG values (build args win), which is what
    FROM sees; a `--from=$X` that only a stage-level ARG defines is resolved the same way.
    """
    env = global_env(dockerfile, build_args, platform)
    goal = resolve_stage(dockerfile, target)
    needed: set[int] = set()
    todo = [goal.index]
    while todo:
        index = todo.pop()
        if index in needed:
            continue
        needed.add(index)
        todo.extend(stage_dependencies(dockerfile, dockerfile.stages[index], env))
    return sorted(needed)
