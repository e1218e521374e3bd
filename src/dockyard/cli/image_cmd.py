"""Image utilities without a daemon.

`dockyard image import` turns a root filesystem (a directory or a tar, e.g. from busybox-static
or mmdebstrap) into a one-layer base image and pushes it, so base images can be made offline.
`dockyard image copy SRC DST` moves an image between a registry (`docker://REF` or a bare
reference), an OCI layout (`oci:DIR[:TAG]`) and an archive (`oci-archive:FILE` or
`docker-archive:FILE`; the one Dockyard writes is both); `dockyard image inspect` prints what a
registry, layout or archive holds. Sources are read lazily: inspect downloads no layer, and a
copy between repositories of one registry mounts layers instead of moving them.
`dockyard image self --push REF` builds Dockyard's own image (server, build-pod agent, Kaniko
stand-in) with Dockyard's builder."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports dockyard.oci lazily so that --help stays fast
    from dockyard.oci import Image, RegistryOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    _add_copy_inspect(sub)
    from dockyard.cli.selfimage_cmd import add_self_parser

    add_self_parser(sub)
    imp = sub.add_parser("import", help="make a one-layer image from a root filesystem and push it")
    imp.add_argument(
        "--rootfs",
        required=True,
        type=Path,
        help="root filesystem: a directory or a tar (.tar, .tar.gz, .tar.zst)",
    )
    imp.add_argument(
        "--destination",
        "-d",
        action="append",
        default=[],
        metavar="REF",
        help="image reference to push to (repeatable)",
    )
    imp.add_argument(
        "--tar-path",
        type=Path,
        help="also write the image to this tar (docker-archive and oci-archive in one)",
    )
    imp.add_argument(
        "--oci-layout",
        type=Path,
        metavar="DIR",
        help="also write the image into this OCI layout directory",
    )
    imp.add_argument(
        "--no-push", action="store_true", help="do not push (the destinations only name the tar)"
    )
    imp.add_argument("--platform", help="os/arch[/variant] of the image (default: this machine's)")
    imp.add_argument(
        "--cmd", help='default command: a JSON array (["sh"]) or a shell-quoted string'
    )
    imp.add_argument("--entrypoint", help="entrypoint: a JSON array or a shell-quoted string")
    imp.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable (repeatable)",
    )
    imp.add_argument("--workdir", help="working directory")
    imp.add_argument("--user", help="user[:group] to run as")
    imp.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="label (repeatable)"
    )
    imp.add_argument(
        "--owner", metavar="UID:GID", help="store every file as owned by UID:GID (e.g. 0:0)"
    )
    imp.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    imp.add_argument(
        "--docker-media-types",
        action="store_true",
        help="Docker v2 schema 2 media types instead of OCI",
    )
    imp.add_argument(
        "--reproducible", action="store_true", help="zero timestamps (same input, same digest)"
    )
    imp.add_argument("--digest-file", type=Path, help="write the image digest to this file")
    _add_registry_flags(imp)


def _add_registry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP to every registry"
    )
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="allow plain HTTP to this registry (repeatable)",
    )
    parser.add_argument(
        "--skip-tls-verify", action="store_true", help="do not verify registry TLS certificates"
    )


def _add_copy_inspect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    copy = sub.add_parser("copy", help="copy an image between registries, OCI layouts and archives")
    copy.add_argument("source", help="docker://REF, REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG]")
    copy.add_argument("destination", help="docker://REF, REF, oci:DIR[:TAG] or oci-archive:FILE")
    copy.add_argument("--platform", help="platform to pick from a multi-platform source")
    _add_registry_flags(copy)
    inspect = sub.add_parser("inspect", help="print an image's digest, platform, layers and config")
    inspect.add_argument("image", help="docker://REF, REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG]")
    inspect.add_argument("--raw", action="store_true", help="print the manifest as stored")
    inspect.add_argument("--platform", help="platform to pick from a multi-platform image")
    _add_registry_flags(inspect)


def run(args: argparse.Namespace) -> int:
    from dockyard import oci

    if args.action == "self":
        from dockyard.cli.selfimage_cmd import run_self

        return run_self(args)
    action = {"import": _import, "copy": _copy, "inspect": _inspect}[args.action]
    try:
        return action(args)
    except (oci.InvalidReference, oci.LayerError, oci.RegistryError, ValueError, OSError) as exc:
        print(f"dockyard image {args.action}: {exc}", file=sys.stderr)
        return 1
    except LookupError as exc:
        print(f"dockyard image {args.action}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1


def _registry_options(args: argparse.Namespace) -> RegistryOptions:
    from dockyard import oci

    return oci.RegistryOptions(
        insecure=set(args.insecure_registry),
        insecure_all=args.insecure,
        skip_tls_verify_all=args.skip_tls_verify,
    )


def _split_location(value: str) -> tuple[str, str]:
    """('registry', REF) | ('oci', DIR[:TAG]) | ('archive', FILE)."""
    if value.startswith("docker://"):
        return "registry", value[len("docker://") :]
    for prefix, kind in (
        ("oci:", "oci"),
        ("oci-archive:", "archive"),
        ("docker-archive:", "archive"),
    ):
        if value.startswith(prefix):
            return kind, value[len(prefix) :]
    return "registry", value


def _layout_and_tag(spec: str) -> tuple[Path, str | None]:
    directory, sep, tag = spec.rpartition(":")
    if sep and "/" not in tag and directory:
        return Path(directory), tag
    return Path(spec), None


def _read(location: str, args: argparse.Namespace, cache_dir: Path,
          stack: contextlib.ExitStack) -> tuple[Image, str]:
    """The image at `location` and a reference naming it (for archives); a registry client
    stays open on `stack` while the image's layers may still be read."""
    from dockyard import oci

    kind, spec = _split_location(location)
    platform = oci.Platform.parse(args.platform) if args.platform else None
    if kind == "oci":
        directory, tag = _layout_and_tag(spec)
        return oci.ImageLayout(directory).read_image(tag, platform), tag or "latest"
    if kind == "archive":
        path, tag = _layout_and_tag(spec)
        return oci.read_archive(path, oci.BlobCache(cache_dir), tag, platform), tag or "latest"
    ref = oci.parse_reference(spec)
    # manifest and config only: layers are fetched when a destination needs their bytes
    client = stack.enter_context(oci.RegistryClient(_registry_options(args)))
    return client.image(ref, oci.BlobCache(cache_dir), platform), str(ref)


