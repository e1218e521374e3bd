"""Mutated Dockerfiles, words and ignore patterns: the parser, the lexer and the ignore
matcher either succeed or raise their own error type (with a line), never crash."""

from __future__ import annotations

import random
from pathlib import Path

from dockyard.builder.dockerfile import (
    DockerfileError,
    ExpansionError,
    expand,
    expand_instruction,
    expand_words,
    parse,
    stages_needed,
)
from dockyard.builder.dockerignore import DockerignoreError, IgnoreMatcher, read_patterns

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles"
TOKENS = list("\\`'\"$={}[]:-+?#%/<>\n\t ,.!*@") + [
    "<<EOF", "<<-EOF", "--mount=", "--from=", "RUN ", "COPY ", "FROM ", "ONBUILD ", "${",
    "EOF\n", "# escape=`\n", "\r\n", "ARG ", '["a"]', "--link", "HEALTHCHECK ",
]


def mutate(rnd: random.Random, text: str) -> str:
    for _ in range(rnd.randint(1, 6)):
        pos = rnd.randint(0, len(text))
        op = rnd.random()
        if op < 0.5:
            text = text[:pos] + rnd.choice(TOKENS) + text[pos:]
        elif op < 0.8:
            text = text[:pos] + text[pos + rnd.randint(1, 5):]
        else:
            start = rnd.randint(0, len(text))
            text = text[:pos] + text[start:start + 20] + text[pos:]
    return text


def test_mutated_dockerfiles_fail_only_with_dockerfile_errors() -> None:
    sources = [p.read_text() for p in sorted(FIXTURES.rglob("*Dockerfile"))]
    rnd = random.Random(20261128)
    failures = 0
    for _ in range(1500):
        text = mutate(rnd, rnd.choice(sources))
        try:
            dockerfile = parse(text)
            stages_needed(dockerfile)  # expands the global ARG defaults
        except DockerfileError as err:
            assert err.line >= 0 and err.message
            failures += 1
            continue
        for stage in dockerfile.stages:
            for instruction in (stage.from_instruction, *stage.instructions):
                try:
                    expand_instruction(instruction, {"A": "1"}, dockerfile.escape)
                except DockerfileError as err:
                    assert err.line == instruction.line
    assert 0 < failures < 1500  # the mutations produce both good and broken files


def test_random_words_and_patterns_never_crash() -> None:
    rnd = random.Random(7)
    chars = list("ab$/{}:-+?#%'\"\\` *[]!.\t")
    for _ in range(5000):
        word = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 12)))
        try:
            expand(word, {"a": "x y", "b": ""})
            expand_words(word, {"a": "1"}, "`")
        except ExpansionError:
            pass
        try:
            patterns, lines = read_patterns(word + "\n" + word[::-1])
            matcher = IgnoreMatcher(patterns, lines=lines)
            matcher.matches("a/b.c")
            matcher.must_walk("a")
        except DockerignoreError:
            pass
