"""Dockyard's Dockerfile parser, following BuildKit's `frontend/dockerfile` semantics.

Public API (everything else in this package is private):

    parse(text: str, filename: str = "Dockerfile") -> Dockerfile
        Parse a whole Dockerfile. Raises DockerfileError (`str(err)` is
        "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"; attributes
        .filename .line .message).

    Dockerfile(filename, directives, escape, global_args, stages, warnings)
        .warnings: tuple[Warning(line, message, rule)]: BuildKit's build checks
            (ConsistentInstructionCasing, FromAsCasing, JSONArgsRecommended,
            LegacyKeyValueFormat, MaintainerDeprecated, MultipleInstructionsDisallowed,
            NoEmptyContinuation, ReservedStageName, SecretsUsedInArgOrEnv,
            StageNameCasing, UndefinedArgInFrom, WorkdirRelativePath); `# check=skip=...`
            drops rules, `# check=error=true` makes parse() raise on the first one.
        .directive("syntax") -> str | None
        .global_args: ARG instructions before the first FROM (they apply to FROM lines
                      only, unless an ARG in the stage re-declares them)
        .stages: tuple[Stage, ...]
    Stage(index, name, base, platform, from_instruction, instructions)
        name is lower-cased or None; base and platform are raw (unexpanded).
    Instruction subclasses (frozen, kw_only), common fields:
        keyword, line, end_line, original, flags (raw), heredocs: tuple[Heredoc, ...]
        FromInstruction(base, stage_name, platform)
        RunInstruction(command, shell_form, mounts: tuple[Mount], network, security)
        CmdInstruction / EntrypointInstruction(command, shell_form)
        LabelInstruction(pairs: tuple[KeyValue]) / EnvInstruction(pairs)
        ExposeInstruction(ports) / VolumeInstruction(paths)
        CopyInstruction(sources, dest, from_, chown, chmod, link, parents, exclude)
        AddInstruction(sources, dest, chown, chmod, checksum, keep_git_dir, link, unpack,
                       exclude)
        UserInstruction(user) / WorkdirInstruction(path) / StopsignalInstruction(signal)
        ArgInstruction(args: tuple[ArgDecl(key, value | None)])
        OnbuildInstruction(expression, instruction)
        HealthcheckInstruction(test, interval, timeout, start_period, start_interval,
                               retries)   # durations in nanoseconds
        ShellInstruction(shell) / MaintainerInstruction(maintainer)
    Heredoc(name, content, expand, chomp); Mount(type, target, source, from_, readonly,
        id, sharing, mode, uid, gid, required, size, env, raw)

    Variable expansion (BuildKit's shell lexer, `shell/lex.go`):
        expand(word, env, escape="\\") -> str          one word, quotes removed
        expand_words(word, env, escape="\\") -> list[str]   split into words (EXPOSE, ...)
        expand_instruction(instruction, env, escape="\\") -> Instruction
            a copy with every value BuildKit expands (ADD, COPY, ENV, EXPOSE, FROM, LABEL,
            STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD-wrapped, flag values and --mount
            options) expanded and quotes removed; RUN/CMD/ENTRYPOINT left to the shell;
            ONBUILD returned unchanged (triggers expand in the image that runs them).
            COPY/ADD heredoc bodies with an unquoted delimiter expand `$` only.
            `env` is the stage's ARG + ENV values at that instruction: for
            `ENV a=x b=$a` pass the values *before* the instruction (b gets the old a).
        expand_with_matches(word, env, escape) -> ExpansionResult(word, words, matched,
            unmatched)                                    (for unused-ARG warnings)
        Lexer(escape, raw_quotes=, raw_escapes=, skip_process_quotes=, skip_unset_env=)
        ExpansionError (ValueError) for unterminated quotes, bad ${...}, ${V:?msg}
        PREDEFINED_ARGS (proxy + platform names), platform_args(target_platform,
            build_platform) -> {"TARGETPLATFORM": ..., "TARGETOS": ..., ...}
        global_env(dockerfile, build_args, platform_args) -> dict: what FROM lines see

    Stage selection:
        resolve_stage(dockerfile, name_or_index) -> Stage
        stages_needed(dockerfile, target=None, build_args=None, platform=None) -> list[int]
            indexes (ascending) of the stages the target needs, through FROM <stage>,
            COPY --from=<stage> and RUN --mount=from=<stage>.
        stage_dependencies(dockerfile, stage, env) -> list[int]  (direct ones)

    Heredocs: RUN/COPY/ADD (also under ONBUILD) in shell form. The command words keep
    the `<<EOF` markers (RUN ("<<EOF",) means "run the heredoc as the script"); the
    bodies are in instruction.heredocs in order. COPY/ADD: `sources` holds the paths
    only; every heredoc is one more source (a file named after it), as BuildKit's
    SourceContents. `heredoc_source(word)` -> Heredoc (empty content) or None tells
    whether a word is a heredoc marker.
    BuildKit's RUN rules (dockerfile2llb dispatchRun): if the command is exactly one
    heredoc marker (`heredoc_source(command[0])` is not None) and its body starts with
    `#!`, write the body to a 0755 file and execute it without a shell; if it is exactly
    one marker without `#!`, run the body with the SHELL (`sh -c BODY`); otherwise run
    `command[0] + "\n" + body + name` for each heredoc through the SHELL, which then
    handles the here-documents itself (quoted delimiters stay unexpanded).

    Checks done at parse time, each a DockerfileError with the line: unknown
    instruction (with a suggestion), unknown/duplicate/missing-value flags, argument
    counts, JSON where mandatory (SHELL), non-string JSON arrays, unterminated heredoc,
    heredoc as destination, instruction before FROM, no FROM, duplicate or invalid stage
    names, COPY --from / mount from= / FROM naming this or a later stage, bad --mount
    options (type, keys, sharing, mode/uid/gid, tmpfs size, secret without id,
    variables in from=), --network/--security values, HEALTHCHECK type, durations,
    retries, ONBUILD ONBUILD/FROM/MAINTAINER, COPY from a URL, ADD --checksum misuse,
    STOPSIGNAL names, duplicate or invalid parser directives.
"""

