"""Runs a build for the command line: progress lines, command output, errors as one
clear message and an exit code (a failing RUN exits with the RUN's code, as Kaniko)."""

from __future__ import annotations

import signal
import sys
import time

from dockyard.builder.options import BuildError, BuildOptions

QUIET = ("panic", "fatal", "error", "warn")


def run_build(options: BuildOptions, live: bool = False) -> int:
    from dockyard.builder import phases

    phases.start()
    try:
        return _run_build(options, live)
    finally:
        phases.finish()


def _run_build(options: BuildOptions, live: bool) -> int:
    from dockyard.builder.phases import phase

    with phase("imports"):
        from dockyard.builder.dockerfile import DockerfileError
        from dockyard.builder.multiplatform import build_platforms, deliver_platforms

    started = time.monotonic()
    quiet = options.verbosity in QUIET
    err = sys.stderr

    def progress(message: str) -> None:
        if quiet:
            return
        stamp = f"[{time.monotonic() - started:6.1f}s] " if live else ""
        print(f"{stamp}{message}", file=err, flush=True)

    def output(chunk: bytes) -> None:
        if not quiet:
            err.buffer.write(chunk) if hasattr(err, "buffer") else err.write(chunk.decode())
            err.flush()

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a deleted pod: stop the RUN, remove scratch, exit

    signal.signal(signal.SIGTERM, terminated)
    options.progress = options.progress or progress
    options.output = options.output or output
    try:
        results = build_platforms(options)  # one per platform: several make one index
        digest = deliver_platforms(results, options, options.progress)
    except (BuildError, DockerfileError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    except OSError as exc:  # a file the build needs and cannot read or write
        print(f"error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except RuntimeError as exc:  # the sandbox's (imported only when a RUN ran)
        from dockyard.sandbox import RunFailed, SandboxUnavailable

        if not isinstance(exc, (RunFailed, SandboxUnavailable)):
            raise
        print(f"error: {exc}", file=err)
        if isinstance(exc, RunFailed) and 0 < exc.exit_code < 256 and not exc.timed_out:
            return exc.exit_code
        return 1
    layers = sum(result.layers_written for result in results)
    progress(f"built {digest} in {time.monotonic() - started:.1f}s ({layers} new layers)")
    print(digest)
    return 0
