"""Base images: pull (through dockyard.oci, blobs cached), unpack once per layer chain
(the unpacker refuses path escapes and device nodes), clone per stage.

`FROM scratch` is an empty rootfs. `FROM oci-layout://DIR[:TAG]` reads a local OCI image
layout (offline bases); everything else is a registry reference normalised as Docker's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.options import BuildError, BuildOptions
from dockyard.build.state import clone_tree
from dockyard.oci import (
    DigestMismatch,
    ImageConfig,
    LayerError,
    Platform,
    apply_layer,
    parse_manifest_or_index,
)
from dockyard.oci.blobcache import BlobCache
from dockyard.oci.image import Layer
from dockyard.oci.models import Index, Manifest

LAYOUT_SCHEME = "oci-layout://"


@dataclass
class BaseImage:
    reference: str
    config: ImageConfig
    layers: list[Layer]


def pull_registry_options(options: BuildOptions) -> object:
    from dockyard.oci.client import RegistryOptions

    return RegistryOptions(
        insecure=set(options.insecure_registries),
        insecure_all=options.insecure_pull,
        skip_tls_verify=set(options.skip_tls_verify_registries),
        skip_tls_verify_all=options.skip_tls_verify_pull,
        mirrors=list(options.registry_mirrors),
    )


def fetch_base(name: str, options: BuildOptions, blobs: BlobCache, platform: Platform,
               log: Callable[[str], None]) -> BaseImage:
    if name.lower() == "scratch":
        config = ImageConfig(architecture=platform.architecture, os=platform.os,
                             variant=platform.variant)
        return BaseImage("scratch", config, [])
    if name.startswith(LAYOUT_SCHEME):
        return read_layout(name[len(LAYOUT_SCHEME):], blobs, platform)
    from dockyard.oci import InvalidReference, parse_reference
    from dockyard.oci.client import RegistryClient, RegistryError

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
    """An image from an OCI layout directory; blobs are copied into the blob cache."""
    path_text, _, tag = spec.partition(":") if ":" in Path(spec).name else (spec, "", "")
    root = Path(path_text)
    try:
        index = json.loads((root / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"FROM oci-layout://{spec}: not an OCI layout ({exc})") from None
    entries = index.get("manifests", [])
    if tag:
        entries = [e for e in entries
                   if (e.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag]
    if not entries:
        raise BuildError(f"FROM oci-layout://{spec}: no image{' tagged ' + tag if tag else ''}")

    def blob(digest: str) -> Path:
        return root / "blobs" / digest.replace(":", "/", 1)

    parsed = parse_manifest_or_index(blob(entries[0]["digest"]).read_bytes())
    if isinstance(parsed, Index):
        parsed = parse_manifest_or_index(blob(parsed.select(platform).digest).read_bytes())
    assert isinstance(parsed, Manifest)
    config = ImageConfig.from_json(blob(parsed.config.digest).read_bytes())
    layers = []
    for descriptor, diff_id in zip(parsed.layers, config.rootfs.diff_ids, strict=True):
        blobs.add_file(blob(descriptor.digest), descriptor.digest)
        layers.append(Layer(descriptor, diff_id, blobs.path(descriptor.digest)))
    return BaseImage(f"oci-layout://{spec}", config, layers)


def rootfs_for(base: BaseImage, rootfs: Path, cache_dir: Path, hardlink: bool) -> None:
    """Makes `rootfs` the base's filesystem: unpacked once per layer chain into the cache,
    then cloned (hard links when every later write goes through overlay/renames)."""
    if not base.layers:
        rootfs.mkdir(parents=True)
        return
    chain = hashlib.sha256("\n".join(str(layer.diff_id) for layer in base.layers).encode())
    cached = cache_dir / "rootfs" / chain.hexdigest()
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cached.parent))
        try:
            for layer in base.layers:
                if layer.path is None:
                    raise BuildError(f"base layer {layer.digest} was not pulled")
                try:
                    apply_layer(layer.path, tmp, expected_diff_id=layer.diff_id)
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