from dockyard.builder.dockerfile.expansion import (
    PREDEFINED_ARGS,
    expand_instruction,
    global_env,
    platform_args,
)
from dockyard.builder.dockerfile.lexer import (
    ExpansionError,
    Lexer,
    expand,
    expand_with_matches,
    expand_words,
)
from dockyard.builder.dockerfile.lines import parse_heredoc_word as heredoc_source
from dockyard.builder.dockerfile.model import (
    AddInstruction,
    ArgDecl,
    ArgInstruction,
    CmdInstruction,
    CommandInstruction,
    CopyInstruction,
    Directive,
    Dockerfile,
    DockerfileError,
    EntrypointInstruction,
    EnvInstruction,
    ExposeInstruction,
    FromInstruction,
    HealthcheckInstruction,
    Heredoc,
    Instruction,
    KeyValue,
    LabelInstruction,
    MaintainerInstruction,
    Mount,
    OnbuildInstruction,
    RunInstruction,
    ShellInstruction,
    Stage,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    Warning,
    WorkdirInstruction,
)
from dockyard.builder.dockerfile.parser import parse
from dockyard.builder.dockerfile.stages import resolve_stage, stage_dependencies, stages_needed

__all__ = [
    "PREDEFINED_ARGS",
    "ExpansionError",
    "Lexer",
    "expand",
    "expand_instruction",
    "expand_with_matches",
    "expand_words",
    "global_env",
    "heredoc_source",
    "parse",
    "platform_args",
    "resolve_stage",
    "stage_dependencies",
    "stages_needed",
    "AddInstruction",
    "ArgDecl",
    "ArgInstruction",
    "CmdInstruction",
    "CommandInstruction",
    "CopyInstruction",
    "Directive",
    "Dockerfile",
    "DockerfileError",
    "EntrypointInstruction",
    "EnvInstruction",
    "ExposeInstruction",
    "FromInstruction",
    "HealthcheckInstruction",
    "Heredoc",
    "Instruction",
    "KeyValue",
    "LabelInstruction",
    "MaintainerInstruction",
    "Mount",
    "OnbuildInstruction",
    "RunInstruction",
    "ShellInstruction",
    "Stage",
    "StopsignalInstruction",
    "UserInstruction",
    "VolumeInstruction",
    "Warning",
    "WorkdirInstruction",
]
