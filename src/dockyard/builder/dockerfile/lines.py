"""Physical lines -> logical lines (BuildKit's `parser.Parse`).

Handles the parser directives at the top, comments, line continuations (with comments
and empty lines allowed inside them), and reads heredoc bodies after the line that
opens them. The result is a list of `RawLine`s: one instruction each, not yet split
into keyword, flags and arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dockyard.builder.dockerfile.lexer import ExpansionError, Lexer
from dockyard.builder.dockerfile.model import Directive, DockerfileError, Heredoc, Warning
from dockyard.builder.dockerfile.syntax import SyntaxProblem, parse_json_array, split_command

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_LEADING_TABS = re.compile(r"(?m)^\t+")
KNOWN_DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})


@dataclass
class RawLine:
    """One logical line of a Dockerfile and where it started."""

    text: str  # the logical line: continuations joined, comments removed
    line: int  # first physical line (1-based)
    end_line: int  # last physical line, including heredoc bodies
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass
class ScanResult:
    """The logical lines of a Dockerfile and its parser directives."""

    lines: list[RawLine]
    directives: list[Directive]
    escape: str
    warnings: list[Warning]


class _Directives:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.escape = "\\"
        self.done = False
        self.found: list[Directive] = []
        self._continuation = self._continuation_regex("\\")

    @staticmethod
    def _continuation_regex(escape: str) -> re.Pattern[str]:
        e = re.escape(escape)
        return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def feed(self, line: str, lineno: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if not match:
            self.done = True
            return
        name = match.group(1).lower()
        if name not in KNOWN_DIRECTIVES:
            # BuildKit ends directive parsing at an unknown one; it is a plain comment.
            self.done = True
            return
        if any(d.name == name for d in self.found):
            raise DockerfileError(
                f"only one {name} parser directive can be used; remove the duplicate",
                filename=self.filename,
                line=lineno,
            )
        value = match.group(2)
        if name == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\ "
                    "(write '# escape=`' or '# escape=\\')",
                    filename=self.filename,
                    line=lineno,
                )
            self.escape = value
            self._continuation = self._continuation_regex(value)
        self.found.append(Directive(name, value, lineno))

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """(line without the trailing escape, True when the logical line ends here)."""
        if self._continuation.search(line):
            return self._continuation.sub(r"\1", line), False
        return line, True


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _strip_comment(line: str) -> str:
    # BuildKit's reComment `^#.*$` only removes a line that starts with '#'.
    return "" if line.startswith("#") else line


def parse_heredoc_word(word: str) -> Heredoc | None:
    """`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<'EOF'` -> Heredoc without content, else None."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = Lexer("\\", skip_unset_env=True).process(rest, {}).words
        if len(words) != 1:
            return None
        raw = Lexer("\\", raw_quotes=True, skip_unset_env=True).process(rest, {}).words
    except ExpansionError:
        return None
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=words[0], content="", expand=quotes == raw_quotes,
                   chomp=match.group(2) == "-")


def heredocs_in_line(line: str) -> list[Heredoc]:
    try:
        words = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True).process(
            line, {}
        ).words
    except ExpansionError:
        return []
    found = []
    for word in words:
        heredoc = parse_heredoc_word(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


def chomp(content: str) -> str:
    return _LEADING_TABS.sub("", content)


def _may_have_heredocs(text: str) -> bool:
    """Only RUN/COPY/ADD (also under ONBUILD) in shell form open heredocs."""
    keyword, _, rest = split_command(text)
    if keyword == "ONBUILD":
        keyword, _, rest = split_command(rest)
    if keyword not in HEREDOC_KEYWORDS:
        return False
    try:
        return parse_json_array(rest) is None
    except SyntaxProblem:
        return False  # a JSON array of non-strings: the instruction parser reports it


def split_physical_lines(text: str) -> list[str]:
    """Lines ending at "\n" only, endings kept (str.splitlines also splits at \f, \v,
    U+2028 and more, which Docker keeps inside a line)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def scan(text: str, filename: str) -> ScanResult:
    """Split a Dockerfile into logical lines, with directives, heredocs and warnings."""
    if text.startswith("\ufeff"):
        text = text[1:]
    physical = split_physical_lines(text)
    directives = _Directives(filename)
    result: list[RawLine] = []
    warnings: list[Warning] = []
    i = 0
    n = len(physical)
    while i < n:
        raw = physical[i].rstrip("\r\n")
        i += 1
        lineno = i
        stripped = raw.lstrip()
        directives.feed(stripped, lineno)
        line, ended = directives.trim_continuation(_strip_comment(stripped))
        if ended and line == "":
            continue
        empty_continuation = False
        while not ended and i < n:
            nxt = physical[i].rstrip("\r\n")
            i += 1
            if _is_comment(nxt):
                continue
            if nxt.strip() == "":
                empty_continuation = True
                continue
            part, ended = directives.trim_continuation(nxt)
            line += part
        start = lineno
        if empty_continuation:
            warnings.append(Warning(start, "Empty continuation line found in a "
                                           "continued instruction (will become an error in "
                                           "a future BuildKit release)",
                                    "NoEmptyContinuation"))
        heredocs: list[Heredoc] = []
        if "<<" in line and _may_have_heredocs(line):
            for heredoc in heredocs_in_line(line):
                body: list[str] = []
                terminated = False
                while i < n:
                    content_line = physical[i]
                    i += 1
                    candidate = content_line.rstrip("\r\n")
                    if heredoc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == heredoc.name:
                        terminated = True
                        break
                    body.append(content_line)
                if not terminated:
                    raise DockerfileError(
                        f"unterminated heredoc: no line '{heredoc.name}' closes the "
                        f"<<{heredoc.name} opened here; add it on a line of its own",
                        filename=filename,
                        line=start,
                    )
                content = "".join(body)
                if heredoc.chomp:
                    content = chomp(content)
                heredocs.append(Heredoc(heredoc.name, content, heredoc.expand, heredoc.chomp))
        result.append(RawLine(line, start, i, heredocs))
    return ScanResult(result, directives.found, directives.escape, warnings)
