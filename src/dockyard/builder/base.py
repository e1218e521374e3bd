"""Base images: pull (through dockyard.oci, blobs cached), unpack once per layer chain
(the unpacker refuses path escapes and device nodes), clone per stage.

`FROM scratch` is an empty rootfs. `FROM oci-layout://DIR[:TAG]` reads a local OCI image
layout (offline bases); everything else is a registry reference normalised as Docker's.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.builder.options import BuildError, BuildOptions
from dockyard.builder.state import clone_tree
from dockyard.oci import (
    BlobCache,
    DigestMismatch,
    ImageConfig,
    Layer,
    LayerError,
    Platform,
    apply_layer,
)

LAYOUT_SCHEME = "oci-layout://"


@dataclass
class BaseImage:
    """A stage's base: its reference, config and layers."""

    reference: str
    config: ImageConfig
    layers: list[Layer]


def pull_registry_options(options: BuildOptions) -> object:
    from dockyard.oci import RegistryOptions

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


def fetch_base(name: str, options: BuildOptions, blobs: BlobCache, platform: Platform,
               log: Callable[[str], None]) -> BaseImage:
    if name.lower() == "scratch":
        config = ImageConfig(architecture=platform.architecture, os=platform.os,
                             variant=platform.variant)
        return BaseImage("scratch", config, [])
    if name.startswith(LAYOUT_SCHEME):
        return read_layout(name[len(LAYOUT_SCHEME):], blobs, platform)
    from dockyard.oci import InvalidReference, RegistryClient, RegistryError, parse_reference

    try:
        ref = parse_reference(name)
    except InvalidReference as exc:
        raise BuildError(f"FROM {name}: {exc}") from None
    try:
        with RegistryClient(pull_registry_options(options)) as client:  # type: ignore[arg-type]
            image = client.pull(ref, blobs, platform, progress=lambda m: log(f"    {m}"))
    except (RegistryError, OSError, ValueError) as exc:
        hint = ""
        if "http" in str(exc).lower() and not options.insecure_pull:
            hint = " (a plain-HTTP registry needs --insecure-pull)"
        raise BuildError(f"FROM {name}: cannot pull the base image: {exc}{hint}") from None
    return BaseImage(str(ref), copy.deepcopy(image.config), list(image.layers))


def read_layout(spec: str, blobs: BlobCache, platform: Platform) -> BaseImage:
    """An image from an OCI layout directory (`DIR` or `DIR:TAG`); blobs are copied into
    the blob cache so every later step finds them in one place."""
    from dockyard.oci import ImageLayout

    path_text, tag = spec, None
    if ":" in Path(spec).name:
        path_text, _, tag = spec.rpartition(":")
    try:
        image = ImageLayout(Path(path_text)).read_image(tag, platform)
    except (OSError, LookupError, ValueError) as exc:
        raise BuildError(f"FROM oci-layout://{spec}: {exc}") from None
    layers = []
    for layer in image.layers:
        if layer.path is None:
            raise BuildError(f"FROM oci-layout://{spec}: layer {layer.digest} is missing")
        if not blobs.has(layer.digest):
            actual = blobs.add_file(layer.path)  # hashed: a layout is not trusted
            if actual != layer.digest:
                blobs.path(actual).unlink(missing_ok=True)
                raise BuildError(f"FROM oci-layout://{spec}: blob {layer.digest} has digest "
                                 f"{actual}: the layout is corrupt")
        layers.append(Layer(layer.descriptor, layer.diff_id, blobs.path(layer.digest)))
    return BaseImage(f"oci-layout://{spec}", image.config, layers)


def rootfs_for(base: BaseImage, rootfs: Path, cache_dir: Path, hardlink: bool,
               stream: Callable[[Layer], AbstractContextManager[BinaryIO]] | None = None,
               wait: Callable[[], None] | None = None) -> None:
    """Makes `rootfs` the base's filesystem: unpacked once per layer chain into the cache,
    then cloned (hard links when every later write goes through overlay/renames).

    A layer without a local blob is read through `stream` (download and unpack at once);
    `wait` is called before the first layer that is neither local nor the first missing one
    (other downloads still running)."""
    if not base.layers:
        rootfs.mkdir(parents=True)
        return
    chain = hashlib.sha256("\n".join(str(layer.diff_id) for layer in base.layers).encode())
    cached = cache_dir / "rootfs" / chain.hexdigest()
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cached.parent))
        try:
            streamed = False
            for layer in base.layers:
                local = layer.path is not None and layer.path.is_file()
                if not local and streamed and wait is not None:
                    wait()
                try:
                    if layer.path is not None and layer.path.is_file():
                        apply_layer(layer.path, tmp, expected_diff_id=layer.diff_id)
                    elif stream is not None and not streamed:
                        streamed = True
                        with stream(layer) as blob:
                            apply_layer(blob, tmp, expected_diff_id=layer.diff_id)
                    else:
                        raise BuildError(f"base layer {layer.digest} was not pulled")
                except (LayerError, DigestMismatch) as exc:
                    raise BuildError(f"FROM {base.reference}: layer {layer.digest} refused: "
                                     f"{exc}") from None
            tmp.chmod(0o755)
            try:
                tmp.rename(cached)
            except OSError:  # another build finished the same chain first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    clone_tree(cached, rootfs, hardlink=hardlink)
