"""The local layer cache (--cache): one pure key function for lookup and store; a changed
context file or parent layer invalidates exactly what depends on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.builder.cache import CacheInputs, cache_key, files_digest
from tests.builder.images import BASE_TAG, dockyard, make_base_layout, unpack


def inputs(**overrides: object) -> CacheInputs:
    values: dict[str, object] = dict(parent="chain-a", instruction="RUN make",
                                     env=[("A", "1")], user="", workdir="/",
                                     shell=["/bin/sh", "-c"],
                                     platform="linux/amd64", files_digest="")
    values.update(overrides)
    return CacheInputs(**values)  # type: ignore[arg-type]


def test_key_is_pure_and_sensitive_to_every_input() -> None:
    assert cache_key(inputs()) == cache_key(inputs())
    assert cache_key(inputs(env=[("A", "1"), ("B", "2")])) == \
        cache_key(inputs(env=[("B", "2"), ("A", "1")]))
    base = cache_key(inputs())
    for change in ({"parent": "chain-b"}, {"instruction": "RUN make install"},
                   {"env": [("A", "2")]}, {"user": "app"}, {"workdir": "/src"},
                   {"shell": ["/bin/bash", "-c"]}, {"platform": "linux/arm64"},
                   {"files_digest": "x"}):
        assert cache_key(inputs(**change)) != base, change


def test_files_digest_follows_content_not_mtime(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("one")
    first = files_digest(tmp_path, [tmp_path / "d"])
    (tmp_path / "d" / "f").touch()
    assert files_digest(tmp_path, [tmp_path / "d"]) == first
    (tmp_path / "d" / "f").write_text("two")
    assert files_digest(tmp_path, [tmp_path / "d"]) != first


@pytest.mark.usefixtures("needs_namespaces")
def test_rebuild_reuses_layers_until_the_change(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "lib.txt").write_text("lib\n")
    (context / "main.txt").write_text("v1\n")
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\nCOPY lib.txt /src/\nRUN cat /src/lib.txt > /src/lib.out\n"
        "COPY main.txt /src/\nRUN cat /src/main.txt /src/lib.out > /src/all.out\n")

    def build(out: Path) -> str:
        return dockyard("executor", f"--context={context}", "--no-push", "--cache",
                        f"--cache-dir={cache}", f"--build-arg=BASE=oci-layout://{base}:{BASE_TAG}",
                        f"--oci-layout-path={out}", "--destination=local/c:out").stderr

    first = build(tmp_path / "o1")
    assert "(cached)" not in first
    second = build(tmp_path / "o2")
    assert second.count("(cached)") == 4
    (context / "main.txt").write_text("v2\n")
    third = build(tmp_path / "o3")
    assert "COPY lib.txt /src/ (cached)" in third and "RUN cat /src/lib.txt" in third
    assert "COPY main.txt /src/ (cached)" not in third
    assert "RUN cat /src/main.txt /src/lib.out > /src/all.out (cached)" not in third
    root = unpack(tmp_path / "o3", "out", tmp_path / "bundle")
    assert (root / "src" / "all.out").read_text() == "v2\nlib\n"


@pytest.mark.usefixtures("needs_namespaces")
def test_fully_cached_build_never_prepares_a_rootfs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "main.txt").write_text("v1\n")
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE AS build\nWORKDIR /src\nCOPY main.txt ./\n"
        "RUN cat main.txt main.txt > twice.txt\n"
        "FROM $BASE\nCOPY --from=build /src/twice.txt /twice.txt\nCMD [\"cat\", \"/twice.txt\"]\n")
    args = ("executor", f"--context={context}", "--no-push", "--cache", f"--cache-dir={cache}",
            f"--build-arg=BASE=oci-layout://{base}:{BASE_TAG}", "--destination=local/c:out")
    first = dockyard(*args, f"--oci-layout-path={tmp_path / 'o1'}")
    assert "preparing the rootfs of stage build" in first.stderr
    second = dockyard(*args, f"--oci-layout-path={tmp_path / 'o2'}")
    assert "preparing the rootfs" not in second.stderr
    assert second.stderr.count("(cached)") == 4
    root = unpack(tmp_path / "o2", "out", tmp_path / "bundle")
    assert (root / "twice.txt").read_text() == "v1\nv1\n"
