"""The build's layer cache, as the engine sees it: key a step, reuse it (HIT) or run it
(MISS) and store what it made, in the local cache dir and in the remote `--cache-repo`.

Keys come from `cache.cache_key` (one pure function for lookup and store) over the
stage's chain, the expanded instruction, the environment it sees (ENV and ARGs), and for
COPY/ADD and `RUN --mount=type=bind` the content of exactly the files used, after
.dockerignore; secrets and cache mounts never. The chain takes each step's key, so a
changed file also changes every later key. As Kaniko does, the first miss in a stage stops
lookups after it. A hit records the layer without unpacking it (`lazy`): the rootfs is
only made when a later step has to run. The build log says HIT or MISS with the key's
first 12 characters; `events` is the same record for reports and traces.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.builder.cache import (
    CacheEntry,
    CacheInputs,
    ContentHashes,
    LayerCache,
    cache_key,
    chain_link,
    files_digest,
)
from dockyard.builder.dockerfile import (
    AddInstruction,
    CopyInstruction,
    Instruction,
    RunInstruction,
)
from dockyard.builder.options import BuildOptions
from dockyard.builder.phases import phase
from dockyard.oci import BlobCache, Descriptor, Layer

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.builder.instructions import Step
    from dockyard.builder.remote_cache import RemoteCache
    from dockyard.builder.state import BuildEnv, StageState
    from dockyard.oci import History

SHORT = 12


def instruction_text(expanded: Instruction) -> str:
    """The expanded instruction as the key sees it: every field (flags, heredocs, sources)
    but its line numbers, so a comment added above a step invalidates nothing."""
    return repr(dataclasses.replace(expanded, line=0, end_line=0))


@dataclass
class CacheEvent:
    """One layer-making step's cache outcome: hit (local/remote), miss, or not looked up."""

    instruction: str
    keyword: str
    outcome: str  # "hit", "miss", "uncached"
    key: str = ""
    where: str = ""  # "local" / "remote" for hits; the reason for "uncached"


