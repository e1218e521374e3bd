"""Parallel stages: independent stages of a multi-stage Dockerfile build at the same time
(bounded by --jobs), only the stages the target needs are built, logs stay whole lines with
their stage, a failing stage stops the others, and the image is the sequential build's."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.builder.dockerfile import parse
from dockyard.builder.options import cgroup_cpu_quota
from dockyard.builder.stage_graph import StageGraph
from tests.builder.images import BASE_TAG, dockyard, make_base_layout, unpack
from tests.conftest import require_tool

# `a` and `b` meet in a shared cache mount when WAIT=1: each writes its mark and waits for
# the other's, so that build only ends if they run at the same time (with --jobs 1 it would
# fail after 60 s). Their RUN output is 150 long lines each, printed while the other prints.
RENDEZVOUS = (
    'RUN --mount=type=cache,id=rendezvous-{tag},target=/meet '
    'touch /meet/{me}; n=0; while [ "$WAIT" = 1 ] && [ ! -e /meet/{other} ]; do '
    'sleep 0.05; n=$((n+1)); if [ $n -gt 1200 ]; then echo "no {other}"; exit 9; fi; done; '
    'for i in $(seq 150); do echo "line-{me}-$i-$(printf "%064d" 0 | tr 0 {me})"; done; '
    'echo {me} > /{me}'
)
DOCKERFILE = """ARG BASE
FROM $BASE AS tools
RUN echo tool > /tool

FROM tools AS a
ARG WAIT=0
{run_a}

FROM $BASE AS b
ARG WAIT=0
{run_b}

FROM $BASE AS unused
RUN echo "the target does not use this stage"; exit 42

FROM $BASE AS c
RUN printf 'no final newline' && echo c > /c

