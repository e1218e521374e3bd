"""The distribution spec's grammar for repository names, tags and digests."""

from __future__ import annotations

import re

from dockyard.oci import REPOSITORY_PATTERN, TAG_PATTERN, is_registered_digest

NAME_RE = re.compile(rf"^{REPOSITORY_PATTERN}$")
TAG_RE = re.compile(rf"^{TAG_PATTERN}$")
ANY_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
MAX_NAME_LENGTH = 255


def valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.match(name))


def valid_tag(tag: str) -> bool:
    return bool(TAG_RE.match(tag))


def valid_digest(digest: str) -> bool:
    """sha256 or sha512 (the registered algorithms); others are reported as unsupported."""
    return is_registered_digest(digest)


def looks_like_digest(reference: str) -> bool:
    return ":" in reference and bool(ANY_DIGEST_RE.match(reference))


def project_of(name: str) -> str:
    """Harbor's project is the first path component of the repository name."""
    return name.split("/", 1)[0]
