"""Target platforms: the --custom-platform list, FROM --platform, and the base-image rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.builder import BuildError, BuildOptions
from dockyard.builder.platforms import (
    check_base_platform,
    is_multi_platform,
    parse_platforms,
    stage_platform,
)
from dockyard.oci import ImageConfig, Platform

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")


def options(platform: str | None) -> BuildOptions:
    return BuildOptions(context=Path("."), dockerfile=Path("Dockerfile"), platform=platform)


def test_the_platform_list() -> None:
    assert [str(p) for p in parse_platforms("linux/amd64, linux/arm64/v8,linux/arm/7")] == [
        "linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert parse_platforms(None) == [Platform.current()]
    assert is_multi_platform(options("linux/amd64,linux/arm64"))
    assert not is_multi_platform(options("linux/arm64")) and not is_multi_platform(options(None))
    with pytest.raises(BuildError, match="linux/arm64 is listed twice"):
        parse_platforms("linux/arm64,linux/aarch64")
    with pytest.raises(BuildError, match="--custom-platform linux/amd64,arm64: invalid platform"):
        parse_platforms("linux/amd64,arm64")


def test_from_platform_expands_the_build_args() -> None:
    args = {"BUILDPLATFORM": "linux/amd64", "TARGETPLATFORM": "linux/arm64"}
    assert stage_platform("$BUILDPLATFORM", args, "\\", ARM64) == AMD64
    assert stage_platform(None, args, "\\", ARM64) == ARM64
    with pytest.raises(BuildError, match="FROM --platform=\\$NOPE: invalid platform"):
        stage_platform("$NOPE", args, "\\", ARM64)


def test_a_base_of_another_platform() -> None:
    said: list[str] = []
    amd64_image = ImageConfig(architecture="amd64", os="linux")
    check_base_platform("base", amd64_image, AMD64, options("linux/amd64"), said.append)
    unsaid = ImageConfig(architecture="", os="")
    check_base_platform("base", unsaid, ARM64, options("linux/arm64"), said.append)
    assert said == []  # same platform; an image that does not say
    with pytest.raises(BuildError, match="FROM base: the base image is a single-platform "
                       "linux/amd64 image, but the build is for linux/arm64"):
        check_base_platform("base", amd64_image, ARM64, options("linux/arm64"), said.append)
    check_base_platform("base", amd64_image, ARM64, options(None), said.append)
    assert len(said) == 1 and "warning: FROM base is a linux/amd64 image" in said[0]
