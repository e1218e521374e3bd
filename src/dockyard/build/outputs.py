"""Where a built image goes: pushed to every --destination (blobs the registry has are
skipped, blobs of another repository on the same registry are mounted), a docker-archive
tarball (--tar-path, what Kaniko writes, `docker load`/`podman load` read it), an OCI
layout, and the digest files Kaniko writes for the next pipeline step."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from dockyard.build.options import BuildError, BuildOptions
from dockyard.oci.digest import digest_hex
from dockyard.oci.image import Image


def push_registry_options(options: BuildOptions) -> object:
    from dockyard.oci.client import RegistryOptions

    return RegistryOptions(
        insecure=set(options.insecure_registries),
        insecure_all=options.insecure,
        skip_tls_verify=set(options.skip_tls_verify_registries),
        skip_tls_verify_all=options.skip_tls_verify,
    )


def push(image: Image, options: BuildOptions, log: Callable[[str], None]) -> None:
    from dockyard.oci import InvalidReference, parse_reference
    from dockyard.oci.client import RegistryClient, RegistryError

    try:
        refs = [parse_reference(d) for d in options.destinations]
    except InvalidReference as exc:
        raise BuildError(f"--destination: {exc}") from None
    attempts = options.push_retry + 1
    with RegistryClient(push_registry_options(options)) as client:  # type: ignore[arg-type]
        for attempt in range(1, attempts + 1):
            try:
                client.push(image, refs, progress=lambda m: log(f"  {m}"))
                return
            except (RegistryError, OSError) as exc:
                if attempt == attempts:
                    hint = ""
                    if "http" in str(exc).lower() and not options.insecure:
                        hint = " (a plain-HTTP registry needs --insecure)"
                    raise BuildError(f"push failed: {exc}{hint}") from None
                log(f"  push failed ({exc}); retry {attempt}/{options.push_retry}")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_docker_archive(image: Image, path: Path, tags: list[str]) -> None:
    """`docker save` format: manifest.json, the config and one file per layer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    config_name = digest_hex(image.manifest.config.digest) + ".json"
    layer_names = [digest_hex(layer.digest) + ".tar.gz" for layer in image.layers]
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, config_name, image.config_bytes)
            for name, layer in zip(layer_names, image.layers, strict=True):
                if layer.path is None:
                    raise BuildError(f"layer {layer.digest} has no local copy for --tar-path")
                tar.add(str(layer.path), arcname=name)
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_oci_layout(image: Image, path: Path, tag: str | None) -> None:
    """An OCI image layout directory holding the image (tagged `tag` when given)."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for layer in image.layers:
        target = blobs / digest_hex(layer.digest)
        if not target.exists() and layer.path is not None:
            try:
                os.link(layer.path, target)
            except OSError:
                _atomic_write(target, layer.path.read_bytes())
    _atomic_write(blobs / digest_hex(image.manifest.config.digest), image.config_bytes)
    _atomic_write(blobs / digest_hex(image.digest), image.manifest_bytes)
    annotations = {"org.opencontainers.image.ref.name": tag} if tag else None
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [image.descriptor(annotations).to_dict()]}
    _atomic_write(path / "index.json", json.dumps(index).encode())


def write_digest_files(image: Image, options: BuildOptions) -> None:
    digest = image.digest
    if options.digest_file:
        _atomic_write(options.digest_file, digest.encode())
    names = []
    tagged = []
    for destination in options.destinations:
        from dockyard.oci import parse_reference

        ref = parse_reference(destination)
        names.append(f"{ref.name}@{digest}")
        tagged.append(f"{ref}@{digest}")
    if options.image_name_with_digest_file:
        _atomic_write(options.image_name_with_digest_file, ("\n".join(names) + "\n").encode())
    if options.image_name_tag_with_digest_file:
        _atomic_write(options.image_name_tag_with_digest_file, ("\n".join(tagged) + "\n").encode())


def deliver(image: Image, options: BuildOptions, log: Callable[[str], None]) -> None:
    """Writes the local outputs, then pushes (unless --no-push)."""
    if options.tar_path:
        write_docker_archive(image, options.tar_path, list(options.destinations))
        log(f"saved {options.tar_path}")
    if options.oci_layout_path:
        tag = None
        if options.destinations:
            from dockyard.oci import parse_reference

            tag = parse_reference(options.destinations[0]).tag
        write_oci_layout(image, options.oci_layout_path, tag)
        log(f"saved OCI layout {options.oci_layout_path}")
    if options.destinations and not options.no_push:
        push(image, options, log)
    write_digest_files(image, options)
