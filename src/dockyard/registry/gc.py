"""Online mark-and-sweep: remove blobs no manifest needs, never one younger than the grace period.

Marking reads the database, sweeping lists the blob store (any backend). A push in flight uploads its blobs
before its manifest, so a blob is only eligible once both its file and its newest repository
link are older than the grace period; that is what makes running gc during pushes safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dockyard.oci import ANNOTATION_CACHE_KEY, ANNOTATION_CREATED, parse_rfc3339
from dockyard.registry.metadata import Manifest, RegistryMetadata, Repository
from dockyard.registry.storage import BlobStorage

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass
class GCReport:
    """What a run removed (or, dry, would remove); `expired` are layer-cache entries."""

    expired: list[str] = field(default_factory=list)  # "repository@digest"
    manifests: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_young: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        expired = f"{len(self.expired)} expired cache entries, " if self.expired else ""
        return (
            f"{verb} {expired}{len(self.manifests)} untagged manifests and {len(self.blobs)} blobs"
            f" ({self.freed_bytes} bytes); kept {self.kept_young} unreferenced blobs younger than"
            " the grace period"
        )


def collect_garbage(
    store: BlobStorage,
    metadata: RegistryMetadata,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    delete_untagged: bool = False,
    cache_ttl_seconds: float | None = None,
) -> GCReport:
    """Sweep; with `cache_ttl_seconds`, first delete layer-cache entries (`--cache-repo`
    images) created longer ago than that, so that their blobs become garbage too."""
    report = GCReport(dry_run=dry_run)
    gone: list[Manifest] = []
    if cache_ttl_seconds is not None:
        for repository, manifest in expired_cache_entries(metadata, cache_ttl_seconds):
            report.expired.append(f"{repository.name}@{manifest.digest}")
            gone.append(manifest)
            if not dry_run:
                for tag in metadata.tags_of(manifest.id):
                    metadata.delete_tag(repository.id, tag.name)
    if delete_untagged:
        expired = {m.id for m in gone}
        for manifest in metadata.untagged_manifests():
            if manifest.id not in expired:
                report.manifests.append(manifest.digest)
                gone.append(manifest)
    if not dry_run:
        for manifest in gone:
            metadata.delete_manifest(manifest.repository_id, manifest.digest)
    referenced = metadata.referenced_digests(excluding=[m.id for m in gone] if dry_run else ())
    young_links = metadata.recently_linked(time.time() - grace_seconds)
    cutoff = time.time() - grace_seconds
    doomed: list[str] = []
    for blob in store.list_blobs():
        if blob.digest in referenced:
            continue
        if blob.modified > cutoff or blob.digest in young_links:
            report.kept_young += 1
            continue
        report.blobs.append(blob.digest)
        report.freed_bytes += blob.size
        doomed.append(blob.digest)
    if not dry_run:
        metadata.drop_links(doomed)
        for digest in doomed:
            store.delete(digest)
    return report


def expired_cache_entries(metadata: RegistryMetadata, ttl_seconds: float
                          ) -> list[tuple[Repository, Manifest]]:
    """Manifests Dockyard's layer cache pushed (annotated with the cache key) whose creation
    time (annotation, else push time) is more than `ttl_seconds` ago: builders already treat
    them as misses (`--cache-ttl`), so nothing reads them again."""
    cutoff = time.time() - ttl_seconds
    out = []
    for repository in metadata.list_repositories():
        for manifest in metadata.list_manifests(repository.id):
            if ANNOTATION_CACHE_KEY not in manifest.annotations:
                continue
            created = parse_rfc3339(manifest.annotations.get(ANNOTATION_CREATED)) or \
                parse_rfc3339(manifest.pushed_at)
            if created is not None and created < cutoff:
                out.append((repository, manifest))
    return out
