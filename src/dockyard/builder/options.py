"""What one build is asked to do: the engine's single input, filled by `executor` or `build`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class BuildError(RuntimeError):
    """A build that cannot go on; the message names the problem and, where known, the fix."""


class CachedLayerUnusable(BuildError):
    """A cache hit whose layer turned out missing or corrupt when it was finally needed: the
    engine forgets that entry and builds again (a bad cache entry is a miss, not a failure)."""

    def __init__(self, digests: list[str], reason: str) -> None:
        names = ", ".join(digest[:19] for digest in digests)
        super().__init__(f"cached layer {names} is unusable: {reason}")
        self.digests = digests


def default_cache_dir() -> Path:
    """$DOCKYARD_CACHE_DIR, else $DOCKYARD_DATA_DIR/cache, else ~/.cache/dockyard."""
    if os.environ.get("DOCKYARD_CACHE_DIR"):
        return Path(os.environ["DOCKYARD_CACHE_DIR"])
    if os.environ.get("DOCKYARD_DATA_DIR"):
        return Path(os.environ["DOCKYARD_DATA_DIR"]) / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "dockyard"


JOBS_ENV = "DOCKYARD_BUILD_JOBS"


def default_jobs() -> int:
    """How many independent stages build at once when --jobs is not given: $DOCKYARD_BUILD_JOBS,
    else the CPUs this process may run on (a pod's cpuset, not the node's)."""
    value = os.environ.get(JOBS_ENV, "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    if value:
        raise BuildError(f"{JOBS_ENV}={value!r} is not a number of stages; set it to 1 or more")
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(cpus, quota) if quota else cpus)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs a pod's limit allows (cgroup v2 cpu.max, v1 cfs quota / period, rounded up),
    None when unlimited or unreadable: a `limits.cpu: 2` pod on a 64-core node builds two
    stages at once, not 64."""
    try:
        quota, _, period = (root / "cpu.max").read_text().partition(" ")
    except OSError:
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text()
        except OSError:
            return None
    try:
        allowed, every = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return -(-allowed // every) if allowed > 0 and every > 0 else None


@dataclass
class BuildOptions:
    """Kaniko's flags with Kaniko's meaning, plus `secrets` and a whole-build timeout."""

    context: Path
    dockerfile: Path
    destinations: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    platform: str | None = None  # --custom-platform, e.g. linux/amd64
    # registries
    insecure: bool = False  # push over plain HTTP
    insecure_pull: bool = False
    insecure_registries: list[str] = field(default_factory=list)
    skip_tls_verify: bool = False
    skip_tls_verify_pull: bool = False
    skip_tls_verify_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    registry_map: dict[str, list[str]] = field(default_factory=dict)  # any registry -> mirrors
    skip_default_registry_fallback: bool = False
    registry_certificates: dict[str, Path] = field(default_factory=dict)  # host -> CA file
    push_retry: int = 0
    # outputs
    no_push: bool = False
    tar_path: Path | None = None
    oci_layout_path: Path | None = None
    digest_file: Path | None = None
    image_name_with_digest_file: Path | None = None
    image_name_tag_with_digest_file: Path | None = None
    reproducible: bool = False
    compression: str = "gzip"  # layer compression: gzip (isal when installed) or zstd
    # caching (the layer cache is keyed by dockyard.builder.cache.cache_key)
    cache: bool = False
    cache_repo: str | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    cache_ttl_seconds: float = 336 * 3600.0
    cache_copy_layers: bool = True  # Kaniko's default is false; our COPY keys are by content
    cache_run_layers: bool = True
    no_cache: bool = False  # look nothing up (results are still stored)
    # RUN
    secrets: dict[str, Path] = field(default_factory=dict)
    timeout: float | None = None
    # independent stages built at once (--jobs; None: $DOCKYARD_BUILD_JOBS, else the CPUs)
    jobs: int | None = None
    # "full"/"redo"/"time" (Kaniko's names) all use the overlay upper dir when overlay
    # mounts work, stage roots being stacked overlay lowers where the build may mount;
    # "clone" keeps overlay RUNs on a hard-link clone of the base; "tree" forces the
    # tree-diff fallback ($DOCKYARD_SNAPSHOT=tree)
    snapshot_mode: str = field(default_factory=lambda: os.environ.get("DOCKYARD_SNAPSHOT",
                                                                      "full"))
    # reporting
    verbosity: str = "info"
    progress: Callable[[str], None] | None = None
    output: Callable[[bytes], None] | None = None

    @property
    def source_date_epoch(self) -> int | None:
        """SOURCE_DATE_EPOCH, or 0 with --reproducible (as Kaniko), else None."""
        value = os.environ.get("SOURCE_DATE_EPOCH")
        if value and value.isdigit():
            return int(value)
        return 0 if self.reproducible else None
