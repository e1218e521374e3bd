"""Shell-lexer word processing, cases written after BuildKit's shell/envVarTest and
shell/wordsTest semantics (env: PWD=/home, SHELL=bash, NULL='', W='a b')."""

from __future__ import annotations

import pytest

from dockyard.builder.dockerfile import ExpansionError, expand, expand_with_matches, expand_words

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": "", "W": "a b", "FILE": "dir/sub/file.tar.gz"}
ERROR = object()

# (word, expected) with escape "\\"
ENV_VAR_CASES: list[tuple[str, object]] = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", ERROR),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo", ERROR),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hello', ERROR),
    ('"hello\\"', ERROR),
    ('"hel\'lo"', "hel'lo"),
    ("'hello", ERROR),
    ("'hello\\'", "hello\\"),
    ("'hello\\there'", "hello\\there"),
    ('"\'\'"', "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("\\${}aaa", "${}aaa"),
    ("he\\${}", "he${}"),
    ("${}", ERROR),
    ("${}aaa", ERROR),
    ("he${}xx", ERROR),
    ("he${hi}", "he"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${.}", ERROR),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${XXX:YYY}", ERROR),
    ("he${XXX?}", ERROR),
    ("he${XXX:?}", ERROR),
    ("he${PWD?}", "he/home"),
    ("he${PWD:?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${NULL:?}", ERROR),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${XXX}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${XXX:+000}xx", "hexx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ('"he${PWD}"', "he/home"),
    ("\"he'$PWD'\"", "he'/home'"),
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("'\\$PWD'", "\\$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he${PWD", ERROR),
    ("he${PWD=000}xx", ERROR),
    ("he${PWD+${PWD}:}xx", "he/home:xx"),
    ("he${XXX-x}xx", "hexxx"),
    ("he${PWD-x}xx", "he/homexx"),
    ("he${NULL-x}xx", "hexx"),
    ("he${NULL:-x}xx", "hexxx"),
    ("he${XXX+x}xx", "hexx"),
    ("he${PWD+x}xx", "hexxx"),
    ("he${NULL+x}xx", "hexxx"),
    ("he${NULL:+x}xx", "hexx"),
    ("${FILE#*/}", "sub/file.tar.gz"),
    ("${FILE##*/}", "file.tar.gz"),
    ("${FILE%.*}", "dir/sub/file.tar"),
    ("${FILE%%.*}", "dir/sub/file"),
    ("${FILE/sub/new}", "dir/new/file.tar.gz"),
    ("${FILE//[a-z]/x}", "dir/sub/file.tar.gz"),  # no bracket classes: literal "[a-z]"
    ("${FILE//i/I}", "dIr/sub/fIle.tar.gz"),
    ("${XXX:?please set XXX}", ERROR),
    ("$", "$"),
    ("a$", "a$"),
    ("${PWD}${SHELL}", "/homebash"),
    ("$PWD$SHELL", "/homebash"),
    ("\"$W\"", "a b"),
]


@pytest.mark.parametrize(("word", "expected"), ENV_VAR_CASES, ids=[c[0] for c in ENV_VAR_CASES])
def test_env_var_expansion(word: str, expected: object) -> None:
    if expected is ERROR:
        with pytest.raises(ExpansionError):
            expand(word, ENV)
    else:
        assert expand(word, ENV) == expected


BACKTICK_CASES = [
    ("he`$PWD", "he$PWD"),
    ('"he`"x"', 'he"x'),
    ("a\\b", "a\\b"),
    ("`'x`'", "'x'"),
]


@pytest.mark.parametrize(("word", "expected"), BACKTICK_CASES)
def test_backtick_escape(word: str, expected: str) -> None:
    assert expand(word, ENV, escape="`") == expected


WORDS_CASES: list[tuple[str, list[str]]] = [
    ("hello", ["hello"]),
    ("hello world", ["hello", "world"]),
    ("hello   world", ["hello", "world"]),
    ("  hello  ", ["hello"]),
    ("'hello   world'", ["hello   world"]),
    ('"hello   world"', ["hello   world"]),
    ("hello\\ world", ["hello world"]),
    ('"hello $W"', ["hello a b"]),
    ("$W", ["a", "b"]),
    ("x${W}y", ["xa", "by"]),
    ("'$W'", ["$W"]),
    ("", []),
    ('""', []),
    ("80/tcp $W 53/udp", ["80/tcp", "a", "b", "53/udp"]),
]


@pytest.mark.parametrize(("word", "expected"), WORDS_CASES,
                         ids=[c[0] or "empty" for c in WORDS_CASES])
def test_words(word: str, expected: list[str]) -> None:
    assert expand_words(word, ENV) == expected


def test_matches_report_used_and_unset_variables() -> None:
    result = expand_with_matches("$PWD ${NOPE:-x} $NULL", ENV)
    assert result.matched == {"PWD", "NULL"}
    assert result.unmatched == {"NOPE"}


def test_error_message_names_the_word() -> None:
    with pytest.raises(ExpansionError, match=r"failed to process '\$\{V:\?need V\}': V: need V"):
        expand("${V:?need V}", {})
