"""The mutable state of a build: one `StageState` per stage, one `BuildEnv` per build."""

from __future__ import annotations

import errno
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.builder.baseimage import resolve_base, rootfs_for
from dockyard.builder.context import BuildContext
from dockyard.builder.options import BuildOptions, CachedLayerUnusable
from dockyard.builder.phases import phase
from dockyard.oci import (
    BlobCache,
    DigestMismatch,
    History,
    ImageConfig,
    Layer,
    LayerError,
    Platform,
    apply_layer,
)

if TYPE_CHECKING:  # ctypes and mounts load only when a stage's rootfs is made
    from dockyard.builder.layerstack import LayerStack

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class StageState:
    """A stage while it is built: rootfs on disk, config being mutated, layers so far.

    The rootfs is materialised lazily: a stage whose steps all come from the layer cache
    never clones its base or unpacks a layer. Reading `rootfs` makes it real: the base is
    cloned by `source`, then `pending` (cached) layers are applied in order.
    """

    index: int
    name: str | None
    rootfs_path: Path
    config: ImageConfig
    layers: list[Layer] = field(default_factory=list)  # bottom first, base layers included
    history: list[History] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)  # ARGs declared in this stage
    shell: list[str] = field(default_factory=lambda: list(DEFAULT_SHELL))
    cmd_set: bool = False
    base_ref: str = ""
    cache_chain: str = ""  # cache.chain_link of the base and every instruction so far
    cache_missed: bool = False  # after the first miss no lookups (a rebuilt parent)
    # puts the base's files at the given path: cloned there (None), or as a LayerStack
    # mounted there
    source: Callable[[Path], LayerStack | None] | None = None
    pending: list[Layer] = field(default_factory=list)  # cached layers not yet applied
    # downloads the blobs of pending layers that only a registry has (remote cache hits)
    fetch_missing: Callable[[list[Layer]], None] | None = None
    platform: Platform | None = None  # FROM --platform's, else the build's (None: the build's)
    # stages built at once may read a finished stage's rootfs together (COPY --from)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    stack: LayerStack | None = None  # the rootfs as stacked overlay lowers (layerstack)

    @property
    def rootfs(self) -> Path:
        if self.source is None and not self.pending:
            return self.rootfs_path
        with self._lock, phase("unpack"):
            return self._materialize()

    def _materialize(self) -> Path:
        """Under `_lock`; `source` and `pending` are cleared only once done, so that the
        lock-free check in `rootfs` never sees a half-made rootfs."""
        if self.source is not None:
            try:
                self.stack = self.source(self.rootfs_path)
            finally:
                self.source = None
        if self.pending:
            try:
                self._apply_pending(list(self.pending))
            finally:
                self.pending = []
        return self.rootfs_path

    def _apply_pending(self, pending: list[Layer]) -> None:
        if self.fetch_missing is not None and not all(layer.is_local for layer in pending):
            self.fetch_missing(pending)
        for layer in pending:
            try:
                if self.stack is not None:
                    self.stack.push_layer(layer)
                else:
                    apply_layer(layer.fetch(), self.rootfs_path, expected_diff_id=layer.diff_id)
            except (LayerError, DigestMismatch, OSError) as exc:
                if _machine_fault(exc):
                    raise
                raise CachedLayerUnusable([layer.digest], str(exc)) from None

    @property
    def materialized(self) -> bool:
        return self.source is None and not self.pending

    def env(self) -> dict[str, str]:
        return self.config.config.env_dict()

    def expansion_env(self) -> dict[str, str]:
        """What `$VAR` means in this stage's instructions: ARGs, overridden by ENV."""
        return {**self.args, **self.env()}

    def run_env(self) -> dict[str, str]:
        """A RUN's environment: ENV, plus ARGs that ENV does not set, plus a default PATH."""
        env = {**self.args, **self.env()}
        env.setdefault("PATH", DEFAULT_PATH)
        return env

    @property
    def workdir(self) -> str:
        return self.config.config.working_dir or "/"


