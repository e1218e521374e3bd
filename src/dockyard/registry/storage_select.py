"""Pick the blob-store backend from `--storage`: `file://` (DATA/registry) or `s3://BUCKET[/prefix]`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.registry.storage import BlobStorage, StorageError

DEFAULT_STORAGE = "file://"


def open_blob_storage(url: str, registry_dir: Path, environ: Mapping[str, str]) -> BlobStorage:
    """The backend `url` names, checked to be reachable; StorageError says why not.

    `file://` alone means `registry_dir`; `file:///some/dir` another directory. S3 takes its
    credentials and endpoint from `environ`, the usual AWS variables (Settings.aws_environment).
    """
    scheme = urlsplit(url).scheme
    if scheme == "file":
        path = urlsplit(url).path
        from dockyard.registry.storage_fs import FilesystemBlobStorage

        return FilesystemBlobStorage(Path(path) if path not in ("", "/") else registry_dir)
    if scheme == "s3":
        from dockyard.registry.storage_s3 import S3BlobStorage
        from dockyard.registry.storage_s3_client import S3Client, S3Config

        try:
            config = S3Config.from_url(url, environ)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
        client = S3Client(config)
        client.check_bucket()
        return S3BlobStorage(client)
    raise StorageError(f"--storage {url!r}: use file:// (the data directory) or s3://BUCKET[/prefix]")
