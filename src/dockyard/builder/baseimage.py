"""Base images: resolved by manifest and config only (`dockyard.oci`'s lazy images), unpacked
once per layer chain (the unpacker refuses path escapes and device nodes), cloned per stage.

A build whose steps all hit the cache never downloads or unpacks a base layer: `resolve_base`
reads the manifest and config, the layers stay known by descriptor, and `rootfs_for` (run the
first time a step reads the stage's rootfs) streams the first missing layer into the unpacker
while the others download, in parallel, into the blob cache.

`FROM scratch` is an empty rootfs. `FROM oci-layout://DIR[:TAG]` reads a local OCI image
layout (offline bases); everything else is a registry reference normalised as Docker's.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dockyard.builder.options import BuildError, BuildOptions
from dockyard.builder.platforms import check_base_platform
from dockyard.oci import (
    BlobCache,
    DigestMismatch,
    ImageConfig,
    ImageLayout,
    InvalidReference,
    Layer,
    LayerError,
    Platform,
    RegistryClient,
    RegistryError,
    RegistryOptions,
    apply_layer,
    fetch_all,
    parse_reference,
)

LAYOUT_SCHEME = "oci-layout://"
Log = Callable[[str], None]


@dataclass
class BaseImage:
    """A stage's base: its reference, config and layers (local or known by descriptor)."""

    reference: str
    config: ImageConfig
    layers: list[Layer]


def pull_registry_options(options: BuildOptions) -> RegistryOptions:
    """The registry options of pulls (bases, `COPY --from=<image>`): Kaniko's -pull flags."""
    return RegistryOptions(
        insecure=set(options.insecure_registries),
        insecure_all=options.insecure_pull,
        skip_tls_verify=set(options.skip_tls_verify_registries),
        skip_tls_verify_all=options.skip_tls_verify_pull,
        ca_certificates=dict(options.registry_certificates),
        mirrors=list(options.registry_mirrors),
        registry_map={k: list(v) for k, v in options.registry_map.items()},
        mirror_fallback=not options.skip_default_registry_fallback,
    )


def resolve_base(name: str, options: BuildOptions, blobs: BlobCache, platform: Platform,
                 log: Log, label: str = "FROM") -> BaseImage:
    """The base image by manifest and config only; its layers download into `blobs` when
    their bytes are first needed (mirrors and registry maps apply). Errors start with
    `label` (what the user wrote: FROM, or a CI container's image)."""
    if name.lower() == "scratch":
        config = ImageConfig(architecture=platform.architecture, os=platform.os,
                             variant=platform.variant)
        return BaseImage("scratch", config, [])
    if name.startswith(LAYOUT_SCHEME):
        base = read_layout(name[len(LAYOUT_SCHEME):], blobs, platform)
        check_base_platform(name, base.config, platform, options, log, label)
        return base
    try:
        ref = parse_reference(name)
    except InvalidReference as exc:
        raise BuildError(f"{label} {name}: {exc}") from None
    client = RegistryClient(pull_registry_options(options))  # layers reuse it later
    try:
        image = client.image(ref, blobs, platform, progress=lambda m: log(f"    {m}"))
    except (RegistryError, DigestMismatch, OSError, ValueError) as exc:
        hint = ""
        if "http" in str(exc).lower() and not options.insecure_pull:
            hint = " (a plain-HTTP registry needs --insecure-pull)"
        raise BuildError(f"{label} {name}: cannot pull the base image: {exc}{hint}") from None
    check_base_platform(name, image.config, platform, options, log, label)
    return BaseImage(str(ref), copy.deepcopy(image.config), list(image.layers))


def read_layout(spec: str, blobs: BlobCache, platform: Platform) -> BaseImage:
    """An image from an OCI layout directory (`DIR` or `DIR:TAG`); blobs are copied into
    the blob cache so every later step finds them in one place."""
    path_text, tag = spec, None
    if ":" in Path(spec).name:
        path_text, _, tag = spec.rpartition(":")
    try:
        image = ImageLayout(Path(path_text)).read_image(tag, platform)
    except (OSError, LookupError, ValueError) as exc:
        raise BuildError(f"FROM oci-layout://{spec}: {exc}") from None
    for layer in image.layers:
        if layer.path is None:
            raise BuildError(f"FROM oci-layout://{spec}: layer {layer.digest} is missing")
        if not blobs.has(layer.digest):
            actual = blobs.add_file(layer.path)  # hashed: a layout is not trusted
            if actual != layer.digest:
                blobs.path(actual).unlink(missing_ok=True)
                raise BuildError(f"FROM oci-layout://{spec}: blob {layer.digest} has digest "
                                 f"{actual}: the layout is corrupt")
    layers = [Layer(layer.descriptor, layer.diff_id, blobs) for layer in image.layers]
    return BaseImage(f"oci-layout://{spec}", image.config, layers)


