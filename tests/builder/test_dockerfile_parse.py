"""Parser corpus: every good fixture parses to the expected values, every broken one fails
with the expected `file:line` and message (tests/fixtures/dockerfiles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.builder.dockerfile import (
    CopyInstruction,
    DockerfileError,
    RunInstruction,
    expand_instruction,
    global_env,
    parse,
    platform_args,
    resolve_stage,
    stages_needed,
)
from dockyard.cli.dockerfile_cmd import to_json

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles"
GOOD = sorted((CORPUS / "good").glob("*.Dockerfile"))
BROKEN = sorted((CORPUS / "broken").glob("*.Dockerfile"))


def assert_subset(expected: Any, actual: Any, where: str = "$") -> None:
    """Every key in `expected` has the same value in `actual`; lists match item by item."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing key {key!r} in {sorted(actual)}"
            assert_subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(expected) == len(actual), f"{where}: {len(actual)} items, wanted " \
            f"{len(expected)}: {actual!r}"
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: {actual!r} != expected {expected!r}"


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_fixture_parses_as_expected(path: Path) -> None:
    expected = json.loads(path.with_suffix(".expect.json").read_text())
    parsed = to_json(parse(path.read_text(), path.name))
    assert_subset(expected, parsed)


def _expectation(path: Path) -> tuple[int, str]:
    sidecar = path.with_suffix(".expect")
    header = sidecar.read_text() if sidecar.exists() else path.read_text().splitlines()[0]
    header = header.strip().removeprefix("# expect:").strip()
    line, fragment = header.split(":", 1)
    return int(line), fragment.strip()


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_fixture_fails_with_file_line_and_message(path: Path) -> None:
    line, fragment = _expectation(path)
    with pytest.raises(DockerfileError) as caught:
        parse(path.read_text(), path.name)
    err = caught.value
    assert err.line == line, str(err)
    assert err.filename == path.name
    assert fragment in err.message, str(err)
    rendered = str(err)
    assert rendered.startswith(f"{path.name}:{line}: " if line else f"{path.name}: ")


def test_error_rendering_matches_the_documented_form() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse("FROM busybox\n\nRUNN make\n")
    assert str(caught.value) == "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"


def test_directives_only_count_at_the_top() -> None:
    late = parse("FROM busybox\n# escape=`\nRUN echo a `\n")
    assert late.escape == "\\" and late.directives == ()
    after_blank = parse("\n# syntax=x\nFROM busybox\n")
    assert after_blank.directive("syntax") is None
    after_unknown = parse("# foo=bar\n# syntax=x\nFROM busybox\n")
    assert after_unknown.directive("syntax") is None
    top = parse("#SYNTAX = docker/dockerfile:1\nFROM busybox\n")
    assert top.directive("syntax") == "docker/dockerfile:1"


def test_bom_and_crlf_are_accepted() -> None:
    df = parse("\ufeffFROM busybox\r\nRUN echo a \\\r\n  b\r\n")
    run = df.stages[0].instructions[0]
    assert isinstance(run, RunInstruction)
    assert run.command == ("echo a   b",) and (run.line, run.end_line) == (2, 3)


def test_only_newline_ends_a_line() -> None:
    df = parse("FROM busybox\nRUN echo a\x0cb\u2028c\nRUN true\n")
    first, second = df.stages[0].instructions
    assert first.original == "RUN echo a\x0cb\u2028c" and second.line == 3


def test_quoted_flag_value_before_heredoc() -> None:
    df = parse('FROM busybox\nRUN --mount="type=cache,target=/a b" <<EOF\nx\nEOF\n')
    run = df.stages[0].instructions[0]
    assert isinstance(run, RunInstruction)
    assert run.mounts[0].target == "/a b" and run.heredocs[0].content == "x\n"


def test_stages_needed_follows_from_copy_and_mounts() -> None:
    df = parse((CORPUS / "good" / "multistage.Dockerfile").read_text())
    assert stages_needed(df) == [0, 1, 3, 4, 5]
    assert stages_needed(df, "final") == [0, 1, 3, 4]
    assert stages_needed(df, "assets") == [0, 3]
    assert stages_needed(df, "TEST") == [0, 1]
    assert stages_needed(df, 2) == [2]
    assert resolve_stage(df, "Builder").index == 0
    assert resolve_stage(df, None).index == 5
    with pytest.raises(DockerfileError, match="target stage 'nope' could not be found"):
        resolve_stage(df, "nope")


def test_from_sees_only_earlier_stages() -> None:
    df = parse("FROM python AS base\nFROM base AS python\n")
    assert stages_needed(df) == [0, 1]
    assert stages_needed(df, "base") == [0]  # its FROM python is the image, not stage 1


