"""Online mark-and-sweep: remove blobs no manifest needs, never one younger than the grace period.

Marking reads the database, sweeping walks the blob store. A push in flight uploads its blobs
before its manifest, so a blob is only eligible once both its file and its newest repository
link are older than the grace period; that is what makes running gc during pushes safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dockyard.registry.metadata import RegistryMetadata
from dockyard.registry.storage import FilesystemBlobStore

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass
class GCReport:
    manifests: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_young: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {len(self.manifests)} untagged manifests and {len(self.blobs)} blobs"
            f" ({self.freed_bytes} bytes); kept {self.kept_young} unreferenced blobs younger than"
            " the grace period"
        )


def collect_garbage(
    store: FilesystemBlobStore,
    metadata: RegistryMetadata,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    delete_untagged: bool = False,
) -> GCReport:
    report = GCReport(dry_run=dry_run)
    if delete_untagged:
        for manifest in metadata.untagged_manifests():
            report.manifests.append(manifest.digest)
            if not dry_run:
                metadata.delete_manifest(manifest.repository_id, manifest.digest)
    referenced = metadata.referenced_digests()
    if dry_run and report.manifests:
        referenced -= set(report.manifests)
    young_links = metadata.recently_linked(time.time() - grace_seconds)
    cutoff = time.time() - grace_seconds
    doomed: list[str] = []
    for digest, mtime in store.iter_blobs():
        if digest in referenced:
            continue
        if mtime > cutoff or digest in young_links:
            report.kept_young += 1
            continue
        size = store.blob_size(digest) or 0
        report.blobs.append(digest)
        report.freed_bytes += size
        doomed.append(digest)
    if not dry_run:
        metadata.drop_links(doomed)
        for digest in doomed:
            store.delete_blob(digest)
    return report
