"""Pipeline definition errors that point at file:line:column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class PipelineError(Exception):
    """A syntax error or an unsupported construct; `str()` is `file:line:col: message`."""

    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(f"{pos}: {message}")
        self.message = message
        self.pos = pos


JenkinsfileError = PipelineError
