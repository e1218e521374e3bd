"""ARG: declares a build argument in the stage; --build-arg values win over defaults,
and a global ARG's value is inherited by a stage that re-declares it without one."""

from __future__ import annotations

from dockyard.builder.dockerfile import ArgInstruction, expand
from dockyard.builder.instructions.interface import Change, Step
from dockyard.builder.state import BuildEnv, StageState


class ArgStep(Step):
    keyword = "ARG"

    def execute(self, stage: StageState, build: BuildEnv) -> Change | None:
        assert isinstance(self.instruction, ArgInstruction)
        given = build.options.build_args
        for decl in self.instruction.args:
            if decl.key in given and given[decl.key] is not None:
                stage.args[decl.key] = str(given[decl.key])
            elif decl.value is not None:
                stage.args[decl.key] = expand(decl.value, stage.expansion_env(), build.escape)
            elif decl.key in build.global_args:
                stage.args[decl.key] = build.global_args[decl.key]
        return None
