"""Image references parsed and normalised the way Docker does (distribution/reference).

`alpine` is `docker.io/library/alpine:latest`; the first path component is a registry host only
when it contains `.` or `:`, is `localhost`, or has upper-case letters; `index.docker.io` means
`docker.io`, which is served from `registry-1.docker.io`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.oci.digest import InvalidDigest, validate_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
NAME_MAX = 255

# The distribution spec's grammar, shared by the registry's name checks and gitops' parser.
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
REPOSITORY_PATTERN = rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
DOMAIN_PATTERN = rf"{_HOST}(?::[0-9]+)?"
TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DOMAIN_RE = re.compile(rf"^{DOMAIN_PATTERN}$")
_REPOSITORY_RE = re.compile(rf"^{REPOSITORY_PATTERN}$")
_TAG_RE = re.compile(rf"^{TAG_PATTERN}$")


class InvalidReference(ValueError):
    """An image reference that Docker would reject too; the message says which part is wrong."""


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `registry/repository[:tag][@digest]`."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, the full name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes after `/manifests/` in the registry API: the digest if set, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (`docker.io` is served by registry-1.docker.io)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_tag(self, tag: str) -> Reference:
        check_tag(tag)
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, check_digest(digest))

    def familiar(self) -> str:
        """The short form Docker prints: `alpine:3.20`, `user/app:tag`, `host:5000/app:tag`."""
        name = self.name
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/")
        return name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def split_registry(name: str) -> tuple[str, str]:
    """Split a name without tag/digest into (registry, remainder) with Docker's rules."""
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        registry, remainder = DOCKER_HUB, name
    else:
        registry, remainder = first, rest
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in remainder:
        remainder = "library/" + remainder
    return registry, remainder


def parse_reference(value: str, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse and normalise `value`; a reference without tag or digest gets `default_tag`.

    Raises InvalidReference with a message naming the offending part.
    """
    if not isinstance(value, str) or not value:
        raise InvalidReference("image reference is empty")
    if value != value.strip() or any(c.isspace() for c in value):
        raise InvalidReference(f"invalid reference {value!r}: contains whitespace")
    rest, at, digest = value.partition("@")
    digest_value = check_digest(digest, value) if at else None
    tag: str | None = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        check_tag(tag, value)
    if not rest:
        raise InvalidReference(f"invalid reference {value!r}: repository name is empty")
    if rest.startswith("/") or rest.endswith("/") or "//" in rest:
        raise InvalidReference(f"invalid reference {value!r}: empty path component in the name")
    registry, repository = split_registry(rest)
    if not _DOMAIN_RE.match(registry):
        raise InvalidReference(
            f"invalid reference {value!r}: {registry!r} is not a valid registry host"
        )
    if not _REPOSITORY_RE.match(repository):
        if _REPOSITORY_RE.match(repository.lower()):
            raise InvalidReference(
                f"invalid reference {value!r}: repository name must be lowercase ({repository!r})"
            )
        raise InvalidReference(
            f"invalid reference {value!r}: repository {repository!r} must be lowercase letters,"
            " digits and separators (., _, __, -) between them, in /-separated components"
        )
    full = f"{registry}/{repository}"
    if len(full) > NAME_MAX:
        raise InvalidReference(
            f"invalid reference {value!r}: repository name must not be more than"
            f" {NAME_MAX} characters"
        )
    if tag is None and digest_value is None:
        tag = default_tag
    return Reference(registry, repository, tag, digest_value)


def check_tag(tag: str, whole: str | None = None) -> str:
    """`tag` if Docker accepts it as a tag, else InvalidReference (naming `whole` if given)."""
    if not _TAG_RE.match(tag):
        where = f"invalid reference {whole!r}: " if whole else ""
        raise InvalidReference(
            f"{where}invalid tag {tag!r}: a tag is up to 128 letters, digits, '_', '.' and '-',"
            " not starting with '.' or '-'"
        )
    return tag


def check_digest(digest: str, whole: str | None = None) -> str:
    """`digest` if it is a valid sha256 digest, else InvalidReference."""
    try:
        return validate_digest(digest)
    except InvalidDigest as exc:
        where = f"invalid reference {whole!r}: " if whole else ""
        raise InvalidReference(f"{where}{exc}") from None
