"""An image unpacked into a root filesystem for something other than a build: a CI
`container('x')` step runs in it (through `dockyard.sandbox`).

The same pull (digests verified, blobs cached) and unpack (no path escapes, whiteouts
honoured, cached per layer chain) as `FROM`, so CI needs none of the builder's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class UnpackedImage:
    """`rootfs` is shared and must stay pristine: with `upper` set (overlay works here) a
    sandbox writes there, else the caller runs in a private copy (`rootfs` is one)."""

    rootfs: Path
    upper: Path | None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    user: str = ""


def unpack_image(image: str, target: Path, insecure_registries: list[str],
                 log: Callable[[str], None], label: str = "container image") -> UnpackedImage:
    """Pull `image` and unpack it under `target` (blocking: run it in a thread). Raises
    BuildError with a message that starts with `label` and the image."""
    from dockyard.builder.baseimage import resolve_base, rootfs_for
    from dockyard.builder.options import BuildOptions, default_cache_dir
    from dockyard.oci import BlobCache, Platform
    from dockyard.sandbox import overlay_supported

    cache_dir = default_cache_dir()
    options = BuildOptions(
        context=target,
        dockerfile=target / "Dockerfile",
        cache_dir=cache_dir,
        insecure_registries=list(insecure_registries),
    )
    target.mkdir(parents=True, exist_ok=True)
    base = resolve_base(image, options, BlobCache(cache_dir / "blobs"), Platform.current(),
                      lambda message: log(message.strip()), label=label)
    overlay = overlay_supported(target)
    rootfs = target / "rootfs"
    rootfs_for(base, rootfs, cache_dir, hardlink=overlay)
    upper = target / "upper" if overlay else None
    if upper is not None:
        upper.mkdir(exist_ok=True)
    cfg = base.config.config
    env: dict[str, str] = {}
    for item in cfg.env if cfg is not None and cfg.env else []:
        name, _, value = item.partition("=")
        env[name] = value
    working_dir = (cfg.working_dir if cfg is not None else None) or ""
    user = (cfg.user if cfg is not None else None) or ""
    return UnpackedImage(rootfs, upper, env, working_dir, user)