def fetch_layers(layers: Sequence[Layer]) -> None:
    """Downloads (in parallel, verified) the blobs of `layers` that have no local copy."""
    try:
        fetch_all(layers)
    except (RegistryError, DigestMismatch, OSError) as exc:
        raise BuildError(f"cannot fetch a layer: {exc}") from None


def materializer(base: BaseImage, cache_dir: Path, hardlink: Callable[[], bool], label: str,
                 log: Log) -> Callable[[Path], None]:
    """The `source` of a stage's rootfs from a registry/layout base (see `rootfs_for`)."""

    def make(target: Path) -> None:
        log(f"    preparing the rootfs of stage {label}")
        rootfs_for(base, target, cache_dir, hardlink=hardlink())

    return make


def rootfs_for(base: BaseImage, rootfs: Path, cache_dir: Path, hardlink: bool) -> None:
    """Makes `rootfs` the base's filesystem: unpacked once per layer chain into the cache,
    then cloned (hard links when every later write goes through overlay/renames).

    The first layer without a local blob is unpacked while it downloads; the other missing
    ones download meanwhile (waited for before the first of them is unpacked)."""
    cached = unpacked_base(base, cache_dir)
    if cached is None:
        rootfs.mkdir(parents=True)
        return
    clone_tree(cached, rootfs, hardlink=hardlink)


def unpacked_base(base: BaseImage, cache_dir: Path) -> Path | None:
    """The base's filesystem unpacked once per layer chain in the cache (None: no layers);
    shared by every build: read it, never write into it."""
    if not base.layers:
        return None
    chain = hashlib.sha256("\n".join(str(layer.diff_id) for layer in base.layers).encode())
    cached = cache_dir / "rootfs" / chain.hexdigest()
    with _unpack_lock(cached):  # two stages FROM one base, built at once, unpack it once
        _unpack_chain(base, cached)
    return cached


_UNPACK_LOCKS: dict[Path, threading.Lock] = {}
_UNPACK_LOCKS_GUARD = threading.Lock()


def _unpack_lock(cached: Path) -> threading.Lock:
    with _UNPACK_LOCKS_GUARD:
        return _UNPACK_LOCKS.setdefault(cached, threading.Lock())


def _unpack_chain(base: BaseImage, cached: Path) -> None:
    """The base's layers unpacked into `cached` (the cache of layer chains), unless there."""
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cached.parent))
        try:
            missing = [layer for layer in base.layers if not layer.is_local]
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
                others = prefetch.submit(fetch_layers, missing[1:]) if missing else None
                for layer in base.layers:
                    _unpack(base, layer, tmp, streamed=bool(missing) and layer is missing[0],
                            others=others)
            tmp.chmod(0o755)
            try:
                tmp.rename(cached)
            except OSError:  # another build finished the same chain first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _unpack(base: BaseImage, layer: Layer, root: Path, streamed: bool,
            others: Future[None] | None) -> None:
    try:
        if streamed:
            with layer.open() as blob:
                apply_layer(blob, root, expected_diff_id=layer.diff_id)
            return
        if not layer.is_local and others is not None:
            others.result()  # the prefetch of the other missing layers
        apply_layer(layer.fetch(), root, expected_diff_id=layer.diff_id)
    except (LayerError, DigestMismatch) as exc:
        raise BuildError(f"FROM {base.reference}: layer {layer.digest} refused: {exc}") \
            from None
    except (RegistryError, OSError) as exc:
        if isinstance(exc, OSError) and layer.is_local:
            raise  # a local disk problem, not the layer's
        raise BuildError(f"cannot fetch layer {layer.digest}: {exc}") from None


def clone_tree(source: Path, target: Path, hardlink: bool) -> None:
    """Copies a rootfs; with `hardlink` files are shared (safe when every later write
    goes through an overlay or a rename, as Dockyard's steps do)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    flag = "-al" if hardlink else "-a"
    subprocess.run(["cp", flag, "--", str(source), str(target)], check=True)
