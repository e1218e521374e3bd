"""Instruction flags (`--name=value`), checked like BuildKit's BFlags."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.builder.dockerfile.syntax import SyntaxProblem, suggest

BOOL, STRING, STRINGS = "bool", "string", "strings"


@dataclass
class ParsedFlags:
    """An instruction's --flags: last value of each, and every value in order."""

    values: dict[str, str] = field(default_factory=dict)  # last value, raw
    lists: dict[str, list[str]] = field(default_factory=dict)  # repeated flags, in order

    def string(self, name: str) -> str | None:
        return self.values.get(name)

    def boolean(self, name: str) -> bool:
        return self.values.get(name) == "true"

    def strings(self, name: str) -> list[str]:
        return self.lists.get(name, [])


def parse_flags(keyword: str, words: list[str], spec: dict[str, str]) -> ParsedFlags:
    """Check `words` (`--name[=value]`) against `spec` (name -> BOOL|STRING|STRINGS)."""
    out = ParsedFlags()
    seen: set[str] = set()
    for word in words:
        if not word.startswith("--"):
            raise SyntaxProblem(f"Arg should start with -- : {word}")
        body = word[2:]
        name, has_value, value = body.partition("=")
        kind = spec.get(name)
        if kind is None:
            raise SyntaxProblem(_unknown_flag(keyword, name, spec))
        if name in seen and kind != STRINGS:
            raise SyntaxProblem(
                f"Duplicate flag specified: {name} (give --{name} only once)"
            )
        seen.add(name)
        if kind == BOOL:
            if not has_value:
                value = "true"
            value = value.lower()
            if value not in ("true", "false"):
                raise SyntaxProblem(
                    f"expecting boolean value for flag {name}, not: {value} "
                    f"(write --{name} or --{name}=false)"
                )
            out.values[name] = value
        else:
            if not has_value:
                raise SyntaxProblem(
                    f"Missing a value on flag: {name} (write --{name}=VALUE)"
                )
            out.values[name] = value
            if kind == STRINGS:
                out.lists.setdefault(name, []).append(value)
    return out


def _unknown_flag(keyword: str, name: str, spec: dict[str, str]) -> str:
    message = f"Unknown flag: {name}"
    close = suggest(name, spec)
    if close:
        return f"{message} (did you mean --{close}?)"
    if spec:
        known = ", ".join(f"--{flag}" for flag in sorted(spec))
        return f"{message} ({keyword} accepts {known})"
    return f"{message} ({keyword} takes no flags)"
