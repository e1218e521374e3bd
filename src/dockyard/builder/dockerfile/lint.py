"""BuildKit's build checks that need only the parsed file (`docs/reference/build-checks`).

They become `Dockerfile.warnings`; the `# check=` directive skips rules
(`skip=Rule1,Rule2` or `skip=all`) or turns them into errors (`error=true`), as BuildKit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dockyard.builder.dockerfile import model as m
from dockyard.builder.dockerfile.expansion import PREDEFINED_ARGS
from dockyard.builder.dockerfile.lexer import ExpansionError, expand_with_matches

RULES = (
    "ConsistentInstructionCasing", "FromAsCasing", "JSONArgsRecommended",
    "LegacyKeyValueFormat", "MaintainerDeprecated", "MultipleInstructionsDisallowed",
    "NoEmptyContinuation", "ReservedStageName", "SecretsUsedInArgOrEnv", "StageNameCasing",
    "UndefinedArgInFrom", "WorkdirRelativePath",
)
_SECRET_WORDS = re.compile(r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|"
                           r"pword|passwd|secret|token)(?:_|$)")
_SECRET_ALLOW = re.compile(r"(?i)(?:_|^)(?:public|file|path|url|dir|id|name|filename|files|"
                           r"paths|urls|dirs|ids|names)(?:_|$)")
Warn = Callable[[str, int, str], None]


def _words(instruction: m.Instruction) -> list[str]:
    return instruction.original.split()


def check(dockerfile: m.Dockerfile) -> list[m.Warning]:
    """All warnings for a parsed file, by line."""
    found: list[m.Warning] = []

    def warn(rule: str, line: int, message: str) -> None:
        found.append(m.Warning(line, message, rule))

    instructions: list[m.Instruction] = [*dockerfile.global_args]
    for stage in dockerfile.stages:
        instructions.append(stage.from_instruction)
        instructions.extend(stage.instructions)
    _casing(instructions, warn)
    global_names = {d.key for a in dockerfile.global_args for d in a.args}
    for stage in dockerfile.stages:
        _stage(dockerfile, stage, global_names, warn)
    for instruction in instructions:
        if isinstance(instruction, m.ArgInstruction):
            for decl in instruction.args:
                _secret_name(instruction, decl.key, "ARG", warn)
        elif isinstance(instruction, m.EnvInstruction | m.LabelInstruction):
            if isinstance(instruction, m.EnvInstruction):
                for pair in instruction.pairs:
                    _secret_name(instruction, pair.key, "ENV", warn)
            words = _words(instruction)
            if len(words) > 1 and "=" not in words[1]:
                keyword = instruction.keyword
                warn("LegacyKeyValueFormat", instruction.line,
                     f'"{keyword} key=value" should be used instead of legacy '
                     f'"{keyword} key value" format')
        elif isinstance(instruction, m.MaintainerInstruction):
            warn("MaintainerDeprecated", instruction.line,
                 "Maintainer instruction is deprecated in favor of using label "
                 "(LABEL org.opencontainers.image.authors=...)")
    found.sort(key=lambda w: w.line)
    return found


def _casing(instructions: list[m.Instruction], warn: Warn) -> None:
    words = [(i, _words(i)[0]) for i in instructions if _words(i)]
    upper = sum(1 for _, w in words if w.isupper())
    lower = sum(1 for _, w in words if w.islower())
    majority = "uppercase" if upper >= lower else "lowercase"
    for instruction, word in words:
        if (majority == "uppercase" and not word.isupper()) or \
                (majority == "lowercase" and not word.islower()):
            warn("ConsistentInstructionCasing", instruction.line,
                 f"Command '{word}' should match the case of the command majority "
                 f"({majority})")


def _stage(dockerfile: m.Dockerfile, stage: m.Stage, global_names: set[str],
           warn: Warn) -> None:
    f = stage.from_instruction
    words = _words(f)
    if stage.name is not None:
        as_word = next((w for w in words if w.lower() == "as"), None)
        from_word = words[0] if words else "FROM"
        if as_word and from_word.isupper() != as_word.isupper():
            warn("FromAsCasing", f.line,
                 "'as' keyword should match the case of the 'from' keyword")
        raw_name = words[-1] if words else stage.name
        if raw_name != raw_name.lower():
            warn("StageNameCasing", f.line, f"Stage name '{raw_name}' should be lowercase")
        if stage.name in ("scratch", "context"):
            warn("ReservedStageName", f.line,
                 f"'{stage.name}' is reserved and should not be used as a stage name")
    for word in (f.base, f.platform or ""):
        try:
            used = expand_with_matches(word, {}, dockerfile.escape).unmatched
        except ExpansionError:
            continue
        for name in sorted(used - global_names - PREDEFINED_ARGS):
            warn("UndefinedArgInFrom", f.line,
                 f"FROM argument '{name}' is not declared (add 'ARG {name}' before the "
                 "first FROM)")
    counts: dict[str, list[m.Instruction]] = {}
    shell_set = False
    workdir_seen = False
    for instruction in stage.instructions:
        if isinstance(instruction, m.ShellInstruction):
            shell_set = True
        if isinstance(instruction, m.CmdInstruction | m.EntrypointInstruction
                      | m.HealthcheckInstruction):
            counts.setdefault(instruction.keyword, []).append(instruction)
        if isinstance(instruction, m.CmdInstruction | m.EntrypointInstruction) and \
                instruction.shell_form and instruction.command and not shell_set:
            warn("JSONArgsRecommended", instruction.line,
                 f"JSON arguments recommended for {instruction.keyword} to prevent "
                 "unintended behavior related to OS signals")
        if isinstance(instruction, m.WorkdirInstruction) and not workdir_seen:
            workdir_seen = True
            if not instruction.path.startswith(("/", "$")):
                warn("WorkdirRelativePath", instruction.line,
                     f"Relative workdir '{instruction.path}' can have unexpected results if "
                     "the base image changes")
    for keyword, repeated in counts.items():
        for instruction in repeated[:-1]:
            warn("MultipleInstructionsDisallowed", instruction.line,
                 f"Multiple {keyword} instructions should not be used in the same stage "
                 "because only the last one will be used")


def _secret_name(instruction: m.Instruction, name: str, keyword: str, warn: Warn) -> None:
    if _SECRET_WORDS.search(name) and not _SECRET_ALLOW.search(name):
        warn("SecretsUsedInArgOrEnv", instruction.line,
             f'Do not use ARG or ENV instructions for sensitive data ({keyword} "{name}"); '
             "use RUN --mount=type=secret instead")


def apply_check_directive(
    value: str | None, warnings: list[m.Warning], filename: str
) -> list[m.Warning]:
    """`# check=skip=A,B;error=true`: drop skipped rules, raise when errors are requested."""
    if not value:
        return warnings
    skip: set[str] = set()
    as_error = False
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        key = key.strip().lower()
        if key == "skip":
            skip = {s.strip() for s in val.split(",") if s.strip()}
        elif key == "error":
            as_error = val.strip().lower() == "true"
        else:
            raise m.DockerfileError(
                f"invalid check directive {value!r}: unknown key {key!r} "
                "(use skip=Rule1,Rule2 and/or error=true)",
                filename=filename,
                line=1,
            )
    if "all" in skip:
        return []
    kept = [w for w in warnings if w.rule not in skip]
    if as_error and kept:
        first = kept[0]
        raise m.DockerfileError(
            f"{first.message} [{first.rule}] (an error because of '# check=error=true'; "
            f"fix it or skip the rule with '# check=skip={first.rule}')",
            filename=filename,
            line=first.line,
        )
    return kept
