"""Tokens of the Groovy subset. Works on the whole pipeline file from any offset, so positions are
the file's own line:column; `${...}` inside "..." strings is lexed into its own token list."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.ci.errors import MAX_ELEMENTS, MAX_NESTING, PipelineError, Pos, too_many_elements

_ESCAPES = {
    "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "s": " ",
    "\\": "\\", "'": "'", '"': '"', "$": "$", "/": "/",
}  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?[LlGgDdFfIi]?")
# longest first
_OPS = (
    "..<", "==~", "<=>", "?.", "?:", "*.", "..", "=~", "==", "!=", "<=", ">=", "&&", "||", "++",
    "--", "+=", "-=", "*=", "/=", "%=", "<<", ">>", "->", "**", "::",
    "+", "-", "*", "/", "%", "<", ">", "=", "!", "?", ":", ".", ",", ";", "(", ")", "[", "]",
    "{", "}", "@", "&", "|", "^", "~",
)  # fmt: skip


@dataclass(frozen=True)
class Interpolation:
    """`${expr}` or `$a.b` inside a "..." string: where its `$` is, its tokens (ending with the
    closing `}`) and its source text."""

    pos: Pos
    toks: list[Tok]
    text: str


@dataclass(frozen=True)
class Tok:
    kind: str  # ident, num, str, gstr, op, eof
    value: object
    pos: Pos
    nl: bool = False  # a newline came before it
    end: int = field(default=0, compare=False)  # offset just after it


class Lexer:
    """Lexes from `start` (at `line`:`col`); `stop_at_brace` ends at an unmatched `}` (not consumed
    into the result: `tokens()` then returns it as the last token before `eof`)."""

    def __init__(self, src: str, filename: str, start: int = 0, line: int = 1, col: int = 1) -> None:
        self.src, self.filename = src, filename
        self.i, self.line, self.col = start, line, col
        self.count = 0
        self.depth = 0  # "${ "${ ... }" }" strings inside interpolations inside strings

    def pos(self) -> Pos:
        return Pos(self.filename, self.line, self.col)

    def error(self, message: str, pos: Pos | None = None) -> PipelineError:
        return PipelineError(message, pos or self.pos())

    def _advance(self, n: int = 1) -> str:
        text = self.src[self.i : self.i + n]
        nls = text.count("\n")
        if nls:
            self.line += nls
            self.col = len(text) - text.rfind("\n")
        else:
            self.col += len(text)
        self.i += len(text)
        return text

    def _peek(self, n: int = 1) -> str:
        return self.src[self.i : self.i + n]

    def until_close(self, opening: Pos) -> list[Tok]:
        """Tokens up to and including the `}` that closes an already-consumed `{`."""
        depth = 0
        out: list[Tok] = []
        while True:
            tok = self.next()
            out.append(tok)
            if tok.kind == "eof":
                raise self.error(
                    f"unterminated block: the '{{' at {opening.line}:{opening.col} is never closed", opening
                )
            if tok.kind == "op" and tok.value == "{":
                depth += 1
            elif tok.kind == "op" and tok.value == "}":
                if depth == 0:
                    return out
                depth -= 1

    def next(self) -> Tok:
        nl = self.skip_space()
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise too_many_elements("tokens (names, strings, numbers, symbols)", self.pos())
        pos = self.pos()
        if self.i >= len(self.src):
            return Tok("eof", None, pos, True, self.i)
        ch = self._peek()
        if ch in "'\"":
            kind, text = self.string()
            return Tok(kind, text, pos, nl, self.i)
        if self._peek(2) == "$/":
            raise self.error("dollar-slashy strings $/.../$ are not supported: use '...' quotes")
        m = _IDENT.match(self.src, self.i)
        if m:
            self._advance(len(m.group()))
            return Tok("ident", m.group(), pos, nl, self.i)
        m = _NUMBER.match(self.src, self.i)
        if m:
            text = m.group()
            self._advance(len(text))
            body = text.rstrip("LlGgDdFfIi")
            value: int | float = float(body) if ("." in body or "e" in body.lower()) else int(body)
            return Tok("num", value, pos, nl, self.i)
        for op in _OPS:
            if self.src.startswith(op, self.i):
                self._advance(len(op))
                return Tok("op", op, pos, nl, self.i)
        raise self.error(f"unexpected character {ch!r}")

    def skip_space(self) -> bool:
        """Past blanks, comments and backslash-newlines; whether a newline was among them."""
        nl = False
        while self.i < len(self.src):
            ch = self._peek()
            if ch == "\n":
                nl = True
                self._advance()
            elif ch in " \t\r\f":
                self._advance()
            elif self._peek(2) == "\\\n":
                self._advance(2)
            elif self._peek(2) == "//":
                end = self.src.find("\n", self.i)
                self._advance((end if end >= 0 else len(self.src)) - self.i)
            elif self._peek(2) == "/*":
                start = self.pos()
                end = self.src.find("*/", self.i + 2)
                if end < 0:
                    raise self.error("unterminated /* comment", start)
                self._advance(end + 2 - self.i)
            else:
                break
        return nl

    def string(self) -> tuple[str, object]:
        """The quoted string at the current offset: ("str", text), or ("gstr", parts) where the
        parts are text and `Interpolation`s."""
        start = self.pos()
        quote = self._peek()
        delim = quote * 3 if self._peek(3) == quote * 3 else quote
        self._advance(len(delim))
        interpolate = quote == '"'
        parts: list[str | Interpolation] = []
        buf: list[str] = []
        while True:
            if self.i >= len(self.src):
                raise self.error(f"unterminated string (opened with {delim})", start)
            if self.src.startswith(delim, self.i):
                self._advance(len(delim))
                break
            ch = self._peek()
            if ch == "\n" and len(delim) == 1:
                raise self.error(
                    f"newline in a {delim}-quoted string: use {delim * 3} for text over several lines", start
                )
            if ch == "\\":
                buf.append(self._escape(len(delim) == 3))
                continue
            if ch == "$" and interpolate:
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self._interpolation())
                continue
            buf.append(self._advance())
        if buf:
            parts.append("".join(buf))
        if all(isinstance(p, str) for p in parts):
            return "str", "".join(p for p in parts if isinstance(p, str))
        return "gstr", parts

    def _escape(self, triple: bool) -> str:
        esc = self.pos()
        nxt = self.src[self.i + 1 : self.i + 2]
        if nxt == "\n" and triple:
            self._advance(2)
            return ""
        if nxt == "u":
            digits = self.src[self.i + 2 : self.i + 6]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                raise self.error("\\u needs four hex digits", esc)
            self._advance(6)
            return chr(int(digits, 16))
        if nxt not in _ESCAPES:
            raise self.error(f"unknown escape \\{nxt} in a Groovy string: write \\\\ for a backslash", esc)
        self._advance(2)
        return _ESCAPES[nxt]

    def _interpolation(self) -> Interpolation:
        """`${expr}` as the tokens of expr (ending with its `}`), `$a.b` as ident/`.` tokens."""
        pos = self.pos()
        self._advance()
        start = self.i
        if self._peek() == "{":
            self._advance()
            start = self.i
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"strings nested in ${{...}} deeper than {MAX_NESTING} levels", pos)
            toks = self.until_close(pos)
            self.depth -= 1
            if len(toks) == 1:
                raise self.error("empty ${} in a string", pos)
            return Interpolation(pos, toks, self.src[start : self.i - 1].strip())
        m = _DOTTED.match(self.src, self.i)
        if not m:
            raise self.error(
                'illegal character after $ in a "..." string: write \\$ for a literal dollar'
                " (for example \\$(pwd)), or use '...' quotes",
                pos,
            )
        path: list[Tok] = []
        for k, name in enumerate(m.group().split(".")):
            if k:
                path.append(Tok("op", ".", self.pos(), False, self.i))
                self._advance()
            p = self.pos()
            self._advance(len(name))
            path.append(Tok("ident", name, p, False, self.i))
        path.append(Tok("op", "}", self.pos(), False, self.i))
        return Interpolation(pos, path, self.src[start : self.i])
