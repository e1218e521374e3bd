"""OCI / Docker image objects as dataclasses: descriptors, manifests, indexes, image configs.

Each model maps JSON keys to snake_case attributes. `from_dict(to_dict(x))` and
`to_dict(from_dict(d))` are exact: keys the model does not know, and known keys whose value is
an explicit `null`, are kept in `extra` and written back. Digests are always computed over the
bytes actually stored or sent (`to_json()` output or the raw bytes a registry returned), never
over a re-serialisation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest, validate_digest

T = TypeVar("T", bound="JsonModel")


def _f(key: str, model: Any = None, many: bool = False, default: Any = None) -> Any:
    """A field stored under JSON `key`; `model` for nested objects, `many` for lists of them."""
    return field(default=default, metadata={"json": key, "model": model, "many": many})


class InvalidObject(ValueError):
    """A manifest, index or config whose JSON does not have the required shape."""


@dataclass
class JsonModel:
    """Base: generic (de)serialisation driven by the field metadata."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()
    if TYPE_CHECKING:  # every subclass declares it as its last field
        extra: dict[str, Any]

    @classmethod
    def from_dict(cls: type[T], data: Any) -> T:
        if not isinstance(data, dict):
            raise InvalidObject(
                f"{cls.__name__}: expected a JSON object, got {type(data).__name__}"
            )
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        known = {}
        for f in fields(cls):
            if "json" in f.metadata:
                known[f.metadata["json"]] = f
        for key in cls.REQUIRED:
            if data.get(key) is None:
                raise InvalidObject(f"{cls.__name__}: required field {key!r} is missing")
        for key, value in data.items():
            known_field = known.get(key)
            if known_field is None or value is None:
                extra[key] = value
                continue
            model = known_field.metadata["model"]
            if model is not None and known_field.metadata["many"]:
                if not isinstance(value, list):
                    raise InvalidObject(f"{cls.__name__}: {key!r} must be a list")
                value = [model.from_dict(v) for v in value]
            elif model is not None:
                value = model.from_dict(value)
            kwargs[known_field.name] = value
        obj = cls(**kwargs)
        obj.extra = extra
        # fields the JSON did not have; to_dict leaves them out while they stay empty
        obj.__dict__["_absent"] = {f.name for f in known.values() if f.name not in kwargs}
        obj.validate()
        return obj

    def validate(self) -> None:
        """Subclasses check values here (digest syntax, sizes)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        absent: set[str] = getattr(self, "_absent", set())
        for f in fields(self):
            if "json" not in f.metadata:
                continue
            value = getattr(self, f.name)
            if value is None or (f.name in absent and _is_empty(value)):
                continue
            if f.metadata["model"] is not None and f.metadata["many"]:
                value = [v.to_dict() for v in value]
            elif f.metadata["model"] is not None:
                value = value.to_dict()
            out[f.metadata["json"]] = value
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_json(self) -> bytes:
        """Compact JSON (as Go's json.Marshal writes it); the bytes to store and digest."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls: type[T], raw: bytes | str) -> T:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidObject(f"{cls.__name__}: not valid JSON ({exc})") from None
        return cls.from_dict(data)


def _is_empty(value: Any) -> bool:
    if isinstance(value, (list, dict)):
        return not value
    if isinstance(value, JsonModel):
        return bool(value == cast(Any, type(value))())
    return False


def _extra() -> Any:
    return field(default_factory=dict, compare=False, repr=False)


@dataclass
class Platform(JsonModel):
    """`os/architecture[/variant]` of an image or an index entry."""

    architecture: str = _f("architecture", default="")
    os: str = _f("os", default="")
    os_version: str | None = _f("os.version")
    os_features: list[str] | None = _f("os.features")
    variant: str | None = _f("variant")
    features: list[str] | None = _f("features")
    extra: dict[str, Any] = _extra()

    @classmethod
    def parse(cls, value: str) -> Platform:
        """`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`; raises ValueError with the format."""
        parts = value.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"invalid platform {value!r}: expected os/arch[/variant], e.g. linux/amd64"
            )
        os_name, arch = parts[0].lower(), _normalise_arch(parts[1].lower())
        variant = parts[2].lower() if len(parts) == 3 else None
        return cls(architecture=arch, os=os_name, variant=_normalise_variant(arch, variant))

    @classmethod
    def current(cls) -> Platform:
        """The platform of this machine (linux/amd64 on x86_64)."""
        machine = os.uname().machine.lower()
        if machine.startswith("armv") and machine[4:5].isdigit():  # armv7l, armv6l
            return cls(architecture="arm", os="linux", variant="v" + machine[4])
        arch = _normalise_arch(machine)
        return cls(architecture=arch, os="linux", variant=_normalise_variant(arch, None))

    def matches(self, wanted: Platform) -> bool:
        """True when this (an index entry's platform) satisfies `wanted`.

        OS and architecture must be equal. Variants compare after containerd's defaults (arm64
        is v8, arm is v7); for other architectures a variant matters only when one is wanted.
        """
        arch = wanted.architecture
        if self.os != wanted.os or _normalise_arch(self.architecture) != arch:
            return False
        want = _normalise_variant(arch, wanted.variant) or _default_variant(arch)
        if want is None:
            return True
        return (_normalise_variant(arch, self.variant) or _default_variant(arch)) == want

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}


