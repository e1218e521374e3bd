"""`parse()`: text -> `Dockerfile` with stages, plus the checks that need the whole file
(instruction before FROM, duplicate stage names, references to later stages)."""

from __future__ import annotations

from dataclasses import replace

from dockyard.builder.dockerfile import lint
from dockyard.builder.dockerfile import model as m
from dockyard.builder.dockerfile.instructions import parse_instruction
from dockyard.builder.dockerfile.lines import scan
from dockyard.builder.dockerfile.syntax import SyntaxProblem


def parse(text: str, filename: str = "Dockerfile") -> m.Dockerfile:
    """Parse a Dockerfile; raises DockerfileError naming file, line and the fix."""
    scanned = scan(text, filename)
    if not scanned.lines:
        raise m.DockerfileError(
            "file with no instructions: a Dockerfile needs at least a FROM line",
            filename=filename,
            line=0,
        )
    global_args: list[m.ArgInstruction] = []
    stages: list[_StageBuilder] = []
    for raw in scanned.lines:
        try:
            instruction = parse_instruction(
                raw.text, raw.line, raw.end_line, tuple(raw.heredocs), scanned.escape
            )
        except SyntaxProblem as err:
            raise m.DockerfileError(str(err), filename=filename, line=raw.line) from None
        if isinstance(instruction, m.FromInstruction):
            stages.append(_StageBuilder(len(stages), instruction))
        elif not stages:
            if isinstance(instruction, m.ArgInstruction):
                global_args.append(instruction)
            else:
                raise m.DockerfileError(
                    f"{instruction.keyword} before the first FROM: only ARG may come before "
                    "FROM; move it below a FROM line",
                    filename=filename,
                    line=instruction.line,
                )
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise m.DockerfileError(
            "no FROM instruction: a Dockerfile needs at least one 'FROM image' line "
            "(dockerfile contains no stages to build)",
            filename=filename,
            line=scanned.lines[-1].line,
        )
    built = tuple(stage.build() for stage in stages)
    _check_stage_names(built, filename)
    _check_references(built, filename)
    dockerfile = m.Dockerfile(
        filename=filename,
        directives=tuple(scanned.directives),
        escape=scanned.escape,
        global_args=tuple(global_args),
        stages=built,
    )
    warnings = sorted([*scanned.warnings, *lint.check(dockerfile)], key=lambda w: w.line)
    warnings = lint.apply_check_directive(dockerfile.directive("check"), warnings, filename)
    return replace(dockerfile, warnings=tuple(warnings))


class _StageBuilder:
    def __init__(self, index: int, from_instruction: m.FromInstruction) -> None:
        self.index = index
        self.from_instruction = from_instruction
        self.instructions: list[m.Instruction] = []

    def build(self) -> m.Stage:
        f = self.from_instruction
        return m.Stage(
            index=self.index,
            name=f.stage_name,
            base=f.base,
            platform=f.platform,
            from_instruction=f,
            instructions=tuple(self.instructions),
        )


def _check_stage_names(stages: tuple[m.Stage, ...], filename: str) -> None:
    seen: dict[str, m.Stage] = {}
    for stage in stages:
        if stage.name is None:
            continue
        if stage.name in seen:
            first = seen[stage.name]
            raise m.DockerfileError(
                f"duplicate stage name {stage.name!r} (first used on line {first.line}); "
                "give each stage a different name",
                filename=filename,
                line=stage.line,
            )
        seen[stage.name] = stage


def stage_references(instruction: m.Instruction) -> list[tuple[str, str]]:
    """(what, reference) pairs naming another stage or image: COPY --from, mount from=."""
    refs: list[tuple[str, str]] = []
    if isinstance(instruction, m.CopyInstruction) and instruction.from_:
        refs.append((f"COPY --from={instruction.from_}", instruction.from_))
    elif isinstance(instruction, m.RunInstruction):
        for mount in instruction.mounts:
            if mount.from_:
                refs.append((f"RUN --mount=...,from={mount.from_}", mount.from_))
    return refs


def _check_references(stages: tuple[m.Stage, ...], filename: str) -> None:
    by_name = {stage.name: stage for stage in stages if stage.name}
    for stage in stages:
        # FROM only sees earlier stages (BuildKit): a later stage's name there is an image.
        for instruction in stage.instructions:
            for what, ref in stage_references(instruction):
                if "$" in ref:
                    continue
                target = by_name.get(ref.lower())
                if target is not None and target.index >= stage.index:
                    where = "is this stage" if target.index == stage.index else \
                        f"is defined later, on line {target.line}"
                    raise m.DockerfileError(
                        f"{what}: stage {target.name!r} {where}; a stage can only use "
                        "earlier stages (move it before this one)",
                        filename=filename,
                        line=instruction.line,
                    )
                if ref.isdigit() and int(ref) >= stage.index:
                    raise m.DockerfileError(
                        f"{what}: stage index {ref} is not an earlier stage (this is stage "
                        f"{stage.index}; valid indexes are 0..{stage.index - 1})"
                        if stage.index else
                        f"{what}: stage index {ref} is not an earlier stage (this is the "
                        "first stage)",
                        filename=filename,
                        line=instruction.line,
                    )
