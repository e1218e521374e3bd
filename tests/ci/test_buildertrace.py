"""Spans from the builder's progress lines (what `dockyard executor` prints in a build step)."""

from __future__ import annotations

from dockyard.ci.buildertrace import BuilderOutputTracer

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
