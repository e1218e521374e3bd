"""The build engine: Dockerfile -> stages -> layers -> one image, without a daemon.

`build(options)` parses the Dockerfile, builds only the stages the target needs (stages that
do not use each other at the same time: `stage_graph`, `scheduler`), and returns the
assembled image (not yet pushed: see `outputs`). Each stage gets a rootfs in a scratch
directory; every instruction is one `Step`; a step's filesystem change becomes one gzip
layer (written once, streamed) and is then folded into the rootfs.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.builder.baseimage import (
    BaseImage,
    clone_tree,
    fetch_layers,
    materializer,
    resolve_base,
    unpacked_base,
)
from dockyard.builder.cache import chain_link
from dockyard.builder.context import BuildContext
from dockyard.builder.dockerfile import (
    Dockerfile,
    DockerfileError,
    Instruction,
    OnbuildInstruction,
    Stage,
    expand,
    expand_instruction,
    parse,
    platform_args,
)
from dockyard.builder.dockerfile.expansion import global_env
from dockyard.builder.instructions import Change, step_for
from dockyard.builder.options import BuildError, BuildOptions, CachedLayerUnusable, default_jobs
from dockyard.builder.phases import mark, phase
from dockyard.builder.platforms import stage_platform
from dockyard.builder.scheduler import StageCancelled, run_stages
from dockyard.builder.stage_graph import StageGraph
from dockyard.builder.stage_log import StageLog
from dockyard.builder.state import DEFAULT_SHELL, BuildEnv, StageState
from dockyard.builder.step_cache import CacheEvent, StepCache
from dockyard.oci import (
    BlobCache,
    Descriptor,
    History,
    Image,
    ImageConfig,
    Layer,
    Platform,
    mutate,
    parse_rfc3339,
)

if TYPE_CHECKING:
    from dockyard.builder.layerstack import LayerStack


@dataclass
class BuildResult:
    """The built image plus numbers for the report."""

    image: Image
    blobs: BlobCache
    stages_built: list[int]
    layers_written: int = 0
    seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)
    cache_events: list[CacheEvent] = field(default_factory=list)  # HIT/MISS per step


def _timestamp(epoch: int | None) -> str:
    moment = (
        datetime.datetime.fromtimestamp(epoch, datetime.UTC)
        if epoch is not None
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if epoch is None else \
        moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _step_time(state: StageState, epoch: int | None, makes_layer: bool) -> str:
    """A history entry's `created`: SOURCE_DATE_EPOCH (or 0 with --reproducible) when set;
    else now for a step that makes a layer (a cache hit then puts the time its layer was made,
    StepCache.reuse); a step that only changes the config (ENV, CMD, LABEL...) takes the time
    of the entry before it, so an all-cached rebuild repeats every time and the digest."""
    if epoch is not None or makes_layer:
        return _timestamp(epoch)
    for entry in reversed(state.history):
        if entry.created:
            return entry.created
    return state.config.created or _timestamp(0)


def _image_time(history: list[History], epoch: int | None) -> str:
    """The config's `created`: SOURCE_DATE_EPOCH (or 0) when set, else its newest history entry
    (BuildKit's reproducible-on-hit: an all-cached build is the same image), else now."""
    if epoch is not None:
        return _timestamp(epoch)
    times = [(parse_rfc3339(h.created), h.created) for h in history if h.created]
    known = [(moment, text) for moment, text in times if moment is not None]
    return max(known)[1] if known else _timestamp(None)


def target_platform(options: BuildOptions) -> Platform:
    return Platform.parse(options.platform) if options.platform else Platform.current()


MAX_CACHE_RETRIES = 3


class Builder:
    """Builds one Dockerfile; holds the per-build scratch space and finished stages."""

    def __init__(self, options: BuildOptions) -> None:
        # progress and RUN output go through the stage log: whole lines, each with its stage
        self.stage_log = StageLog(options.progress, options.output)
        self.options = dataclasses.replace(
            options, progress=self.stage_log.progress,
            output=self.stage_log.output if options.output is not None else None)
        self.log = self.stage_log.progress
        self.layers_written = 0
        self.steps: list[tuple[str, float]] = []
        self._counts = threading.Lock()  # layers_written and steps, from every stage's thread
        self.platform = target_platform(options)
        self.cache = StepCache(self.options, str(self.platform), self.log)
        self.bases: dict[tuple[str, str], Future[BaseImage]] = {}  # (name, platform)

    def parse(self) -> Dockerfile:
        try:
            text = self.options.dockerfile.read_text(encoding="utf-8")
        except OSError as exc:
            raise BuildError(f"cannot read the Dockerfile {self.options.dockerfile}: {exc}") \
                from None
        return parse(text, self.options.dockerfile.name)

    def run(self) -> BuildResult:
        """Builds; a cached layer found unusable on the way (deleted or corrupt in the cache
        registry) is forgotten and the build starts again, at most `MAX_CACHE_RETRIES` times."""
        try:
            for _ in range(MAX_CACHE_RETRIES):
                try:
                    return self.run_once()
                except CachedLayerUnusable as exc:
                    self.log(f"warning: {exc}; building again without that cache entry")
                    self.cache.forget(exc.digests)
                    self.layers_written, self.steps = 0, []
            return self.run_once()
        except Exception:
            # a failed build still finishes storing the cache entries of the steps that
            # worked (as Kaniko does), before the process ends
            self.cache.finish()
            raise

    def run_once(self) -> BuildResult:
        started = time.monotonic()
        with phase("parse"):
            dockerfile = self.parse()
        platform = target_platform(self.options)
        auto_args = platform_args(str(platform), str(Platform.current()))  # BUILDPLATFORM
        build_args = {k: v for k, v in self.options.build_args.items() if v is not None}
        graph = StageGraph.plan(dockerfile, self.options.target, build_args, auto_args)
        needed = list(graph.order)
        jobs = self.options.jobs or default_jobs()
        cache_dir = self.options.cache_dir
        (cache_dir / "tmp").mkdir(parents=True, exist_ok=True)
        remove_stale_scratch(cache_dir / "tmp")
        scratch = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir / "tmp"))
        private = _private_mounts(self.options)
        env: BuildEnv | None = None
        try:
            env = BuildEnv(
                options=self.options,
                context=BuildContext(self.options.context, self.options.dockerfile),
                scratch=scratch,
                blob_dir=cache_dir / "blobs",
                overlay_probe=lambda: self.options.snapshot_mode != "tree"
                and _overlay_supported(scratch, cache_dir / "overlay-probe.json"),
                stack_probe=lambda: _stacks_supported(scratch, private),
                escape=dockerfile.escape,
                log=self.log,
                global_args=global_env(dockerfile, build_args, auto_args),
                deadline=(started + self.options.timeout) if self.options.timeout else None,
            )
            blobs = BlobCache(env.blob_dir)
            self.prefetch_bases(dockerfile, needed, env, blobs, platform)
            self.stage_log.prefixed = len(needed) > 1
            if graph.skipped(dockerfile):
                self.log("stages the target does not use (not built): "
                         + ", ".join(graph.skipped(dockerfile)))
            if jobs > 1 and graph.independent():
                self.log(f"{len(needed)} stages, independent ones built at once (up to {jobs})")

            def build_one(index: int) -> StageState:
                stage = dockerfile.stages[index]
                self.log(f"[stage {graph.names[index]} {needed.index(index) + 1}/{len(needed)}]"
                         f" FROM {stage.base}")
                with self.stage_log.stage(graph.names[index]):
                    return self.build_stage(dockerfile, stage, env, blobs, platform)

            def register(index: int, state: StageState) -> None:
                env.stages[index] = state
                if state.name:
                    env.stage_names[state.name] = index

            run_stages(graph, build_one, register, jobs, env.cancelled)
            final = env.stages[needed[-1]]
            with phase("cache store wait"):
                self.cache.finish()  # remote cache stores done: their blobs can be mounted
            image = self.assemble(final, blobs)
        finally:
            if env is not None:
                env.close_stacks()
            remove_in_background(scratch)
        if self.cache.enabled:
            self.log(self.cache.summary())
        return BuildResult(image, blobs, needed, self.layers_written,
                           time.monotonic() - started, self.steps, self.cache.events)

    # ------------------------------------------------------------------ stages

    def build_stage(self, dockerfile: Dockerfile, stage: Stage, env: BuildEnv,
                    blobs: BlobCache, platform: Platform) -> StageState:
        base_name = expand(stage.base, env.global_args, dockerfile.escape)
        platform = stage_platform(stage.platform, env.global_args, dockerfile.escape, platform)
        state = self.start_stage(stage, base_name, env, blobs, platform)
        triggers = list(state.config.config.on_build or [])
        state.config.config.on_build = None
        for trigger in triggers:
            self.run_trigger(trigger, state, env, dockerfile)
        total = len(stage.instructions)
        for number, instruction in enumerate(stage.instructions, 1):
            self.cache.label = f"[{number}/{total}] "
            try:
                self.execute(instruction, state, env)
            except Exception as exc:
                raise self.located(exc, stage, instruction) from exc.__cause__
            finally:
                self.cache.label = ""
        return state

    def located(self, exc: Exception, stage: Stage, instruction: Instruction) -> Exception:
        """`exc` with the Dockerfile line (and, in a multi-stage build, the stage) in its
        message: stages run at once, so the failing one is named. Types stay (a failed RUN
        still exits with its code)."""
        where = f"stage {stage.name or stage.index}: " if self.stage_log.prefixed else ""
        if isinstance(exc, DockerfileError):
            if not exc.message.startswith(where):
                exc.message = where + exc.message
            exc.line = exc.line or instruction.line
        elif isinstance(exc, RuntimeError) and not isinstance(exc, StageCancelled) \
                and len(exc.args) == 1 and isinstance(exc.args[0], str):
            prefix = f"{self.options.dockerfile.name}:{instruction.line}: {where}"
            if not exc.args[0].startswith(prefix):
                exc.args = (prefix + exc.args[0],)
        return exc

    def prefetch_bases(self, dockerfile: Dockerfile, needed: list[int], env: BuildEnv,
                       blobs: BlobCache, platform: Platform) -> None:
        """Starts resolving the external base of every needed stage at once (manifests and
        configs concurrently, each name once): a build whose steps all hit pays one round
        of base requests, not one per stage. Errors surface when their stage starts."""
        earlier = {stage.name: stage.index for stage in dockerfile.stages if stage.name}
        pool: ThreadPoolExecutor | None = None
        for index in needed:
            stage = dockerfile.stages[index]
            try:
                name = expand(stage.base, env.global_args, dockerfile.escape)
            except DockerfileError:
                continue  # the stage reports it
            key = (name, str(platform))
            if earlier.get(name.lower(), index) < index or key in self.bases:
                continue  # a stage of this Dockerfile, or asked for already
            pool = pool or ThreadPoolExecutor(max_workers=4, thread_name_prefix="base")
            self.bases[key] = pool.submit(resolve_base, name, self.options, blobs, platform,
                                          self.log)
        if pool is not None:
            pool.shutdown(wait=False)

    def start_stage(self, stage: Stage, base_name: str, env: BuildEnv, blobs: BlobCache,
                    platform: Platform) -> StageState:
        """The stage's starting state; its rootfs is only cloned when a step reads it."""
        rootfs = env.scratch / f"stage-{stage.index}"
        parent_index = env.stage_names.get(base_name.lower())
        if parent_index is not None and parent_index < stage.index:
            parent = env.stages[parent_index]
            source: Callable[[Path], LayerStack | None]
            pending: list[Layer] = []
            if parent.source is not None:  # parent never materialised: share its recipe
                source = parent.source
                pending = list(parent.pending)
            else:

                def source(target: Path) -> LayerStack | None:
                    root = parent.rootfs  # its pending layers applied
                    if parent.stack is not None:  # share its directories, read-only
                        self.log(f"    preparing the rootfs of stage {stage.name or stage.index}"
                                 " (stacked overlay lowers)")
                        return env.new_stack(target, parent.stack.layers)
                    self.log(f"    preparing the rootfs of stage {stage.name or stage.index}")
                    clone_tree(root, target, hardlink=env.overlay)
                    return None

            return StageState(
                index=stage.index, name=stage.name, rootfs_path=rootfs,
                config=copy.deepcopy(parent.config), layers=list(parent.layers),
                history=list(parent.history), shell=list(parent.shell), base_ref=parent.base_ref,
                cache_chain=parent.cache_chain, cache_missed=parent.cache_missed,
                source=source, pending=pending, fetch_missing=parent.fetch_missing,
                platform=parent.platform,
            )
        with phase("base resolution"):
            future = self.bases.get((base_name, str(platform)))
            base: BaseImage = future.result() if future is not None else \
                resolve_base(base_name, self.options, blobs, platform, self.log)
        config = copy.deepcopy(base.config)
        config.history = None
        label = str(stage.name or stage.index)
        cloned = materializer(base, self.options.cache_dir, lambda: env.overlay, label,
                              self.log)

        def from_base(target: Path) -> LayerStack | None:
            if not env.stacks:
                cloned(target)
                return None
            self.log(f"    preparing the rootfs of stage {label} (stacked overlay lowers)")
            bottom = unpacked_base(base, self.options.cache_dir) or env.new_dir("empty")
            return env.new_stack(target, [bottom])

        return StageState(
            index=stage.index, name=stage.name, rootfs_path=rootfs, config=config,
            layers=list(base.layers), history=list(base.config.history or []),
            shell=list(config.config.shell or DEFAULT_SHELL), base_ref=base.reference,
            cache_chain=chain_link("base", ",".join(str(layer.diff_id) for layer in base.layers)),
            source=from_base,
            fetch_missing=self.fetch_cached, platform=platform,
        )

    def fetch_cached(self, layers: list[Layer]) -> None:
        """Downloads the blobs of cache hits a step now needs; failing that, the hit was bad."""
        try:
            fetch_layers(layers)
        except BuildError as exc:
            missing = [layer.digest for layer in layers if not layer.is_local]
            raise CachedLayerUnusable(missing or [layers[0].digest], str(exc)) from None

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
        mark("first step")
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
        with phase("cache lookups"):
            key = self.cache.begin(step, expanded, state, env)
            created = _step_time(state, env.epoch, step.makes_layer)
            history = History(created=created, created_by=step.created_by(), comment="dockyard")
            if self.cache.reuse(key, step, instruction, state, history):
                with self._counts:
                    self.steps.append((instruction.original, time.monotonic() - started))
                return
            env.check_cancelled()  # another stage failed: start nothing more
            self.cache.miss(key, step, instruction, state)
        try:
            with phase(step.keyword):
                change = step.execute(state, env)
        except DockerfileError as exc:
            exc.filename = self.options.dockerfile.name
            raise
        finally:
            self.stage_log.flush()  # a RUN's last line without a newline
        with phase("layer write"):
            layer = self.commit(state, change, step.created_by(), env, created)
        self.cache.store(key, layer, step, created if env.epoch is None else None)
        with self._counts:
            self.steps.append((instruction.original, time.monotonic() - started))

    def commit(self, state: StageState, change: Change | None, created_by: str,
               env: BuildEnv, created: str) -> Layer | None:
        """Turns the change into a layer (None when nothing changed) and folds it in."""
        from dockyard.builder.snapshot import merge_upper, upper_entries  # RUN/COPY only

        history = History(created=created, created_by=created_by, comment="dockyard")
        entries = None
        layer: Layer | None = None
        if change is not None and change.upper is not None:
            entries = list(upper_entries(change.upper))
        elif change is not None and change.entries is not None:
            entries = change.entries
        if entries:
            from dockyard.builder.layer_writer import write_layer

            tmp = env.scratch / f"layer-{state.index}-{len(state.layers)}-{time.monotonic_ns()}.tar.gz"
            blob = write_layer(entries, tmp, env.epoch, self.options.compression)
            blobs = BlobCache(env.blob_dir)
            blobs.add_file(tmp, blob.digest, move=True)
            layer = Layer(
                Descriptor(media_type=blob.media_type, digest=blob.digest, size=blob.size),
                blob.diff_id, blobs)
            state.layers.append(layer)
            with self._counts:
                self.layers_written += 1
        else:
            history.empty_layer = True
        if change is not None and change.upper is not None:
            if state.stack is not None:
                state.stack.push(change.upper)  # never written again: the next lower
            else:
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
        config.created = _image_time(final.history, self.options.source_date_epoch)
        config.history = final.history
        config.config.on_build = config.config.on_build or None
        return Image.assemble(config, [mutate.oci_layer(layer) for layer in final.layers])


