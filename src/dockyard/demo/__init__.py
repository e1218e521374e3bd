"""`dockyard demo`: the tutorial's whole loop (git push -> CI -> image -> GitOps) on a fresh
Dockyard, printed step by step. Public surface: `DemoOptions`, `run_demo`, `DemoError`."""

from __future__ import annotations

import signal
import sys
import traceback
from typing import TextIO

import httpx

from dockyard.demo.errors import DemoError
from dockyard.demo.flow import STEPS, Demo, DemoOptions
from dockyard.demo.report import Reporter

__all__ = ["DemoError", "DemoOptions", "run_demo"]


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 on success, 1 with a message naming the failed step otherwise."""
    reporter = Reporter(STEPS, out)
    reporter.say("dockyard demo: the tutorial's git push -> image -> deploy loop on one Dockyard")
    demo: Demo | None = None
    failed = True
    # a SIGTERM to the demo still stops the server it started (the `finally` below runs)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        demo = Demo(options, reporter)
        demo.run()
        failed = False
    except DemoError as exc:
        where = f" at step {reporter.number} ({reporter.current})" if reporter.number else ""
        print(f"dockyard demo: FAILED{where}: {exc}", file=sys.stderr, flush=True)
    except httpx.HTTPError as exc:
        tail = demo.server.log_tail() if demo is not None and demo.server is not None else ""
        print(f"dockyard demo: FAILED at step {reporter.number} ({reporter.current}): the server did "
              f"not answer: {type(exc).__name__}: {exc}\nlast lines of its log:\n{tail}",
              file=sys.stderr, flush=True)
    except (KeyboardInterrupt, SystemExit):
        print("dockyard demo: interrupted", file=sys.stderr, flush=True)
    except Exception as exc:  # a bug or an unforeseen environment problem: say where, then stop
        traceback.print_exc()
        print(f"dockyard demo: FAILED at step {reporter.number} ({reporter.current}): "
              f"unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        if demo is not None:
            demo.finish(options.keep, failed=failed)
        signal.signal(signal.SIGTERM, previous)
    if not failed:
        reporter.say("dockyard demo: OK")
    return 1 if failed else 0


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)
