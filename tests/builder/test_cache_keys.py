"""What the layer cache key covers (local cache, no registry): the content of the files a
step reads (bind mounts included), never secrets; owners of context files are not part of
it; the switches --no-cache, --cache-run-layers, --cache-copy-layers and --cache-ttl."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from dockyard.builder.cache import files_digest
from tests.builder.images import BASE_TAG, dockyard, make_base_layout


def test_files_digest_ignores_owner_follows_named_symlink(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("one")
    (tmp_path / "link.txt").symlink_to("real.txt")
    named = files_digest(tmp_path, [tmp_path / "link.txt"])
    os.chown(tmp_path / "real.txt", 1234, 5678)
    assert files_digest(tmp_path, [tmp_path / "link.txt"]) == named
    (tmp_path / "real.txt").write_text("two")  # COPY link.txt copies what it points at
    assert files_digest(tmp_path, [tmp_path / "link.txt"]) != named
    os.chmod(tmp_path / "real.txt", 0o600)
    changed = files_digest(tmp_path, [tmp_path / "link.txt"])
    os.chmod(tmp_path / "real.txt", 0o644)
    assert files_digest(tmp_path, [tmp_path / "link.txt"]) != changed


def test_files_digest_skips_what_dockerignore_drops(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.c").write_text("int x;")
    (tmp_path / "d" / "drop.o").write_text("obj")
    skip = lambda rel: rel.endswith(".o")  # noqa: E731
    first = files_digest(tmp_path, [tmp_path / "d"], skip)
    (tmp_path / "d" / "drop.o").write_text("other obj")
    assert files_digest(tmp_path, [tmp_path / "d"], skip) == first
    (tmp_path / "d" / "keep.c").write_text("int y;")
    assert files_digest(tmp_path, [tmp_path / "d"], skip) != first


@pytest.fixture(scope="module")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("keys-base")
    return make_base_layout(tmp, tmp / "cache")


def outcomes(log: str) -> list[str]:
    return re.findall(r"^(?:\[[^\]]+\] )?  (?:\[\d+/\d+\] )?(HIT|MISS) [0-9a-f]{12} ", log, re.M)


@pytest.mark.usefixtures("needs_namespaces")
def test_bind_mount_content_is_keyed_secrets_are_not(tmp_path: Path, base_layout: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "dep.txt").write_text("dep1\n")
    secret = tmp_path / "token"
    secret.write_text("s3cret-1")
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\n"
        "RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo ok > /secret-seen\n"
        "RUN --mount=type=bind,source=dep.txt,target=/dep cat /dep > /dep.out\n")
    cache = tmp_path / "cache"

    def build(*extra: str) -> str:
        return dockyard("executor", f"--context={context}", "--no-push", "--cache",
                        f"--cache-dir={cache}", f"--secret=id=tok,src={secret}",
                        f"--build-arg=BASE=oci-layout://{base_layout}:{BASE_TAG}",
                        "--destination=local/keys:1", *extra).stderr

    assert outcomes(build()) == ["MISS", "MISS"]
    secret.write_text("s3cret-2, rotated")
    log = build()
    assert outcomes(log) == ["HIT", "HIT"]
    assert "s3cret" not in log
    (context / "dep.txt").write_text("dep2\n")
    assert outcomes(build()) == ["HIT", "MISS"]
    assert outcomes(build("--no-cache")) == ["MISS", "MISS"]


@pytest.mark.slow
@pytest.mark.usefixtures("needs_namespaces")
def test_cache_switches_and_ttl(tmp_path: Path, base_layout: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "a.txt").write_text("a\n")
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\nCOPY a.txt /a.txt\nRUN cat /a.txt /a.txt > /b.txt\n")
    cache = tmp_path / "cache"

    def build(*extra: str) -> str:
        return dockyard("executor", f"--context={context}", "--no-push", "--cache",
                        f"--cache-dir={cache}", "--destination=local/keys:2",
                        f"--build-arg=BASE=oci-layout://{base_layout}:{BASE_TAG}",
                        *extra).stderr

    assert outcomes(build()) == ["MISS", "MISS"]
    # line numbers are not part of the key: comments and blank lines added above the steps
    (context / "Dockerfile").write_text(
        "ARG BASE\n# a comment\n\nFROM $BASE\n# copy it\nCOPY a.txt /a.txt\n"
        "RUN cat /a.txt /a.txt > /b.txt\n")
    assert outcomes(build()) == ["HIT", "HIT"]
    assert outcomes(build("--cache-run-layers=false")) == ["HIT", "MISS"]
    # COPY not looked up, but its key is its content: the RUN after it still hits
    log = build("--cache-copy-layers=false")
    assert outcomes(log) == ["MISS", "HIT"] and "(--cache-copy-layers=false)" in log
    time.sleep(1.2)
    assert outcomes(build("--cache-ttl=1s")) == ["MISS", "MISS"]


@pytest.mark.usefixtures("needs_namespaces")
def test_files_a_copy_excludes_invalidate_nothing(tmp_path: Path, base_layout: Path) -> None:
    context = tmp_path / "ctx"
    (context / "app").mkdir(parents=True)
    (context / "app" / "main.c").write_text("int main(void) { return 0; }\n")
    (context / "app" / "README.md").write_text("docs\n")
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\nCOPY --exclude=*.md app/ /app/\nRUN ls /app > /list\n")
    cache = tmp_path / "cache"

    def build() -> str:
        return dockyard("executor", f"--context={context}", "--no-push", "--cache",
                        f"--cache-dir={cache}", "--destination=local/keys:3",
                        f"--build-arg=BASE=oci-layout://{base_layout}:{BASE_TAG}").stderr

    assert outcomes(build()) == ["MISS", "MISS"]
    (context / "app" / "README.md").write_text("more docs\n")
    assert outcomes(build()) == ["HIT", "HIT"]
    (context / "app" / "main.c").write_text("int main(void) { return 1; }\n")
    assert outcomes(build()) == ["MISS", "MISS"]
