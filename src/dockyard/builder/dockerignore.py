""".dockerignore with Docker's rules (moby/patternmatcher + its ignorefile reader).

Unlike .gitignore, every pattern is anchored at the context root (`foo` excludes only
`./foo`, and `/foo` is the same pattern), `**` spans any number of directories, `!`
re-includes, the last matching pattern wins, and a pattern matching a parent directory
matches everything under it. Paths given to `matches` are slash-separated and relative
to the context root.
"""

from __future__ import annotations

import posixpath
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

_EXACT, _PREFIX, _SUFFIX, _REGEX = "exact", "prefix", "suffix", "regex"
_ESCAPE = set(".+()|{}$")


class DockerignoreError(ValueError):
    """A pattern Docker would refuse; `str()` is `.dockerignore:3: message`."""

    def __init__(self, message: str, *, filename: str = ".dockerignore", line: int = 0) -> None:
        super().__init__(message)
        self.message, self.filename, self.line = message, filename, line

    def __str__(self) -> str:
        prefix = f"{self.filename}:{self.line}" if self.line else self.filename
        return f"{prefix}: {self.message}"


def _clean(path: str) -> str:
    """Go's filepath.Clean for slash paths ('' -> '.')."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass
class Pattern:
    """One compiled pattern (patternmatcher.Pattern)."""

    cleaned: str
    exclusion: bool
    kind: str = _EXACT
    regex: re.Pattern[str] | None = None

    @property
    def dirs(self) -> list[str]:
        return self.cleaned.split("/")

    @classmethod
    def compile(cls, cleaned: str, exclusion: bool) -> Pattern:
        out = ["^"]
        kind = _EXACT
        i = 0
        index = 0
        n = len(cleaned)
        while i < n:
            ch = cleaned[i]
            i += 1
            if ch == "*":
                if i < n and cleaned[i] == "*":
                    i += 1
                    if i < n and cleaned[i] == "/":
                        i += 1
                    if i >= n:
                        if kind == _EXACT:
                            kind = _PREFIX
                        else:
                            out.append(".*")
                            kind = _REGEX
                    else:
                        out.append("(.*/)?")
                        kind = _REGEX
                    if index == 0:
                        kind = _SUFFIX
                else:
                    out.append("[^/]*")
                    kind = _REGEX
            elif ch == "?":
                out.append("[^/]")
                kind = _REGEX
            elif ch in _ESCAPE:
                out.append("\\" + ch)
            elif ch == "\\":
                if i < n:
                    out.append("\\" + cleaned[i])
                    i += 1
                    kind = _REGEX
                else:
                    out.append("\\\\")
            elif ch in "[]":
                out.append(ch)
                kind = _REGEX
            else:
                out.append(ch)
            index += 1
        regex = None
        if kind == _REGEX:
            out.append(r"\Z")
            with warnings.catch_warnings():
                # Python warns about "[[" and "--" inside classes, Go's regexp reads
                # them literally as Python still does
                warnings.simplefilter("ignore", FutureWarning)
                regex = re.compile("".join(out), re.DOTALL)
        return cls(cleaned, exclusion, kind, regex)

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.cleaned
        if self.kind == _PREFIX:
            return path.startswith(self.cleaned[:-2])
        if self.kind == _SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None


def _check_syntax(pattern: str) -> None:
    """Reject what Go's filepath.Match rejects: unclosed '[', trailing '\\'."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("syntax error in pattern (trailing backslash)")
            i += 2
            continue
        if ch == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] == "^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                raise ValueError("syntax error in pattern (empty character class)")
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            if end >= len(pattern):
                raise ValueError("syntax error in pattern (unclosed '[')")
            i = end + 1
            continue
        i += 1


class IgnoreMatcher:
    """Decides whether a context path is excluded from the build context."""

    def __init__(self, patterns: list[str], *, filename: str = ".dockerignore",
                 lines: list[int] | None = None) -> None:
        self.patterns: list[Pattern] = []
        self.source = filename
        for index, raw in enumerate(patterns):
            line = lines[index] if lines else 0
            text = raw.strip()
            if not text:
                continue
            text = _clean(text)
            exclusion = False
            if text.startswith("!"):
                if len(text) == 1:
                    raise DockerignoreError('illegal exclusion pattern: "!"',
                                            filename=filename, line=line)
                exclusion, text = True, text[1:]
            try:
                _check_syntax(text)
                pattern = Pattern.compile(text, exclusion)
            except (ValueError, re.error) as err:
                raise DockerignoreError(
                    f"bad pattern {raw.strip()!r}: {err} (escape [ ] * ? with a backslash)",
                    filename=filename, line=line,
                ) from None
            self.patterns.append(pattern)

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, relpath: str) -> bool:
        """True when `relpath` is excluded (patternmatcher.MatchesOrParentMatches)."""
        path = _clean(relpath.lstrip("/")) if relpath not in ("", ".") else "."
        if path == ".":
            return False  # never exclude the context root itself
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != ".":
                for i in range(len(parent_dirs)):
                    if pattern.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def must_walk(self, reldir: str) -> bool:
        """Whether an excluded directory must still be descended into because a `!`
        pattern may re-include something below it (else the walker can skip it)."""
        directory = _clean(reldir.lstrip("/"))
        parts = [] if directory == "." else directory.split("/")
        return any(pattern.exclusion and _may_match_below(pattern.dirs, parts) for pattern in self.patterns)


def _may_match_below(pattern_dirs: list[str], dir_parts: list[str]) -> bool:
    """Could a path below `dir_parts` match a pattern with these components?"""
    for index, part in enumerate(dir_parts):
        if index >= len(pattern_dirs):
            return True  # pattern matched a parent already; the matcher decides
        component = pattern_dirs[index]
        if "**" in component:
            return True
        try:
            matched = Pattern.compile(component, False).match(part)
        except re.error:
            return True  # a class spanning "/": cannot judge per component, so walk
        if not matched:
            return False
    return True


def read_patterns(text: str) -> tuple[list[str], list[int]]:
    """The ignorefile reader: comments, blank lines, `!`, Clean, leading '/' dropped."""
    patterns: list[str] = []
    lines: list[int] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        if raw.startswith("#"):
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
        lines.append(number)
    return patterns, lines


def ignore_file_for(context_dir: str | Path, dockerfile_path: str | Path | None) -> Path | None:
    """`<Dockerfile>.dockerignore` next to the Dockerfile wins over `<context>/.dockerignore`."""
    context = Path(context_dir)
    if dockerfile_path is not None:
        dockerfile = Path(dockerfile_path)
        if not dockerfile.is_absolute():
            dockerfile = context / dockerfile
        specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
        if specific.is_file():
            return specific
    default = context / ".dockerignore"
    return default if default.is_file() else None


def load_ignore(context_dir: str | Path, dockerfile_path: str | Path | None = None
                ) -> IgnoreMatcher:
    """The matcher for a build context (an empty one when there is no ignore file)."""
    path = ignore_file_for(context_dir, dockerfile_path)
    if path is None:
        return IgnoreMatcher([])
    patterns, lines = read_patterns(path.read_text(encoding="utf-8", errors="replace"))
    return IgnoreMatcher(patterns, filename=path.name, lines=lines)
