"""Runs a build's stages, independent ones at the same time, as BuildKit's solver does
(Kaniko builds them one after the other).

A stage starts once every stage it uses is built (`StageGraph`), at most `jobs` at once, each
in a thread of its own: the work is in RUN's processes, unpacking and compression, which do
not hold the GIL. The first failure sets `cancel`: a running RUN is killed (its sandbox goes
with its processes), no stage starts another step, and once every stage has stopped the
failure is raised, the others' `StageCancelled` dropped. With `jobs` 1, or stages that form
a chain (each uses the one before), they run in the calling thread, in order, as before.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from dockyard.builder.options import BuildError
from dockyard.builder.phases import phase
from dockyard.builder.stage_graph import StageGraph

T = TypeVar("T")


class StageCancelled(BuildError):
    """Raised inside a stage when another stage failed (or the build was interrupted)."""

    def __init__(self) -> None:
        super().__init__("stopped: another stage failed")


def run_stages(graph: StageGraph, build: Callable[[int], T], done: Callable[[int, T], None],
               jobs: int, cancel: threading.Event) -> None:
    """Builds every stage of `graph` with `build(index)`; `done(index, result)` runs in the
    calling thread before any stage that uses `index` starts."""
    if jobs <= 1 or not graph.independent():  # a chain: nothing to overlap
        for index in graph.order:
            done(index, build(index))
        return
    built: set[int] = set()
    running: dict[Future[T], int] = {}
    failure: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="dockyard-stage")
    try:
        while len(built) < len(graph.order):
            if failure is None:
                for index in graph.ready(built, set(running.values()))[:jobs - len(running)]:
                    # each stage in a copy of this context: its log prefix is its own
                    context = contextvars.copy_context()
                    running[pool.submit(context.run, build, index)] = index
            if not running:
                break
            with phase("parallel stages"):  # (the profile times this thread only)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=running.__getitem__):
                index = running.pop(future)
                error = future.exception()
                if error is None:
                    done(index, future.result())
                    built.add(index)
                elif failure is None or isinstance(failure, StageCancelled):
                    failure = error
                    cancel.set()
    except BaseException:  # Ctrl-C or SIGTERM while this thread waits: stop every stage
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True)  # after a failure: until the others stopped (their RUN killed)
    if failure is not None:
        raise failure
    if len(built) < len(graph.order):  # cannot happen with uses pointing to earlier stages
        raise BuildError("stages left unbuilt: " + ", ".join(
            graph.names[i] for i in graph.order if i not in built))