def _normalise_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


def _default_variant(arch: str) -> str | None:
    return {"arm64": "v8", "arm": "v7"}.get(arch)


def _normalise_variant(arch: str, variant: str | None) -> str | None:
    if arch == "arm64" and variant in (None, "v8", "8"):
        return None
    if variant and variant.isdigit():
        return "v" + variant
    return variant


@dataclass
class Descriptor(JsonModel):
    """A pointer to a blob: media type, digest and size (plus optional platform in an index)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("mediaType", "digest", "size")
    media_type: str = _f("mediaType", default="")
    digest: str = _f("digest", default="")
    size: int = _f("size", default=0)
    urls: list[str] | None = _f("urls")
    annotations: dict[str, str] | None = _f("annotations")
    data: str | None = _f("data")
    platform: Platform | None = _f("platform", model=Platform)
    artifact_type: str | None = _f("artifactType")
    extra: dict[str, Any] = _extra()

    def validate(self) -> None:
        validate_digest(self.digest)
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise InvalidObject(f"descriptor {self.digest}: size must be a non-negative integer")

    @classmethod
    def of(cls, media_type: str, data: bytes, **kwargs: Any) -> Descriptor:
        return cls(media_type=media_type, digest=sha256_digest(data), size=len(data), **kwargs)


@dataclass
class Manifest(JsonModel):
    """An image manifest (OCI image manifest or Docker v2 schema 2)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("config",)
    schema_version: int = _f("schemaVersion", default=2)
    media_type: str | None = _f("mediaType")
    artifact_type: str | None = _f("artifactType")
    config: Descriptor = _f("config", model=Descriptor, default=None)
    layers: list[Descriptor] = _f("layers", model=Descriptor, many=True, default=None)
    subject: Descriptor | None = _f("subject", model=Descriptor)
    annotations: dict[str, str] | None = _f("annotations")
    extra: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        if self.layers is None:
            self.layers = []

    def validate(self) -> None:
        if self.schema_version != 2:
            raise InvalidObject(
                f"manifest schemaVersion {self.schema_version} is not supported (need 2)"
            )


@dataclass
class Index(JsonModel):
    """An OCI image index or a Docker manifest list."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("manifests",)
    schema_version: int = _f("schemaVersion", default=2)
    media_type: str | None = _f("mediaType")
    artifact_type: str | None = _f("artifactType")
    manifests: list[Descriptor] = _f("manifests", model=Descriptor, many=True, default=None)
    subject: Descriptor | None = _f("subject", model=Descriptor)
    annotations: dict[str, str] | None = _f("annotations")
    extra: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        if self.manifests is None:
            self.manifests = []

    def select(self, wanted: Platform) -> Descriptor:
        """The first entry matching `wanted` (as containerd); LookupError lists what exists."""
        for descriptor in self.manifests:
            if descriptor.platform is not None and descriptor.platform.matches(wanted):
                return descriptor
        have = ", ".join(str(d.platform) for d in self.manifests if d.platform) or "none"
        raise LookupError(f"no image for platform {wanted} in the index (it has: {have})")


@dataclass
class HealthConfig(JsonModel):
    """HEALTHCHECK: durations are nanoseconds as in Docker's config."""

    test: list[str] | None = _f("Test")
    interval: int | None = _f("Interval")
    timeout: int | None = _f("Timeout")
    start_period: int | None = _f("StartPeriod")
    start_interval: int | None = _f("StartInterval")
    retries: int | None = _f("Retries")
    extra: dict[str, Any] = _extra()


