"""`python -m dockyard.sandbox REQUEST.json`: one sandboxed command as a child process.

Its output goes to stdout as it comes; the exit status is the command's (125 when the
sandbox cannot be set up, with the reason on stdout). On SIGTERM the sandbox's process group
is killed first, so stopping this process stops everything the command started.
"""

import os
import signal
import sys
from pathlib import Path

from dockyard.sandbox.run import RunFailed, RunRequest, SandboxUnavailable, SpareUserns, run_in_sandbox

SANDBOX_FAILED = 125


def main(path: str, fork: bool = False, userns: SpareUserns | None = None) -> int:
    """Runs the request in file `path`; `fork` when this process is single-threaded, `userns`
    made ahead of time (see `run_in_sandbox`): the sandbox server's step processes."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        request = RunRequest.from_json(Path(path).read_text())
        run_in_sandbox(request, output=_write_out, fork=fork, userns=userns)
    except RunFailed as e:
        return e.exit_code if 0 < e.exit_code < 256 else 1
    except SandboxUnavailable as e:
        _write_out(f"dockyard: the sandbox is not available here: {e}\n".encode())
        return SANDBOX_FAILED
    return 0


def _write_out(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _stop(_sig: int, _frame: object) -> None:
    """Raised inside the supervisor loop, which kills the sandbox's process group and
    removes its cgroup before this process goes."""
    raise SystemExit(143)


if __name__ == "__main__":
    status = main(sys.argv[1])
    sys.stdout.flush()
    os._exit(status)  # one process per step: skip the interpreter's teardown (see dockyard.lazyimport)
