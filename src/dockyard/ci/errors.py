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


class ForbiddenParameter(PipelineError):
    """A declared parameter whose name a shell or loader interprets (`dockyard.ci.params`)."""

# Limits of both pipeline front ends: a pipeline file is read whole and parsed in a worker, so
# its size and nesting are bounded to keep a hostile push from costing more than a moment.
MAX_PIPELINE_BYTES = 1 << 20
MAX_NESTING = 64
# Tokens of a Jenkinsfile, YAML events (node starts and ends, scalars) of a .dockyard.yml: real
# pipelines use a few thousand; the cap keeps the parse well under a second and its garbage small.
MAX_ELEMENTS = 20_000


def too_many_elements(what: str, pos: Pos) -> PipelineError:
    return PipelineError(
        f"the pipeline has more than {MAX_ELEMENTS} {what}: split it, or move scripts into files"
        " of the repository and call them from sh steps",
        pos,
    )


def check_size(source: str | int, filename: str) -> None:
    """A PipelineError when `source` (a text, or a file size) is over MAX_PIPELINE_BYTES (UTF-8)."""
    size = source if isinstance(source, int) else len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_PIPELINE_BYTES:
        raise PipelineError(
            f"the pipeline file is {size} bytes; at most {MAX_PIPELINE_BYTES} bytes (1 MiB) are"
            " accepted: move scripts into files of the repository and call them from sh steps",
            Pos(filename, 1, 1),
        )


class StepFailed(Exception):
    """A step failed; the message is what Jenkins prints after ERROR:."""


class BuildAborted(Exception):
    """The build was stopped or timed out while a step ran."""
