"""Stage roots as stacked overlay lowers (builder/layerstack.py) instead of a hard-link clone:
the same layers as the clone path, byte for byte, for whiteouts, opaque directories, hard
links, xattrs, a file replaced by a directory and files deleted from a lower layer; cache
hits unpacked as overlay-format lowers read the same; every RUN still in the sandbox."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.builder.layerstack import OPAQUE_XATTR, to_overlay_format
from tests.builder.images import dockyard
from tests.conftest import require_tool

pytestmark = pytest.mark.usefixtures("needs_namespaces")

STEPS = """FROM {base} AS one
WORKDIR /src
COPY a.txt ./
RUN mkdir -p /d/sub && echo x > /d/sub/f && echo y > /d/g && ln /d/g /d/hl \\
    && rm /etc/group && chmod 600 /etc/motd && ln /etc/passwd /etc/passwd.hl
RUN rm -rf /d/sub && mkdir /d/sub && echo new > /d/sub/n && rm /src/a.txt \\
    && mkdir /src/a.txt && echo in > /src/a.txt/f && rm /d/g
FROM one
RUN test ! -e /d/sub/f && test ! -e /etc/group && test -d /src/a.txt && cat /d/hl /d/sub/n \\
    && echo {last} > /last
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox base whose /etc/motd carries a user xattr."""
    from tests.builder.conftest import make_busybox_rootfs

    require_tool("busybox")
    tmp = tmp_path_factory.mktemp("stack-base")
    rootfs = make_busybox_rootfs(tmp / "rootfs")
    (rootfs / "etc" / "motd").write_text("welcome\n")
    os.setxattr(rootfs / "etc" / "motd", "user.dockyard", b"kept")
    dockyard("image", "import", "--rootfs", str(rootfs), "--oci-layout", str(tmp / "layout"),
             "--no-push", "-d", "local/base:1")
    return f"oci-layout://{tmp / 'layout'}:1"


def build(context: Path, out: Path, cache: Path, mode: str, *extra: str) -> str:
    result = dockyard("executor", f"--context={context}", "--no-push", "--reproducible",
                      f"--oci-layout-path={out}", "--destination=local/t:out",
                      f"--cache-dir={cache}", *extra, env={"DOCKYARD_SNAPSHOT": mode})
    stacked = "(stacked overlay lowers)" in result.stderr
    assert stacked == (mode == ""), result.stderr  # root with overlay here: stacks unless off
    return result.stdout.strip().splitlines()[-1]


def layers(layout: Path) -> list[list[tarfile.TarInfo]]:
    index = json.loads((layout / "index.json").read_text())
    blob = lambda d: layout / "blobs" / d.replace(":", "/")  # noqa: E731
    manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
    out = []
    for descriptor in manifest["layers"]:
        data = gzip.decompress(blob(descriptor["digest"]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            out.append(archive.getmembers())
    return out


def context_for(tmp_path: Path, base: str, last: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "a.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(STEPS.format(base=base, last=last))
    return context


def test_stacked_lowers_make_the_layers_of_the_clone_path(base: str, tmp_path: Path) -> None:
    context = context_for(tmp_path, base, "v1")
    stacked = build(context, tmp_path / "stacked", tmp_path / "c1", "")
    cloned = build(context, tmp_path / "cloned", tmp_path / "c2", "clone")
    assert stacked == cloned  # every layer byte for byte
    run1, run2 = layers(tmp_path / "stacked")[3:5]
    names = {m.name: m for m in run1}
    assert "etc/.wh.group" in names  # a file of the base deleted
    assert names["d/hl"].islnk() or names["d/g"].islnk()  # a hard link stays one
    assert names["etc/passwd.hl"].islnk()  # linked to a base file (copied up)
    motd = names["etc/motd"]
    assert stat.S_IMODE(motd.mode) == 0o600
    assert motd.pax_headers.get("SCHILY.xattr.user.dockyard") == "kept"  # xattr copied up
    names = {m.name: m for m in run2}
    assert "d/sub/.wh..wh..opq" in names and "d/sub/n" in names  # an opaque directory
    assert "d/sub/f" not in names
    assert names["src/a.txt"].isdir() and "src/a.txt/f" in names  # file -> directory
    assert "d/.wh.g" in names  # a file of a lower (earlier) layer deleted


def test_cache_hits_stack_as_overlay_lowers(base: str, tmp_path: Path) -> None:
    """The second build hits every step of stage one: its layers are unpacked as
    overlay-format lowers (whiteouts, opaque dirs) for the changed last RUN, whose test
    fails the build if a deleted file shows through."""
    cache = tmp_path / "cache"
    build(context_for(tmp_path, base, "v1"), tmp_path / "first", cache, "", "--cache")
    context = context_for(tmp_path, base, "v2")
    stacked = build(context, tmp_path / "hits", cache, "", "--cache")
    cloned = build(context, tmp_path / "cloned", tmp_path / "c3", "clone")
    assert stacked == cloned


def test_overlay_format_conversion(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteout devices and trusted xattrs need root")
    root = tmp_path / "layer"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / ".wh..wh..opq").write_text("")
    (root / "dir" / "kept").write_text("k")
    (root / ".wh.gone").write_text("")
    (root / ".wh.here").write_text("")
    (root / "here").write_text("the layer's own file wins")
    (root / ".wh..wh.plnk").write_text("")
    to_overlay_format(root)
    assert sorted(os.listdir(root)) == ["dir", "gone", "here"]
    gone = os.lstat(root / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert (root / "here").read_text() == "the layer's own file wins"
    assert os.getxattr(root / "dir", OPAQUE_XATTR) == b"y"
    assert os.listdir(root / "dir") == ["kept"]