def _copy(args: argparse.Namespace) -> int:
    from dockyard import oci

    with tempfile.TemporaryDirectory(prefix="dockyard-copy-") as tmp, \
            contextlib.ExitStack() as stack:
        image, source_name = _read(args.source, args, Path(tmp), stack)
        kind, spec = _split_location(args.destination)
        if kind == "oci":
            directory, tag = _layout_and_tag(spec)
            oci.ImageLayout(directory).write_image(image, tag)
        elif kind == "archive":
            names = []
            if _split_location(args.source)[0] == "registry":
                names = [oci.parse_reference(source_name)]
            oci.write_archive(image, Path(spec), names)
        else:
            with oci.RegistryClient(_registry_options(args)) as client:
                client.push(image, [spec], progress=lambda m: print(m, file=sys.stderr))
    print(image.digest)
    return 0


def _inspect(args: argparse.Namespace) -> int:

    with tempfile.TemporaryDirectory(prefix="dockyard-inspect-") as tmp, \
            contextlib.ExitStack() as stack:
        image, name = _read(args.image, args, Path(tmp), stack)
        if args.raw:
            sys.stdout.write(image.manifest_bytes.decode())
            return 0
        container = image.config.config
        summary = {
            "Name": name,
            "Digest": image.digest,
            "MediaType": image.media_type,
            "Created": image.config.created,
            "Platform": str(image.config.platform),
            "Layers": [layer.digest for layer in image.layers],
            "DiffIDs": image.config.rootfs.diff_ids,
            "Env": container.env,
            "Entrypoint": container.entrypoint,
            "Cmd": container.cmd,
            "WorkingDir": container.working_dir,
            "User": container.user,
            "Labels": container.labels,
            "ExposedPorts": sorted(container.exposed_ports or {}),
        }
        print(json.dumps(summary, indent=2))
    return 0


