"""Hypothesis over the Groovy-subset parser: whatever the text, it returns a syntax tree or raises
its own PipelineError with file:line:column, never another exception; and what parses, the
interpreter runs to a value or to its own errors (never a Python exception)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.ci.errors import PipelineError, StepFailed
from dockyard.ci.groovy.interpreter import Exec, Session
from dockyard.ci.groovy.parser import parse_script
from dockyard.ci.jenkinsfile import parse_jenkinsfile
from dockyard.ci.steps.interface import Ctx
from tests.fuzzing import mutations

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)
CORPUS = sorted((Path(__file__).parents[2] / "fixtures" / "jenkinsfiles" / "ok").glob("*.groovy"))
SCRIPT = """def xs = [1, 2, 3]
def m = [a: 1, b: 'two']
for (x in xs) { if (x == 2) { continue } else { m["k$x"] = x * 2 } }
def s = "v${xs.size()}-${m.b?.toUpperCase() ?: 'none'}"
xs.each { println it }
m.each { k, v -> println "$k=$v" }
def r = xs.collect { it + 1 }.findAll { it > 2 }.join(',')
try { error 'boom' } catch (e) { println e.message } finally { println 'fin' }
int i = 0
while (i < 3) { i++ }
return i > 2 && !(s == 'x') ? r.tokenize(',') : (0..<3)
"""
_TOKENS = st.sampled_from(
    ["def", "x", "=", "1", "'s'", '"a${x}b"', "[", "]", "{", "}", "(", ")", "->", "it", ".", "?.",
     "?:", "?", ":", ",", ";", "\n", "if", "else", "for", "in", "while", "try", "catch", "finally",
     "return", "==", "!=", "<", ">", "&&", "||", "!", "+", "-", "*", "/", "%", "<<", "..", "..<",
     "each", "collect", "size()", "trim()", "env", "params", "currentBuild", "new", "class", "@",
     "System", "execute()", "'''", '"""', "$", "\\", "/*", "*/", "//", "0x", "1e9", "break"]
)  # fmt: skip
_SYNTAX = st.sampled_from(list("{}[]()'\"$\\:=,;.\n #*&!|-?<>+") + ["${", "'''", '"""', "->", "?.", "?:"])


class _Log:
    def line(self, text: str) -> None:
        pass


class _Host:
    log = _Log()
    aborted = False


def _parses_or_own_error(source: str) -> None:
    try:
        block = parse_script(source, "fuzz.groovy")
    except PipelineError as e:
        assert str(e).startswith("fuzz.groovy:"), str(e)
        line = int(str(e).split(":")[1])
        assert 1 <= line <= source.count("\n") + 2, str(e)
        return
    # no steps are reachable from here: a call to one fails as a StepFailed too
    with contextlib.suppress(StepFailed):
        runner = Exec(Session(_Host()), Ctx({}, Path("/nonexistent")), may_run_steps=False)
        asyncio.run(runner.run_block(block))


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(source: str) -> None:
    _parses_or_own_error(source)


@FUZZ
@given(st.lists(_TOKENS, max_size=80).map(" ".join))
def test_token_soup(source: str) -> None:
    _parses_or_own_error(source)


@FUZZ
@given(mutations(SCRIPT, _SYNTAX))
def test_mutated_script(source: str) -> None:
    _parses_or_own_error(source)


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)
@given(st.sampled_from(CORPUS).flatmap(lambda p: mutations(p.read_text(), _SYNTAX)))
def test_mutated_corpus_jenkinsfiles(source: str) -> None:
    try:
        parse_jenkinsfile(source, "Jenkinsfile")
    except PipelineError as e:
        assert str(e).startswith("Jenkinsfile:"), str(e)
