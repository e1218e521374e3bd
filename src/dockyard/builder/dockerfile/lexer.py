"""Word processing of BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`).

Handles quotes ('...' literal, "..." with `$` expansion), the escape character, and
`$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?msg}`, `${V?msg}`,
`${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}`, `${V/p/r}`, `${V//p/r}`. It never runs anything:
RUN/CMD/ENTRYPOINT are left to the real shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ExpansionError(ValueError):
    """A word the lexer cannot process (unterminated quote, bad substitution, ${V:?msg})."""


@dataclass
class ExpansionResult:
    """A word after variable expansion."""

    word: str
    words: list[str]
    matched: set[str] = field(default_factory=set)  # variable names that were set
    unmatched: set[str] = field(default_factory=set)  # referenced but unset


class _Words:
    """Collects whitespace-separated words the way lex.go's wordsStruct does."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lexer:
    """One configured lexer; `process` is the entry point. Not thread-safe per call."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process(self, word: str, env: Mapping[str, str]) -> ExpansionResult:
        state = _Scan(self, word, env)
        try:
            result, words = state.process_stop_on(None, self.raw_escapes)
        except ExpansionError as err:
            raise ExpansionError(f"failed to process {word!r}: {err}") from None
        return ExpansionResult(result, words, state.matches, state.nonmatches)


class _Scan:
    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes
        self.matches: set[str] = set()
        self.nonmatches: set[str] = set()

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def next(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def process_stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._process_stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _process_stop_on(self, stop: str | None) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        quotes = not self.lx.skip_process_quotes
        while (ch := self.peek()) is not None:
            if stop is not None and ch == stop:
                self.next()
                return "".join(out), words.get_words()
            if ch == "$":
                text = self.process_dollar()
                out.append(text)
                words.add_string(text)
            elif ch == "<":
                text = self.process_possible_heredoc()
                out.append(text)
                words.add_raw_string(text)
            elif quotes and ch == "'":
                text = self.process_single_quote()
                out.append(text)
                words.add_raw_string(text)
            elif quotes and ch == '"':
                text = self.process_double_quote()
                out.append(text)
                words.add_raw_string(text)
            else:
                ch = self.next()
                assert ch is not None
                if ch == self.lx.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        out.append(ch)
                    nxt = self.next()
                    if nxt is None:
                        break
                    words.add_raw_char(nxt)
                    out.append(nxt)
                else:
                    words.add_char(ch)
                    out.append(ch)
        if stop is not None:
            raise ExpansionError(
                f"unexpected end of statement while looking for matching {stop}"
            )
        return "".join(out), words.get_words()

    def process_possible_heredoc(self) -> str:
        """`<<` keeps the blanks after it in its word, so `<< EOF` stays one word."""
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        blanks = []
        while (ch := self.peek()) is not None and ch in " \t\r":
            blanks.append(ch)
            self.next()
        return "<<" + "".join(blanks)

    def process_single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lx.raw_quotes:
            out.append(ch or "")
        while True:
            ch = self.next()
            if ch is None:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lx.raw_quotes:
            out.append(ch or "")
        while True:
            peek = self.peek()
            if peek is None:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append('"')
                return "".join(out)
            if peek == "$":
                out.append(self.process_dollar())
                continue
            ch = self.next()
            assert ch is not None
            if ch == self.lx.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt is None:
                    continue
                if nxt in ('"', "$", self.lx.escape):
                    ch = self.next()
                    assert ch is not None
            out.append(ch)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matches.add(name)
            return self.env[name], True
        self.nonmatches.add(name)
        return "", False

    def process_name(self) -> str:
        name: list[str] = []
        while (ch := self.peek()) is not None:
            if not name and ch.isdigit():
                while (d := self.peek()) is not None and d.isdigit():
                    name.append(d)
                    self.next()
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                self.next()
                return ch
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(ch)
            self.next()
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lx.skip_unset_env:
                return "$" + name
            return value
        self.next()  # the {
        peek = self.peek()
        if peek is None:
            raise ExpansionError("syntax error: missing '}'")
        if peek in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        if ch is None:
            raise ExpansionError("syntax error: missing '}'")
        modifier = ch
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lx.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":" or ch in "+-?#%":
            null_is_unset = False
            if ch == ":":
                null_is_unset = True
                nxt = self.next()
                if nxt is None:
                    raise ExpansionError("syntax error: missing '}'")
                ch = nxt
                modifier += ch
            raw = ch in "#%"
            try:
                word, _ = self.process_stop_on("}", raw)
            except ExpansionError:
                if self.peek() is None:
                    raise ExpansionError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lx.skip_unset_env and not found:
                return "${" + name + modifier + word + "}"
            if ch == "-":
                return word if (not found or (null_is_unset and value == "")) else value
            if ch == "+":
                return "" if (not found or (null_is_unset and value == "")) else word
            if ch == "?":
                if not found:
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch in "#%":
                greedy = False
                if word.startswith(ch):
                    greedy = True
                    word = word[1:]
                if ch == "%":
                    return _trim_suffix(word, value, greedy)
                return _trim_prefix(word, value, greedy)
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ExpansionError:
                if self.peek() is None:
                    raise ExpansionError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except ExpansionError:
                if self.peek() is None:
                    raise ExpansionError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lx.skip_unset_env and not found:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            regex = _shell_pattern_to_regex(pattern, greedy=True, anchored=False)
            if replace_all:
                return regex.sub(lambda _m: replacement, value)
            match = regex.search(value)
            if match:
                value = value[: match.start()] + replacement + value[match.end() :]
            return value
        raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")


def _shell_pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            if i >= len(pattern) or pattern[i] not in "*?\\":
                bad = pattern[i] if i < len(pattern) else ""
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: "
                                     f"invalid escape '\\{bad}'")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _shell_pattern_to_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


# ---------------------------------------------------------------- public helpers


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand variables in one word and remove its quotes (BuildKit's ProcessWord)."""
    return Lexer(escape).process(word, env).word


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand, then split into words outside quotes (BuildKit's ProcessWords).

    Whitespace coming from a variable's value splits words too, as in EXPOSE $PORTS.
    """
    return Lexer(escape).process(word, env).words


def expand_with_matches(
    word: str, env: Mapping[str, str], escape: str = "\\"
) -> ExpansionResult:
    """Like `expand`, also reporting which variables were used (for unused-ARG checks)."""
    return Lexer(escape).process(word, env)