@dataclass
class BuildEnv:
    """What every step can reach: options, context, scratch space, finished stages."""

    options: BuildOptions
    context: BuildContext
    scratch: Path
    blob_dir: Path
    # whether RUN can use overlay mounts: probed only when a step first asks (a build
    # whose steps all hit never spawns the probe)
    overlay_probe: Callable[[], bool] = field(default=lambda: False, repr=False)
    escape: str = "\\"
    stages: dict[int, StageState] = field(default_factory=dict)
    stage_names: dict[str, int] = field(default_factory=dict)
    log: Callable[[str], None] = print
    external_roots: dict[str, Path] = field(default_factory=dict)
    resolved_images: dict[str, list[Layer]] = field(default_factory=dict)
    global_args: dict[str, str] = field(default_factory=dict)
    deadline: float | None = None  # time.monotonic() value after which the build fails
    # set when a stage failed: the stages running at the same time stop (scheduler)
    cancelled: threading.Event = field(default_factory=threading.Event)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # stages build in threads: the probe and each image pull happen once
    _probe_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _image_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # whether stage roots can be stacked overlay lowers (layerstack): probed on first use
    stack_probe: Callable[[], bool] = field(default=lambda: False, repr=False)
    layer_stacks: list[LayerStack] = field(default_factory=list)

    _overlay: bool | None = None
    _stacks: bool | None = None

    @property
    def stacks(self) -> bool:
        """Stage roots as stacked overlay lowers, not hard-link clones (where RUN uses
        overlay and this process may mount them privately)."""
        overlay = self.overlay
        with self._probe_lock:
            if self._stacks is None:
                self._stacks = overlay and bool(self.stack_probe())
            return self._stacks

    def new_stack(self, mountpoint: Path, layers: list[Path]) -> LayerStack:
        from dockyard.builder.layerstack import LayerStack

        stack = LayerStack(mountpoint, layers, self.scratch)
        self.layer_stacks.append(stack)
        return stack

    def close_stacks(self) -> None:
        """Unmounts every stage's merged view (the scratch dir can then be removed)."""
        for stack in self.layer_stacks:
            stack.close()
        self.layer_stacks.clear()

    @property
    def overlay(self) -> bool:
        with self._probe_lock:
            if self._overlay is None:
                self._overlay = bool(self.overlay_probe())
                if not self._overlay:
                    self.log("no overlay mounts (unavailable, or DOCKYARD_SNAPSHOT=tree): RUN "
                             "changes are found by scanning the rootfs (slower)")
            return self._overlay

    def check_cancelled(self) -> None:
        """Raises StageCancelled when another stage failed (called between steps and while a
        RUN runs)."""
        if self.cancelled.is_set():
            from dockyard.builder.scheduler import StageCancelled

            raise StageCancelled()

    def remaining_time(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.1, self.deadline - time.monotonic())

    def new_dir(self, prefix: str) -> Path:
        path = self.scratch / f"{prefix}-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    @property
    def epoch(self) -> int | None:
        return self.options.source_date_epoch

    def stage_by_name(self, name: str) -> StageState | None:
        key = name.lower()
        if key in self.stage_names:
            return self.stages[self.stage_names[key]]
        if key.isdigit() and int(key) in self.stages:
            return self.stages[int(key)]
        return None

    def image_root(self, name: str) -> Path:
        """The rootfs of image `name` (for `COPY --from=<image>`, `--mount=from=<image>`):
        pulled and unpacked once per build."""
        with self._image_lock:
            return self._image_root(name)

    def _image_root(self, name: str) -> Path:
        if name not in self.external_roots:
            base = resolve_base(name, self.options, BlobCache(self.blob_dir), self.platform,
                                self.log)
            root = self.new_dir("image")
            root.rmdir()
            rootfs_for(base, root, self.options.cache_dir, hardlink=True)
            self.external_roots[name] = root
        return self.external_roots[name]

    def image_diff_ids(self, name: str) -> str:
        """The diff_ids of image `name` (`COPY --from=<image>`, `--mount=from=<image>`) for
        a cache key: its manifest and config only, resolved once per build."""
        with self._image_lock:
            return self._image_diff_ids(name)

    def _image_diff_ids(self, name: str) -> str:
        if name not in self.resolved_images:
            base = resolve_base(name, self.options, BlobCache(self.blob_dir), self.platform,
                                self.log)
            self.resolved_images[name] = base.layers
        return ",".join(str(layer.diff_id) for layer in self.resolved_images[name])

    @property
    def platform(self) -> Platform:
        """The platform the build targets (--custom-platform, else this machine's)."""
        return Platform.parse(self.options.platform) if self.options.platform \
            else Platform.current()

    def stage_root(self, name: str) -> Path | None:
        """The rootfs of a finished stage named (or numbered) `name`."""
        stage = self.stage_by_name(name)
        return stage.rootfs if stage is not None else None


def _machine_fault(exc: BaseException) -> bool:
    """A full disk or an I/O error while applying a layer says nothing about the cache entry
    (and forgetting it would throw good blobs away)."""
    cause = exc if isinstance(exc, OSError) and not isinstance(exc, ValueError) \
        else exc.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO,
                                                          errno.EROFS)

