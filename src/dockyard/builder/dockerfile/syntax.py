"""Splitting one logical line: keyword, `--flags`, and the argument shapes BuildKit uses
(`split_command.go`, `line_parsers.go`). Quotes are kept in words; they go away at
expansion time, as in BuildKit."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class SyntaxProblem(ValueError):
    """Raised with a message only; the caller adds file and line."""


def split_command(line: str) -> tuple[str, list[str], str]:
    """`RUN --mount=x echo hi` -> ("RUN", ["--mount=x"], "echo hi")."""
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0].upper()
    args = ""
    flags: list[str] = []
    if len(parts) == 2:
        args, flags = extract_flags(parts[1])
    return keyword, flags, args.strip()


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes and backslashes processed), then the rest."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    phase = "spaces"
    quote = ""
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                text = "".join(word)
                if text == "--":
                    return line[pos:], words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # phase == "quote"
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (BuildKit's parseWords)."""
    words: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    buf: list[str] = []
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # quote
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            buf.append(ch)
            pos += 1
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    return words


def split_whitespace(rest: str) -> list[str]:
    """BuildKit's parseStringsWhitespaceDelimited (FROM, EXPOSE, shell-form COPY/ADD)."""
    if rest == "":
        return []
    return [w for w in _WHITESPACE.split(rest)]


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest known spelling, for "did you mean" hints (difflib loads only on errors)."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def parse_json_array(rest: str) -> list[str] | None:
    """The exec form: a JSON array of strings -> list, not an array -> None.

    Raises SyntaxProblem for an array holding something other than strings, as BuildKit.
    """
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    import json

    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise SyntaxProblem(
            "when using JSON array syntax, arrays must be comprised of strings only"
        )
    return value


def json_error(rest: str) -> str:
    """Why `rest` is not valid JSON, for messages where JSON is mandatory (SHELL)."""
    import json

    try:
        json.loads(rest)
    except ValueError as err:
        return str(err)
    return "not a JSON array"


def parse_name_val(rest: str, keyword: str, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL: `key value` (old form, one pair) or `k=v k2="v 2"` (raw values)."""
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise SyntaxProblem(
                f"{keyword} must have two arguments: write '{keyword} name=value' "
                f"(or the legacy '{keyword} name value')"
            )
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        if "=" not in word:
            raise SyntaxProblem(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        key, value = word.split("=", 1)
        pairs.append((key, value))
    return pairs
