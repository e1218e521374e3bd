"""The build engine: Dockerfile -> stages -> layers -> one image, without a daemon.

`build(options)` parses the Dockerfile, builds only the stages the target needs (in
order), and returns the assembled image (not yet pushed: see `outputs`). Each stage gets
a rootfs in a scratch directory; every instruction is one `Step`; a step's filesystem
change becomes one gzip layer (written once, streamed) and is then folded into the rootfs.
"""

from __future__ import annotations

import copy
import datetime
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.build.base import BaseImage, fetch_base, rootfs_for
from dockyard.build.cache import (
    CacheEntry,
    CacheInputs,
    LayerCache,
    RemoteLayerCache,
    cache_key,
    chain_link,
    files_digest,
)
from dockyard.build.context import BuildContext
from dockyard.build.dockerfile import (
    AddInstruction,
    CopyInstruction,
    Dockerfile,
    DockerfileError,
    Instruction,
    OnbuildInstruction,
    RunInstruction,
    Stage,
    expand,
    expand_instruction,
    parse,
    platform_args,
    stages_needed,
)
from dockyard.build.dockerfile.expansion import global_env
from dockyard.build.instructions import Change, Step, step_for
from dockyard.build.layer_writer import write_layer
from dockyard.build.options import BuildError, BuildOptions
from dockyard.build.sandbox import overlay_supported
from dockyard.build.snapshot import merge_upper, upper_entries
from dockyard.build.state import DEFAULT_SHELL, BuildEnv, StageState, clone_tree
from dockyard.oci import History, ImageConfig, Platform, mediatypes
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.image import Image, Layer
from dockyard.oci.models import Descriptor


@dataclass
class BuildResult:
    """The built image plus numbers for the report."""

    image: Image
    blobs: BlobCache
    stages_built: list[int]
    layers_written: int = 0
    seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)