class StepCache:
    def __init__(self, options: BuildOptions, platform: str,
                 log: Callable[[str], None]) -> None:
        self.options = options
        self.platform = platform
        self.log = log
        self.enabled = options.cache
        self.blobs = BlobCache(options.cache_dir / "blobs")
        self.local = LayerCache(options.cache_dir, options.cache_ttl_seconds) \
            if self.enabled else None
        self.remote: RemoteCache | None = None
        self.events: list[CacheEvent] = []
        self.unusable: set[str] = set()  # layer digests found missing or corrupt: misses
        self._label = threading.local()  # stages build in threads: each its own step number
        # context files' hashes from the last build with this cache dir (same pod)
        self.hashes = ContentHashes(options.cache_dir / "context-hashes.json")
        if self.enabled:
            from dockyard.builder.remote_cache import RemoteCache, default_cache_repo

            repo = options.cache_repo or default_cache_repo(options.destinations)
            if repo:
                self.remote = RemoteCache(repo, options, self.blobs, log)

    @property
    def label(self) -> str:
        """The engine's "[n/total] " step number of the step in this thread's stage."""
        return getattr(self._label, "text", "")

    @label.setter
    def label(self, text: str) -> None:
        self._label.text = text

    # ------------------------------------------------------------------ keys

    def begin(self, step: Step, expanded: Instruction, state: StageState,
              env: BuildEnv) -> str | None:
        """The step's key (None: not cached), and the stage's chain moved past the step."""
        with phase("context hashing"):
            key = self.key_for(step, expanded, state, env) if self.enabled else None
        state.cache_chain = chain_link(state.cache_chain, key or instruction_text(expanded))
        return key

    def key_for(self, step: Step, expanded: Instruction, state: StageState,
                env: BuildEnv) -> str | None:
        if not step.makes_layer:
            return None
        files = ""
        if isinstance(expanded, (CopyInstruction, AddInstruction)):
            if any(s.startswith("git@") or s.endswith(".git") for s in expanded.sources):
                return None  # a git repository: unknown until cloned
            if any(s.startswith(("http://", "https://")) for s in expanded.sources) and not (
                    isinstance(expanded, AddInstruction) and expanded.checksum):
                return None  # a URL without --checksum: unknown until fetched
            from_ = getattr(expanded, "from_", None)
            if from_:
                files = self.source_digest(from_, "stage:", env)
            else:  # an ADD URL's --checksum is in the instruction text
                files = self.copied_files_digest(expanded, step, state, env, self.hashes)
        elif isinstance(expanded, RunInstruction):
            parts = []
            for mount in expanded.mounts:
                if mount.type != "bind":
                    continue  # secrets and cache mounts are never part of the key
                if mount.from_:
                    parts.append(self.source_digest(mount.from_, f"{mount.source}@", env))
                else:
                    path = env.context.root / env.context.clean(mount.source or "")
                    if path.exists():
                        parts.append(files_digest(env.context.root, [path],
                                                  env.context.excluded, self.hashes))
            files = "|".join(parts)
        epoch = self.options.source_date_epoch
        return cache_key(CacheInputs(
            parent=state.cache_chain,
            instruction=instruction_text(expanded),
            env=sorted(state.run_env().items()),
            user=state.config.config.user or "",
            workdir=state.workdir,
            shell=state.shell,
            platform=self.platform,
            files_digest=files,
            layer_format=f"epoch={epoch}" if epoch is not None else "",
        ))

    @staticmethod
    def source_digest(name: str, prefix: str, env: BuildEnv) -> str:
        """What a `--from=` names, for a key: a stage by its layers, an image by the
        diff_ids its tag resolves to now (a moved tag is a new key)."""
        source = env.stage_by_name(name)
        if source is not None:
            return prefix + ",".join(str(layer.diff_id) for layer in source.layers)
        return f"{prefix}image:{name}@{env.image_diff_ids(name)}"

    @staticmethod
    def copied_files_digest(expanded: CopyInstruction | AddInstruction, step: Step,
                            state: StageState, env: BuildEnv,
                            hashes: ContentHashes | None = None) -> str:
        """Content of exactly what the COPY/ADD takes from the context: its sources after
        .dockerignore and after its own --exclude patterns (which are relative to each
        copied directory, as BuildKit's)."""
        from dockyard.builder.dockerignore import IgnoreMatcher

        exclude = IgnoreMatcher(list(expanded.exclude or ()))
        root = env.context.root
        parts = []
        for path in step.files_used(state, env):
            prefix = str(path.relative_to(root)) if path != root else ""
            if exclude.patterns and not path.is_dir() and exclude.matches(path.name):
                continue

            def skip(rel: str, prefix: str = prefix) -> bool:
                if env.context.excluded(rel):
                    return True
                inner = rel[len(prefix) + 1:] if prefix and rel.startswith(prefix + "/") \
                    else rel
                return bool(exclude.patterns) and exclude.matches(inner)

            parts.append(files_digest(root, [path], skip, hashes))
        return ",".join(parts)

    def lookups_allowed(self, keyword: str) -> str:
        """'' when the step may be looked up, else why not."""
        if self.options.no_cache:
            return "--no-cache"
        if keyword == "RUN" and not self.options.cache_run_layers:
            return "--cache-run-layers=false"
        if keyword in ("COPY", "ADD") and not self.options.cache_copy_layers:
            return "--cache-copy-layers=false"
        return ""

    # ------------------------------------------------------------------ hit / miss

    def reuse(self, key: str | None, step: Step, instruction: Instruction,
              state: StageState, history: History) -> bool:
        """On a hit: the layer and history are recorded and the step's config effect
        applied (WORKDIR's working dir); the layer itself waits in `state.pending` until a
        later step reads the rootfs (a remote hit's blob is not even downloaded till then)."""
        if key is None or state.cache_missed or self.lookups_allowed(instruction.keyword):
            return False
        layer, where, made = self._lookup(key)
        if where == "" or (layer is not None and layer.digest in self.unusable):
            return False
        if layer is None:
            history.empty_layer = True
        else:
            state.layers.append(layer)
            state.pending.append(layer)
        if made and self.options.source_date_epoch is None:
            history.created = made  # the time the layer was made: an all-cached build repeats
        step.apply_config(state)
        state.history.append(history)
        suffix = "" if where == "local" else f" from {self.remote.name if self.remote else ''}"
        self.log(f"  {self.label}HIT {key[:SHORT]} {instruction.original} (cached){suffix}")
        self.events.append(CacheEvent(instruction.original, instruction.keyword, "hit",
                                      key, where))
        return True

    def _lookup(self, key: str) -> tuple[Layer | None, str, str]:
        """(layer or None, "local"/"remote", the made step's history time or ""), or
        (None, "", "") on a miss."""
        if self.local is not None:
            entry = self.local.lookup(key, self.blobs.has)
            if entry is not None:
                if entry.digest is None or entry.diff_id is None:
                    return None, "local", entry.history_created
                descriptor = Descriptor(media_type=entry.media_type, digest=entry.digest,
                                        size=entry.size)
                return Layer(descriptor, entry.diff_id, self.blobs), "local", entry.history_created
        if self.remote is not None:
            remote = self.remote.lookup(key)
            if remote is not None:
                return remote.layer, "remote", remote.created
        return None, "", ""

    def forget(self, digests: list[str]) -> None:
        """Entries with these layers are misses from now on (the build starts again); bad
        local copies are removed so that the next build downloads good ones."""
        self.unusable.update(digests)
        self.events = []
        for digest in digests:
            if self.blobs.has(digest):
                self.blobs.path(digest).unlink(missing_ok=True)

    def miss(self, key: str | None, step: Step, instruction: Instruction,
             state: StageState) -> None:
        """Logs the step that is about to run; later lookups in the stage stop after a miss
        (COPY/ADD skipped only by --cache-copy-layers=false keep them: their key is their
        content)."""
        if not step.makes_layer:
            self.log(f"  {self.label}{instruction.original}")
            return
        if key is None:
            self.log(f"  {self.label}{instruction.original}")
            if self.enabled:
                state.cache_missed = True
                self.events.append(CacheEvent(instruction.original, instruction.keyword,
                                              "uncached", "", "not cacheable"))
            return
        reason = self.lookups_allowed(instruction.keyword)
        if state.cache_missed:
            reason = reason or "after a miss"
        note = f" ({reason})" if reason else ""
        self.log(f"  {self.label}MISS {key[:SHORT]} {instruction.original}{note}")
        self.events.append(CacheEvent(instruction.original, instruction.keyword,
                                      "miss" if not reason else "uncached", key, reason))
        if not (reason.startswith("--cache-copy-layers") and not state.cache_missed):
            state.cache_missed = True

    def store(self, key: str | None, layer: Layer | None, step: Step, made: str | None) -> None:
        """Records what a missed step made, locally and (in the background) remotely; `made`
        is its history time (None under SOURCE_DATE_EPOCH), which a later hit repeats."""
        if key is None or not self.enabled:
            return
        if self.local is not None:
            self.local.store(key, CacheEntry(
                layer.digest if layer else None, layer.diff_id if layer else None,
                layer.size if layer else 0, layer.media_type if layer else "", time.time(),
                made or ""))
        if self.remote is not None:
            self.remote.store(key, layer, step.created_by(), self.platform, made)

    def finish(self) -> None:
        """Waits for remote stores (the final push then mounts their blobs)."""
        self.hashes.save()
        if self.remote is not None:
            counts = self.remote.finish()
            if counts["stored"]:
                self.log(f"cache: stored {counts['stored']} entries in {self.remote.name}")
            self.remote.close()

    def summary(self) -> str:
        hits = sum(1 for e in self.events if e.outcome == "hit")
        misses = sum(1 for e in self.events if e.outcome != "hit")
        runs = sum(1 for e in self.events if e.outcome != "hit" and e.keyword == "RUN")
        return f"cache: {hits} hits, {misses} misses, {runs} RUN executed"
