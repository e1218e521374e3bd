"""ADD: COPY plus two extras. A local tar archive (plain, gzip, bzip2, xz, zstd) is
unpacked into the destination (safely: through dockyard.oci's layer applier, so no entry
leaves the destination); a URL is downloaded (mode 0600, --checksum verified)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
import urllib.parse
from pathlib import Path

from dockyard.builder.dockerfile import AddInstruction, DockerfileError
from dockyard.builder.fsops import Ownership, copy_entry, scaffold
from dockyard.builder.instructions.copy import CopyStep
from dockyard.builder.state import BuildEnv, StageState

MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


def archive_kind(path: Path) -> str | None:
    """The compression of a tar archive at `path`, "tar" if uncompressed, None if no tar."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def extract(archive: Path, kind: str, target: Path) -> None:
    from dockyard.oci import apply_layer

    if kind in ("bzip2", "xz"):
        import bz2  # noqa: I001  (on use: every build imports this module)
        import lzma

        opener = bz2.open if kind == "bzip2" else lzma.open
        with opener(archive, "rb") as stream:
            apply_layer(stream, target, compression="none")  # type: ignore[arg-type]
        return
    apply_layer(archive, target)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class AddStep(CopyStep):
    keyword = "ADD"
    makes_layer = True

    def copy_source(self, stage: StageState, build: BuildEnv, root: Path, source: str,
                    dest_rel: str, into_dir: bool, staging: Path, owner: Ownership,
                    skip: object) -> None:
        if is_url(source):
            self.download(stage, source, dest_rel, into_dir, staging, owner)
            return
        super().copy_source(stage, build, root, source, dest_rel, into_dir, staging, owner, skip)

    def place_file(self, stage: StageState, host: Path, name: str, dest_rel: str,
                   into_dir: bool, staging: Path, owner: Ownership) -> None:
        i = self.instruction
        assert isinstance(i, AddInstruction)
        kind = archive_kind(host) if i.unpack is not False else None
        if kind is not None:
            target_dir = scaffold(stage.rootfs, staging, dest_rel, owner)
            extract(host, kind, target_dir)
            return
        super().place_file(stage, host, name, dest_rel, into_dir, staging, owner)

    def download(self, stage: StageState, url: str, dest_rel: str, into_dir: bool,
                 staging: Path, owner: Ownership) -> None:
        import httpx

        i = self.instruction
        assert isinstance(i, AddInstruction)
        name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(delete=False, dir=staging.parent) as tmp:
            try:
                with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
                    if response.status_code != 200:
                        raise DockerfileError(f"ADD {url}: HTTP {response.status_code}",
                                              line=i.line)
                    for chunk in response.iter_bytes(1 << 20):
                        digest.update(chunk)
                        tmp.write(chunk)
            except httpx.HTTPError as exc:
                raise DockerfileError(f"ADD {url}: download failed: {exc}", line=i.line) from None
        path = Path(tmp.name)
        if i.checksum and i.checksum != "sha256:" + digest.hexdigest():
            path.unlink()
            raise DockerfileError(f"ADD {url}: checksum mismatch (got sha256:{digest.hexdigest()},"
                                  f" expected {i.checksum})", line=i.line)
        os.chmod(path, 0o600)
        mode_owner = Ownership(owner.uid, owner.gid, owner.mode if owner.mode is not None
                               else 0o600)
        if into_dir:
            target = scaffold(stage.rootfs, staging, dest_rel, owner) / name
        else:
            target = scaffold(stage.rootfs, staging, posixpath.dirname(dest_rel), owner) / \
                posixpath.basename(dest_rel)
        copy_entry(path, target, Ownership(mode_owner.uid or 0, mode_owner.gid or 0,
                                           mode_owner.mode))
        path.unlink()
