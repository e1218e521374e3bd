"""Acceptance 4 of issue 15: an unchanged rebuild with `--cache-repo` from a fresh cache dir (a
new CI pod) pushes the same manifest digest as the first build, without `--reproducible`:
every step is a cache hit, so each history entry takes the time its cached layer was made and
the config's `created` is the newest of them (BuildKit's behaviour, not Kaniko's build time).
Checked with the real `dockyard build` and skopeo against a CNCF docker-registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.oci.timestamps import parse_rfc3339
from tests.builder.images import dockyard
from tests.builder.test_cache_remote import base
from tests.conftest import require_tool

pytestmark = pytest.mark.usefixtures("needs_namespaces")
__all__ = ["base"]  # a fixture: the cache tests' busybox base in the registry

DOCKERFILE = """FROM {base}
ENV GREETING=hello
COPY msg.txt /app/
RUN cat /app/msg.txt > /app/out.txt && date +%s%N > /app/when.txt
WORKDIR /app
LABEL stage=final
CMD ["cat", "/app/out.txt"]
"""


def app(tmp_path: Path, base: str, message: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (context / "msg.txt").write_text(message)
    return context


def build(context: Path, tag: str, cache_dir: Path, cache_repo: str, *extra: str,
          env: dict[str, str] | None = None) -> str:
    """`dockyard build --push` with the cache; the build log."""
    result = dockyard("build", str(context), "-t", tag, "--push", f"--cache-dir={cache_dir}",
                      f"--cache-repo={cache_repo}", "--cache", "--insecure", *extra, env=env)
    return result.stdout + result.stderr


def moment(created: str) -> float:
    """An RFC 3339 `created` as epoch seconds (text order is wrong across precisions)."""
    seconds = parse_rfc3339(created)
    assert seconds is not None, created
    return seconds


def raw(ref: str, what: str = "") -> tuple[str, dict]:
    """(digest, manifest or config) of `ref` as skopeo reads them from the registry."""
    require_tool("skopeo")
    args = ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"]
    if what == "config":
        args.insert(3, "--config")
    body = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    digest = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                             f"docker://{ref}"], check=True, capture_output=True, text=True).stdout
    return digest.strip(), json.loads(body)


def test_unchanged_rebuild_from_a_fresh_cache_dir_pushes_the_same_digest(
        base: str, docker_registry: str, tmp_path: Path) -> None:
    context = app(tmp_path, base, "v1\n")
    cache = f"{docker_registry}/repro/app/cache"
    first_ref, second_ref = f"{docker_registry}/repro/app:first", f"{docker_registry}/repro/app:second"

    log = build(context, first_ref, tmp_path / "cache-1", cache)
    assert "MISS" in log and "HIT" not in log, log
    log = build(context, second_ref, tmp_path / "cache-2", cache)  # another machine
    assert "MISS" not in log and "HIT" in log, log
    first, first_manifest = raw(first_ref)
    second, second_manifest = raw(second_ref)
    _, first_config = raw(first_ref, "config")
    _, second_config = raw(second_ref, "config")
    assert second_config == first_config
    assert second_manifest == first_manifest
    assert second == first
    # the image still says when it was made: its newest step's time, not the epoch
    # (compared as times: the base's "...:42Z" sorts after this build's "...:42.83Z" as text)
    newest = max(first_config["history"], key=lambda h: moment(h["created"]))
    assert first_config["created"] == newest["created"]
    assert not first_config["created"].startswith("1970")

    # a changed file: a new layer, a new time, a new digest; the base's times stay
    (context / "msg.txt").write_text("v2\n")
    third_ref = f"{docker_registry}/repro/app:third"
    log = build(context, third_ref, tmp_path / "cache-3", cache)
    third, _ = raw(third_ref)
    _, third_config = raw(third_ref, "config")
    assert third != first
    assert moment(third_config["created"]) > moment(first_config["created"])
    assert third_config["history"][0] == first_config["history"][0]


def test_source_date_epoch_and_reproducible_are_unchanged(
        base: str, docker_registry: str, tmp_path: Path) -> None:
    context = app(tmp_path, base, "epoch\n")
    cache = f"{docker_registry}/repro/epoch/cache"
    ref = f"{docker_registry}/repro/epoch:sde"
    build(context, ref, tmp_path / "c1", cache, env={"SOURCE_DATE_EPOCH": "1700000000"})
    _, config = raw(ref, "config")
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert {h["created"] for h in config["history"][-6:]} == {"2023-11-14T22:13:20Z"}
    ref = f"{docker_registry}/repro/epoch:zero"
    build(context, ref, tmp_path / "c2", cache, "--reproducible")
    _, config = raw(ref, "config")
    assert config["created"] == "1970-01-01T00:00:00Z"
