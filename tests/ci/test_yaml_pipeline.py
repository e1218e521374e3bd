"""The `.dockyard.yml` front end: the documented example parses into the shared model; errors
carry file:line:column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard.ci.errors import PipelineError
from dockyard.ci.yamlpipeline import parse_yaml_pipeline

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"


def documented_example() -> str:
    text = DOCS.read_text()
    return re.search(r"## `.dockyard.yml`\n\n```yaml\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]


def test_documented_example_parses() -> None:
    p = parse_yaml_pipeline(documented_example())
    assert p.agent.kind == "any"
    assert p.environment[1].credential_id == "api-token"
    assert p.options.timeout_seconds == 600 and p.options.disable_concurrent and p.options.keep_builds == 20
    assert p.options.preserve_stashes == 1 and not p.options.disable_restart
    assert [x.kind for x in p.parameters] == ["string", "choice"]
    build, checks = p.stages
    assert build.when[0].kind == "branch" and build.when[0].pattern == "main"
    (container,) = build.steps
    assert container.name == "container" and container.args == {"name": "kaniko"}
    assert container.body is not None
    assert [s.name for s in container.body] == [
        "sh",
        "sh",
        "echo",
        "dir",
        "withCredentials",
        "archiveArtifacts",
        "gitopsSetImage",
    ]
    assert [s.name for s in checks.parallel] == ["unit", "lint"]
    assert set(p.post.blocks) == {"always", "failure"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("stages:\n  - name: x\n    steps: [{shell: ls}]\n", ".dockyard.yml:3:14: unsupported step 'shell'"),
        ("stagez: []\n", ".dockyard.yml:1:1: unknown key 'stagez'"),
        ("stages:\n  - steps: [ls]\n", ".dockyard.yml:2:5: a stage needs name:"),
        (
            "stages:\n  - name: x\n    steps: [ls]\noptions: {timeout: soon}\n",
            ".dockyard.yml:4:11: bad duration",
        ),
        ("stages: [\n", ".dockyard.yml:2:1: YAML syntax"),
        (
            "stages:\n  - name: x\n    steps: [ls]\noptions: {preserveStashes: 51}\n",
            ".dockyard.yml:4:11: options.preserveStashes is a number of builds",
        ),
        (
            "stages:\n  - name: x\n    input: {message: go?, approvers: bob}\n    steps: [ls]\n",
            ".dockyard.yml:3:27: unknown key 'approvers' in input",
        ),
        (
            "stages:\n  - name: x\n    input:\n      message: go?\n"
            "      parameters: [{name: T, type: password}]\n    steps: [ls]\n",
            ".dockyard.yml:5:7: input parameters take type: string|text|boolean|choice (not password)",
        ),
    ],
)
def test_errors_have_line_and_column(source: str, expected: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_yaml_pipeline(source)
    assert str(info.value).startswith(expected), str(info.value)


def test_stage_input_is_the_jenkinsfiles() -> None:
    """`input:` makes the same StageInput as a Jenkinsfile's `input { }` (tests/ci/test_stage_input.py
    runs one)."""
    p = parse_yaml_pipeline(
        "stages:\n  - name: Deploy\n    input:\n      message: Deploy?\n      ok: Ship\n"
        "      submitter: alice,bob\n      submitterParameter: APPROVER\n"
        "      parameters: [{name: TARGET, type: choice, choices: [staging, prod]}]\n"
        "    steps: ['echo $TARGET']\n"
    )
    given = p.stages[0].input
    assert given is not None
    assert (given.message, given.ok, given.submitter) == ("Deploy?", "Ship", "alice,bob")
    assert given.submitter_parameter == "APPROVER" and given.parameters[0].choices == ("staging", "prod")


def test_matrix_input_is_asked_in_each_cell() -> None:
    p = parse_yaml_pipeline(
        "stages:\n  - name: Ship\n    matrix:\n      axes: {ARCH: [amd64, arm64]}\n"
        "      input: {message: Ship?, id: Ship}\n      stages: [{name: Push, steps: [ls]}]\n"
    )
    cells = p.stages[0].parallel
    assert [c.input.id for c in cells if c.input] == ["Ship-amd64", "Ship-arm64"]
    assert [dict(c.input.known) for c in cells if c.input] == [{"ARCH": "amd64"}, {"ARCH": "arm64"}]
