"""The Groovy subset's semantics, expression by expression (the corpus runs them end to end):
values as Groovy gives them, and run-time errors and bounds as the interpreter's own errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dockyard.ci.groovy.interpreter import evaluate
from dockyard.ci.groovy.parser import parse_script
from dockyard.ci.groovy.values import GroovyError, LimitExceeded, to_string
from dockyard.ci.steps.interface import Ctx


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


class _Host:
    aborted = False

    def __init__(self) -> None:
        self.log = _Log()

    async def run_step(self, call: Any, ctx: Ctx) -> str:
        """Steps are the runner's: here a call shows the arguments a step module would get."""
        return f"{call.name} {sorted(call.args.items())}"


def run(source: str, env: dict[str, str] | None = None) -> Any:
    block = parse_script(source, "t.groovy")
    ctx = Ctx(env if env is not None else {}, Path("/nonexistent"))
    return asyncio.run(evaluate(block, ctx, _Host()))


VALUES = [
    ("'a' + 1 + [2]", "a1[2]"),
    ("7 / 2", 3.5),
    ("8 / 2", 4),
    ("7.intdiv(2)", 3),
    ("'1' == 1", False),
    ("1 == 1.0", True),
    ("[1, [2, 3]] == [1, [2, 3]]", True),
    ("[a: 1] == [a: 1]", True),
    ("null ?: 'dflt'", "dflt"),
    ("'' ?: 'empty is false'", "empty is false"),
    ("def m = null\nm?.x?.y", None),
    ("'a,b,,c,,'.split(',')", ["a", "b", "", "c"]),
    ("'a1b22c'.split('\\\\d+')", ["a", "b", "c"]),
    ("' a  b '.tokenize()", ["a", "b"]),
    ("'x-y_z'.tokenize('-_')", ["x", "y", "z"]),
    ("'release/1.2'.replace('/', '-')", "release-1.2"),
    ("'abcdef'.take(3) + 'abcdef'.drop(4)", "abcef"),
    ("' 42 '.trim().toInteger() + 1", 43),
    ("'Main'.toUpperCase() + 'Main'.toLowerCase()", "MAINmain"),
    ("[3, 1, 2].sort()", [1, 2, 3]),
    ("['bb', 'a', 'ccc'].sort { it.size() }", ["a", "bb", "ccc"]),
    ("[1, 2, 3, 4].findAll { it % 2 == 0 }.collect { it * 10 }", [20, 40]),
    ("[1, 2, 3].find { it > 1 }", 2),
    ("[1, 2, 3].any { it > 2 } && [1, 2, 3].every { it > 0 }", True),
    ("[1, 2, 3].inject(0) { acc, x -> acc + x }", 6),
    ("[a: 1, b: 2].collect { k, v -> k + v }", ["a1", "b2"]),
    ("[a: 1, b: 2].findAll { it.value > 1 }", {"b": 2}),
    ("[a: 1, b: 2].keySet() + [a: 1].values()", ["a", "b", 1]),
    ("[a: 1].containsKey('a') && !['a'].contains('b')", True),
    ("def l = []\nl << 1 << 2\nl.add(3)\nl", [1, 2, 3]),
    ("def m = [:]\nm['k'] = 'v'\nm.x = 1\nm", {"k": "v", "x": 1}),
    ("(0..<3) + (3..1)", [0, 1, 2, 3, 2, 1]),
    ("def s = 0\nfor (int i = 0; i < 5; i++) { if (i == 3) { break }; s += i }\ns", 3),
    ("def n = 0\nwhile (true) { n++; if (n > 4) { break } }\nn", 5),
    ("def f = { a, b -> a * b }\nf(6, 7)", 42),
    ("def twice = { fn -> fn(fn(1)) }\ntwice { it + 10 }", 21),
    (
        "def out = ''\ntry { 'x'.toInteger() } catch (e) { out = e.message } finally { out += '!' }\nout",
        'For input string: "x"!',
    ),
    ("def r\ntry { [].first() } catch (e) { r = e.toString() }\nr", None),
    ("\"${[1, 'a', null, true, [k: 'v']]}\"", "[1, a, null, true, [k:v]]"),
    ('sh(returnStdout: true, script: "echo ${1 + 1}")', "sh [('returnStdout', True), ('script', 'echo 2')]"),
    ("timeout(time: 2) { 'x' }", "timeout [('seconds', 120.0), ('time', 2), ('unit', 'MINUTES')]"),
    ("echo 5", "echo [('message', '5')]"),
    ('"tag-${env.BUILD_NUMBER}"', "tag-7"),
    ("BUILD_NUMBER.toInteger() * 2", 14),
    ("env.NEW = 5\nenv.NEW", "5"),
    ("params.MISSING", None),
    ("currentBuild.currentResult", "SUCCESS"),
    ("currentBuild.result", None),
    ("def x = 1; x += 2; x *= 3; x", 9),
    ("true ? 'y' : 'n'", "y"),
    ("'abc' < 'abd' && 2 <=> 1", True),
    ("'x' in ['x', 'y'] && 'k' in [k: 1]", True),
    ("'%d'.isInteger() || '12'.isInteger()", True),
    # RE2: a pattern that backtracks for ages in Java or Python answers at once
    ("('a' * 100000).matches('(a+)+b') || ('a' * 100000 + '!').split('(a|aa)+').size() != 2", False),
    ("'v1.20.3'.replaceAll('v([0-9]+)[.]([0-9]+).*', '$1-$2')", "1-20"),
    ("def list = ['a', 'b']\nlist.eachWithIndex { v, i -> list[i] = v * (i + 1) }\nlist", ["a", "bb"]),
]