def _timestamp(epoch: int | None) -> str:
    moment = (
        datetime.datetime.fromtimestamp(epoch, datetime.UTC)
        if epoch is not None
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if epoch is None else \
        moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def target_platform(options: BuildOptions) -> Platform:
    return Platform.parse(options.platform) if options.platform else Platform.current()


class Builder:
    """Builds one Dockerfile; holds the per-build scratch space and finished stages."""

    def __init__(self, options: BuildOptions) -> None:
        self.options = options
        self.log = options.progress or (lambda message: None)
        self.layers_written = 0
        self.steps: list[tuple[str, float]] = []
        self.platform = target_platform(options)
        self.step_label = ""
        self.layer_cache = (LayerCache(options.cache_dir, options.cache_ttl_seconds)
                            if options.cache else None)
        self.remote_cache = None
        if options.cache and options.cache_repo:
            from dockyard.build.outputs import push_registry_options

            self.remote_cache = RemoteLayerCache(options.cache_repo, options.cache_ttl_seconds,
                                                 push_registry_options(options), self.log)

    def parse(self) -> Dockerfile:
        try:
            text = self.options.dockerfile.read_text(encoding="utf-8")
        except OSError as exc:
            raise BuildError(f"cannot read the Dockerfile {self.options.dockerfile}: {exc}") \
                from None
        return parse(text, self.options.dockerfile.name)

    def run(self) -> BuildResult:
        started = time.monotonic()
        dockerfile = self.parse()
        platform = target_platform(self.options)
        auto_args = platform_args(str(platform))
        build_args = {k: v for k, v in self.options.build_args.items() if v is not None}
        needed = stages_needed(dockerfile, self.options.target, build_args, auto_args)
        cache_dir = self.options.cache_dir
        (cache_dir / "tmp").mkdir(parents=True, exist_ok=True)
        remove_stale_scratch(cache_dir / "tmp")
        scratch = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir / "tmp"))
        try:
            env = BuildEnv(
                options=self.options,
                context=BuildContext(self.options.context, self.options.dockerfile),
                scratch=scratch,
                blob_dir=cache_dir / "blobs",
                overlay=self.options.snapshot_mode != "tree"
                and overlay_supported(scratch, cache_dir / "overlay-probe.json"),
                escape=dockerfile.escape,
                log=self.log,
                global_args=global_env(dockerfile, build_args, auto_args),
                deadline=(started + self.options.timeout) if self.options.timeout else None,
            )
            blobs = BlobCache(env.blob_dir)
            if not env.overlay:
                self.log("no overlay mounts (unavailable, or DOCKYARD_SNAPSHOT=tree): RUN "
                         "changes are found by scanning the rootfs (slower)")
            for position, index in enumerate(needed, 1):
                stage = dockerfile.stages[index]
                label = stage.name or str(index)
                self.log(f"[stage {label} {position}/{len(needed)}] FROM {stage.base}")
                state = self.build_stage(dockerfile, stage, env, blobs, platform)
                env.stages[index] = state
                if stage.name:
                    env.stage_names[stage.name] = index
            final = env.stages[needed[-1]]
            image = self.assemble(final, blobs)
        finally:
            remove_in_background(scratch)
        return BuildResult(image, blobs, needed, self.layers_written,
                           time.monotonic() - started, self.steps)

    # ------------------------------------------------------------------ stages

    def build_stage(self, dockerfile: Dockerfile, stage: Stage, env: BuildEnv,
                    blobs: BlobCache, platform: Platform) -> StageState:
        base_name = expand(stage.base, env.global_args, dockerfile.escape)
        state = self.start_stage(stage, base_name, env, blobs, platform)
        triggers = list(state.config.config.on_build or [])
        state.config.config.on_build = None
        for trigger in triggers:
            self.run_trigger(trigger, state, env, dockerfile)
        total = len(stage.instructions)
        for number, instruction in enumerate(stage.instructions, 1):
            self.step_label = f"[{number}/{total}] "
            self.execute(instruction, state, env)
        self.step_label = ""
        return state

    def start_stage(self, stage: Stage, base_name: str, env: BuildEnv, blobs: BlobCache,
                    platform: Platform) -> StageState:
        """The stage's starting state; its rootfs is only cloned when a step reads it."""
        rootfs = env.scratch / f"stage-{stage.index}"
        parent_index = env.stage_names.get(base_name.lower())
        if parent_index is not None and parent_index < stage.index:
            parent = env.stages[parent_index]
            hardlink = env.overlay
            source: Callable[[Path], None]
            pending: list[Layer] = []
            if parent.source is not None:  # parent never materialised: share its recipe
                source = parent.source
                pending = list(parent.pending)
            else:

                def source(target: Path) -> None:
                    self.log(f"    preparing the rootfs of stage {stage.name or stage.index}")
                    clone_tree(parent.rootfs, target, hardlink=hardlink)

            return StageState(
                index=stage.index, name=stage.name, rootfs_path=rootfs,
                config=copy.deepcopy(parent.config), layers=list(parent.layers),
                history=list(parent.history), shell=list(parent.shell), base_ref=parent.base_ref,
                cache_chain=parent.cache_chain, cache_missed=parent.cache_missed,
                source=source, pending=pending,
            )
        base: BaseImage = fetch_base(base_name, self.options, blobs, platform, self.log)
        config = copy.deepcopy(base.config)
        config.history = None
        cache_dir = self.options.cache_dir

        def from_base(target: Path) -> None:
            self.log(f"    preparing the rootfs of stage {stage.name or stage.index}")
            rootfs_for(base, target, cache_dir, hardlink=env.overlay)

        return StageState(
            index=stage.index, name=stage.name, rootfs_path=rootfs, config=config,
            layers=list(base.layers), history=list(base.config.history or []),
            shell=list(config.config.shell or DEFAULT_SHELL), base_ref=base.reference,
            cache_chain=chain_link("base", ",".join(str(layer.diff_id) for layer in base.layers)),
            source=from_base,
        )

    def run_trigger(self, trigger: str, state: StageState, env: BuildEnv,
                    dockerfile: Dockerfile) -> None:
        try:
            parsed = parse(f"FROM scratch\n{trigger}\n", "ONBUILD")
        except DockerfileError as exc:
            raise BuildError(f"ONBUILD trigger {trigger!r} of the base image: {exc.message}") \
                from None
        for instruction in parsed.stages[0].instructions:
            self.execute(instruction, state, env)

    # ------------------------------------------------------------------ steps

    def execute(self, instruction: Instruction, state: StageState, env: BuildEnv) -> None:
        if isinstance(instruction, OnbuildInstruction):
            expanded: Instruction = instruction
        else:
            try:
                expanded = expand_instruction(instruction, state.expansion_env(), env.escape)
            except DockerfileError as exc:
                exc.filename = self.options.dockerfile.name
                raise
        step = step_for(expanded)
        started = time.monotonic()
        key = self.cache_key_for(step, expanded, state, env)
        state.cache_chain = chain_link(state.cache_chain, repr(expanded))
        if key is not None and not state.cache_missed and self.reuse(key, step, state, env):
            self.log(f"  {self.step_label}{instruction.original} (cached)")
            self.steps.append((instruction.original, time.monotonic() - started))
            return
        self.log(f"  {self.step_label}{instruction.original}")
        if key is not None:
            state.cache_missed = True
        try:
            change = step.execute(state, env)
        except DockerfileError as exc:
            exc.filename = self.options.dockerfile.name
            raise
        layer = self.commit(state, change, step.created_by(), env)
        if key is not None and self.layer_cache is not None:
            entry = CacheEntry(
                layer.digest if layer else None, layer.diff_id if layer else None,
                layer.size if layer else 0, layer.media_type if layer else "", time.time())
            self.layer_cache.store(key, entry)
            if self.remote_cache is not None:
                self.remote_cache.store(key, entry, layer.path if layer else None)
        self.steps.append((instruction.original, time.monotonic() - started))

    # ------------------------------------------------------------------ layer cache

    def cache_key_for(self, step: Step, expanded: Instruction, state: StageState,
                      env: BuildEnv) -> str | None:
        """The step's cache key, or None when the step is not cacheable."""
        if self.layer_cache is None or expanded.keyword not in ("RUN", "COPY", "ADD", "WORKDIR"):
            return None
        files = ""
        if isinstance(expanded, (CopyInstruction, AddInstruction)):
            if any(s.startswith(("http://", "https://")) for s in expanded.sources):
                return None  # remote content: unknown until fetched
            from_ = getattr(expanded, "from_", None)
            if from_:
                source = env.stage_by_name(from_)
                if source is None:
                    return None
                files = "stage:" + ",".join(str(layer.diff_id) for layer in source.layers)
            else:
                files = files_digest(env.context.root, step.files_used(state, env),
                                     env.context.excluded)
        elif isinstance(expanded, RunInstruction):
            parts = []
            for mount in expanded.mounts:
                if mount.type == "bind" and mount.from_:
                    source = env.stage_by_name(mount.from_)
                    if source is None:
                        return None
                    parts.append(",".join(str(layer.diff_id) for layer in source.layers))
                elif mount.type == "bind":
                    path = env.context.root / (mount.source or "").lstrip("/")
                    if path.exists():
                        parts.append(files_digest(env.context.root, [path]))
            files = "|".join(parts)
        return cache_key(CacheInputs(
            parent=state.cache_chain,
            instruction=repr(expanded),
            env=sorted(state.run_env().items()),
            user=state.config.config.user or "",
            workdir=state.workdir,
            shell=state.shell,
            platform=str(self.platform),
            files_digest=files,
        ))

    def reuse(self, key: str, step: Step, state: StageState, env: BuildEnv) -> bool:
        assert self.layer_cache is not None
        blobs = BlobCache(env.blob_dir)
        entry = self.layer_cache.lookup(key, blobs.has)
        if entry is None and self.remote_cache is not None:
            entry = self.remote_cache.lookup(key, blobs)
            if entry is not None:
                self.layer_cache.store(key, entry)
        if entry is None:
            return False
        history = History(created=_timestamp(env.epoch), created_by=step.created_by(),
                          comment="dockyard")
        if entry.digest is None or entry.diff_id is None:
            history.empty_layer = True
        else:
            layer = Layer(
                Descriptor(media_type=entry.media_type, digest=entry.digest, size=entry.size),
                entry.diff_id, blobs.path(entry.digest))
            state.layers.append(layer)
            state.pending.append(layer)  # applied when a later step reads the rootfs
        step.apply_config(state)
        state.history.append(history)
        return True

    def commit(self, state: StageState, change: Change | None, created_by: str,
               env: BuildEnv) -> Layer | None:
        """Turns the change into a layer (None when nothing changed) and folds it in."""
        history = History(created=_timestamp(env.epoch), created_by=created_by,
                          comment="dockyard")
        entries = None
        layer: Layer | None = None
        if change is not None and change.upper is not None:
            entries = list(upper_entries(change.upper))
        elif change is not None and change.entries is not None:
            entries = change.entries
        if entries:
            tmp = env.scratch / f"layer-{len(state.layers)}-{time.monotonic_ns()}.tar.gz"
            blob = write_layer(entries, tmp, env.epoch)
            blobs = BlobCache(env.blob_dir)
            blobs.add_file(tmp, blob.digest, move=True)
            layer = Layer(
                Descriptor(media_type=blob.media_type, digest=blob.digest, size=blob.size),
                blob.diff_id, blobs.path(blob.digest))
            state.layers.append(layer)
            self.layers_written += 1
        else:
            history.empty_layer = True
        if change is not None and change.upper is not None:
            merge_upper(change.upper, state.rootfs)
            shutil.rmtree(change.upper, ignore_errors=True)
        state.history.append(history)
        return layer

    # ------------------------------------------------------------------ image

    def assemble(self, final: StageState, blobs: BlobCache) -> Image:
        config: ImageConfig = copy.deepcopy(final.config)
        if self.options.labels:
            labels = dict(config.config.labels or {})
            labels.update(self.options.labels)
            config.config.labels = labels
        config.created = _timestamp(self.options.source_date_epoch)
        config.history = final.history
        config.config.on_build = config.config.on_build or None
        layers = []
        for layer in final.layers:
            media = layer.descriptor.media_type
            oci_type = mediatypes.OCI_LAYER_GZIP if media == mediatypes.DOCKER_LAYER_GZIP else \
                mediatypes.OCI_LAYER if media == mediatypes.DOCKER_LAYER else media
            descriptor = Descriptor(media_type=oci_type, digest=layer.descriptor.digest,
                                    size=layer.descriptor.size)
            layers.append(Layer(descriptor, layer.diff_id, layer.path, layer.source))
        return Image.assemble(config, layers)


STALE_SCRATCH_SECONDS = 24 * 3600


def remove_stale_scratch(parent: Path) -> None:
    """Scratch dirs of builds that were killed (older than a day) are removed."""
    now = time.time()
    for entry in parent.iterdir():
        try:
            if now - entry.stat().st_mtime > STALE_SCRATCH_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def remove_in_background(path: Path) -> None:
    """Deletes the scratch tree while the caller pushes (a non-daemon thread: the process
    waits for it before exiting, so nothing is left behind)."""
    trash = path.with_name(path.name + ".trash")
    try:
        path.rename(trash)
    except OSError:
        trash = path
    threading.Thread(target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True},
                     name="dockyard-scratch-cleanup").start()


def build(options: BuildOptions) -> BuildResult:
    """Builds the image `options` describe (pushing and saving is `outputs.deliver`)."""
    return Builder(options).run()
