"""Multi-platform builds: `--custom-platform=linux/amd64,linux/arm64` (and `dockyard build
--platform ...`) builds the Dockerfile once per platform, each an ordinary single-platform
build (its own scratch space and cache keys, which carry the platform; bases resolve to
their child for that platform), then delivers ONE OCI image index whose entries are the
images with their platform: pushed under every destination (children by digest only),
written to --oci-layout-path, and named by the digest files. One platform stays one plain
image, exactly as before. RUN for a foreign platform goes through qemu-user (`emulation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from dockyard.builder.engine import BuildResult, build
from dockyard.builder.options import BuildError, BuildOptions
from dockyard.builder.outputs import deliver, push_with_retries, write_digest_files
from dockyard.builder.phases import phase
from dockyard.builder.platforms import is_multi_platform, parse_platforms
from dockyard.oci import (
    DigestMismatch,
    Image,
    ImageLayout,
    InvalidReference,
    RegistryError,
    mutate,
    parse_reference,
    sha256_digest,
)

Log = Callable[[str], None]


def build_platforms(options: BuildOptions) -> list[BuildResult]:
    """One build per platform of `options.platform` (one result when it names one or none)."""
    platforms = parse_platforms(options.platform)  # a clear error for a malformed one
    if not is_multi_platform(options):
        return [build(options)]
    log = options.progress or (lambda message: None)
    results = []
    for number, platform in enumerate(platforms, 1):
        log(f"[{platform}] building for platform {number}/{len(platforms)}")
        result = build(dataclasses.replace(options, platform=str(platform),
                                           progress=_prefixed(log, f"[{platform}] ")))
        made = result.image.config.platform
        if made.architecture and not made.matches(platform):
            raise BuildError(f"the image built for {platform} is a {made} image (its final "
                             "stage has FROM --platform= of another platform): an index "
                             f"entry must be the platform it names; build {platform} from a "
                             "final stage of the target platform")
        results.append(result)
    return results


def _prefixed(log: Log, prefix: str) -> Log:
    return lambda message: log(prefix + message)


def deliver_platforms(results: list[BuildResult], options: BuildOptions, log: Log) -> str:
    """Delivers what `build_platforms` made; returns the digest to report (the index's when
    there are several images, else the image's)."""
    images = [result.image for result in results]
    if len(images) == 1:
        deliver(images[0], options, log)
        return images[0].digest
    if options.tar_path:
        raise BuildError("--tar-path holds one image; a build for several platforms writes "
                         "an index: use --oci-layout-path or push it")
    try:
        names = [parse_reference(d) for d in options.destinations]
    except InvalidReference as exc:
        raise BuildError(f"--destination: {exc}") from None
    digest = ""
    if options.oci_layout_path:
        try:
            descriptor = ImageLayout(options.oci_layout_path).write_index(
                images, names[0].tag if names else None)
        except (RegistryError, DigestMismatch) as exc:
            raise BuildError(f"cannot fetch a layer of the image: {exc}") from None
        digest = descriptor.digest
        log(f"saved OCI layout {options.oci_layout_path} (index of {len(images)} platforms)")
    if options.destinations and not options.no_push:
        with phase("push"):
            digest = push_index(images, options, log)
    if not digest:
        digest = sha256_digest(mutate.platform_index(images).to_json())
    write_digest_files(digest, options)
    return digest


def push_index(images: list[Image], options: BuildOptions, log: Log) -> str:
    """Pushes every platform's image by digest and the index under every destination."""
    return push_with_retries(options, log, lambda client, refs, progress:
                             client.push_index(images, refs, progress=progress))
