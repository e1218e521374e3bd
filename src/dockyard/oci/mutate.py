"""Derive an image from another (go-containerregistry's `mutate`): append layers, set the
config or the annotations, or turn Docker layer media types into OCI ones. The result is a new
`Image`; its layers are the same objects (nothing is fetched or copied), its config and
manifest are serialised anew (`Image.assemble`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from dockyard.oci import mediatypes
from dockyard.oci.image import Image, Layer
from dockyard.oci.models import Descriptor, History, ImageConfig, Index, Platform

_OCI_FOR_DOCKER = {
    mediatypes.DOCKER_LAYER_GZIP: mediatypes.OCI_LAYER_GZIP,
    mediatypes.DOCKER_LAYER: mediatypes.OCI_LAYER,
}


def set_config(image: Image, config: ImageConfig) -> Image:
    """`image` with `config` (its rootfs diff_ids are set from the layers)."""
    return Image.assemble(copy.deepcopy(config), image.layers,
                          docker=mediatypes.is_docker(image.media_type),
                          annotations=image.manifest.annotations)


def append_layers(image: Image, layers: Sequence[Layer],
                  history: Sequence[History] | None = None) -> Image:
    """`image` with `layers` on top; `history` (one entry per layer unless some are marked
    `empty_layer`) is appended to the config's."""
    config = copy.deepcopy(image.config)
    if history is not None:
        config.history = [*(config.history or []), *history]
    return Image.assemble(config, [*image.layers, *layers],
                          docker=mediatypes.is_docker(image.media_type),
                          annotations=image.manifest.annotations)


def set_annotations(image: Image, annotations: dict[str, str] | None) -> Image:
    """`image` with these manifest annotations (None removes them)."""
    return Image.assemble(copy.deepcopy(image.config), image.layers,
                          docker=mediatypes.is_docker(image.media_type), annotations=annotations)


def oci_layer(layer: Layer) -> Layer:
    """The layer under its OCI media type (a Docker gzip/tar layer is the same bytes), without
    the annotations of the image it came from."""
    media_type = _OCI_FOR_DOCKER.get(layer.media_type, layer.media_type)
    return layer.with_descriptor(Descriptor(media_type=media_type, digest=layer.digest,
                                            size=layer.size))


def platform_index(images: Sequence[Image], annotations: dict[str, str] | None = None) -> Index:
    """An OCI index of single-platform images, each entry with its config's platform (what
    a multi-platform build pushes and writes); two images of one platform are refused."""
    entries = []
    seen: set[str] = set()
    for image in images:
        platform = image.config.platform
        if str(platform) in seen:
            raise ValueError(f"two images for platform {platform} in one index")
        seen.add(str(platform))
        entry = image.descriptor()
        entry.platform = Platform(architecture=platform.architecture, os=platform.os,
                                  variant=platform.variant)
        entries.append(entry)
    return Index(schema_version=2, media_type=mediatypes.OCI_INDEX, manifests=entries,
                 annotations=annotations)