@dataclass
class ContainerConfig(JsonModel):
    """The `config` member of an image config: how to run a container from the image."""

    hostname: str | None = _f("Hostname")
    domainname: str | None = _f("Domainname")
    user: str | None = _f("User")
    exposed_ports: dict[str, dict[str, Any]] | None = _f("ExposedPorts")
    env: list[str] | None = _f("Env")
    entrypoint: list[str] | None = _f("Entrypoint")
    cmd: list[str] | None = _f("Cmd")
    volumes: dict[str, dict[str, Any]] | None = _f("Volumes")
    working_dir: str | None = _f("WorkingDir")
    labels: dict[str, str] | None = _f("Labels")
    stop_signal: str | None = _f("StopSignal")
    args_escaped: bool | None = _f("ArgsEscaped")
    healthcheck: HealthConfig | None = _f("Healthcheck", model=HealthConfig)
    on_build: list[str] | None = _f("OnBuild")
    shell: list[str] | None = _f("Shell")
    extra: dict[str, Any] = _extra()

    def env_dict(self) -> dict[str, str]:
        """Env as an ordered mapping (later entries win, as in Docker)."""
        out: dict[str, str] = {}
        for item in self.env or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def set_env(self, key: str, value: str) -> None:
        """Set or replace `key` keeping the position of an existing entry."""
        env = list(self.env or [])
        for i, item in enumerate(env):
            if item.partition("=")[0] == key:
                env[i] = f"{key}={value}"
                break
        else:
            env.append(f"{key}={value}")
        self.env = env


@dataclass
class RootFS(JsonModel):
    """The config's rootfs: the diff_ids of the layers, bottom first."""

    type: str = _f("type", default="layers")
    diff_ids: list[str] = _f("diff_ids", default=None)
    extra: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        if self.diff_ids is None:
            self.diff_ids = []


@dataclass
class History(JsonModel):
    """One entry of the config's history (a step, empty or with a layer)."""

    created: str | None = _f("created")
    created_by: str | None = _f("created_by")
    author: str | None = _f("author")
    comment: str | None = _f("comment")
    empty_layer: bool | None = _f("empty_layer")
    extra: dict[str, Any] = _extra()


@dataclass
class ImageConfig(JsonModel):
    """The image configuration blob (OCI image-spec config / Docker container image v1)."""

    created: str | None = _f("created")
    author: str | None = _f("author")
    architecture: str = _f("architecture", default="amd64")
    os: str = _f("os", default="linux")
    os_version: str | None = _f("os.version")
    os_features: list[str] | None = _f("os.features")
    variant: str | None = _f("variant")
    config: ContainerConfig = _f("config", model=ContainerConfig, default=None)
    rootfs: RootFS = _f("rootfs", model=RootFS, default=None)
    history: list[History] | None = _f("history", model=History, many=True)
    extra: dict[str, Any] = _extra()

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = ContainerConfig()
        if self.rootfs is None:
            self.rootfs = RootFS()

    @property
    def platform(self) -> Platform:
        return Platform(architecture=self.architecture, os=self.os, variant=self.variant)

    def validate(self) -> None:
        for diff_id in self.rootfs.diff_ids:
            validate_digest(diff_id)


def parse_manifest_or_index(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Decode a manifest response: by its media type, else by its shape (`manifests` = index)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidObject(f"manifest is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidObject("manifest must be a JSON object")
    declared = data.get("mediaType") or media_type or ""
    if declared == mediatypes.DOCKER_SCHEMA1_SIGNED or data.get("schemaVersion") == 1:
        raise InvalidObject(
            "Docker schema 1 manifests are not supported (deprecated); push the image again with a"
            " current client"
        )
    if mediatypes.is_index(declared) or ("manifests" in data and "config" not in data):
        return Index.from_dict(data)
    return Manifest.from_dict(data)
