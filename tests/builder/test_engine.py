"""The build engine end to end through `dockyard executor`, from a busybox base layout:
heredocs, ONBUILD, secrets, cache/bind mounts, failures, reproducibility, outputs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.builder.images import (
    BASE_TAG,
    dockyard,
    image_config,
    make_base_layout,
    unpack,
)
from tests.conftest import FIXTURES, require_tool

pytestmark = pytest.mark.usefixtures("needs_namespaces")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("busybox")
    tmp = tmp_path_factory.mktemp("engine")
    cache = tmp / "cache"
    return {"cache": cache, "base": make_base_layout(tmp, cache)}


def build(env: dict[str, Path], context: Path, dockerfile: str | None = None, *extra: str,
          check: bool = True, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    if dockerfile is not None:
        context.mkdir(parents=True, exist_ok=True)
        (context / "Dockerfile").write_text(dockerfile)
    out = out or context.parent / (context.name + "-out")
    return dockyard("executor", f"--context={context}", "--no-push",
                    f"--build-arg=BASE=oci-layout://{env['base']}:{BASE_TAG}",
                    f"--oci-layout-path={out}", "--destination=local/t:out",
                    f"--cache-dir={env['cache']}", *extra, check=check)


def layer_bytes(layout: Path, tag: str = "out") -> list[bytes]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"]
                 if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((layout / "blobs" / entry["digest"].replace(":", "/")).read_text())
    return [gzip.decompress((layout / "blobs" / d["digest"].replace(":", "/")).read_bytes())
            for d in manifest["layers"]]


def test_heredocs(env: dict[str, Path], tmp_path: Path) -> None:
    context = FIXTURES / "build-corpus" / "heredoc"
    build(env, context, None, out=tmp_path / "out")
    root = unpack(tmp_path / "out", "out", tmp_path / "bundle")
    assert (root / "first.txt").read_text() == "first\nsecond\n"
    assert (root / "raw.txt").read_text() == "$HOME is not expanded\n"
    assert (root / "etc" / "app.conf").read_text() == "key=value\n"


def test_onbuild_triggers_run_in_the_child(env: dict[str, Path], tmp_path: Path) -> None:
    parent = tmp_path / "parent-out"
    build(env, FIXTURES / "build-corpus" / "onbuild", None, out=parent)
    child = tmp_path / "child"
    build(env, child, f"FROM oci-layout://{parent}:out\nRUN test -f /triggered.txt\n")
    config = image_config(tmp_path / "child-out", "out")["config"]
    assert "FROM_TRIGGER=yes" in config["Env"]  # type: ignore[index]
    assert not config.get("OnBuild")  # type: ignore[union-attr]


def test_failing_run_exits_with_its_code_and_shows_the_tail(env: dict[str, Path],
                                                           tmp_path: Path) -> None:
    result = build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\nRUN echo before-failing; exit 7\n",
                   check=False)
    assert result.returncode == 7
    assert "echo before-failing; exit 7" in result.stderr and "exit code 7" in result.stderr
    assert "before-failing" in result.stderr.split("last output")[-1]


def test_dockerfile_error_names_file_and_line(env: dict[str, Path], tmp_path: Path) -> None:
    result = build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\nCOPY missing.txt /\n",
                   check=False)
    assert result.returncode == 1
    assert "Dockerfile:3:" in result.stderr and "missing.txt" in result.stderr


def test_secret_is_usable_but_in_no_layer(env: dict[str, Path], tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    dockerfile = ("ARG BASE\nFROM $BASE\n"
                  "RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /length\n"
                  "RUN --mount=type=secret,id=tok,env=TOKEN echo ${#TOKEN} > /ok2\n")
    build(env, tmp_path / "ctx", dockerfile, f"--secret=id=tok,src={secret}")
    out = tmp_path / "ctx-out"
    layers = layer_bytes(out)
    root = unpack(out, "out", tmp_path / "bundle")
    assert (root / "length").read_text().strip() == "12"
    assert (root / "ok2").read_text().strip() == "12"
    for layer in layers:
        assert b"s3cr3t-value" not in layer
        assert b"run/secrets" not in layer
    for blob in (out / "blobs" / "sha256").iterdir():
        assert b"s3cr3t-value" not in blob.read_bytes()


def test_missing_required_secret_is_an_error(env: dict[str, Path], tmp_path: Path) -> None:
    result = build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\n"
                   "RUN --mount=type=secret,id=nope,required=true true\n", check=False)
    assert result.returncode == 1 and "--secret id=nope" in result.stderr


def test_cache_mount_persists_and_bind_mount_reads_context(env: dict[str, Path],
                                                           tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "input.txt").write_text("from-context\n")
    dockerfile = ("ARG BASE\nFROM $BASE\n"
                  "RUN --mount=type=cache,target=/var/cache/app "
                  "echo x >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /runs\n"
                  "RUN --mount=type=bind,source=input.txt,target=/mnt/in cp /mnt/in /copied\n")
    build(env, context, dockerfile)
    build(env, context, dockerfile, out=tmp_path / "second")
    root = unpack(tmp_path / "second", "out", tmp_path / "bundle")
    assert (root / "runs").read_text().strip() == "2"
    assert (root / "copied").read_text() == "from-context\n"
    assert not (root / "var" / "cache" / "app").exists()
    assert not (root / "mnt").exists()


def test_network_none_and_rm_rf_root(env: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "host-file"
    marker.write_text("keep")
    dockerfile = ("ARG BASE\nFROM $BASE\n"
                  "RUN --network=none cat /proc/net/dev > /netdev\n"
                  "RUN rm -rf / 2>/dev/null; true\n")
    build(env, tmp_path / "ctx", dockerfile)
    assert marker.read_text() == "keep"
    root = unpack(tmp_path / "ctx-out", "out", tmp_path / "bundle")
    assert not (root / "bin" / "busybox").exists()  # the image lost its files, the host not


@pytest.mark.slow
def test_reproducible_builds_give_the_same_digest(env: dict[str, Path], tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    dockerfile = "ARG BASE\nFROM $BASE\nCOPY f /f\nRUN echo hi > /g\n"
    context.mkdir()
    (context / "f").write_text("same")
    first = build(env, context, dockerfile, "--reproducible").stdout.split()[-1]
    os.utime(context / "f", (1_000_000, 1_000_000))
    second = build(env, context, dockerfile, "--reproducible").stdout.split()[-1]
    assert first == second and first.startswith("sha256:")
    epoch = {"SOURCE_DATE_EPOCH": "1700000000"}
    third = dockyard("executor", f"--context={context}", "--no-push",
                     f"--build-arg=BASE=oci-layout://{env['base']}:{BASE_TAG}",
                     f"--cache-dir={env['cache']}", f"--oci-layout-path={tmp_path / 'e1'}",
                     "--destination=local/t:out", env=epoch).stdout.split()[-1]
    fourth = dockyard("executor", f"--context={context}", "--no-push",
                      f"--build-arg=BASE=oci-layout://{env['base']}:{BASE_TAG}",
                      f"--cache-dir={env['cache']}", env=epoch).stdout.split()[-1]
    assert third == fourth != first
    assert image_config(tmp_path / "e1", "out")["created"] == "2023-11-14T22:13:20Z"


def test_tar_path_and_digest_files(env: dict[str, Path], tmp_path: Path) -> None:
    require_tool("skopeo")
    tar = tmp_path / "image.tar"
    digest_file = tmp_path / "digest"
    names = tmp_path / "names"
    result = build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\nENV X=1\n", f"--tar-path={tar}",
                   f"--digest-file={digest_file}", f"--image-name-with-digest-file={names}")
    digest = result.stdout.split()[-1]
    assert digest_file.read_text() == digest
    assert names.read_text().strip() == f"docker.io/local/t@{digest}"
    inspected = json.loads(subprocess.run(["skopeo", "inspect", "--config",
                                           f"docker-archive:{tar}"], capture_output=True,
                                          text=True, check=True).stdout)
    assert "X=1" in inspected["config"]["Env"]


def test_timeout_fails_the_build(env: dict[str, Path], tmp_path: Path) -> None:
    result = build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\nRUN sleep 60\n",
                   "--timeout=2s", check=False)
    assert result.returncode != 0 and "timed out" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", ["run-user", "copy"])
def test_tree_diff_fallback_gives_the_same_tree(case: str, env: dict[str, Path],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.builder.images import tree

    context = FIXTURES / "build-corpus" / case
    build(env, context, None, out=tmp_path / "overlay")
    monkeypatch.setenv("DOCKYARD_SNAPSHOT", "tree")
    build(env, context, None, out=tmp_path / "tree")
    assert tree(unpack(tmp_path / "tree", "out", tmp_path / "b1")) == \
        tree(unpack(tmp_path / "overlay", "out", tmp_path / "b2"))


def test_add_downloads_urls_and_checks_the_checksum(env: dict[str, Path], tmp_path: Path) -> None:
    import functools
    import hashlib
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tool.sh"
    good = "sha256:" + hashlib.sha256((served / "tool.sh").read_bytes()).hexdigest()
    try:
        build(env, tmp_path / "ctx", f"ARG BASE\nFROM $BASE\nADD --checksum={good} {url} /opt/\n"
              "LABEL ok=1\n", "--label=from-cli=yes")
        root = unpack(tmp_path / "ctx-out", "out", tmp_path / "bundle")
        assert (root / "opt" / "tool.sh").read_text() == "#!/bin/sh\necho tool\n"
        assert oct((root / "opt" / "tool.sh").stat().st_mode & 0o777) == "0o600"
        labels = image_config(tmp_path / "ctx-out", "out")["config"]["Labels"]  # type: ignore[index]
        assert labels == {"ok": "1", "from-cli": "yes"}
        wrong = "sha256:" + "0" * 64
        bad = build(env, tmp_path / "ctx2",
                    f"ARG BASE\nFROM $BASE\nADD --checksum={wrong} {url} /opt/\n", check=False)
        assert bad.returncode == 1 and "checksum mismatch" in bad.stderr
    finally:
        server.shutdown()


def test_copy_and_bind_mount_from_an_image(env: dict[str, Path], tmp_path: Path) -> None:
    image = f"oci-layout://{env['base']}:{BASE_TAG}"
    build(env, tmp_path / "ctx", f"FROM scratch\nCOPY --from={image} /etc/passwd /passwd\n")
    root = unpack(tmp_path / "ctx-out", "out", tmp_path / "bundle")
    assert (root / "passwd").read_text().startswith("root:x:0:0")
    build(env, tmp_path / "ctx2", f"ARG BASE\nFROM $BASE\n"
          f"RUN --mount=type=bind,from={image},source=/etc,target=/base-etc "
          "cp /base-etc/motd /motd-copy\n")
    root2 = unpack(tmp_path / "ctx2-out", "out", tmp_path / "bundle2")
    assert (root2 / "motd-copy").read_text() == "welcome\n"


def test_target_and_unsupported_mount(env: dict[str, Path], tmp_path: Path) -> None:
    dockerfile = ("ARG BASE\nFROM $BASE AS first\nRUN echo first > /stage\n"
                  "FROM $BASE AS second\nRUN --mount=type=ssh false\n")
    build(env, tmp_path / "ctx", dockerfile, "--target=first")
    root = unpack(tmp_path / "ctx-out", "out", tmp_path / "bundle")
    assert (root / "stage").read_text() == "first\n"
    result = build(env, tmp_path / "ctx", None, check=False)
    assert result.returncode == 1 and "type=ssh is not supported" in result.stderr
    assert "Dockerfile:5:" in result.stderr


def test_steps_that_change_nothing_emit_no_layer(env: dict[str, Path], tmp_path: Path) -> None:
    build(env, tmp_path / "ctx", "ARG BASE\nFROM $BASE\nRUN true\nRUN ls /etc > /dev/null\n"
          "WORKDIR /tmp\nENV A=1\nRUN echo x > /x\n")
    out = tmp_path / "ctx-out"
    base_layers = len(layer_bytes(env["base"], BASE_TAG))
    assert len(layer_bytes(out)) == base_layers + 1
    history = image_config(out, "out")["history"]
    ours = history[-5:]  # type: ignore[index]
    assert [bool(h.get("empty_layer")) for h in ours] == [True, True, True, True, False]


def test_sigterm_stops_the_running_step(env: dict[str, Path], tmp_path: Path) -> None:
    import sys
    import time

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("ARG BASE\nFROM $BASE\nRUN echo started; sleep 123.456\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "executor", f"--context={context}", "--no-push",
         f"--build-arg=BASE=oci-layout://{env['base']}:{BASE_TAG}",
         f"--cache-dir={env['cache']}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", "sleep 123.456"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the RUN never started")
    process.terminate()
    assert process.wait(timeout=15) == 130
    time.sleep(0.2)
    assert subprocess.run(["pgrep", "-f", "sleep 123.456"], capture_output=True).returncode == 1
