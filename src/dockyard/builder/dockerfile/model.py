"""The parsed Dockerfile: frozen dataclasses, one per instruction.

Values are kept *raw* (as written, quotes included, variables unexpanded) except where
BuildKit itself decodes them at parse time (JSON exec form, heredoc bodies, flag names).
The build engine expands them per stage with `expand_instruction` (or `expand` /
`expand_words` on single values), because the values of ARG and ENV are only known
while the stage is being built.
"""

from __future__ import annotations

from dataclasses import field

from dockyard.lazydataclass import lazy_dataclass

# ---------------------------------------------------------------- errors


class DockerfileError(ValueError):
    """A Dockerfile the builder must refuse; `str()` is `Dockerfile:3: message`."""

    def __init__(self, message: str, *, filename: str = "Dockerfile", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.line = line

    def __str__(self) -> str:
        if self.line:
            return f"{self.filename}:{self.line}: {self.message}"
        return f"{self.filename}: {self.message}"


# ---------------------------------------------------------------- building blocks


@lazy_dataclass(frozen=True)
class Directive:
    """A parser directive from the top of the file (`# syntax=...`, `# escape=...`)."""

    name: str  # lower-case
    value: str
    line: int


@lazy_dataclass(frozen=True)
class Heredoc:
    """One here-document attached to an instruction (`<<EOF` ... `EOF`).

    `content` is the body with the closing delimiter removed; with `chomp` (`<<-EOF`)
    leading tabs are already stripped from every line. `expand` is False when the
    delimiter was quoted (`<<"EOF"`, `<<'EOF'`): the body must then be used verbatim.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False


@lazy_dataclass(frozen=True)
class KeyValue:
    """One `key=value` of ENV, LABEL (raw: quotes kept, variables unexpanded)."""

    key: str
    value: str


@lazy_dataclass(frozen=True)
class ArgDecl:
    """One name of an ARG instruction; `value` is None for `ARG name` without default."""

    key: str
    value: str | None = None


@lazy_dataclass(frozen=True)
class Mount:
    """A parsed `RUN --mount=...` option (BuildKit's instructions.Mount).

    type: bind | cache | tmpfs | secret | ssh. `target` is required except for
    secret/ssh (which default to /run/secrets/<id> and /run/buildkit/ssh_agent.N).
    `from_` names a stage or image (bind, cache). `sharing`: shared | private | locked
    (cache only). `mode`, `uid`, `gid` are octal/decimal numbers already converted.
    `size` is the tmpfs size in bytes. `env` names the variable a secret is exposed as.
    `raw` is the option as written, so the engine can re-parse it after expansion.
    """

    type: str
    target: str | None = None
    source: str | None = None
    from_: str | None = None
    readonly: bool = False
    id: str | None = None
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None
    env: str | None = None
    raw: str = ""


# ---------------------------------------------------------------- instructions


@lazy_dataclass(frozen=True, kw_only=True)
class Instruction:
    """Common part of every instruction.

    keyword: upper-case name (`RUN`). line/end_line: 1-based, end_line includes
    continuation lines and heredoc bodies. original: the source text of the logical line
    (continuations joined the way BuildKit prints them). flags: every `--flag[=value]`
    as written (name -> raw value, "" for a bare boolean flag; repeated flags keep the
    last value, the typed fields hold all of them). heredocs: in order of appearance.
    """

    keyword: str
    line: int
    end_line: int
    original: str
    flags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    heredocs: tuple[Heredoc, ...] = ()


@lazy_dataclass(frozen=True, kw_only=True)
class CommandInstruction(Instruction):
    """RUN, CMD, ENTRYPOINT. `shell_form` True: `command` is one string to run through
    the stage's SHELL; False: `command` is the JSON exec form, passed as is."""

    command: tuple[str, ...]
    shell_form: bool


@lazy_dataclass(frozen=True, kw_only=True)
class FromInstruction(Instruction):
    """FROM image [AS name], with --platform."""

    base: str  # raw image reference or stage name, e.g. "$BASE" or "alpine:3.20"
    stage_name: str | None = None  # lower-cased `AS name`
    platform: str | None = None  # raw --platform value


@lazy_dataclass(frozen=True, kw_only=True)
class RunInstruction(CommandInstruction):
    """RUN, with its --mount, --network and --security flags."""

    mounts: tuple[Mount, ...] = ()
    network: str | None = None  # default | none | host
    security: str | None = None  # sandbox | insecure


@lazy_dataclass(frozen=True, kw_only=True)
class CmdInstruction(CommandInstruction):
    """CMD: the default command (exec or shell form)."""

    pass


@lazy_dataclass(frozen=True, kw_only=True)
class EntrypointInstruction(CommandInstruction):
    """ENTRYPOINT (exec or shell form)."""

    pass


@lazy_dataclass(frozen=True, kw_only=True)
class LabelInstruction(Instruction):
    """LABEL key=value pairs."""

    pairs: tuple[KeyValue, ...]


@lazy_dataclass(frozen=True, kw_only=True)
class MaintainerInstruction(Instruction):
    """MAINTAINER (deprecated; becomes the author field)."""

    maintainer: str


@lazy_dataclass(frozen=True, kw_only=True)
class ExposeInstruction(Instruction):
    """EXPOSE port[/protocol] list."""

    ports: tuple[str, ...]  # raw words: "80", "53/udp", "$PORT"


@lazy_dataclass(frozen=True, kw_only=True)
class EnvInstruction(Instruction):
    """ENV key=value pairs (or the legacy `ENV key value`)."""

    pairs: tuple[KeyValue, ...]


@lazy_dataclass(frozen=True, kw_only=True)
class CopyInstruction(Instruction):
    """COPY. `sources` are the paths; every entry of `heredocs` is one more source: a
    file named after the heredoc with its content (`COPY <<EOF /dest/` has no paths)."""

    sources: tuple[str, ...]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()


@lazy_dataclass(frozen=True, kw_only=True)
class AddInstruction(Instruction):
    """ADD; sources may be URLs or git repositories; heredocs as for COPY."""

    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: str | None = None
    checksum: str | None = None
    keep_git_dir: bool = False
    link: bool = False
    unpack: bool | None = None
    exclude: tuple[str, ...] = ()


@lazy_dataclass(frozen=True, kw_only=True)
class VolumeInstruction(Instruction):
    """VOLUME paths."""

    paths: tuple[str, ...]  # JSON form decoded, word form raw


@lazy_dataclass(frozen=True, kw_only=True)
class UserInstruction(Instruction):
    """USER user[:group]."""

    user: str  # raw "user[:group]"


@lazy_dataclass(frozen=True, kw_only=True)
class WorkdirInstruction(Instruction):
    """WORKDIR path."""

    path: str


@lazy_dataclass(frozen=True, kw_only=True)
class ArgInstruction(Instruction):
    """ARG name[=default] declarations."""

    args: tuple[ArgDecl, ...]


@lazy_dataclass(frozen=True, kw_only=True)
class OnbuildInstruction(Instruction):
    """ONBUILD: a trigger kept as text for images built FROM this one."""

    expression: str  # the wrapped instruction's source text, stored in the image config
    instruction: Instruction  # the wrapped instruction, parsed


@lazy_dataclass(frozen=True, kw_only=True)
class StopsignalInstruction(Instruction):
    """STOPSIGNAL signal."""

    signal: str


@lazy_dataclass(frozen=True, kw_only=True)
class HealthcheckInstruction(Instruction):
    """HEALTHCHECK. `test` is the OCI/Docker config form: ("NONE",), ("CMD", argv...)
    or ("CMD-SHELL", "command"). Durations are nanoseconds (Docker's config unit);
    None/0 means "inherit/default"."""

    test: tuple[str, ...]
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


@lazy_dataclass(frozen=True, kw_only=True)
class ShellInstruction(Instruction):
    """SHELL: the shell for later shell-form instructions."""

    shell: tuple[str, ...]


# ---------------------------------------------------------------- file level


@lazy_dataclass(frozen=True)
class Stage:
    """One build stage: its FROM and the instructions after it."""

    index: int
    name: str | None  # lower-cased `AS name`, None when unnamed
    base: str  # raw FROM reference, unexpanded
    platform: str | None  # raw --platform value
    from_instruction: FromInstruction
    instructions: tuple[Instruction, ...]

    @property
    def line(self) -> int:
        return self.from_instruction.line


@lazy_dataclass(frozen=True)
class Warning:
    """A build-check warning (BuildKit reports these without failing the build, unless
    `# check=error=true`). `rule` is BuildKit's check name, e.g. "JSONArgsRecommended"."""

    line: int
    message: str
    rule: str = ""


@lazy_dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: directives, global ARGs, stages and lint warnings."""

    filename: str
    directives: tuple[Directive, ...]
    escape: str  # "\\" or "`"
    global_args: tuple[ArgInstruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]
    warnings: tuple[Warning, ...] = ()

    def directive(self, name: str) -> str | None:
        for directive in self.directives:
            if directive.name == name.lower():
                return directive.value
        return None
