"""Spans from the builder's progress lines (what `dockyard executor` prints in a build step)."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.ci.buildertrace import MAX_LINE, BuilderOutputTracer
from dockyard.ci.buildlog import Span, Trace

OUTPUT = b"""+ /kaniko/executor --dockerfile=Dockerfile
[stage 0 1/1] FROM 127.0.0.1:5000/library/busybox:1
    resolved 127.0.0.1:5000/library/busybox:1 to sha256:2227
    layer sha256:2ca90f811630 pulled 1140311 bytes
  [1/2] RUN echo "Hello from Kaniko" > /hello.txt
  [2/2] CMD ["cat", "/hello.txt"] (cached)
  layer sha256:2ca90f811630 mounted
  layer sha256:362d73e898ac uploaded
  pushed 127.0.0.1:5000/bootcamp/hello-kaniko:abc1234 (sha256:0268dffe9a9813afd97bddd7567b608988889ad6)
  pushed 127.0.0.1:5000/bootcamp/hello-kaniko:latest (sha256:0268dffe9a9813afd97bddd7567b608988889ad6)
built sha256:0268dffe9a98 in 1.1s (1 new layers)
"""


def test_spans_from_builder_progress_split_across_chunks() -> None:
    tracer = BuilderOutputTracer()
    lines = OUTPUT.split(b"\n")
    for t, line in enumerate(lines):
        half = len(line) // 2  # every line arrives in two writes
        tracer.feed(line[:half], float(t))
        tracer.feed(line[half:] + (b"\n" if t < len(lines) - 1 else b""), float(t) + 0.5)
    spans = [(s.kind, s.name, s.start, s.end) for s in tracer.finish(99.0)]
    assert spans == [
        ("pull", "127.0.0.1:5000/library/busybox:1", 1.5, 4.5),
        ("instruction", 'RUN echo "Hello from Kaniko" > /hello.txt', 4.5, 5.5),
        ("instruction", 'CMD ["cat", "/hello.txt"]', 5.5, 6.5),
        ("push", "127.0.0.1:5000/bootcamp/hello-kaniko:abc1234", 6.5, 8.5),
        ("push", "127.0.0.1:5000/bootcamp/hello-kaniko:latest", 8.5, 9.5),
    ]
    assert tracer.spans[2].detail == {"cached": "yes"}


def test_other_output_makes_no_spans() -> None:
    tracer = BuilderOutputTracer()
    tracer.feed(b"hello\n  running tests\nok", 1.0)
    assert tracer.finish(2.0) == []


MULTI_PLATFORM = b"""[linux/amd64] building for platform 1/2
[linux/amd64] [stage 0 1/1] FROM 127.0.0.1:5000/library/busybox:multi
[linux/amd64]   [1/1] RUN uname -m > /arch
[linux/arm64] building for platform 2/2
[linux/arm64] [stage 0 1/1] FROM 127.0.0.1:5000/library/busybox:multi
[linux/arm64]   [1/1] RUN uname -m > /arch
[linux/arm64]     RUN for linux/arm64 runs under /usr/libexec/qemu-binfmt/aarch64-binfmt-P
  layer sha256:362d73e898ac uploaded
  pushed 127.0.0.1:5000/app@sha256:aaaa (sha256:aaaa)
  pushed index 127.0.0.1:5000/app:latest (sha256:0268dffe9a98)
built sha256:0268dffe9a98 in 1.1s (2 new layers)
"""


def test_a_multi_platform_build_traces_each_platform_and_the_index_push() -> None:
    tracer = BuilderOutputTracer()
    for t, line in enumerate(MULTI_PLATFORM.split(b"\n")):
        tracer.feed(line + b"\n", float(t))
    spans = [(s.kind, s.name, s.detail.get("platform")) for s in tracer.finish(99.0)]
    assert spans == [
        ("pull", "127.0.0.1:5000/library/busybox:multi", "linux/amd64"),
        ("instruction", "RUN uname -m > /arch", "linux/amd64"),
        ("pull", "127.0.0.1:5000/library/busybox:multi", "linux/arm64"),
        ("instruction", "RUN uname -m > /arch", "linux/arm64"),
        ("push", "127.0.0.1:5000/app@sha256:aaaa", None),
        ("push", "127.0.0.1:5000/app:latest", None),
    ]


def test_a_step_printing_without_newlines_keeps_the_tracer_small() -> None:
    """Hostile: 64 MiB with no newline (every sh step's output reaches the tracer on the server's
    event loop) keeps one bounded partial line, and the lines after it are still traced."""
    tracer = BuilderOutputTracer()
    chunk = b"x" * (1 << 20)
    for _ in range(64):
        tracer.feed(chunk, 1.0)
        assert len(tracer._partial) <= MAX_LINE
    tracer.feed(b"\n  [1/1] RUN true\n", 2.0)
    assert [(s.kind, s.name) for s in tracer.finish(3.0)] == [("instruction", "RUN true")]


def test_tool_spans_are_bounded(tmp_path: Path) -> None:
    """Hostile: the trace events file is the step's to write: an absurdly nested line, a line longer
    than a read and more spans than the budget are skipped, and what is kept stays bounded."""
    events = tmp_path / "events.jsonl"
    trace = Trace(tmp_path / "trace.json", 0.0)
    good = json.dumps({"kind": "phase", "name": "unpack", "start": 1.0, "end": 2.0}).encode() + b"\n"
    events.write_bytes(b"[" * 200_000 + b"]" * 200_000 + b"\n" + good)
    assert trace.merge_events(events) == 1
    with events.open("ab") as f:
        f.write(b"y" * (Trace.MAX_EVENT_BYTES + 10) + b"\n" + good)
    while trace.merge_events(events) == 0 and trace._events_offset < events.stat().st_size:
        pass  # the overlong line is stepped over, one bounded read at a time
    assert len(trace.spans) == 2
    with events.open("ab") as f:
        f.write(good * (Trace.MAX_TOOL_SPANS + 50))
    while trace._events_offset < events.stat().st_size:
        trace.merge_events(events)
    trace.add([Span("phase", "late", 1.0, 2.0)])
    assert len(trace.spans) == Trace.MAX_TOOL_SPANS
    assert len(json.loads((tmp_path / "trace.json").read_text())["spans"]) == Trace.MAX_TOOL_SPANS
