"""Where a built image goes: pushed to every --destination (blobs the registry has are
skipped, blobs of another repository on the same registry are mounted), a tarball
(--tar-path: docker-archive and oci-archive in one, `docker load`/`podman load` read it),
an OCI layout, and the digest files Kaniko writes for the next pipeline step. The writers
are dockyard.oci's; a layer known only by descriptor (a cache hit, an untouched base layer)
is mounted from its repository where the registry allows, else fetched when it is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dockyard.atomicfile import atomic_write_bytes
from dockyard.builder.options import BuildError, BuildOptions
from dockyard.builder.phases import phase
from dockyard.oci import (
    DigestMismatch,
    Image,
    ImageLayout,
    InvalidReference,
    Reference,
    RegistryClient,
    RegistryError,
    RegistryOptions,
    parse_reference,
    write_archive,
)


def push_registry_options(options: BuildOptions) -> RegistryOptions:
    """The registry options of pushes: Kaniko's --insecure/--skip-tls-verify (not -pull)."""
    return RegistryOptions(
        insecure=set(options.insecure_registries),
        insecure_all=options.insecure,
        skip_tls_verify=set(options.skip_tls_verify_registries),
        skip_tls_verify_all=options.skip_tls_verify,
        ca_certificates=dict(options.registry_certificates),
    )


def push(image: Image, options: BuildOptions, log: Callable[[str], None]) -> None:
    push_with_retries(options, log, lambda client, refs, progress:
                      client.push(image, refs, progress=progress))


Send = Callable[[RegistryClient, list[Reference], Callable[[str], None]], str]


def push_with_retries(options: BuildOptions, log: Callable[[str], None], send: Send) -> str:
    """`send(client, destinations, progress)` (an image's or an index's push), retried
    --push-retry times; a BuildError with the hint for plain-HTTP registries at the end."""
    try:
        refs = [parse_reference(d) for d in options.destinations]
    except InvalidReference as exc:
        raise BuildError(f"--destination: {exc}") from None
    attempts = options.push_retry + 1
    with RegistryClient(push_registry_options(options)) as client:
        for attempt in range(1, attempts + 1):
            try:
                return send(client, refs, lambda m: log(f"  {m}"))
            except (RegistryError, DigestMismatch, OSError) as exc:
                if attempt == attempts:
                    hint = ""
                    if "http" in str(exc).lower() and not options.insecure:
                        hint = " (a plain-HTTP registry needs --insecure)"
                    raise BuildError(f"push failed: {exc}{hint}") from None
                log(f"  push failed ({exc}); retry {attempt}/{options.push_retry}")
    raise AssertionError("unreachable: the last attempt returns or raises")


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, 0o644)  # read by the next step, as Kaniko's are


def write_digest_files(digest: str, options: BuildOptions) -> None:
    """Kaniko's digest files for an image's (or a multi-platform index's) digest."""
    if options.digest_file:
        _atomic_write(options.digest_file, digest.encode())
    names = []
    tagged = []
    for destination in options.destinations:
        ref = parse_reference(destination)
        names.append(f"{ref.name}@{digest}")
        tagged.append(f"{ref}@{digest}")
    if options.image_name_with_digest_file:
        _atomic_write(options.image_name_with_digest_file, ("\n".join(names) + "\n").encode())
    if options.image_name_tag_with_digest_file:
        _atomic_write(options.image_name_tag_with_digest_file, ("\n".join(tagged) + "\n").encode())


def deliver(image: Image, options: BuildOptions, log: Callable[[str], None]) -> None:
    """Writes the local outputs, then pushes (unless --no-push)."""
    names = [parse_reference(d) for d in options.destinations]
    try:
        if options.tar_path:
            write_archive(image, options.tar_path, names)
            log(f"saved {options.tar_path} (docker-archive and oci-archive)")
        if options.oci_layout_path:
            ImageLayout(options.oci_layout_path).write_image(image,
                                                             names[0].tag if names else None)
            log(f"saved OCI layout {options.oci_layout_path}")
    except (RegistryError, DigestMismatch) as exc:  # a layer known by descriptor only
        raise BuildError(f"cannot fetch a layer of the image: {exc}") from None
    if options.destinations and not options.no_push:
        with phase("push"):
            push(image, options, log)
    write_digest_files(image.digest, options)
