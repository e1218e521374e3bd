"""One logical line -> one typed instruction (BuildKit's `instructions/parse.go`)."""

from __future__ import annotations

import re

from dockyard.builder.dockerfile import model as m
from dockyard.builder.dockerfile.flags import BOOL, STRING, STRINGS, ParsedFlags, parse_flags
from dockyard.builder.dockerfile.lines import parse_heredoc_word
from dockyard.builder.dockerfile.mounts import parse_mount
from dockyard.builder.dockerfile.syntax import (
    SyntaxProblem,
    json_error,
    parse_json_array,
    parse_name_val,
    parse_words,
    split_command,
    split_whitespace,
    suggest,
)

KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
)
FLAG_SPECS: dict[str, dict[str, str]] = {
    "FROM": {"platform": STRING},
    "RUN": {"mount": STRINGS, "network": STRING, "security": STRING},
    "COPY": {"from": STRING, "chown": STRING, "chmod": STRING, "link": BOOL, "parents": BOOL,
             "exclude": STRINGS},
    "ADD": {"chown": STRING, "chmod": STRING, "checksum": STRING, "keep-git-dir": BOOL,
            "link": BOOL, "unpack": BOOL, "exclude": STRINGS},
    "HEALTHCHECK": {"interval": STRING, "timeout": STRING, "start-period": STRING,
                    "start-interval": STRING, "retries": STRING},
}
NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")
STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_ONBUILD_PREFIX = re.compile(r"(?i)^\s*ONBUILD\s*")
MINIMUM_DURATION_NS = 1_000_000  # 1ms, Docker's container.MinimumDuration


def suggest_keyword(word: str) -> str | None:
    return suggest(word.upper(), KEYWORDS)


def parse_instruction(
    text: str, line: int, end_line: int, heredocs: tuple[m.Heredoc, ...], escape: str
) -> m.Instruction:
    """Raises SyntaxProblem (message only); the caller adds filename and line."""
    keyword, flag_words, args = split_command(text)
    if keyword not in KEYWORDS:
        hint = suggest_keyword(keyword)
        suffix = f" (did you mean {hint}?)" if hint else ""
        raise SyntaxProblem(f"unknown instruction: {keyword}{suffix}")
    flags = parse_flags(keyword, flag_words, FLAG_SPECS.get(keyword, {}))
    common = {
        "keyword": keyword,
        "line": line,
        "end_line": end_line,
        "original": text,
        "flags": dict(flags.values),
        "heredocs": heredocs,
    }
    builder = _BUILDERS[keyword]
    return builder(args, flags, common, escape)


def _exactly_one(keyword: str, args: str) -> str:
    if not args:
        raise SyntaxProblem(f"{keyword} requires exactly one argument")
    return args


