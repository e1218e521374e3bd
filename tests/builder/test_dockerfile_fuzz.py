"""Hypothesis over the Dockerfile front end (issue 10, acceptance 5): whatever the text, parsing,
stage resolution and instruction expansion return a model or raise DockerfileError with a line
inside the file, never another exception.

Three kinds of input, as for the pipeline parsers (tests/ci/test_pipeline_fuzz.py): arbitrary
text, soup of the language's own vocabulary, and mutations of the good fixtures. The seeded
random mutations of test_dockerfile_robustness.py stay; this adds shrinking and arbitrary text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.builder.dockerfile import DockerfileError, expand_instruction, parse, stages_needed
from tests.fuzzing import mutations

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles"
GOOD = sorted((FIXTURES / "good").glob("*Dockerfile"))
SEEDS = [p.read_text() for p in GOOD]

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)

_TOKENS = st.sampled_from(
    [
        "FROM ", "RUN ", "COPY ", "ADD ", "ENV ", "ARG ", "WORKDIR ", "USER ", "CMD ", "ENTRYPOINT ",
        "LABEL ", "EXPOSE ", "VOLUME ", "SHELL ", "ONBUILD ", "HEALTHCHECK ", "STOPSIGNAL ", "MAINTAINER ",
        "AS ", "--from=", "--mount=type=cache,target=/c ", "--mount=type=secret,id=s ", "--chown=1:1 ",
        "--chmod=755 ", "--link ", "--platform=$BUILDPLATFORM ", "--network=none ", "--checksum=sha256:",
        "<<EOF\n", "<<-EOF\n", "EOF\n", "# syntax=docker/dockerfile:1\n", "# escape=`\n", "\\\n", "`\n",
        "${A}", "${A:-b}", "${A:+c}", "${A#x}", "$A", "'", '"', '["sh", "-c"]', "[", "]", "=", " ",
        "\t", "\n", "\r\n", "#", "a", "/x", "..", "*", "scratch", "busybox", "NONE",
    ]  # fmt: skip
)


def _mutations(seed: str) -> st.SearchStrategy[str]:
    return mutations(seed, _TOKENS)


def _parses_or_dockerfile_error(source: str) -> None:
    lines = source.count("\n") + 2
    try:
        dockerfile = parse(source)
        stages_needed(dockerfile)  # expands the global ARG defaults
    except DockerfileError as err:
        assert err.message and 0 <= err.line <= lines, str(err)
        return
    for stage in dockerfile.stages:
        for instruction in (stage.from_instruction, *stage.instructions):
            try:
                expand_instruction(instruction, {"A": "1"}, dockerfile.escape)
            except DockerfileError as err:
                assert err.line == instruction.line, str(err)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(source: str) -> None:
    _parses_or_dockerfile_error(source)


@FUZZ
@given(st.lists(_TOKENS, max_size=60).map("".join))
def test_vocabulary_soup(source: str) -> None:
    _parses_or_dockerfile_error(source)


@FUZZ
@given(st.sampled_from(SEEDS).flatmap(_mutations))
def test_mutated_good_dockerfiles(source: str) -> None:
    _parses_or_dockerfile_error(source)


def test_seeds_exist() -> None:
    assert len(SEEDS) >= 5  # the mutation test would otherwise fuzz nothing