FROM $BASE
COPY --from=a /a /tool /from-a/
COPY --from=b /b /from-b/b
RUN --mount=from=c,target=/mnt/c cat /mnt/c/c > /c-copy
"""


def _context(tmp_path: Path, tag: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(
        run_a=RENDEZVOUS.format(me="a", other="b", tag=tag),
        run_b=RENDEZVOUS.format(me="b", other="a", tag=tag)))
    return context


def test_stage_graph_follows_from_copy_and_mount() -> None:
    dockerfile = parse(DOCKERFILE.format(run_a="RUN true", run_b="RUN true"))
    graph = StageGraph.plan(dockerfile, None, {"BASE": "busybox"}, {})
    # tools=0, a=1, b=2, unused=3, c=4, final=5
    assert graph.order == (0, 1, 2, 4, 5)
    assert graph.uses[1] == {0} and graph.uses[5] == {1, 2, 4} and graph.uses[2] == set()
    assert graph.ready(set(), set()) == [0, 2, 4]
    assert graph.ready({0, 2}, {4}) == [1]
    assert graph.independent() and graph.skipped(dockerfile) == ["unused"]
    chain = StageGraph.plan(dockerfile, "a", {"BASE": "busybox"}, {})
    assert chain.order == (0, 1) and not chain.independent()


@pytest.mark.usefixtures("needs_namespaces")
def test_parallel_build_is_the_sequential_image_with_readable_logs(tmp_path: Path) -> None:
    require_tool("umoci")
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = _context(tmp_path, tmp_path.name)
    digests = {}
    logs = {}
    for name, extra in (("sequential", ["--jobs", "1"]), ("default", []),
                        ("parallel", ["--jobs", "3", "--build-arg", "WAIT=1"])):
        layout = tmp_path / f"out-{name}"
        result = dockyard("build", "--reproducible", *extra, "--build-arg",
                          f"BASE=oci-layout://{base}:{BASE_TAG}", "--cache-dir", str(cache),
                          "-t", "local/par:out", "--oci-layout-path", str(layout), str(context))
        digests[name] = result.stdout.strip()
        logs[name] = result.stderr
    # --jobs 1, the default and a build whose stages a and b provably overlapped: one image
    assert digests["sequential"] == digests["default"] == digests["parallel"], logs
    assert "independent ones built at once (up to 3)" in logs["parallel"]
    assert "independent ones built at once" not in logs["sequential"]
    # the unused stage (it would fail) is not built, and says so
    assert "not built): unused" in logs["parallel"] and "exit 42" not in logs["parallel"]
    # every output line of a and b is whole and carries its own stage
    lines = logs["parallel"].splitlines()
    ours = [line for line in lines if re.match(r"\[\w+\] line-", line)]
    assert len(ours) == 300, logs["parallel"]
    for line in ours:
        assert re.fullmatch(r"\[(a|b)\] line-\1-\d+-\1{64}", line), line
    assert "[c] no final newline" in lines
    assert any(re.fullmatch(r"\[ *[\d.]+s\] \[a\]   \[1/2\] ARG WAIT=0", line) for line in lines)
    rootfs = unpack(tmp_path / "out-parallel", "out", tmp_path / "bundle")
    assert (rootfs / "from-a" / "a").read_text() == "a\n"
    assert (rootfs / "from-a" / "tool").read_text() == "tool\n"
    assert (rootfs / "from-b" / "b").read_text() == "b\n"
    assert (rootfs / "c-copy").read_text() == "c\n"

    # --target: only what the target uses
    target = dockyard("build", "--reproducible", "--target", "a", "--build-arg",
                      f"BASE=oci-layout://{base}:{BASE_TAG}", "--cache-dir", str(cache),
                      str(context))
    assert "[stage tools 1/2]" in target.stderr and "[stage a 2/2]" in target.stderr
    assert "[stage b" not in target.stderr and "[stage c" not in target.stderr


@pytest.mark.usefixtures("needs_namespaces")
def test_failing_stage_stops_the_others(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = tmp_path / "ctx"
    context.mkdir()
    marker = f"{600 + len(str(tmp_path)) % 97}"  # this test's own `sleep N`, looked for below
    (context / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM $BASE AS slow\n"
        f"RUN --mount=type=cache,id=stop-{tmp_path.name},target=/meet "
        f"touch /meet/started; sleep {marker}; echo never > /x\n"
        "FROM $BASE AS broken\n"
        "COPY Dockerfile /ctx-file\n"
        f"RUN --mount=type=cache,id=stop-{tmp_path.name},target=/meet "
        "while [ ! -e /meet/started ]; do sleep 0.05; done; echo giving up; exit 3\n"
        "FROM $BASE\n"
        "COPY --from=slow /x /x\n"
        "COPY --from=broken /ctx-file /y\n")
    result = dockyard("executor", f"--context={context}", "--no-push", "--jobs=2",
                      f"--build-arg=BASE=oci-layout://{base}:{BASE_TAG}",
                      f"--cache-dir={cache}", check=False)
    # the RUN's exit code, the file:line and the stage of the failure; not the stopped one's
    assert result.returncode == 3, result.stderr
    assert "error: Dockerfile:6: stage broken: RUN " in result.stderr
    assert "(exit code 3)" in result.stderr and "[broken] giving up" in result.stderr
    assert "another stage failed" not in result.stderr
    # the slow stage's sandbox is gone with the build (nothing left sleeping)
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
    # nothing half-written: no build scratch left in place, no partial blob in the cache
    assert not [p for p in (cache / "tmp").iterdir() if not p.name.endswith(".trash")]
    assert not [p for p in (cache / "blobs").rglob(".*")]


def test_jobs_must_be_a_positive_number(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = dockyard("build", "--jobs", "0", str(tmp_path), check=False)
    assert result.returncode == 2 and "invalid --jobs '0'" in result.stderr
    result = dockyard("build", "--cache-dir", str(tmp_path / "cache"), str(tmp_path),
                      env={"DOCKYARD_BUILD_JOBS": "many"}, check=False)
    assert result.returncode == 1
    assert "DOCKYARD_BUILD_JOBS='many' is not a number of stages" in result.stderr


def test_default_jobs_follow_the_pods_cpu_limit(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(v2) is None
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(v2) == 2  # 1.5 CPUs: two stages at once
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) is None
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 1
    assert cgroup_cpu_quota(tmp_path / "none") is None


@pytest.mark.usefixtures("needs_namespaces")
def test_sigterm_stops_every_running_stage(tmp_path: Path) -> None:
    """A deleted build pod (SIGTERM) while two stages run: both RUNs end, exit 130."""
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = tmp_path / "ctx"
    context.mkdir()
    marker = 700 + len(str(tmp_path)) % 97
    (context / "Dockerfile").write_text(
        "ARG BASE\n"
        f"FROM $BASE AS one\nRUN --mount=type=cache,id=term-{tmp_path.name},target=/meet "
        f"touch /meet/one; sleep {marker}\n"
        f"FROM $BASE AS two\nRUN --mount=type=cache,id=term-{tmp_path.name},target=/meet "
        f"touch /meet/two; sleep {marker + 1}\n"
        "FROM $BASE\nCOPY --from=one /etc/motd /a\nCOPY --from=two /etc/motd /b\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "build", "--jobs", "2", "--build-arg",
         f"BASE=oci-layout://{base}:{BASE_TAG}", "--cache-dir", str(cache), str(context)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((cache / "run-cache").rglob("one")) + list(
                (cache / "run-cache").rglob("two"))) < 2:
            assert process.poll() is None and time.monotonic() < deadline, \
                process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130 and "error: interrupted" in err, err
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}|sleep {marker + 1}"],
                          capture_output=True, text=True)
    assert left.stdout == "", left.stdout