def _command(value: str | None, flag: str) -> list[str] | None:
    if value is None:
        return None
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{flag} {value!r} is not a valid JSON array ({exc})") from None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError(f"{flag} must be a JSON array of strings or a shell-quoted string")
        return parsed
    return shlex.split(value)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {value!r}: expected KEY=VALUE")
        out[key] = rest
    return out


def _import(args: argparse.Namespace) -> int:
    from dockyard import oci

    if not (args.destination or args.tar_path or args.oci_layout):
        raise ValueError("nothing to do: give --destination, --tar-path or --oci-layout")
    if args.no_push and not (args.tar_path or args.oci_layout):
        raise ValueError("--no-push needs --tar-path or --oci-layout")
    destinations = [oci.parse_reference(d) for d in args.destination]
    platform = oci.Platform.parse(args.platform) if args.platform else oci.Platform.current()
    rootfs: Path = args.rootfs
    if not rootfs.exists():
        raise ValueError(f"--rootfs {rootfs} does not exist")
    epoch_env = os.environ.get("SOURCE_DATE_EPOCH")
    epoch = 0 if args.reproducible else (int(epoch_env) if epoch_env else None)
    owner = None
    if args.owner:
        uid, _, gid = args.owner.partition(":")
        owner = (int(uid), int(gid or uid))

    config = oci.ImageConfig(
        architecture=platform.architecture, os=platform.os, variant=platform.variant
    )
    created = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch if epoch is not None else time.time())
    )
    config.created = created
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env.update(_pairs(args.env, "--env"))
    container = config.config
    container.env = [f"{k}={v}" for k, v in env.items()]
    container.cmd = _command(args.cmd, "--cmd")
    container.entrypoint = _command(args.entrypoint, "--entrypoint")
    container.working_dir = args.workdir
    container.user = args.user
    container.labels = _pairs(args.label, "--label") or None
    config.history = [
        oci.History(created=created, created_by=f"dockyard image import {rootfs.name}")
    ]

    with tempfile.TemporaryDirectory(prefix="dockyard-import-") as tmp:
        layer_path = Path(tmp) / "layer"
        writer = oci.LayerWriter(
            layer_path,
            args.compression,
            docker_media_type=args.docker_media_types,
            mtime=0 if args.reproducible else None,
            clamp_mtime=None if args.reproducible else epoch,
            owner=owner,
        )
        with writer:
            if rootfs.is_dir():
                writer.add_tree(rootfs, "", include_root=False)
            else:
                with open(rootfs, "rb") as f:
                    writer.add_tar(f)
        info = writer.close()
        print(
            f"layer {info.digest} ({info.size} bytes, {info.uncompressed_size} uncompressed)",
            file=sys.stderr,
        )
        image = oci.Image.assemble(config, [info], docker=args.docker_media_types)
        if args.tar_path:
            oci.write_archive(image, args.tar_path, destinations)
            print(f"wrote {args.tar_path}", file=sys.stderr)
        if args.oci_layout:
            tag = destinations[0].tag if destinations else None
            oci.ImageLayout(args.oci_layout).write_image(image, tag)
            print(f"wrote {args.oci_layout}", file=sys.stderr)
        if destinations and not args.no_push:
            with oci.RegistryClient(_registry_options(args)) as client:
                client.push(image, destinations, progress=lambda m: print(m, file=sys.stderr))
    if args.digest_file:
        args.digest_file.write_text(image.digest)
    print(image.digest)
    return 0
