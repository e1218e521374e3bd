"""`dockyard build`: docker-build style arguments over the same engine, live progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builder.images import BASE_TAG, dockyard, make_base_layout

pytestmark = pytest.mark.usefixtures("needs_namespaces")


def test_build_with_tag_file_and_positional_context(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = make_base_layout(tmp_path, cache)
    context = tmp_path / "app"
    context.mkdir()
    (context / "build.Dockerfile").write_text(
        "ARG BASE\nFROM $BASE\nARG GREETING=hi\nRUN echo $GREETING > /greeting\n")
    out = tmp_path / "layout"
    result = dockyard("build", "-t", "example.org/app:1", "-f", "build.Dockerfile",
                      "--build-arg", f"BASE=oci-layout://{base}:{BASE_TAG}",
                      "--build-arg", "GREETING=hello", "--cache-dir", str(cache),
                      "--oci-layout-path", str(out), str(context))
    assert result.stdout.strip().startswith("sha256:")
    assert "RUN echo $GREETING > /greeting" in result.stderr
    assert "s] " in result.stderr  # live progress lines carry the elapsed time
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "1"


def test_push_needs_a_tag(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = dockyard("build", "--push", str(tmp_path), check=False)
    assert result.returncode == 2 and "--push needs at least one -t" in result.stderr
