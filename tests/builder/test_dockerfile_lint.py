"""Build checks (BuildKit's rule names) and the `# check=` directive."""

from __future__ import annotations

import pytest

from dockyard.builder.dockerfile import DockerfileError, parse


def rules(text: str) -> list[tuple[int, str]]:
    return [(w.line, w.rule) for w in parse(text).warnings]


@pytest.mark.parametrize(("text", "expected"), [
    ("FROM busybox AS Build\n", [(1, "StageNameCasing")]),
    ("FROM busybox as build\n", [(1, "FromAsCasing")]),
    ("from busybox as build\n", []),
    ("FROM busybox AS scratch\n", [(1, "ReservedStageName")]),
    ("FROM busybox\nrun true\nRUN true\n", [(2, "ConsistentInstructionCasing")]),
    ("FROM busybox\nENV A 1\nENV B=2\nLABEL x y\n",
     [(2, "LegacyKeyValueFormat"), (4, "LegacyKeyValueFormat")]),
    ("FROM busybox\nMAINTAINER me\n", [(2, "MaintainerDeprecated")]),
    ("FROM busybox\nCMD echo a\nCMD [\"b\"]\n",
     [(2, "JSONArgsRecommended"), (2, "MultipleInstructionsDisallowed")]),
    ("FROM busybox\nSHELL [\"/bin/sh\", \"-c\"]\nENTRYPOINT echo a\n", []),
    ("FROM busybox\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"x\"]\n",
     [(2, "MultipleInstructionsDisallowed")]),
    ("FROM busybox\nWORKDIR app\nWORKDIR sub\n", [(2, "WorkdirRelativePath")]),
    ("FROM busybox\nWORKDIR /app\nWORKDIR sub\n", []),
    ("FROM $UNDECLARED\n", [(1, "UndefinedArgInFrom")]),
    ("ARG BASE=busybox\nFROM --platform=$BUILDPLATFORM $BASE\n", []),
    ("FROM busybox\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x API_KEY=y\n",
     [(2, "SecretsUsedInArgOrEnv"), (3, "SecretsUsedInArgOrEnv"), (3, "SecretsUsedInArgOrEnv")]),
    ("FROM busybox\nARG TOKEN_FILE\nENV KEYBOARD=us PUBLIC_KEY=x\n", []),
    ("FROM busybox\nRUN a \\\n\n  b\n", [(2, "NoEmptyContinuation")]),
])
def test_rules(text: str, expected: list[tuple[int, str]]) -> None:
    assert rules(text) == expected


def test_check_directive_skips_rules() -> None:
    text = "# check=skip=StageNameCasing\nFROM busybox AS Build\nMAINTAINER me\n"
    assert rules(text) == [(3, "MaintainerDeprecated")]
    assert rules("# check=skip=all\nFROM busybox AS Build\nMAINTAINER me\n") == []


def test_check_error_true_fails_with_line_and_rule() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse("# check=error=true;skip=MaintainerDeprecated\nFROM busybox\nMAINTAINER x\n"
              "WORKDIR rel\n")
    assert caught.value.line == 4
    assert "[WorkdirRelativePath]" in str(caught.value)
    assert parse("# check=error=true\nFROM busybox\nCMD [\"ok\"]\n").warnings == ()
