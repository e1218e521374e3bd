"""`--compression=zstd`: layers written as tar+zstd, readable by skopeo and by our unpacker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.oci import apply_layer
from tests.builder.images import dockyard, make_base_layout
from tests.conftest import require_tool

pytestmark = pytest.mark.usefixtures("needs_namespaces")


def test_zstd_layers_round_trip(tmp_path: Path) -> None:
    base = make_base_layout(tmp_path, tmp_path / "cache")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "greeting.txt").write_text("zstd layer\n")
    (context / "Dockerfile").write_text(
        f"FROM oci-layout://{base}:base\nCOPY greeting.txt /greeting.txt\nRUN echo ran > /ran.txt\n"
    )
    layout = tmp_path / "out"
    dockyard(
        "executor", f"--context={context}", "--no-push", f"--oci-layout-path={layout}",
        "--destination=local/zstd:1", "--compression=zstd", f"--cache-dir={tmp_path / 'cache'}",
    )
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest).read_text())
    new_layers = [layer for layer in manifest["layers"] if layer["mediaType"].endswith("+zstd")]
    assert len(new_layers) == 2  # the COPY and the RUN; the base keeps its gzip layer
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    for layer in new_layers:
        apply_layer(layout / "blobs" / "sha256" / layer["digest"].split(":", 1)[1], rootfs)
    assert (rootfs / "greeting.txt").read_text() == "zstd layer\n"
    assert (rootfs / "ran.txt").read_text() == "ran\n"
    require_tool("skopeo")
    copied = subprocess.run(
        ["skopeo", "copy", f"oci:{layout}", f"dir:{tmp_path / 'dir'}"], capture_output=True, text=True
    )
    assert copied.returncode == 0, copied.stderr