@pytest.mark.parametrize(("source", "expected"), VALUES, ids=[v[0][:40] for v in VALUES])
def test_values(source: str, expected: Any) -> None:
    value = run(source, {"BUILD_NUMBER": "7"})
    if source.startswith("def r\ntry"):
        assert value == "java.util.NoSuchElementException: Cannot access first() element from an empty List"
        return
    assert value == expected, to_string(value)


ERRORS = [
    ("nope", GroovyError, "t.groovy:1:1: No such property: nope"),
    ("null.x", GroovyError, "Cannot get property 'x' on null object"),
    ("'a'.toInteger()", GroovyError, 'For input string: "a"'),
    ("1 / 0", GroovyError, "Division by zero"),
    ("[1] - 'a' + 2 * 'b'", GroovyError, "No signature of method: Integer.*(String)"),
    ("'x' * 2000000", LimitExceeded, "String * 2000000 would have 2000000 elements"),
    ("def s = 'x'\nwhile (true) { s = s + s }", LimitExceeded, "a string would be longer than 1048576"),
    ("for (i in 0..<20000) { }", LimitExceeded, "a loop ran more than 10000 iterations"),
    ("(0..200000)", LimitExceeded, "a range would have more than 100000 elements"),
    ("def f\nf = { f() }\nf()", LimitExceeded, "closures call each other deeper than 32 levels"),
    ("'aa'.matches('(a)\\\\1')", GroovyError, "no backreferences or lookarounds"),
    ("throw 'x'", GroovyError, "throw needs a caught exception"),
    ("currentBuild.result = 'MAYBE'", GroovyError, "currentBuild.result must be one of"),
    ("def m = [:]\nm[[1]] = 2", GroovyError, "t.groovy:2:1: a list or map cannot be a map key"),
    ("[([a: 1]): 2]", GroovyError, "a list or map cannot be a map key"),
    ("[[1], [1]].groupBy { it }", GroovyError, "a list or map cannot be a map key"),
    ("def a = []\na << a\na == a", LimitExceeded, "nests calls and expressions too deeply"),
    ("for (i in 0..<5000) { env['V' + i] = 'x' }", LimitExceeded, "more than 4096 variables"),
]


@pytest.mark.parametrize(("source", "kind", "message"), ERRORS, ids=[e[0][:40] for e in ERRORS])
def test_errors_are_the_interpreters_own(source: str, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind) as info:
        run(source)
    assert message in str(info.value)


def test_limits_are_not_catchable() -> None:
    with pytest.raises(LimitExceeded):
        run("try { while (true) { } } catch (e) { return 'caught' }")


def test_caught_error_can_be_rethrown() -> None:
    with pytest.raises(GroovyError, match=r"t.groovy:1:10: Cannot access first\(\) element"):
        run("try { [].first() } catch (e) { throw e }")
