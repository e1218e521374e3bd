"""Deferred work for cache hits: a stage's rootfs is only made when a step has to run.

A build whose steps all hit needs no base layer and no unpacking: `resolve_base` reads
only the base's manifest and config (layers known by descriptor, fetched later if ever),
the engine records hits as pending layers (`StageState.pending`), and `materializer` is the
stage's `source`: it fetches the base's blobs in parallel and unpacks them once per layer
chain, the first time a step or a `COPY --from` reads the rootfs; `fetch_layers` gets the
blobs of remote cache hits then.
`complete_layers` fetches, before delivery, the blobs an output needs and cannot mount.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from dockyard.builder.base import LAYOUT_SCHEME, BaseImage, fetch_base, pull_registry_options
from dockyard.builder.options import BuildError, BuildOptions
from dockyard.oci import BlobCache, DigestMismatch, Image, ImageConfig, Layer, Platform

if TYPE_CHECKING:
    from dockyard.builder.state import BuildEnv
    from dockyard.oci import RegistryClient

Log = Callable[[str], None]


def resolve_base(name: str, options: BuildOptions, blobs: BlobCache, platform: Platform,
                 log: Log) -> BaseImage:
    """The base image by manifest and config only (registry bases); layers keep their
    descriptor and source repository and get a path once their blob is local."""
    if name.lower() == "scratch" or name.startswith(LAYOUT_SCHEME):
        return fetch_base(name, options, blobs, platform, log)
    from dockyard.oci import (
        DOCKER_HUB,
        InvalidReference,
        Reference,
        RegistryClient,
        RegistryError,
        parse_reference,
    )

    try:
        ref = parse_reference(name)
    except InvalidReference as exc:
        raise BuildError(f"FROM {name}: {exc}") from None
    if (options.registry_mirrors and ref.registry == DOCKER_HUB) \
            or ref.registry in options.registry_map:
        return fetch_base(name, options, blobs, platform, log)  # the pull knows mirrors
    try:
        with RegistryClient(pull_registry_options(options)) as client:  # type: ignore[arg-type]
            pinned, manifest, _raw = client.resolve(ref, platform)
            config_path = client.fetch_blob(pinned, manifest.config, blobs)
    except (RegistryError, DigestMismatch, OSError, ValueError) as exc:
        hint = ""
        if "http" in str(exc).lower() and not options.insecure_pull:
            hint = " (a plain-HTTP registry needs --insecure-pull)"
        raise BuildError(f"FROM {name}: cannot pull the base image: {exc}{hint}") from None
    config = ImageConfig.from_json(config_path.read_bytes())
    diff_ids = config.rootfs.diff_ids or []
    if len(diff_ids) != len(manifest.layers):
        raise BuildError(f"FROM {name}: the config lists {len(diff_ids)} diff_ids for "
                         f"{len(manifest.layers)} layers")
    source = Reference(pinned.registry, pinned.repository)
    layers = [Layer(d, diff_id, blobs.path(d.digest) if blobs.has(d.digest) else None, source)
              for d, diff_id in zip(manifest.layers, diff_ids, strict=True)]
    log(f"    resolved {ref} to {pinned.digest}")
    return BaseImage(str(ref), copy.deepcopy(config), layers)


def _pull_client(options: BuildOptions) -> RegistryClient:
    from dockyard.oci import RegistryClient, RegistryOptions

    registry_options = pull_registry_options(options)
    assert isinstance(registry_options, RegistryOptions)
    registry_options.insecure_all = options.insecure_pull or options.insecure
    return RegistryClient(registry_options)


def is_local(layer: Layer) -> bool:
    return layer.path is not None and layer.path.is_file()


def fetch_layers(layers: Sequence[Layer], options: BuildOptions, blobs: BlobCache,
                 log: Log) -> None:
    """Downloads (in parallel, verified) the blobs of `layers` that have no local copy."""
    missing = [layer for layer in layers if not is_local(layer)]
    if not missing:
        return
    from dockyard.oci import RegistryError

    def fetch(layer: Layer) -> None:
        if layer.source is None:
            raise BuildError(f"layer {layer.digest} has no local copy and no source")
        layer.path = client.fetch_blob(layer.source, layer.descriptor, blobs)
        log(f"    layer {layer.digest[:19]} pulled ({layer.size} bytes)")

    try:
        with _pull_client(options) as client, ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(fetch, missing))
    except (RegistryError, DigestMismatch, OSError) as exc:
        raise BuildError(f"cannot fetch a layer: {exc}") from None


@contextlib.contextmanager
def streamed_layer(layer: Layer, options: BuildOptions, blobs: BlobCache, log: Log
                   ) -> Iterator[BinaryIO]:
    """The layer's blob as a stream while it downloads into `blobs`: unpacking starts with
    the first bytes instead of after the last. The blob is verified as it is stored; a
    mismatch raises when the stream is done (the caller's unpacked tree is then discarded).
    """
    if layer.source is None:
        raise BuildError(f"layer {layer.digest} has no local copy and no source")
    source = layer.source
    read_fd, write_fd = os.pipe()
    failures: list[BaseException] = []
    closing = threading.Event()  # set when the unpacker stops reading: EPIPE is then ours

    def download() -> None:
        def tee(chunks: Iterator[bytes]) -> Iterator[bytes]:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(write_fd, view):]
                yield chunk

        try:
            with _pull_client(options) as client:
                layer.path = blobs.ingest(tee(client.open_blob(source, layer.digest)),
                                          layer.digest, layer.size)
            log(f"    layer {layer.digest[:19]} pulled ({layer.size} bytes)")
        except BaseException as exc:  # reported to the consumer below
            if not closing.is_set():
                failures.append(exc)
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=download, name="layer-stream", daemon=True)
    thread.start()
    reader = os.fdopen(read_fd, "rb", buffering=1 << 20)
    try:
        yield cast(BinaryIO, reader)
    except BaseException:
        closing.set()
        _end_stream(reader, thread)
        if failures:  # the unpacker saw a cut stream: the download's error is the cause
            raise BuildError(f"cannot fetch layer {layer.digest}: {failures[0]}") from None
        raise
    _end_stream(reader, thread)
    if failures:
        raise BuildError(f"cannot fetch layer {layer.digest}: {failures[0]}")


def _end_stream(reader: BinaryIO, thread: threading.Thread) -> None:
    reader.close()  # a consumer that stopped early makes the download end (EPIPE)
    thread.join()


def materializer(base: BaseImage, options: BuildOptions, blobs: BlobCache, env: BuildEnv,
                 label: str, log: Log) -> Callable[[Path], None]:
    """The `source` of a stage's rootfs from a registry/layout base: its blobs fetched (in
    parallel, only now), unpacked once per layer chain into the cache, cloned to `target`."""

    def make(target: Path) -> None:
        from dockyard.builder.base import rootfs_for

        log(f"    preparing the rootfs of stage {label}")
        rest = [layer for layer in base.layers if not is_local(layer)][1:]
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            # the first missing layer streams; the others download meanwhile
            others = prefetch.submit(fetch_layers, rest, options, blobs, log)
            rootfs_for(base, target, options.cache_dir, hardlink=env.overlay,
                       stream=lambda layer: streamed_layer(layer, options, blobs, log),
                       wait=others.result)

    return make


def complete_layers(image: Image, options: BuildOptions, log: Log) -> None:
    """Before delivery: blobs of layers known only by descriptor are mounted into each
    destination repository on the same registry as their source (or found already
    there); what cannot be mounted, or is needed for a tarball/layout, is downloaded."""
    remote = [layer for layer in image.layers if layer.path is None]
    if not remote:
        return
    blobs = BlobCache(options.cache_dir / "blobs")
    if options.tar_path or options.oci_layout_path:
        fetch_layers(remote, options, blobs, log)
    remote = [layer for layer in remote if layer.path is None]
    if options.no_push or not options.destinations or not remote:
        return
    from dockyard.builder.outputs import push_registry_options
    from dockyard.oci import RegistryClient, RegistryError, RegistryOptions, parse_reference

    destinations = [parse_reference(d) for d in options.destinations]
    unplaced: list[Layer] = []

    def place(layer: Layer) -> None:
        for dest in destinations:
            try:
                if layer.source is not None and layer.source.registry == dest.registry:
                    state = client.upload_blob(dest, layer.digest, layer.size, None,
                                               layer.source)
                elif client.blob_exists(dest, layer.digest, "pull,push"):
                    state = "exists"
                else:
                    unplaced.append(layer)
                    return
                log(f"  layer {layer.digest[:19]} {state} in {dest.name}")
            except (RegistryError, OSError):
                unplaced.append(layer)
                return

    registry_options = push_registry_options(options)
    assert isinstance(registry_options, RegistryOptions)
    with RegistryClient(registry_options) as client, ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(place, remote))
    fetch_layers(unplaced, options, blobs, log)