def test_stages_needed_expands_from_with_global_args() -> None:
    df = parse("ARG SRC=one\nFROM busybox AS one\nFROM busybox AS two\nFROM ${SRC}\n")
    assert stages_needed(df) == [0, 2]
    assert stages_needed(df, build_args={"SRC": "two"}) == [1, 2]
    assert stages_needed(df, build_args={"SRC": "alpine"}) == [2]


def test_global_args_only_reach_from_and_platform_args_are_automatic() -> None:
    df = parse("ARG BASE=busy\nARG TAG\nARG REF=${BASE}box:${TAG:-latest}\nFROM $REF\n")
    env = global_env(df, {"TAG": "1.36"}, platform_args("linux/arm/v7", "linux/amd64"))
    assert env["REF"] == "busybox:1.36"
    assert env["TARGETARCH"] == "arm" and env["TARGETVARIANT"] == "v7"
    assert env["BUILDPLATFORM"] == "linux/amd64" and env["BUILDOS"] == "linux"
    from_line = expand_instruction(df.stages[0].from_instruction, env)
    assert from_line.base == "busybox:1.36"  # type: ignore[attr-defined]


def test_expand_instruction_applies_buildkit_rules() -> None:
    df = parse(
        "FROM busybox\n"
        "ENV a=x b=$a c='$a' d=\"${a}y\"\n"
        "COPY --chown=$U --from=$S <<EOF <<'RAW' $SRC /dst/$a/\n"
        "value $a \"quoted\"\nEOF\nraw $a\nRAW\n"
        "RUN --mount=type=cache,id=$ID,target=/c --network=$NET echo $a\n"
        "EXPOSE $PORTS 9/udp\n"
        "USER ${U:-nobody}\n"
        "ONBUILD RUN echo $a\n"
    )
    env_before = {"a": "old", "U": "app", "S": "build", "SRC": "src dir", "ID": "pip",
                  "NET": "none", "PORTS": "80 443"}
    env_i, copy, run, expose, user, onbuild = df.stages[0].instructions
    env_x = expand_instruction(env_i, env_before)
    assert [(p.key, p.value) for p in env_x.pairs] == [  # type: ignore[attr-defined]
        ("a", "x"), ("b", "old"), ("c", "$a"), ("d", "oldy")]
    copy_x = expand_instruction(copy, env_before)
    assert isinstance(copy_x, CopyInstruction)
    assert copy_x.chown == "app" and copy_x.from_ == "build"
    assert copy_x.sources == ("src dir",) and copy_x.dest == "/dst/old/"
    assert copy_x.heredocs[0].content == 'value old "quoted"\n'
    assert copy_x.heredocs[1].content == "raw $a\n"
    run_x = expand_instruction(run, env_before)
    assert isinstance(run_x, RunInstruction)
    assert run_x.mounts[0].id == "pip" and run_x.network == "none"
    assert run_x.command == ("echo $a",)  # left to the shell
    assert expand_instruction(expose, env_before).ports == (  # type: ignore[attr-defined]
        "80", "443", "9/udp")
    assert expand_instruction(user, {}).user == "nobody"  # type: ignore[attr-defined]
    assert expand_instruction(onbuild, env_before) is onbuild


def test_expansion_errors_carry_the_line() -> None:
    df = parse("FROM busybox\nWORKDIR ${DIR:?set DIR with --build-arg}\n")
    with pytest.raises(DockerfileError) as caught:
        expand_instruction(df.stages[0].instructions[0], {})
    assert caught.value.line == 2
    assert "DIR: set DIR with --build-arg" in str(caught.value)


def test_mount_with_variable_type_is_validated_after_expansion() -> None:
    df = parse("FROM busybox\nRUN --mount=type=$T,target=/x true\n")
    run = df.stages[0].instructions[0]
    with pytest.raises(DockerfileError, match="unsupported mount type 'nfs'"):
        expand_instruction(run, {"T": "nfs"})
    good = expand_instruction(run, {"T": "tmpfs"})
    assert good.mounts[0].type == "tmpfs"  # type: ignore[attr-defined]


def test_instructions_keep_source_text_and_lines() -> None:
    text = "FROM busybox\nRUN --mount=type=cache,target=/c \\\n    echo hi\n"
    run = parse(text).stages[0].instructions[0]
    assert run.original == "RUN --mount=type=cache,target=/c     echo hi"
    assert (run.line, run.end_line) == (2, 3)
    assert run.flags == {"mount": "type=cache,target=/c"}


def test_parse_is_deterministic_and_hashable() -> None:
    text = (CORPUS / "good" / "run_mounts.Dockerfile").read_text()
    assert parse(text) == parse(text)
    hash(parse(text).stages[1].instructions[1])