def _private_mounts(options: BuildOptions) -> bool:
    """The build's thread enters a private mount namespace before any thread starts (stage
    roots may then be mounted stacks that every thread of the build sees); ~3 ms."""
    if options.snapshot_mode in ("tree", "clone") or os.geteuid() != 0:
        return False
    from dockyard.builder.layerstack import enter_private_mounts

    return enter_private_mounts()


def _stacks_supported(scratch: Path, private: bool) -> bool:
    """Stage roots as stacked lowers need the private mount namespace (entered by this
    thread at the build's start) and overlay mounts of lowers alone."""
    if not private:
        return False
    from dockyard.builder.layerstack import in_private_mounts, stacks_supported

    return in_private_mounts() and stacks_supported(scratch)


def _overlay_supported(scratch: Path, record: Path) -> bool:
    """The sandbox's probe, imported only when a step first needs a RUN or a diff."""
    from dockyard.sandbox import overlay_supported

    return overlay_supported(scratch, record)


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


_CLEANERS: list[subprocess.Popen[bytes]] = []


def remove_in_background(path: Path) -> None:
    """Deletes the scratch tree while the caller pushes, in a detached `rm -rf`: a stage
    rootfs can hold tens of thousands of hard links, and the command need not wait for
    them before it exits (what a killed cleaner leaves, remove_stale_scratch takes)."""
    trash = path.with_name(path.name + ".trash")
    try:
        path.rename(trash)
    except OSError:
        trash = path
    try:
        _CLEANERS.append(subprocess.Popen(
            ["rm", "-rf", "--", str(trash)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    except OSError:
        threading.Thread(target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True},
                         name="dockyard-scratch-cleanup").start()


def build(options: BuildOptions) -> BuildResult:
    """Builds the image `options` describe (pushing and saving is `outputs.deliver`)."""
    return Builder(options).run()
