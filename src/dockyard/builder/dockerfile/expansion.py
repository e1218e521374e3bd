"""Variable expansion of whole instructions, with BuildKit's rules on *what* expands.

ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults and
flag values (including every `--mount` option) expand; RUN, CMD, ENTRYPOINT, SHELL,
HEALTHCHECK and MAINTAINER do not (the shell does it at run time). ONBUILD triggers are
stored unexpanded and expand in the image that runs them. COPY/ADD heredoc bodies with
an unquoted delimiter expand `$` only (quotes kept), as BuildKit's ExpandRaw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from dockyard.builder.dockerfile import model as m
from dockyard.builder.dockerfile.lexer import ExpansionError, Lexer
from dockyard.builder.dockerfile.mounts import parse_mount
from dockyard.builder.dockerfile.syntax import SyntaxProblem

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)
PLATFORM_ARGS = (
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
)
# Usable without an ARG line (proxy values come only from --build-arg and stay out of
# the image history); platform ARGs are set automatically in the global scope.
PREDEFINED_ARGS = frozenset(PROXY_ARGS + PLATFORM_ARGS)


def platform_args(target_platform: str, build_platform: str | None = None) -> dict[str, str]:
    """TARGET*/BUILD* values for platforms like `linux/amd64` or `linux/arm/v7`."""
    build_platform = build_platform or target_platform
    out: dict[str, str] = {}
    for prefix, platform in (("TARGET", target_platform), ("BUILD", build_platform)):
        parts = platform.split("/")
        os_name = parts[0]
        arch = parts[1] if len(parts) > 1 else ""
        variant = parts[2] if len(parts) > 2 else ""
        out[prefix + "PLATFORM"] = platform
        out[prefix + "OS"] = os_name
        out[prefix + "ARCH"] = arch
        out[prefix + "VARIANT"] = variant
    return out


def global_env(
    dockerfile: m.Dockerfile,
    build_args: Mapping[str, str] | None = None,
    platform: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The values visible to FROM lines: global ARGs (defaults expanded in order,
    overridden by build args) plus the automatic platform ARGs."""
    build_args = dict(build_args or {})
    env: dict[str, str] = dict(platform or {})
    for instruction in dockerfile.global_args:
        for decl in instruction.args:
            if decl.key in build_args:
                env[decl.key] = build_args[decl.key]
            elif decl.value is not None:
                try:
                    env[decl.key] = _word(decl.value, env, dockerfile.escape, instruction)
                except m.DockerfileError as err:
                    err.filename = dockerfile.filename
                    raise
    return env


def _fail(instruction: m.Instruction, err: object) -> m.DockerfileError:
    return m.DockerfileError(f"{instruction.keyword}: {err}", line=instruction.line)


def _word(word: str, env: Mapping[str, str], escape: str, instruction: m.Instruction) -> str:
    try:
        return Lexer(escape).process(word, env).word
    except ExpansionError as err:
        raise _fail(instruction, err) from None


def _opt(
    word: str | None, env: Mapping[str, str], escape: str, instruction: m.Instruction
) -> str | None:
    return None if word is None else _word(word, env, escape, instruction)


def _words(word: str, env: Mapping[str, str], escape: str, instruction: m.Instruction) -> list:
    try:
        return Lexer(escape).process(word, env).words
    except ExpansionError as err:
        raise _fail(instruction, err) from None


def _heredocs(
    heredocs: tuple[m.Heredoc, ...], env: Mapping[str, str], instruction: m.Instruction
) -> tuple[m.Heredoc, ...]:
    lexer = Lexer("\\", skip_process_quotes=True)
    out = []
    for heredoc in heredocs:
        if heredoc.expand and ("$" in heredoc.content or "\\" in heredoc.content):
            try:
                content = lexer.process(heredoc.content, env).word
            except ExpansionError as err:
                raise _fail(instruction, err) from None
            heredoc = replace(heredoc, content=content)
        out.append(heredoc)
    return tuple(out)


def expand_instruction(
    instruction: m.Instruction, env: Mapping[str, str], escape: str = "\\"
) -> m.Instruction:
    """A copy of `instruction` with BuildKit's expansions applied using `env` (the stage's
    current ARG + ENV values). Raises DockerfileError carrying the instruction's line
    (the filename is the default; set `.filename` when re-raising)."""
    i = instruction

    def w(word: str) -> str:
        return _word(word, env, escape, i)

    def o(word: str | None) -> str | None:
        return _opt(word, env, escape, i)

    flags = {k: w(v) for k, v in i.flags.items()}
    if isinstance(i, m.FromInstruction):
        return replace(i, base=w(i.base), platform=o(i.platform), flags=flags)
    if isinstance(i, m.CopyInstruction):
        return replace(
            i, sources=tuple(w(s) for s in i.sources), dest=w(i.dest), from_=o(i.from_),
            chown=o(i.chown), chmod=o(i.chmod), exclude=tuple(w(x) for x in i.exclude),
            heredocs=_heredocs(i.heredocs, env, i), flags=flags,
        )
    if isinstance(i, m.AddInstruction):
        return replace(
            i, sources=tuple(w(s) for s in i.sources), dest=w(i.dest), chown=o(i.chown),
            chmod=o(i.chmod), checksum=o(i.checksum), exclude=tuple(w(x) for x in i.exclude),
            heredocs=_heredocs(i.heredocs, env, i), flags=flags,
        )
    if isinstance(i, m.EnvInstruction):
        return replace(i, pairs=tuple(m.KeyValue(w(p.key), w(p.value)) for p in i.pairs))
    if isinstance(i, m.LabelInstruction):
        return replace(i, pairs=tuple(m.KeyValue(w(p.key), w(p.value)) for p in i.pairs))
    if isinstance(i, m.ExposeInstruction):
        ports: list[str] = []
        for port in i.ports:
            ports.extend(_words(port, env, escape, i))
        return replace(i, ports=tuple(ports))
    if isinstance(i, m.VolumeInstruction):
        return replace(i, paths=tuple(w(p) for p in i.paths))
    if isinstance(i, m.UserInstruction):
        return replace(i, user=w(i.user))
    if isinstance(i, m.WorkdirInstruction):
        return replace(i, path=w(i.path))
    if isinstance(i, m.StopsignalInstruction):
        return replace(i, signal=w(i.signal))
    if isinstance(i, m.ArgInstruction):
        return replace(i, args=tuple(m.ArgDecl(a.key, o(a.value)) for a in i.args))
    if isinstance(i, m.RunInstruction):
        mounts = []
        ssh_index = 0
        for mount in i.mounts:
            try:
                mount = parse_mount(mount.raw, w, ssh_index=ssh_index)
            except SyntaxProblem as err:
                raise _fail(i, f"bad --mount={mount.raw}: {err}") from None
            ssh_index += mount.type == "ssh"
            mounts.append(mount)
        return replace(i, mounts=tuple(mounts), network=o(i.network), security=o(i.security),
                       flags=flags)
    return i
