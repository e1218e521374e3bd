"""Hypothesis over both pipeline front ends: whatever the text, the parser returns a Pipeline or
raises its own PipelineError (with file:line:col), never another exception (issue 10, acceptance 5).

Three kinds of input each: arbitrary text, token soup from the language's own vocabulary, and
mutations of real pipelines (the tutorial's Jenkinsfile, the documented `.dockyard.yml`). Example
counts are bounded so the whole file takes a few seconds."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from dockyard.ci.errors import PipelineError
from dockyard.ci.jenkinsfile import parse_jenkinsfile
from dockyard.ci.model import Pipeline
from dockyard.ci.yamlpipeline import parse_yaml_pipeline
from tests.fuzzing import mutations

HERE = Path(__file__).parent
TUTORIAL_JENKINSFILE = (HERE.parent / "fixtures" / "tutorial" / "Jenkinsfile").read_text()
DOCS = HERE.parents[1] / "docs" / "pipelines.md"
DOCUMENTED_YAML = re.search(r"## `.dockyard.yml`\n\n```yaml\n(.*?)```", DOCS.read_text(), re.S).group(1)  # type: ignore[union-attr]

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)


def _parses_or_pipeline_error(parse: Any, source: str, filename: str) -> None:
    try:
        result = parse(source, filename)
    except PipelineError as e:
        assert str(e).startswith(f"{filename}:"), str(e)
        line = int(str(e).split(":")[1])
        assert 1 <= line <= source.count("\n") + 2, str(e)
        return
    assert isinstance(result, Pipeline)


_SYNTAX = st.sampled_from(list("{}[]()'\"$\\:=,;.\n #*&!|-") + ["${", "'''", '"""', "&a", "*a", "<<: "])


def _mutations(seed: str) -> st.SearchStrategy[str]:
    """The seed with a few random edits: deletions, duplications, insertions of syntax characters."""
    return mutations(seed, _SYNTAX)


# -- Jenkinsfile ------------------------------------------------------------------------------
_GROOVY_TOKENS = st.sampled_from(
    [
        "pipeline",
        "agent",
        "any",
        "none",
        "stages",
        "stage",
        "steps",
        "sh",
        "echo",
        "environment",
        "parameters",
        "string",
        "password",
        "booleanParam",
        "choice",
        "options",
        "timeout",
        "post",
        "always",
        "failure",
        "when",
        "branch",
        "parallel",
        "container",
        "kubernetes",
        "yaml",
        "credentials",
        "withCredentials",
        "dir",
        "retry",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "=",
        ";",
        ".",
        "\n",
        " ",
        "'x'",
        '"$X"',
        '"${env.X}"',
        "'''a\nb'''",
        '"""c"""',
        "1",
        "2.5",
        "true",
        "null",
        "name:",
        "defaultValue:",
        "//c\n",
        "/*c*/",
        "\\\n",
        "$(",
        "PATH",
        "PS4",
    ]  # fmt: skip
)


@FUZZ
@given(st.text(max_size=300))
def test_jenkinsfile_arbitrary_text(source: str) -> None:
    _parses_or_pipeline_error(parse_jenkinsfile, source, "Jenkinsfile")


@FUZZ
@given(st.lists(_GROOVY_TOKENS, max_size=120).map(" ".join))
def test_jenkinsfile_token_soup(source: str) -> None:
    _parses_or_pipeline_error(parse_jenkinsfile, source, "Jenkinsfile")


@FUZZ
@given(_mutations(TUTORIAL_JENKINSFILE))
def test_jenkinsfile_mutated_tutorial(source: str) -> None:
    _parses_or_pipeline_error(parse_jenkinsfile, source, "Jenkinsfile")


# -- .dockyard.yml ----------------------------------------------------------------------------
_YAML_KEYS = st.sampled_from(
    [
        "stages",
        "name",
        "steps",
        "parallel",
        "agent",
        "environment",
        "options",
        "parameters",
        "post",
        "when",
        "branch",
        "sh",
        "echo",
        "container",
        "dir",
        "withCredentials",
        "timeout",
        "type",
        "default",
        "choices",
        "always",
        "failure",
        "kubernetes",
        "credentials",
        "x",
    ]  # fmt: skip
)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=20), _YAML_KEYS)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_YAML_KEYS, inner, max_size=4)),
    max_leaves=30,
)


def _dump(doc: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, out)
    return out.getvalue()


@FUZZ
@given(st.text(max_size=300))
def test_yaml_arbitrary_text(source: str) -> None:
    _parses_or_pipeline_error(parse_yaml_pipeline, source, ".dockyard.yml")


@FUZZ
@given(st.dictionaries(_YAML_KEYS, _DOCS, max_size=5).map(_dump))
def test_yaml_documents_from_the_schema_vocabulary(source: str) -> None:
    _parses_or_pipeline_error(parse_yaml_pipeline, source, ".dockyard.yml")


@FUZZ
@given(_mutations(DOCUMENTED_YAML))
def test_yaml_mutated_documented_example(source: str) -> None:
    _parses_or_pipeline_error(parse_yaml_pipeline, source, ".dockyard.yml")


def test_element_limits_stop_huge_but_valid_pipelines_early() -> None:
    """1 MiB of valid statements is refused at the element cap, with the line it was reached on,
    before the parse builds hundreds of thousands of objects (GC pauses would reach the server)."""
    steps = "pipeline { agent any\n stages { stage('s') { steps {\n" + "echo 'x'\n" * 100_000 + "} } } }"
    with pytest.raises(
        PipelineError, match=r"^Jenkinsfile:99\d\d:\d+: the pipeline has more than 20000 tokens"
    ):
        parse_jenkinsfile(steps)
    yaml_steps = "stages:\n  - name: s\n    steps:\n" + "      - echo: x\n" * 60_000
    with pytest.raises(
        PipelineError, match=r"^\.dockyard\.yml:5001:\d+: the pipeline has more than 20000 YAML"
    ):
        parse_yaml_pipeline(yaml_steps)