def _from(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    words = split_whitespace(args)
    name = None
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not STAGE_NAME.match(name):
            raise SyntaxProblem(
                f"invalid name for build stage: {words[2]!r}, name can't start with a "
                "number or contain symbols (use letters, digits, '-', '_' and '.', "
                "starting with a letter)"
            )
    elif len(words) != 1:
        raise SyntaxProblem(
            "FROM requires either one or three arguments: FROM [--platform=P] IMAGE "
            "[AS NAME]"
        )
    return m.FromInstruction(base=words[0], stage_name=name, platform=flags.string("platform"),
                             **common)


def _command_parts(args: str) -> tuple[tuple[str, ...], bool]:
    exec_form = parse_json_array(args) if args else None
    if exec_form is not None:
        return tuple(exec_form), False
    return ((args,) if args else ()), True


def _run(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    command, shell_form = _command_parts(args)
    if not command:
        raise SyntaxProblem("RUN requires at least one argument (the command to run)")
    network = flags.string("network")
    if network is not None and network not in NETWORK_MODES and "$" not in network:
        raise SyntaxProblem(
            f"unsupported network mode {network!r} (use default, none or host)"
        )
    security = flags.string("security")
    if security is not None and security not in SECURITY_MODES and "$" not in security:
        raise SyntaxProblem(f"security {security!r} is not valid (use sandbox or insecure)")
    mounts = []
    ssh_index = 0
    for spec in flags.strings("mount"):
        try:
            mount = parse_mount(spec, ssh_index=ssh_index)
        except SyntaxProblem as err:
            raise SyntaxProblem(f"bad --mount={spec}: {err}") from None
        if mount.type == "ssh":
            ssh_index += 1
        mounts.append(mount)
    return m.RunInstruction(command=command, shell_form=shell_form, mounts=tuple(mounts),
                            network=network, security=security, **common)


def _cmd(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    command, shell_form = _command_parts(args)
    return m.CmdInstruction(command=command, shell_form=shell_form, **common)


def _entrypoint(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    command, shell_form = _command_parts(args)
    return m.EntrypointInstruction(command=command, shell_form=shell_form, **common)


def _pairs(keyword: str, args: str, escape: str) -> tuple[m.KeyValue, ...]:
    pairs = parse_name_val(args, keyword, escape)
    if not pairs:
        raise SyntaxProblem(f"{keyword} requires at least one argument (name=value)")
    for key, _ in pairs:
        if not key:
            raise SyntaxProblem(f"{keyword} names can not be blank")
    return tuple(m.KeyValue(k, v) for k, v in pairs)


def _env(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    return m.EnvInstruction(pairs=_pairs("ENV", args, escape), **common)


def _label(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    return m.LabelInstruction(pairs=_pairs("LABEL", args, escape), **common)


def _maintainer(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    return m.MaintainerInstruction(maintainer=_exactly_one("MAINTAINER", args), **common)


def _list_args(args: str) -> tuple[list[str], bool]:
    """parseMaybeJSONToList: JSON array or whitespace-separated words."""
    exec_form = parse_json_array(args)
    if exec_form is not None:
        return exec_form, True
    return split_whitespace(args), False


def _sources_and_dest(keyword: str, args: str, common: dict) -> tuple[tuple[str, ...], str]:
    """Split paths from heredoc sources; `common["heredocs"]` becomes the heredoc sources
    in the order they are named (BuildKit's SourcePaths / SourceContents)."""
    words, _ = _list_args(args)
    if len(words) < 2:
        raise SyntaxProblem(
            f"{keyword} requires at least two arguments, but only {len(words)} was "
            f"provided. Destination could not be determined ({keyword} SRC... DEST)"
        )
    dest = words[-1]
    if parse_heredoc_word(dest) is not None:
        raise SyntaxProblem(f"{keyword} cannot accept a heredoc as a destination")
    by_name = {heredoc.name: heredoc for heredoc in common["heredocs"]}
    paths: list[str] = []
    contents: list[m.Heredoc] = []
    for word in words[:-1]:
        marker = parse_heredoc_word(word)
        if marker is None:
            paths.append(word)
        else:
            contents.append(by_name.get(marker.name, marker))
    common["heredocs"] = tuple(contents)
    return tuple(paths), dest


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def is_git_source(source: str) -> bool:
    """BuildKit's gitutil.ParseGitRef, for the forms users write."""
    base = source.split("#", 1)[0]
    return source.startswith(("git@", "git://", "ssh://")) or (is_url(base) and
                                                             base.endswith(".git"))


def _copy(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    sources, dest = _sources_and_dest("COPY", args, common)
    for source in sources:
        if is_url(source) or is_git_source(source):
            raise SyntaxProblem(
                f"source can't be a URL for COPY: {source} (use ADD to download it)"
            )
    source_from = flags.string("from")
    return m.CopyInstruction(
        sources=sources,
        dest=dest,
        from_=source_from if source_from else None,
        chown=flags.string("chown") or None,
        chmod=flags.string("chmod") or None,
        link=flags.boolean("link"),
        parents=flags.boolean("parents"),
        exclude=tuple(flags.strings("exclude")),
        **common,
    )


def _add(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    sources, dest = _sources_and_dest("ADD", args, common)
    unpack = flags.string("unpack")
    checksum = flags.string("checksum")
    if checksum:
        if len(sources) != 1:
            raise SyntaxProblem("checksum can't be specified for multiple sources "
                                "(one ADD --checksum per URL)")
        if not is_url(sources[0]) and "$" not in sources[0]:
            raise SyntaxProblem(f"checksum can't be specified for non-HTTP sources: "
                                f"{sources[0]} (--checksum verifies downloads only)")
        if "$" not in checksum and not re.match(r"^sha(256|384|512):[0-9a-f]+$", checksum):
            raise SyntaxProblem(f"invalid checksum {checksum!r} (write sha256:<64 hex digits>)")
    return m.AddInstruction(
        sources=sources,
        dest=dest,
        chown=flags.string("chown") or None,
        chmod=flags.string("chmod") or None,
        checksum=flags.string("checksum") or None,
        keep_git_dir=flags.boolean("keep-git-dir"),
        link=flags.boolean("link"),
        unpack=None if unpack is None else unpack == "true",
        exclude=tuple(flags.strings("exclude")),
        **common,
    )


def _expose(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    ports = split_whitespace(args)
    if not ports:
        raise SyntaxProblem("EXPOSE requires at least one argument (a port, e.g. 80/tcp)")
    return m.ExposeInstruction(ports=tuple(ports), **common)


def _volume(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    words, _ = _list_args(args)
    if not words:
        raise SyntaxProblem("VOLUME requires at least one argument (a path)")
    paths = []
    for word in words:
        word = word.strip()
        if not word:
            raise SyntaxProblem("VOLUME specified can not be an empty string")
        paths.append(word)
    return m.VolumeInstruction(paths=tuple(paths), **common)


def _user(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    return m.UserInstruction(user=_exactly_one("USER", args), **common)


def _workdir(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    return m.WorkdirInstruction(path=_exactly_one("WORKDIR", args), **common)


def valid_signal(value: str) -> bool:
    """Docker's signal.ParseSignal: a number or a name, with or without SIG, or RTMIN+n."""
    import signal

    if value.isdigit():
        return 0 < int(value) <= 64
    name = value.upper().removeprefix("SIG")
    if name in {s.name.removeprefix("SIG") for s in signal.Signals}:
        return True
    match = re.match(r"^RT(MIN|MAX)([+-](\d+))?$", name)
    return match is not None and int(match.group(3) or 0) <= 15


def _stopsignal(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    signal_name = _exactly_one("STOPSIGNAL", args)
    if "$" not in signal_name and not valid_signal(signal_name):
        raise SyntaxProblem(f"Invalid signal: {signal_name} (use a name like SIGTERM or a "
                            "number)")
    return m.StopsignalInstruction(signal=signal_name, **common)


def _arg(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    words = parse_words(args, escape)
    if not words:
        raise SyntaxProblem("ARG requires at least one argument (ARG name[=default])")
    decls = []
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            if not key:
                raise SyntaxProblem("ARG names can not be blank")
            decls.append(m.ArgDecl(key, value))
        else:
            decls.append(m.ArgDecl(word, None))
    return m.ArgInstruction(args=tuple(decls), **common)


def _shell(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    if not args:
        raise SyntaxProblem("SHELL requires at least one argument")
    shell = parse_json_array(args)
    if shell is None:
        raise SyntaxProblem(
            f"SHELL requires the arguments to be in JSON form ({json_error(args)}); "
            'write e.g. SHELL ["/bin/sh", "-c"]'
        )
    if not shell:
        raise SyntaxProblem("SHELL requires at least one argument")
    return m.ShellInstruction(shell=tuple(shell), **common)


def parse_duration_ns(value: str) -> int:
    """Go's time.ParseDuration -> nanoseconds (`1m30s`, `500ms`, `1.5h`)."""
    units = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    text = value
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(value)
    total = 0.0
    pattern = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
    pos = 0
    while pos < len(text):
        match = pattern.match(text, pos)
        if not match:
            raise ValueError(value)
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    return sign * int(round(total))


def _interval(name: str, value: str | None) -> int | None:
    if not value:
        return None
    try:
        ns = parse_duration_ns(value)
    except ValueError:
        raise SyntaxProblem(
            f"HEALTHCHECK --{name}: invalid duration {value!r} (use a Go duration such as "
            "30s, 1m30s or 500ms)"
        ) from None
    if ns == 0:
        return None
    if ns < MINIMUM_DURATION_NS:
        raise SyntaxProblem(f"Interval {name!r} cannot be less than 1ms")
    return ns


def _healthcheck(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    if not args:
        raise SyntaxProblem("HEALTHCHECK requires at least one argument (NONE or CMD ...)")
    # BuildKit splits at the first whitespace of any kind
    parts = re.split(r"\s", args, maxsplit=1)
    kind = parts[0].upper()
    rest = parts[1].lstrip() if len(parts) > 1 else ""
    if kind == "NONE":
        if rest:
            raise SyntaxProblem("HEALTHCHECK NONE takes no arguments")
        return m.HealthcheckInstruction(test=("NONE",), **common)
    if kind != "CMD":
        raise SyntaxProblem(f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    exec_form = parse_json_array(rest) if rest else None
    if exec_form is not None:
        test: tuple[str, ...] = ("CMD", *exec_form)
        if not exec_form:
            raise SyntaxProblem("Missing command after HEALTHCHECK CMD")
    else:
        if not rest:
            raise SyntaxProblem("Missing command after HEALTHCHECK CMD")
        test = ("CMD-SHELL", rest)
    retries = None
    raw_retries = flags.string("retries")
    if raw_retries:
        try:
            retries = int(raw_retries)
        except ValueError:
            raise SyntaxProblem(
                f"HEALTHCHECK --retries: {raw_retries!r} is not a number"
            ) from None
        if retries < 0:
            raise SyntaxProblem(f"--retries cannot be negative ({retries})")
    return m.HealthcheckInstruction(
        test=test,
        interval=_interval("interval", flags.string("interval")),
        timeout=_interval("timeout", flags.string("timeout")),
        start_period=_interval("start-period", flags.string("start-period")),
        start_interval=_interval("start-interval", flags.string("start-interval")),
        retries=retries,
        **common,
    )


def _onbuild(args: str, flags: ParsedFlags, common: dict, escape: str) -> m.Instruction:
    if not args:
        raise SyntaxProblem("ONBUILD requires at least one argument (an instruction)")
    trigger = args.split(None, 1)[0].upper()
    if trigger == "ONBUILD":
        raise SyntaxProblem("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise SyntaxProblem(f"{trigger} isn't allowed as an ONBUILD trigger")
    inner = parse_instruction(args, common["line"], common["end_line"], common["heredocs"],
                              escape)
    expression = _ONBUILD_PREFIX.sub("", common["original"], count=1)
    for heredoc in common["heredocs"]:
        expression += "\n" + heredoc.content + heredoc.name
    return m.OnbuildInstruction(expression=expression, instruction=inner, **common)


_BUILDERS = {
    "ADD": _add,
    "ARG": _arg,
    "CMD": _cmd,
    "COPY": _copy,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "FROM": _from,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "SHELL": _shell,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
