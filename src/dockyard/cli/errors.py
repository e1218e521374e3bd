"""The one error every `dockyard` command raises for the user: `main` prints it as one line
(`dockyard COMMAND: message`) and exits with its code, never with a traceback."""

from __future__ import annotations


class CommandError(Exception):
    """A failure the user can fix; the message names the problem and the fix."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def write_out(data: bytes) -> None:
    """Write bytes to stdout in pieces of 64 KiB. One big write to a pipe whose reader has gone
    can come back partial and be taken as done (CPython then drops the rest without an error);
    pieces make a closed pipe raise BrokenPipeError, which `main` ends quietly."""
    import sys

    out = sys.stdout.buffer
    for start in range(0, len(data), 1 << 16):
        out.write(data[start:start + (1 << 16)])
    out.flush()
