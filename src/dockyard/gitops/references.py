"""Image references as deploy manifests spell them, and the `NAME=REF` arguments of set-image.

The grammar and the normalisation are `dockyard.oci`'s (one reference model: Docker's rules);
`ImageRef` only keeps the manifest's own spelling, because a patch must not rewrite `nginx` as
`docker.io/library/nginx`. Names compare normalised (`nginx` == `docker.io/library/nginx`), so a
manifest that says `nginx:1.25` is found by `--image docker.io/library/nginx=...` and vice versa;
the manifest keeps its own spelling of anything the new reference does not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.oci import InvalidReference, check_digest, check_tag, split_registry
from dockyard.oci import parse_reference as parse_normalised


class ImageReferenceError(ValueError):
    """An image reference or NAME=REF argument that does not parse; the message shows the form."""


@dataclass(frozen=True)
class ImageRef:
    """`name[:tag][@digest]`; `name` may be empty for a tag-only or digest-only REF (`:v2`)."""

    name: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(value: str, *, allow_bare: bool = False) -> ImageRef:
    """Parse `name[:tag][@digest]`; with `allow_bare`, also `:tag`, `@digest` and `:tag@digest`."""
    text = value.strip()
    rest, _, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = ""
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    try:
        if tag:
            check_tag(tag)
    except InvalidReference as exc:
        raise ImageReferenceError(f"in image reference {value!r}: {exc}") from None
    try:
        if digest:
            check_digest(digest)
    except InvalidReference:
        raise ImageReferenceError(
            f"invalid digest {digest!r} in image reference {value!r} (use sha256:<64 hex>)"
        ) from None
    if not rest:
        if allow_bare and (tag or digest):
            return ImageRef("", tag, digest)
        raise ImageReferenceError(f"image reference {value!r} has no repository name")
    try:
        parse_normalised(rest, default_tag=None)
    except InvalidReference:
        raise ImageReferenceError(
            f"invalid image name {rest!r} in {value!r}: use [HOST[:PORT]/]path/name in lower case, "
            "e.g. 127.0.0.1:8080/bootcamp/notes-api"
        ) from None
    return ImageRef(rest, tag, digest)


def parse_image_arg(arg: str) -> tuple[str, ImageRef]:
    """`NAME=REF` (kustomize's `edit set image` form) or just `REF` (then NAME is REF's name)."""
    name, sep, ref_text = arg.partition("=")
    if not sep:
        ref = parse_reference(arg)
        if not (ref.tag or ref.digest):
            raise ImageReferenceError(f"--image {arg!r} needs a tag or digest: NAME=REF or NAME:TAG")
        return ref.name, ref
    name_ref = parse_reference(name)
    if name_ref.tag or name_ref.digest:
        raise ImageReferenceError(f"in --image {arg!r} NAME must be a bare image name (no tag or digest)")
    ref = parse_reference(ref_text, allow_bare=True)
    if not (ref.tag or ref.digest):
        raise ImageReferenceError(f"--image {arg!r}: REF needs a tag or a digest, e.g. {name}=NAME:TAG")
    return name_ref.name, ref


def normalize_name(name: str) -> str:
    """Docker's normal form: `nginx` -> `docker.io/library/nginx`."""
    return "/".join(split_registry(name))


def same_name(a: str, b: str) -> bool:
    return normalize_name(a) == normalize_name(b)


def apply_ref(current: ImageRef, new: ImageRef) -> ImageRef:
    """The image after set-image: REF's name (or the current one) with REF's tag and digest."""
    name = current.name if not new.name or same_name(new.name, current.name) else new.name
    return ImageRef(name, new.tag, new.digest)
