"""Build small OCI image layouts on disk for tests and benchmarks, with no registry or daemon.

skopeo reads them as `oci:DIR:TAG`, so every test image starts from real files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Layout:
    path: Path
    tag: str
    manifest_digest: str

    @property
    def ref(self) -> str:
        return f"oci:{self.path}:{self.tag}"


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + digest, len(data)


def _write_blob_file(layout: Path, source: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    with open(source, "rb") as f:
        while block := f.read(1 << 20):
            hasher.update(block)
    digest = hasher.hexdigest()
    target = layout / "blobs" / "sha256" / digest
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return "sha256:" + digest, target.stat().st_size


def layer_from_files(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(gzip'd tar, raw tar) of the given files (deterministic: fixed mtime, sorted)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o755
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0), raw.getvalue()


def make_layout(
    root: Path,
    tag: str = "1",
    layers: list[dict[str, bytes]] | None = None,
    random_layer_sizes: list[int] | None = None,
    cmd: list[str] | None = None,
) -> Layout:
    """An OCI layout with the given file layers and/or layers of random bytes of given sizes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descriptors = []
    diff_ids = []
    for files in layers or []:
        compressed, raw = layer_from_files(files)
        digest, size = _write_blob(root, compressed)
        descriptors.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    for i, size in enumerate(random_layer_sizes or []):
        digest, blob_size, diff_id = _random_layer(root, size, seed=f"{tag}-{i}")
        descriptors.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": blob_size})
        diff_ids.append(diff_id)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": cmd or ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_digest, config_size = _write_blob(root, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": descriptors,
    }
    manifest_bytes = json.dumps(manifest).encode()
    manifest_digest, manifest_size = _write_blob(root, manifest_bytes)
    index_path = root / "index.json"
    index = (
        json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index["manifests"].append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    index_path.write_text(json.dumps(index))
    return Layout(root, tag, manifest_digest)


def _random_layer(root: Path, size: int, seed: str) -> tuple[str, int, str]:
    """A layer holding one file of `size` incompressible bytes, streamed to disk."""
    tmp = root / f".layer-{seed}.tmp"
    raw_hasher = hashlib.sha256()

    class _Hashing(io.RawIOBase):
        def __init__(self, target: io.BufferedWriter) -> None:
            self.target = target

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            raw_hasher.update(b)
            return self.target.write(b)

    with open(tmp, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=0, mtime=0) as gz:
        hashing = _Hashing(gz)  # type: ignore[arg-type]
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            info = tarfile.TarInfo(f"data-{seed}.bin")
            info.size = size
            info.mtime = 1_700_000_000
            tar.addfile(info, _RandomReader(size, seed.encode()))
    digest, blob_size = _write_blob_file(root, tmp)
    return digest, blob_size, "sha256:" + raw_hasher.hexdigest()


class _RandomReader(io.RawIOBase):
    """Deterministic pseudo-random bytes (sha256 counter mode expanded), cheap to generate."""

    def __init__(self, size: int, seed: bytes) -> None:
        self.remaining = size
        block = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(2048))
        self.block = block  # 64 KiB
        self.counter = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n < 0 else min(n, self.remaining)
        out = bytearray()
        while len(out) < n:
            self.counter += 1
            rotate = self.counter % len(self.block)
            out += self.block[rotate:] + self.block[:rotate]
        self.remaining -= n
        return bytes(out[:n])
