"""Tokenizer for the declarative-Jenkinsfile subset of Groovy.

Strings follow Groovy: '...' and '''...''' never interpolate; "..." and \"\"\"...\"\"\" interpolate
`${expr}` / `$name`. Strings are lexed by `dockyard.ci.groovy.lexer` (the Groovy subset's own lexer)
and `${...}` parsed as its expressions. Escapes (\\\\, \\', \\", \\$, \\n, \\t, a backslash before a
newline in triple-quoted strings) are decoded there, so `sh '''a \\\\\\n b'''` reaches the shell as
`a \\` + newline + ` b`, as in Jenkins. Unknown escapes and a bare `$(` in an interpolating string
are errors, as in Groovy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from dockyard.ci.errors import MAX_ELEMENTS, JenkinsfileError, Pos, too_many_elements
from dockyard.ci.groovy.lexer import Lexer as GroovyLexer
from dockyard.ci.groovy.parser import parse_interpolation
from dockyard.ci.model import GString, Interp


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, op, eof
    value: object
    pos: Pos
    newline_before: bool = False
    text: str = field(default="", compare=False)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPS = "{}()[],:=;."


class Lexer:
    def __init__(self, source: str, filename: str = "Jenkinsfile") -> None:
        self.src = source
        self.filename = filename
        self.i = 0
        self.line = 1
        self.col = 1

    # -- positions --------------------------------------------------------------
    def _pos(self) -> Pos:
        return Pos(self.filename, self.line, self.col)

    def _advance(self, n: int = 1) -> str:
        text = self.src[self.i : self.i + n]
        for ch in text:
            if ch == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
        self.i += n
        return text

    def _peek(self, n: int = 1) -> str:
        return self.src[self.i : self.i + n]

    def error(self, message: str, pos: Pos | None = None) -> JenkinsfileError:
        return JenkinsfileError(message, pos or self._pos())

    # -- tokens -----------------------------------------------------------------
    def tokens(self) -> list[Token]:
        return list(self.iter_tokens())

    def iter_tokens(self) -> Iterator[Token]:
        """Tokens on demand, ending with one `eof`: a parser that fails early lexes no further."""
        newline = False
        while True:
            newline = self._skip_space_and_comments() or newline
            if self.i >= len(self.src):
                yield Token("eof", None, self._pos(), True)
                return
            yield self._next(newline)
            newline = False


    def _skip_space_and_comments(self) -> bool:
        lexer = self._groovy()
        newline = lexer.skip_space()
        self._advance(lexer.i - self.i)
        return newline

    def _groovy(self) -> GroovyLexer:
        """The Groovy subset's lexer at this position (strings, blanks and comments are its job)."""
        return GroovyLexer(self.src, self.filename, self.i, self.line, self.col)

    def _next(self, newline: bool) -> Token:
        pos = self._pos()
        ch = self._peek()
        if ch in "'\"":
            start = self.i
            value = self._string()
            return Token("string", value, pos, newline, self.src[start : self.i])
        m = _IDENT.match(self.src, self.i)
        if m:
            self._advance(len(m.group()))
            return Token("ident", m.group(), pos, newline, m.group())
        m = _NUMBER.match(self.src, self.i)
        if m:
            self._advance(len(m.group()))
            text = m.group()
            return Token("number", float(text) if "." in text else int(text), pos, newline, text)
        if ch in _OPS:
            self._advance()
            return Token("op", ch, pos, newline, ch)
        if ch == "/":
            raise self.error("slashy strings and division are not supported: use '...' quotes")
        if ch == "@":
            raise self.error(
                "annotations such as @Library are not supported: shared libraries are not available"
                " in Dockyard (put the shared steps in the Jenkinsfile or in scripts of the repository)"
            )
        raise self.error(f"unexpected character {ch!r}")

    # -- strings ----------------------------------------------------------------
    def _string(self) -> str | GString:
        """Groovy's own string lexing (`dockyard.ci.groovy.lexer`): escapes, triple quotes and
        `${...}`, whose expression is parsed here (steps are not allowed in it)."""
        lexer = self._groovy()
        kind, value = lexer.string()
        self._advance(lexer.i - self.i)
        if kind == "str":
            assert isinstance(value, str)
            return value
        assert isinstance(value, list)
        return GString(
            tuple(
                p if isinstance(p, str) else Interp(p.text, p.pos, parse_interpolation(p.toks)) for p in value
            )
        )


class LazyTokens:
    """The token list as far as the parser has looked; past the end it repeats `eof`."""

    def __init__(self, lexer: Lexer) -> None:
        self.lexer = lexer
        self._it = lexer.iter_tokens()
        self._buf: list[Token] = []

    def buffered(self) -> int:
        return len(self._buf)

    def resume_at(self, k: int, state: tuple[int, int, int]) -> None:
        """Forgets tokens from index k on and lexes on from (offset, line, col): the Groovy parser
        has read the source in between (a script block, an environment value)."""
        del self._buf[k:]
        self.lexer.i, self.lexer.line, self.lexer.col = state

    def __getitem__(self, k: int) -> Token:
        while len(self._buf) <= k and (not self._buf or self._buf[-1].kind != "eof"):
            tok = next(self._it)
            if len(self._buf) >= MAX_ELEMENTS:
                raise too_many_elements("tokens (names, strings, numbers, symbols)", tok.pos)
            self._buf.append(tok)
        return self._buf[min(k, len(self._buf) - 1)]

