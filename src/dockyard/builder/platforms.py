"""Target platforms: `--custom-platform` / `--platform` as a list, and the base-image rule.

A multi-platform base (an index) resolves to its child for the platform (`oci`'s select); a
single-platform base made for another platform is refused with the base and both platforms
named, when the platform was asked for: building `linux/arm64` on an amd64-only base would
otherwise label amd64 files as arm64. Without --platform such a base is used as it is (as
Docker does), with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dockyard.builder.options import BuildError, BuildOptions
from dockyard.oci import ImageConfig, Platform


def parse_platforms(value: str | None) -> list[Platform]:
    """`linux/amd64,linux/arm64` -> both, in order, once each; None -> this machine's."""
    if not value or not value.strip():
        return [Platform.current()]
    out: list[Platform] = []
    for part in value.split(","):
        try:
            platform = Platform.parse(part)
        except ValueError as exc:
            raise BuildError(f"--custom-platform {value}: {exc}") from None
        if any(str(p) == str(platform) for p in out):
            raise BuildError(f"--custom-platform {value}: {platform} is listed twice")
        out.append(platform)
    return out


def stage_platform(flag: str | None, global_args: Mapping[str, str], escape: str,
                   target: Platform) -> Platform:
    """A stage's platform: `FROM --platform=...` expanded with the global ARGs (so
    `--platform=$BUILDPLATFORM` builds a cross-compiling stage natively), else the target."""
    if not flag:
        return target
    from dockyard.builder.dockerfile import expand

    value = expand(flag, global_args, escape)
    try:
        return Platform.parse(value)
    except ValueError as exc:
        raise BuildError(f"FROM --platform={flag}: {exc}") from None


def is_multi_platform(options: BuildOptions) -> bool:
    return bool(options.platform) and "," in (options.platform or "")


def check_base_platform(name: str, config: ImageConfig, platform: Platform,
                        options: BuildOptions, log: Callable[[str], None],
                        label: str = "FROM") -> None:
    """Refuses (or, with no platform asked for, warns about) a single-platform base image
    whose config says another platform than the build's."""
    if not config.architecture or not config.os:
        return  # an image that does not say: nothing to compare
    have = config.platform
    if have.matches(platform):
        return
    if not options.platform:
        log(f"    warning: {label} {name} is a {have} image; the build is for {platform} (this "
            "machine's): pass --custom-platform to say which one is meant")
        return
    raise BuildError(f"{label} {name}: the base image is a single-platform {have} image, but the "
                     f"build is for {platform}: use a multi-platform base (an index with a "
                     f"{platform} image) or a base built for {platform}")
